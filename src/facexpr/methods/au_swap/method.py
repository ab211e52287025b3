"""``au-swap`` at inference: the source crop's AU-related features and the target's AU-free
features refine the product's warp (:mod:`facexpr.methods.source_warp`).

The sample gets the source's per-AU attention priors (:func:`.nets.au_prior_maps`, at 1/4 of the
crop) from its landmarks; the rest — crop, warp base, detail crop, paste-back — is shared.
"""
from __future__ import annotations

from ...expression.action_units import AUS
from ..source_warp import SourceWarpAdapter
from .nets import AUSwapGenerator, au_prior_maps


class AUSwapAdapter(SourceWarpAdapter):
    """``G(target, base_flow, source, source_prior, base=warp)`` (:class:`~.nets.AUSwapGenerator`)."""

    au_set = AUS
    inputs = ("source_prior",)

    @classmethod
    def build_generator(cls, spec: dict):
        return AUSwapGenerator(**spec)

    def extra_inputs(self, sample: dict) -> dict:
        size = sample["source"].shape[-1]
        sample["source_prior"] = au_prior_maps(sample["source_landmarks"], size, size // 4)
        return sample


__all__ = ["AUSwapAdapter"]
