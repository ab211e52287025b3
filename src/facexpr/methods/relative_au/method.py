"""Rendering with a trained relative-AU (Ling et al. 2020) or GANimation (Pumarola et al. 2018)
generator: the methods ``relative-au`` and ``ganimation``.

Both take the target's aligned crop and the action units the result should show (17, in
:data:`facexpr.expression.action_units.AUS` order, values in [0, 1]); the exported task turns them
into its condition (``relative-au``: wanted − the target's AUs; ``ganimation``: the wanted AUs).

``want`` is the job's :class:`~facexpr.expression.retarget.Intent` ``want_aus``, computed once by
the pipeline: a transfer's are the AUs of the retargeted code (the gate between two people,
``--regions``, the intensity and ``--source-neutral`` in them), an edit's ``clip(current + change)``.

``relative-au-warp`` is relative-au on the shared "warp + learned residual" shape
(:mod:`facexpr.methods.residual`): told the 22 AUs of the prior-fitted code, its geometry is the
landmark warp to the retargeted landmarks (the expression model driven by the wanted change), which
the MSF U-Net refines (:class:`RelativeAUWarpAdapter`).

Crop, sample and paste-back are :class:`facexpr.methods.exported.ExportedMethod`'s (its
:meth:`~facexpr.methods.exported.ExportedMethod.render_aus`: the target's face oval, expanded and
feathered). Missing weights raise :class:`facexpr.errors.ModelError`; there is no fallback.
"""
from __future__ import annotations

import numpy as np
import torch

from ...expression import action_units
from ..exported import GeneratorAdapter, GeneratorMethod
from ..residual import compose
from ..warp_base import add_base
from .nets import RelativeAUGenerator, RelativeAUWarpGenerator, apply_field


class RelativeAUAdapter(GeneratorAdapter):
    """The family's generator at inference (and the base of its training recipes): told
    Δ = wanted − the input's AUs (``model.condition: relative``) or the wanted AUs themselves
    (``absolute``: ganimation); ``model`` options default to :attr:`defaults`."""

    defaults = {"condition": "relative", "output": "relative", "msf": True}

    def option(self, key: str):
        return self.model.get(key, self.defaults[key])

    @property
    def relative(self) -> bool:
        return str(self.option("condition")) == "relative"

    @classmethod
    def build_generator(cls, spec: dict):
        return RelativeAUGenerator(**spec)

    def condition(self, want_aus: torch.Tensor, have_aus: torch.Tensor) -> torch.Tensor:
        """What G is told to go from AUs ``have_aus`` to ``want_aus``."""
        return want_aus - have_aus if self.relative else want_aus

    @property
    def identity_at_zero(self) -> bool:
        """The relative head returns its input exactly when Δ = 0."""
        return self.relative and str(self.option("output")) == "relative"

    def generate(self, G, batch):
        return G(batch["target"], self.condition(batch["want_aus"], batch["target_aus"]))[0]

    @torch.no_grad()
    def generate_detail(self, G, batch, image: torch.Tensor) -> torch.Tensor | None:
        """The output at the size of ``image`` (a larger crop of the same face): the relative head's
        flow and residual, computed on the training-size crop, applied to the sharp crop. The
        attention head has no such field (None: the caller upsamples the small output)."""
        if getattr(G, "output", None) != "relative":
            return None
        flow, residual = G.edit_field(batch["target"], self.condition(batch["want_aus"], batch["target_aus"]))
        return apply_field(image, flow, residual)


class GANimationAdapter(RelativeAUAdapter):
    """The absolute-AU ablation: GANimation's conditioning and attention/colour head."""

    defaults = {"condition": "absolute", "output": "attention", "msf": False}


class RelativeAUWarpAdapter(RelativeAUAdapter):
    """relative-au on the warp: 22 AUs (:data:`~facexpr.expression.action_units.AUS`), the base
    flow from the target's landmarks to the wanted ones computed with the sample
    (:func:`facexpr.methods.flow.landmark_flow`, in data workers and at inference alike), the
    MSF U-Net's fields applied on top (:class:`~.nets.RelativeAUWarpGenerator`).

    ``model.base``: ``warp`` (default) refines the product's own warp — mouth interior, irises,
    fold shading (:mod:`facexpr.methods.warp_base`; the sample's ``base``); ``landmark`` refines
    the plain differentiable landmark warp of the crop (the first CPU run's shape, kept as the
    ablation)."""

    defaults = {"condition": "relative", "output": "residual", "msf": True, "flow_grid": 0, "base": "warp"}
    au_set = action_units.AUS

    @property
    def identity_at_zero(self) -> bool:
        return False  # zero change still warps (and the fields are learned): no free identity

    @property
    def warp_base(self) -> bool:
        return str(self.option("base")) == "warp"

    @classmethod
    def build_generator(cls, spec: dict):
        return RelativeAUWarpGenerator(**spec)

    def sample_transform(self, sample: dict) -> dict:
        return add_base(sample, int(self.option("flow_grid")), self.warp_base)

    def _cond(self, batch):
        return self.condition(batch["want_aus"], batch["target_aus"])

    def _base(self, batch):
        return batch["base"] if self.warp_base else None

    def generate(self, G, batch):
        return G(batch["target"], batch["base_flow"], self._cond(batch), base=self._base(batch))[0]

    @torch.no_grad()
    def generate_detail(self, G, batch, image: torch.Tensor) -> torch.Tensor:
        """The fields computed on the training-size crop, applied to ``image`` (a sharper, larger
        crop of the same face: of the warped photo when the base is the warp)."""
        return compose(image, G.fields(batch["target"], batch["base_flow"], self._cond(batch), base=self._base(batch)))


class GANimationWarpAdapter(RelativeAUWarpAdapter):
    """The absolute-AU ablation on the warp (``ganimation-warp``): told the wanted AUs themselves,
    plain U-Net skips (no MSF); the residual head's blend mask plays GANimation's attention."""

    defaults = {**RelativeAUWarpAdapter.defaults, "condition": "absolute", "msf": False}


class AUMethod(GeneratorMethod):
    """An AU-conditioned generator as a rendering method (``relative-au``, ``ganimation`` and their
    versions on the warp): told the intent's ``want_aus``, the AUs of the retargeted code (a
    transfer: with the gate, ``--regions``, the intensity and a source's neutral photo already in
    them) or of the edit; the generator's own AUs are a prefix of them."""

    family = "relative-au"

    def accepts(self, task: str) -> bool:
        return task == self.spec.name

    def want_aus(self, job) -> np.ndarray:
        """The AUs the output should show, in the generator's AU set."""
        return np.asarray(job.intent.want_aus, np.float64)[:len(self.exported.au_set)]

    def render(self, job):
        return self.exported.render_aus(job, self.want_aus(job), job.retargeted.landmarks)


__all__ = ["AUMethod", "RelativeAUAdapter", "GANimationAdapter", "RelativeAUWarpAdapter", "GANimationWarpAdapter"]
