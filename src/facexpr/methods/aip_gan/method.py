"""``aip-gan`` at inference: the source crop's attended expression features and the target's
attended identity features, pooled into the decoder, refine the product's warp
(:mod:`facexpr.methods.source_warp`: crop, warp base, detail crop and paste-back are shared)."""
from __future__ import annotations

from ..source_warp import SourceWarpAdapter
from .nets import AIPGenerator


class AIPAdapter(SourceWarpAdapter):
    """``G(target, base_flow, source, base=warp)`` (:class:`~.nets.AIPGenerator`)."""

    @classmethod
    def build_generator(cls, spec: dict):
        return AIPGenerator(**spec)


__all__ = ["AIPAdapter"]
