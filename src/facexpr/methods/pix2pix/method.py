"""``pix2pix``: the landmark-fusion paper's baseline (Fan et al. 2023 compare against pix2pix,
Isola et al. 2017), trained by this project on the same data and schedule.

A plain U-Net (``configs/pix2pix-baseline-128.yaml``: no attention mask, no map of the target's
own key points) edits the aligned target crop given the **source's** key-point image as it is —
no fusion module. Because both crops are aligned to one template, the source's key points keep
the source's face shape (eye distance, jaw, lip thickness): exactly the identity leak the fusion
module exists to remove. Its row in ``docs/RESULTS.md`` measures that difference.
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch

from ...errors import ModelError
from ...faces.crops import alignment
from ..base import TRANSFER, TransferRequest
from ..exported import ExportedMethod, GeneratorAdapter
from ..nets import UNetGenerator, unwrap
from ..samples import landmark_map


class Pix2PixAdapter(GeneratorAdapter):
    """The pix2pix family's generator at inference (and the base of its training recipe,
    :class:`~.train.Pix2PixTask`): input = target crop (3) + the target's key-point image (1,
    unless the U-Net was built with ``in_ch=4``: plain pix2pix) + the wanted key-point image (1);
    key-point images ``model.kp_thickness`` px wide (default 1)."""

    capabilities = frozenset({TRANSFER})

    @classmethod
    def build_generator(cls, spec: dict):
        return UNetGenerator(**spec)

    def sample_transform(self, sample: dict) -> dict:
        size = sample["target"].shape[-1]
        th = int(self.model.get("kp_thickness", 1))
        sample["target_map"] = landmark_map(sample["target_landmarks"], size, th)
        sample["want_map"] = landmark_map(sample["want_landmarks"], size, th)  # landmark-fusion: the fused points
        return sample

    def _g(self, G, image, from_map, to_map):
        if unwrap(G).spec["in_ch"] == 4:  # plain pix2pix: no map of where the face is now
            return G(torch.cat([image, to_map * 2 - 1], 1))
        return G(torch.cat([image, from_map * 2 - 1, to_map * 2 - 1], 1))

    def generate(self, G, batch):
        return self._g(G, batch["target"], batch["target_map"], batch["want_map"])[0]


def source_in_target(job, size: int) -> np.ndarray:
    """The source's landmarks placed so that, in the target's aligned crop, they sit where they
    sat in the source's aligned crop (× ``intensity`` and ``--regions`` from the target's own)."""
    M_s = alignment(job.source_face.landmarks, size)
    M_t_inv = cv2.invertAffineTransform(alignment(job.target_face.landmarks, size))
    src = np.asarray(job.source_face.landmarks, np.float64)
    tgt = np.asarray(job.target_face.landmarks, np.float64)
    xy = src[:, :2] @ M_s[:, :2].T + M_s[:, 2]          # source image -> template crop
    xy = xy @ M_t_inv[:, :2].T + M_t_inv[:, 2]          # template crop -> target image
    request = job.request if isinstance(job.request, TransferRequest) else TransferRequest()
    intensity = request.intensity
    disp = (xy - tgt[:, :2]) * intensity
    weights = job.retargeted.point_weights
    if weights is not None:
        disp = disp * np.asarray(weights)[:, None]
    out = tgt.copy()
    out[:, :2] += disp
    return out


class Pix2PixMethod:
    name = "pix2pix"
    capabilities = frozenset({TRANSFER})

    def __init__(self, generator: str | Path, device: str = "cpu"):
        generator = Path(generator)
        if not generator.is_file():
            raise ModelError(f"pix2pix: generator weights {generator} not found "
                             "(train configs/pix2pix-baseline-128.yaml and export it, see docs/models/pix2pix.md)")
        self.exported = ExportedMethod(generator, device)
        self.size = self.exported.size

    def render(self, job):
        return self.exported.render_landmarks(job, source_in_target(job, self.size))



__all__ = ["Pix2PixMethod", "Pix2PixAdapter", "source_in_target"]
