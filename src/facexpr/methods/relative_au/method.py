"""Rendering with a trained relative-AU (Ling et al. 2020) or GANimation (Pumarola et al. 2018)
generator: the methods ``relative-au`` and ``ganimation``.

Both take the target's aligned crop and the action units the result should show (17, in
:data:`facexpr.expression.action_units.AUS` order, values in [0, 1]); the exported task turns them
into its condition (``relative-au``: wanted − the target's AUs; ``ganimation``: the wanted AUs).

* transfer: ``want = clip(target + intensity · (source − target), 0, 1)`` on the AUs of the chosen
  ``--regions`` (the others keep the target's value);
* edit (:func:`facexpr.pipeline.run_edit`): ``want`` comes in ``job.options["want_aus"]``.

Crop, sample and paste-back are :class:`facexpr.train.method.ExportedMethod`'s (its
:meth:`~facexpr.train.method.ExportedMethod.render_aus`: the target's face oval, expanded and
feathered). Missing weights raise :class:`facexpr.errors.ModelError`; there is no fallback.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ...errors import ModelError
from ...expression import action_units
from ...expression.blendshapes import REGIONS
from ...expression.emotions import au_region_mask

DATA = Path(__file__).resolve().parents[2] / "data"
WEIGHTS = {"relative-au": DATA / "relative_au_g128.safetensors",
           "ganimation": DATA / "ganimation_g128.safetensors"}
CONFIGS = {"relative-au": "configs/relative-au-128.yaml", "ganimation": "configs/ganimation-128.yaml"}


def transfer_want_aus(source_bs: np.ndarray, target_bs: np.ndarray, intensity: float = 1.0,
                      regions=REGIONS) -> np.ndarray:
    """(17,) in :data:`~facexpr.expression.action_units.AUS_V1` order: ``clip(target + intensity · (source − target) · [AU in regions], 0, 1)``."""
    v1 = action_units.AUS_V1
    t = action_units.estimate(target_bs, v1)
    s = action_units.estimate(source_bs, v1)
    return np.clip(t + float(intensity) * (s - t) * au_region_mask(regions)[:len(v1)], 0.0, 1.0)


class AUMethod:
    """An AU-conditioned generator as a rendering method (``relative-au`` or ``ganimation``)."""

    landmark_driven = False  # renders AUs, not landmarks: no closed-loop landmark correction

    def __init__(self, name: str = "relative-au", generator: str | Path | None = None, device: str = "cpu"):
        if name not in WEIGHTS:
            raise ValueError(f"unknown AU method {name!r} (choose from {', '.join(WEIGHTS)})")
        from ...train.method import ExportedMethod

        self.name = name
        path = Path(generator) if generator is not None else WEIGHTS[name]
        if not path.is_file():
            raise ModelError(f"{name}: generator weights {path} not found (train with {CONFIGS[name]} "
                             f"and `facexpr export RUN -o {path}`)")
        self.exported = ExportedMethod(path, device)
        task = self.exported.card.get("task")
        if task != name:
            raise ModelError(f"{name}: {path} holds a '{task}' generator, not a '{name}' one")
        self.size = self.exported.size

    def want_aus(self, job) -> np.ndarray:
        """The AUs the output should show: the edit's, or the transfer's (see the module doc)."""
        opts = job.options or {}
        if opts.get("want_aus") is not None:
            return np.asarray(opts["want_aus"], np.float64)[:len(action_units.AUS_V1)]  # trained on these
        return transfer_want_aus(job.source_face.blendshapes, job.target_face.blendshapes,
                                 opts.get("intensity", 1.0), opts.get("regions", REGIONS))

    def render(self, job):
        return self.exported.render_aus(job, self.want_aus(job), job.retargeted.landmarks)


__all__ = ["AUMethod", "WEIGHTS", "transfer_want_aus"]
