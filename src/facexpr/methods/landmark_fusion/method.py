"""``landmark-fusion`` at inference: the fusion module's key points drive the exported generator.

Rendering is :class:`facexpr.methods.exported.ExportedMethod`'s (the aligned training crop, a feathered
face-oval paste-back), with the wanted landmarks taken from the fusion module instead of the
analytic retargeting. Missing weights raise :class:`facexpr.errors.ModelError` — no fallback.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ...expression.model import load_default_model
from ...expression.retarget import Retargeted
from ..exported import GeneratorMethod
from ..pix2pix.method import Pix2PixAdapter, Pix2PixWarpAdapter, as_geometry
from ..spec import MethodSpec
from .nets import fuse_landmarks, load_net


class LandmarkFusionAdapter(Pix2PixAdapter):
    """The family's generator: pix2pix's U-Net, its wanted key-point image the *fused* key points."""


class LandmarkFusionWarpAdapter(Pix2PixWarpAdapter):
    """landmark-fusion on the product's warp: the warp moves the target to the fused key
    points, and the modified U-Net (:class:`~facexpr.methods.pix2pix.nets.KeypointUNet`, told the
    target's and the fused key-point images) refines it. At initialisation the output is the warp."""


class LandmarkFusionMethod(GeneratorMethod):
    """The fusion module's key points are the geometry of a transfer (:meth:`geometry`, which the
    pipeline asks for before rendering); the exported generator renders the job's retargeted
    landmarks. A generator on the product's warp (``landmark-fusion-warp``) is landmark-driven, so
    the pipeline's closed loop may then correct them — as measured geometry plus the expression
    model's motion for what the output falls short of
    (:func:`facexpr.expression.retarget.with_extra`), the fused shape kept; it can also edit (an
    edit has no source face to fuse: its geometry is the pipeline's, the target's own key points
    moved by the edit)."""

    doc = "docs/models/landmark-fusion.md"
    label = "landmark-fusion"

    def __init__(self, generator: str | Path, fusion: str | Path, device: str = "cpu",
                 spec: MethodSpec | None = None):
        self.fusion_path = Path(fusion)
        super().__init__(generator, None, device, spec)
        self.reference = load_default_model().mean_shape

    def load_parts(self) -> None:
        self.fusion, self.fusion_meta = load_net(self.fusion_path, "mlp")

    def accepts(self, task: str) -> bool:
        return task.startswith("landmark-fusion")

    def fused_landmarks(self, job) -> np.ndarray:
        """The target's landmarks (image coordinates) with the source's expression, from the fusion module."""
        return fuse_landmarks(self.fusion, job.source_face.landmarks, job.target_face.landmarks, self.reference,
                              job.intent.intensity, job.retargeted.point_weights)

    def geometry(self, job) -> Retargeted:
        """``job.retargeted`` with the fused landmarks, as a measured canonical displacement."""
        return as_geometry(job, self.fused_landmarks(job))


__all__ = ["LandmarkFusionMethod", "LandmarkFusionAdapter", "LandmarkFusionWarpAdapter"]
