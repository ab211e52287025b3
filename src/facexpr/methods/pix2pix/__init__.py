"""``pix2pix``: the landmark-fusion paper's baseline (Isola et al. 2017; Fan et al. 2023 compare against
it): a plain U-Net renders the aligned target crop given the **source's** key-point image, no fusion
module (:mod:`.method`; training recipe :mod:`.train`; networks: the shared U-Net and PatchGAN of
:mod:`facexpr.methods.nets`). Transfer only: it is driven by a source face's key points, so an AU
edit has nothing to draw and is refused.

``pix2pix-warp`` is the baseline on the shared "warp + learned residual" renderer: the
source's key points drive the product's warp and a plain U-Net (:mod:`.nets`, told the wanted
key-point image only) refines it — landmark-fusion-warp without the fusion module and without the
target's own key-point image."""
from __future__ import annotations

from ..spec import MethodSpec


def _spec(name: str, weights: str, config: str, task: str, adapter: str, summary: str,
          on_warp: bool = False) -> MethodSpec:
    """The family's methods differ in their generator (crop or on the warp): transfer only, the
    source's key points their own geometry."""
    return MethodSpec(name=name, adapter="facexpr.methods.pix2pix.method:Pix2PixMethod",
                      capabilities=frozenset({"transfer"}), landmark_driven=on_warp, own_geometry=True,
                      weights=(weights,), crop_size=128, config=config,
                      card="docs/models/pix2pix.md", task=f"facexpr.methods.pix2pix.train:{task}",
                      generator=f"facexpr.methods.pix2pix.method:{adapter}", summary=summary)


SPECS = (
    _spec("pix2pix", "pix2pix_g128", "configs/pix2pix-baseline-128.yaml", "Pix2PixTask", "Pix2PixAdapter",
          "the landmark-fusion paper's pix2pix baseline (trained generator; transfer only)"),
    _spec("pix2pix-warp", "pix2pix_warp_g128", "configs/pix2pix-warp-cpu.yaml", "Pix2PixWarpTask",
          "Pix2PixWarpAdapter",
          "the pix2pix baseline on the warp: the source's key points drive the warp, a U-Net refines it",
          on_warp=True),
)
