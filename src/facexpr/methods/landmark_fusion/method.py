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
from ...expression.retarget import Retargeted
from ..base import TRANSFER, EditRequest, TransferRequest
from ..exported import ExportedMethod
from ..pix2pix.method import Pix2PixAdapter, Pix2PixWarpAdapter, as_geometry
from .nets import fuse_landmarks, load_net


class LandmarkFusionAdapter(Pix2PixAdapter):
    """The family's generator: pix2pix's U-Net, its wanted key-point image the *fused* key points."""


class LandmarkFusionWarpAdapter(Pix2PixWarpAdapter):
    """landmark-fusion on the product's warp: the warp moves the target to the fused key
    points, and the modified U-Net (:class:`~facexpr.methods.pix2pix.nets.KeypointUNet`, told the
    target's and the fused key-point images) refines it. At initialisation the output is the warp."""


class LandmarkFusionMethod:
    """The fusion module's key points are the geometry (:meth:`geometry`, which the pipeline asks
    for before rendering); the exported generator renders them. A generator on the product's warp
    (``landmark-fusion-warp``) renders landmarks like ``warp`` does, so the pipeline's closed loop
    may then correct them — as measured geometry plus the expression model's motion for what the
    output falls short of (:func:`facexpr.expression.retarget.with_extra`), the fused shape kept;
    it can also edit (the registry's spec declares what each method of the family can do)."""

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
        self.landmark_driven = self.exported.warp_base

    def fused_landmarks(self, job) -> np.ndarray:
        """The target's landmarks (image coordinates) with the source's expression, from the fusion module."""
        request = job.request if isinstance(job.request, TransferRequest) else TransferRequest()
        intensity = request.intensity
        return fuse_landmarks(self.fusion, job.source_face.landmarks, job.target_face.landmarks, self.reference,
                              intensity, job.retargeted.point_weights)

    def geometry(self, job) -> Retargeted:
        """``job.retargeted`` with the fused landmarks, as a measured canonical displacement. An
        edit (on the warp) has no source face to fuse: its geometry is the pipeline's, the target's
        own key points moved by the edit."""
        if isinstance(job.request, EditRequest):
            return job.retargeted
        return as_geometry(job, self.fused_landmarks(job))

    def render(self, job):
        # on the warp: the geometry the pipeline asked for (and its loop corrected), or what an
        # animation drives; the crop generator always renders the fused points, as it always has
        lm = job.retargeted.landmarks if self.landmark_driven else self.fused_landmarks(job)
        return self.exported.render_landmarks(job, lm)


__all__ = ["LandmarkFusionMethod", "LandmarkFusionAdapter", "LandmarkFusionWarpAdapter"]
