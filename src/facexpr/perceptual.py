"""The perceptual trunk: ST-LPIPS, the shift-tolerant LPIPS of Ghildyal & Liu (ECCV 2022), VGG16 trunk.

Weights: ``weights/vST0.0/vgg_shift_tolerant.pth`` from the stlpips-pytorch 0.0.2 wheel (BSD-2).
That wheel ships *only* shift-tolerant ('vST0.0') weights, so this is ST-LPIPS, not the original
LPIPS v0.1: the state dict holds the whole VGG16 trunk (trained with the anti-aliased, shift-
tolerant architecture; the plain torchvision VGG weights would not fit it), the five linear heads
``lin0..lin4`` and the scaling layer's buffers. It is re-implemented here in plain torch from the
wheel's ``stlpips.LPIPS(net='vgg', variant='shift_tolerant')`` (default version '0.1'):

* input RGB in [-1, 1], then ``(x - shift) / scale`` (``ScalingLayer``: shift -0.030, -0.088, -0.188;
  scale 0.458, 0.448, 0.450; read from the file);
* VGG16 configuration "D" where every ``MaxPool2d(2, 2)`` becomes ``MaxPool2d(2, stride=1)``
  followed by a blur-pool ``Downsample`` (reflection pad 2 on every side, ``pad_more=True``;
  depthwise 3x3 binomial [1, 2, 1] x [1, 2, 1] / 16 filter, stride 2; the filters are in the file);
* features after relu1_2, relu2_2, relu3_3, relu4_3, relu5_3, each unit-normalised over channels
  (``x / (||x|| + 1e-10)``); squared difference; 1x1 linear head (no bias); spatial mean; sum.

The trunk is deterministic: ``use_dropout`` only matters in training.

Shared by the fidelity judge (:mod:`facexpr.evaluate`) and the ``perceptual`` training loss
(:mod:`facexpr.train.losses`), so it sits below both.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from . import assets
from .errors import ModelError

# (slice, [(conv layer index, in, out), ...], blur-pool index or None) as numbered in the wheel
_SLICES = (
    (1, ((0, 3, 64), (2, 64, 64)), None),
    (2, ((6, 64, 128), (8, 128, 128)), 5),
    (3, ((12, 128, 256), (14, 256, 256), (16, 256, 256)), 11),
    (4, ((20, 256, 512), (22, 512, 512), (24, 512, 512)), 19),
    (5, ((28, 512, 512), (30, 512, 512), (32, 512, 512)), 27),
)
CHANNELS = (64, 128, 256, 512, 512)


class STLPIPS:
    def __init__(self) -> None:
        import torch

        path = assets.resolve("stlpips_vgg")
        try:
            sd = torch.load(str(path), map_location="cpu", weights_only=True)
        except Exception as e:
            raise ModelError(f"ST-LPIPS weights {path} are unreadable: {e}") from e
        self._torch = torch
        try:
            self._shift = sd["scaling_layer.shift"].float()
            self._scale = sd["scaling_layer.scale"].float()
            self._slices = []
            for s, convs, blur in _SLICES:
                layers = [(sd[f"net.slice{s}.{i}.weight"].float(), sd[f"net.slice{s}.{i}.bias"].float())
                          for i, _, _ in convs]
                for (w, _), (_, cin, cout) in zip(layers, convs):
                    if tuple(w.shape) != (cout, cin, 3, 3):
                        raise ModelError(f"ST-LPIPS weights {path}: slice{s} conv has shape {tuple(w.shape)}")
                filt = sd[f"net.slice{s}.{blur}.filt"].float() if blur is not None else None
                self._slices.append((filt, layers))
            self._lins = [sd[f"lin{k}.model.1.weight"].float() for k in range(5)]
        except KeyError as e:
            raise ModelError(f"ST-LPIPS weights {path}: missing tensor {e}") from e
        if [w.shape[1] for w in self._lins] != list(CHANNELS):
            raise ModelError(f"ST-LPIPS weights {path}: linear heads do not match VGG16")

    def _features(self, x):
        F = self._torch.nn.functional
        feats = []
        h = (x - self._shift) / self._scale
        for filt, layers in self._slices:
            if filt is not None:
                h = F.max_pool2d(h, 2, stride=1)
                h = F.conv2d(F.pad(h, (2, 2, 2, 2), mode="reflect"), filt, stride=2, groups=h.shape[1])
            for w, b in layers:
                h = F.relu(F.conv2d(h, w, b, padding=1))
            feats.append(h / (self._torch.sqrt((h ** 2).sum(dim=1, keepdim=True)) + 1e-10))
        return feats

    def features(self, images: list[np.ndarray]) -> list:
        """Normalised feature maps (one tensor per layer, batch first) of RGB uint8 images."""
        torch = self._torch
        with torch.inference_mode():
            x = torch.from_numpy(np.stack([np.asarray(im, np.uint8) for im in images]))
            x = x.permute(0, 3, 1, 2).float() / 127.5 - 1.0
            return self._features(x)

    def distance_from_features(self, fa: list, fb: list) -> np.ndarray:
        """(N,) distances between two batches of :meth:`features` (broadcasting a batch of 1)."""
        torch = self._torch
        with torch.inference_mode():
            total = 0
            for a, b, lin in zip(fa, fb, self._lins):
                total = total + torch.nn.functional.conv2d((a - b) ** 2, lin).mean(dim=(1, 2, 3))
            return total.double().numpy()

    def distance(self, a: list[np.ndarray], b: list[np.ndarray]) -> np.ndarray:
        """(N,) ST-LPIPS between paired RGB uint8 images of equal size (0 = identical)."""
        if len(a) != len(b):
            raise ValueError("distance() needs two lists of the same length")
        if not a:
            return np.zeros(0)
        return self.distance_from_features(self.features(a), self.features(b))


@lru_cache(maxsize=1)
def get_lpips() -> STLPIPS:
    return STLPIPS()
