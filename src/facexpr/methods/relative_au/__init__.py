"""``relative-au`` (Ling et al. 2020, "Toward Fine-grained Facial Expression Manipulation") and its
absolute-AU ablation ``ganimation`` (Pumarola et al. 2018).

* :mod:`.nets`: the generator (U-Net with multi-scale feature fusion, relative-AU head);
* :mod:`.method`: the inference adapter (:class:`~.method.AUMethod`) and the generator adapters;
* :mod:`.train`: the training recipes ``relative-au`` and ``ganimation``.

Both transfer (the wanted AUs are the source's, on the chosen regions) and edit (an
:class:`~facexpr.methods.base.EditRequest`'s ``want_aus``). Weights:
``src/facexpr/data/{relative_au,ganimation}_g128.safetensors``, listed and checksummed in
:mod:`facexpr.assets`; missing weights raise :class:`facexpr.errors.ModelError` (exit code 3).
"""
from __future__ import annotations

from ..spec import MethodSpec

SPECS = (
    MethodSpec(name="relative-au", adapter="facexpr.methods.relative_au.method:AUMethod",
               capabilities=frozenset({"transfer", "edit"}), weights=("relative_au_g128",), crop_size=128,
               config="configs/relative-au-128.yaml", card="docs/models/relative-au.md",
               task="facexpr.methods.relative_au.train:RelativeAUTask",
               generator="facexpr.methods.relative_au.method:RelativeAUAdapter", kwargs={"family": "relative-au"},
               summary="Ling et al. 2020: generator conditioned on wanted − current AUs (flow + colour field)"),
    MethodSpec(name="ganimation", adapter="facexpr.methods.relative_au.method:AUMethod",
               capabilities=frozenset({"transfer", "edit"}), weights=("ganimation_g128",), crop_size=128,
               config="configs/ganimation-128.yaml", card="docs/models/relative-au.md",
               task="facexpr.methods.relative_au.train:GANimationTask",
               generator="facexpr.methods.relative_au.method:GANimationAdapter", kwargs={"family": "ganimation"},
               summary="Pumarola et al. 2018: the absolute-AU ablation (attention + colour head)"),
)
