"""``relative-au`` (Ling et al. 2020, "Toward Fine-grained Facial Expression Manipulation") and its
absolute-AU ablation ``ganimation`` (Pumarola et al. 2018).

* :mod:`.nets`: the generator (U-Net with multi-scale feature fusion, relative-AU head);
* :mod:`.train`: the training tasks ``relative-au`` and ``ganimation``;
* :mod:`.method`: the rendering methods (:class:`~.method.AUMethod`), registered here, which load
  the shipped exported generators ``src/facexpr/data/{relative_au,ganimation}_g128.safetensors``
  (or a ``.safetensors`` path given to :class:`~.method.AUMethod`). Missing weights raise
  :class:`facexpr.errors.ModelError` (exit code 3).

Editing single action units (``facexpr edit``, :func:`facexpr.edit`) is
:func:`facexpr.pipeline.run_edit`; the AU specs and the emotion table are
:mod:`facexpr.expression.emotions`.
"""
from __future__ import annotations

from .. import register


@register("relative-au")
def _relative_au():
    from .method import AUMethod

    return AUMethod("relative-au")


@register("ganimation")
def _ganimation():
    from .method import AUMethod

    return AUMethod("ganimation")
