"""``landmark-fusion`` (Fan et al. 2023, IEEE Access, "Facial Expression Transfer Based on cGANs").

Two trained parts, both shipped in ``src/facexpr/data/``:

* the facial feature point **fusion module** (:mod:`.fusion`; ``landmark_fusion_fusion.safetensors``):
  source key points (expression) + target key points (geometry) -> fused key points;
* the **expression transfer module** (``landmark_fusion_g128.safetensors``, an exported generator of
  the ``landmark-fusion`` training task, :mod:`facexpr.train.tasks.landmark_fusion`): a U-Net that
  renders the target crop with the fused key-point image, trained as a conditional GAN.

Rendering is :class:`facexpr.train.method.ExportedMethod`'s (the aligned training crop, a feathered
face-oval paste-back), with the wanted landmarks taken from the fusion module instead of the
analytic retargeting. Missing weights raise :class:`facexpr.errors.ModelError` — no fallback.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .. import register

DATA = Path(__file__).resolve().parents[2] / "data"
GENERATOR_PATH = DATA / "landmark_fusion_g128.safetensors"
FUSION_PATH = DATA / "landmark_fusion_fusion.safetensors"


class LandmarkFusionMethod:
    name = "landmark-fusion"

    def __init__(self, generator: str | Path = GENERATOR_PATH, fusion: str | Path = FUSION_PATH,
                 device: str = "cpu"):
        from ...errors import ModelError
        from ...expression.model import load_default_model
        from ...train.method import ExportedMethod
        from .fusion import load_net

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
        from .fusion import fuse_landmarks

        intensity = float(job.options.get("intensity", 1.0)) if job.options else 1.0
        return fuse_landmarks(self.fusion, job.source_face.landmarks, job.target_face.landmarks, self.reference,
                              intensity, job.retargeted.point_weights)

    def render(self, job):
        return self.exported.render_landmarks(job, self.fused_landmarks(job))


@register("landmark-fusion")
def _factory() -> LandmarkFusionMethod:
    return LandmarkFusionMethod()


__all__ = ["LandmarkFusionMethod", "GENERATOR_PATH", "FUSION_PATH"]

from . import pix2pix as _pix2pix  # noqa: E402,F401  (registers the paper's baseline, "pix2pix")
