"""``landmark-fusion`` (Fan et al. 2023, IEEE Access, "Facial Expression Transfer Based on cGANs").

Two trained parts, both shipped in ``src/facexpr/data/`` and listed in :mod:`facexpr.assets`:

* the facial feature point **fusion module** (:mod:`.nets`; ``landmark_fusion_fusion``, fitted by
  ``python -m facexpr.methods.landmark_fusion.fit``): source key points (expression) + target key
  points (geometry) -> fused key points;
* the **expression transfer module** (``landmark_fusion_g128``, trained by :mod:`.train`): a U-Net
  that renders the target crop with the fused key-point image, trained as a conditional GAN.

Inference: :mod:`.method`. Transfer only: the fusion module reads a source face's key points, so
an AU edit has nothing to fuse and is refused (exit code 2).
"""
from __future__ import annotations

from ..spec import MethodSpec

SPECS = (
    MethodSpec(name="landmark-fusion", adapter="facexpr.methods.landmark_fusion.method:LandmarkFusionMethod",
               capabilities=frozenset({"transfer"}), weights=("landmark_fusion_g128", "landmark_fusion_fusion"),
               crop_size=128, config="configs/landmark-fusion-128.yaml", card="docs/models/landmark-fusion.md",
               task="facexpr.methods.landmark_fusion.train:LandmarkFusionTask",
               generator="facexpr.methods.landmark_fusion.method:LandmarkFusionAdapter",
               summary="Fan et al. 2023: key-point fusion module + cGAN generator (transfer only)"),
    # issue 12: the expression transfer module on the shared warp + learned residual renderer
    MethodSpec(name="landmark-fusion-warp", adapter="facexpr.methods.landmark_fusion.method:LandmarkFusionMethod",
               capabilities=frozenset({"transfer"}), weights=("landmark_fusion_warp_g128", "landmark_fusion_fusion_prior"),
               crop_size=128, config="configs/landmark-fusion-warp-cpu.yaml", card="docs/models/landmark-fusion.md",
               task="facexpr.methods.landmark_fusion.train:LandmarkFusionWarpTask",
               generator="facexpr.methods.landmark_fusion.method:LandmarkFusionWarpAdapter",
               summary="Fan et al. 2023 on the warp: fused key points drive the warp, the U-Net refines it"),
)
