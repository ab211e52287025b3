"""``landmark-fusion`` (Fan et al. 2023, IEEE Access, "Facial Expression Transfer Based on cGANs").

Two trained parts, both shipped in ``src/facexpr/data/`` and listed in :mod:`facexpr.assets`:

* the facial feature point **fusion module** (:mod:`.nets`; ``landmark_fusion_fusion``, fitted by
  ``facexpr research fit-fusion``): source key points (expression) + target key
  points (geometry) -> fused key points;
* the **expression transfer module** (``landmark_fusion_g128``, trained by :mod:`.train`): a U-Net
  that renders the target crop with the fused key-point image, trained as a conditional GAN.

``landmark-fusion-warp`` is the same paper on the shared "warp + learned residual"
renderer: the fusion module's points (``landmark_fusion_fusion_prior``: also trained on the
expression prior's emotions) drive the product's warp, and the modified U-Net
(``landmark_fusion_warp_g128``) refines it.

Inference: :mod:`.method`. ``landmark-fusion`` transfers only: the fusion module reads a source
face's key points, so an AU edit has nothing to fuse and is refused (exit code 2).
``landmark-fusion-warp`` also edits: an edit's key points are the target's own, moved by the edit
(the pipeline's retargeting), which is what the fusion module would return for them — the
modified U-Net refines the warp to them as it does to fused ones.
"""
from __future__ import annotations

from ..spec import MethodSpec


def _spec(name: str, generator: str, fusion: str, config: str, task: str, adapter: str, summary: str,
          capabilities: frozenset[str] = frozenset({"transfer"}), on_warp: bool = False) -> MethodSpec:
    """The family's methods differ in their generator (crop or on the warp) and fusion weights;
    the fusion module's key points are every one's own geometry."""
    return MethodSpec(name=name, adapter="facexpr.methods.landmark_fusion.method:LandmarkFusionMethod",
                      capabilities=capabilities, landmark_driven=on_warp, own_geometry=True,
                      weights=(generator, fusion), crop_size=128,
                      config=config, card="docs/models/landmark-fusion.md",
                      task=f"facexpr.methods.landmark_fusion.train:{task}",
                      generator=f"facexpr.methods.landmark_fusion.method:{adapter}", summary=summary)


SPECS = (
    _spec("landmark-fusion", "landmark_fusion_g128", "landmark_fusion_fusion", "configs/landmark-fusion-128.yaml",
          "LandmarkFusionTask", "LandmarkFusionAdapter",
          "Fan et al. 2023: key-point fusion module + cGAN generator (transfer only)"),
    # the expression transfer module on the shared warp + learned residual renderer (the warp gives the geometry)
    _spec("landmark-fusion-warp", "landmark_fusion_warp_g128", "landmark_fusion_fusion_prior",
          "configs/landmark-fusion-warp-cpu.yaml", "LandmarkFusionWarpTask", "LandmarkFusionWarpAdapter",
          "Fan et al. 2023 on the warp: fused key points drive the warp, the U-Net refines it",
          capabilities=frozenset({"transfer", "edit"}), on_warp=True),
)
