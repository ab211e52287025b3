"""``landmark-fusion`` at inference: the fusion module's key points drive the exported generator.

Rendering is :class:`facexpr.methods.exported.ExportedMethod`'s (the aligned training crop, a feathered
face-oval paste-back), with the wanted landmarks taken from the fusion module instead of the
analytic retargeting. Missing weights raise :class:`facexpr.errors.ModelError` — no fallback.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ...errors import ModelError
from ...expression.model import load_default_model
from ..base import TRANSFER, TransferRequest
from ..exported import ExportedMethod
from ..pix2pix.method import Pix2PixAdapter
from .nets import fuse_landmarks, load_net


class LandmarkFusionAdapter(Pix2PixAdapter):
    """The family's generator: pix2pix's U-Net, its wanted key-point image the *fused* key points."""


class LandmarkFusionMethod:
    name = "landmark-fusion"
    capabilities = frozenset({TRANSFER})

    def __init__(self, generator: str | Path, fusion: str | Path, device: str = "cpu"):
        generator, fusion = Path(generator), Path(fusion)
        if not generator.is_file():
            raise ModelError(f"landmark-fusion: generator weights {generator} not found "
                             "(train and export one, see docs/models/landmark-fusion.md)")
        self.fusion, self.fusion_meta = load_net(fusion, "mlp")
        self.exported = ExportedMethod(generator, device)
        self.size = self.exported.size
        self.reference = load_default_model().mean_shape

    def fused_landmarks(self, job) -> np.ndarray:
        """The target's landmarks (image coordinates) with the source's expression, from the fusion module."""
        request = job.request if isinstance(job.request, TransferRequest) else TransferRequest()
        intensity = request.intensity
        return fuse_landmarks(self.fusion, job.source_face.landmarks, job.target_face.landmarks, self.reference,
                              intensity, job.retargeted.point_weights)

    def render(self, job):
        return self.exported.render_landmarks(job, self.fused_landmarks(job))



__all__ = ["LandmarkFusionMethod", "LandmarkFusionAdapter"]
