"""The one place for the limits of a request (transfer and edit alike)."""
from __future__ import annotations

import math

from .errors import IntensityOutOfRange, RegionError
from .expression.blendshapes import REGIONS

MAX_INTENSITY = 1.5  # intensity scales a transfer or an edit: 0 = unchanged, 1 = as asked
MAX_DELTA = 1.0      # the largest change of one AU (intensities run from 0 to 1)


def check_intensity(intensity: float) -> float:
    """``intensity`` as a float, or :class:`~facexpr.errors.IntensityOutOfRange`."""
    try:
        x = float(intensity)
    except (TypeError, ValueError):
        raise IntensityOutOfRange(f"intensity must be a number between 0 and {MAX_INTENSITY}, got {intensity!r}") from None
    if not math.isfinite(x) or not 0.0 <= x <= MAX_INTENSITY:
        raise IntensityOutOfRange(f"intensity must be between 0 and {MAX_INTENSITY}, got {intensity}")
    return x


def check_regions(regions) -> tuple[str, ...]:
    """``regions`` (names of :data:`~facexpr.expression.blendshapes.REGIONS`; None = all) as a
    tuple, or :class:`~facexpr.errors.RegionError`."""
    if regions is None:
        return REGIONS
    regs = (regions,) if isinstance(regions, str) else tuple(regions)
    bad = [str(r) for r in regs if r not in REGIONS]
    if bad or not regs:
        raise RegionError(f"regions: unknown region(s) {', '.join(bad) or '(none given)'}; "
                          f"choose from {', '.join(REGIONS)}")
    return regs


__all__ = ["MAX_INTENSITY", "MAX_DELTA", "check_intensity", "check_regions"]
