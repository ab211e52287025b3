"""``relative-au`` (Ling et al. 2020, "Toward Fine-grained Facial Expression Manipulation") and its
absolute-AU ablation ``ganimation`` (Pumarola et al. 2018).

* :mod:`.nets`: the generator (U-Net with multi-scale feature fusion, relative-AU head);
* :mod:`.method`: the inference adapter (:class:`~.method.AUMethod`) and the generator adapters;
* :mod:`.train`: the training recipes ``relative-au`` and ``ganimation``.

All transfer and edit, told the job's :class:`~facexpr.expression.retarget.Intent` ``want_aus``
(a transfer's: the AUs of the retargeted code; an edit's: ``clip(current + change)``);
``relative-au-warp`` is relative-au on the shared "warp + learned residual" renderer,
``ganimation-warp`` its absolute-AU
ablation. Weights: ``src/facexpr/data/{relative_au,ganimation,relative_au_warp,ganimation_warp}_g128.safetensors``,
listed and checksummed in :mod:`facexpr.assets`; missing weights raise :class:`facexpr.errors.ModelError` (exit code 3).
"""
from __future__ import annotations

from ..spec import MethodSpec


def _spec(name: str, family_task: str, adapter_class: str, summary: str, shipped: bool = True,
          config: str | None = None, on_warp: bool = False) -> MethodSpec:
    """relative-au and ganimation differ only in names: same folder, adapter, crop and card; all
    are told the wanted action units, those on the warp also render the retargeted landmarks."""
    weights = name.replace("-", "_") + "_g128"
    return MethodSpec(name=name, adapter="facexpr.methods.relative_au.method:AUMethod",
                      capabilities=frozenset({"transfer", "edit"}), landmark_driven=on_warp, au_conditioned=True,
                      weights=(weights,) if shipped else (), crop_size=128,
                      config=config or f"configs/{name}-128.yaml", card="docs/models/relative-au.md",
                      task=f"facexpr.methods.relative_au.train:{family_task}",
                      generator=f"facexpr.methods.relative_au.method:{adapter_class}",
                      summary=summary, shipped=shipped)


SPECS = (
    _spec("relative-au", "RelativeAUTask", "RelativeAUAdapter",
          "Ling et al. 2020: generator conditioned on wanted − current AUs (flow + colour field)"),
    _spec("ganimation", "GANimationTask", "GANimationAdapter",
          "Pumarola et al. 2018: the absolute-AU ablation (attention + colour head)"),
    # relative-au on the shared warp + learned residual renderer (it refines the product's warp)
    _spec("relative-au-warp", "RelativeAUWarpTask", "RelativeAUWarpAdapter",
          "Ling et al. 2020 on the warp: relative AUs (22) condition a U-Net that refines warp's render",
          config="configs/relative-au-warp-cpu.yaml", on_warp=True),
    _spec("ganimation-warp", "GANimationWarpTask", "GANimationWarpAdapter",
          "Pumarola et al. 2018 on the warp: the absolute-AU ablation of relative-au-warp",
          config="configs/ganimation-warp-cpu.yaml", on_warp=True),
)
