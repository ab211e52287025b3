"""Rendering with a trained relative-AU (Ling et al. 2020) or GANimation (Pumarola et al. 2018)
generator: the methods ``relative-au`` and ``ganimation``.

Both take the target's aligned crop and the action units the result should show (17, in
:data:`facexpr.expression.action_units.AUS` order, values in [0, 1]); the exported task turns them
into its condition (``relative-au``: wanted − the target's AUs; ``ganimation``: the wanted AUs).

* transfer: ``want = clip(target + intensity · (source − target), 0, 1)`` on the AUs of the chosen
  ``--regions`` (the others keep the target's value);
* edit (:func:`facexpr.pipeline.run_edit`): ``want`` is the :class:`~facexpr.methods.base.EditRequest`'s
  ``want_aus``.

``relative-au-warp`` is relative-au on the shared "warp + learned residual" shape
(:mod:`facexpr.methods.residual`): told the 22 AUs of the prior-fitted code, its geometry is the
landmark warp to the retargeted landmarks (the expression model driven by the wanted change), which
the MSF U-Net refines (:class:`RelativeAUWarpAdapter`).

Crop, sample and paste-back are :class:`facexpr.methods.exported.ExportedMethod`'s (its
:meth:`~facexpr.methods.exported.ExportedMethod.render_aus`: the target's face oval, expanded and
feathered). Missing weights raise :class:`facexpr.errors.ModelError`; there is no fallback.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ...errors import ModelError
from ...expression import action_units
from ...expression.blendshapes import REGIONS
from ...expression.emotions import au_region_mask
from ..base import EDIT, TRANSFER, EditRequest, TransferRequest
from ..exported import ExportedMethod, GeneratorAdapter
from ..residual import compose
from ..warp_base import add_base
from .nets import RelativeAUGenerator, RelativeAUWarpGenerator, apply_field


class RelativeAUAdapter(GeneratorAdapter):
    """The family's generator at inference (and the base of its training recipes): told
    Δ = wanted − the input's AUs (``model.condition: relative``) or the wanted AUs themselves
    (``absolute``: ganimation); ``model`` options default to :attr:`defaults`."""

    capabilities = frozenset({TRANSFER, EDIT})
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


def transfer_want_aus(source_bs: np.ndarray, target_bs: np.ndarray, intensity: float = 1.0,
                      regions=REGIONS, aus: tuple[int, ...] = action_units.AUS_V1) -> np.ndarray:
    """In ``aus`` order (a prefix of :data:`~facexpr.expression.action_units.AUS`; default the 17 of
    ``AUS_V1``): ``clip(target + intensity · (source − target) · [AU in regions], 0, 1)``."""
    t = action_units.estimate(target_bs, aus)
    s = action_units.estimate(source_bs, aus)
    return np.clip(t + float(intensity) * (s - t) * au_region_mask(regions)[:len(aus)], 0.0, 1.0)


class AUMethod:
    """An AU-conditioned generator as a rendering method (``relative-au`` or ``ganimation``).

    ``landmark_driven``: a generator on the product's warp renders the retargeted landmarks too,
    so the pipeline's closed loop may correct them; the others render AUs only."""

    capabilities = frozenset({TRANSFER, EDIT})

    def __init__(self, generator: str | Path, family: str = "relative-au", device: str = "cpu"):
        name = family
        self.name = name
        path = Path(generator)
        if not path.is_file():
            raise ModelError(f"{name}: generator weights {path} not found (train and export one, "
                             f"see docs/TRAINING.md)")
        self.exported = ExportedMethod(path, device)
        task = self.exported.card.get("task")
        if task != name:
            raise ModelError(f"{name}: {path} holds a '{task}' generator, not a '{name}' one")
        self.size = self.exported.size
        self.landmark_driven = bool(getattr(self.exported.adapter, "warp_base", False))

    def want_aus(self, job) -> np.ndarray:
        """The AUs the output should show: the edit's, or the transfer's (see the module doc)."""
        req = job.request
        aus = self.exported.au_set  # the AUs the generator was trained on (a prefix of AUS)
        if isinstance(req, EditRequest):
            return np.asarray(req.want_aus, np.float64)[:len(aus)]
        req = req if isinstance(req, TransferRequest) else TransferRequest()
        return transfer_want_aus(job.source_face.blendshapes, job.target_face.blendshapes, req.intensity, req.regions,
                                 aus)

    def render(self, job):
        return self.exported.render_aus(job, self.want_aus(job), job.retargeted.landmarks)


__all__ = ["AUMethod", "RelativeAUAdapter", "GANimationAdapter", "RelativeAUWarpAdapter", "GANimationWarpAdapter",
           "transfer_want_aus"]
