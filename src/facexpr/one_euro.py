"""The One-Euro filter (Casiez, Roussel & Vogel, CHI 2012): a low-pass filter whose cutoff rises
with speed, so slow drift and measurement jitter are smoothed while fast motions (a blink, a jaw
drop) pass with little lag. Works on arrays of any shape, element-wise.

    cutoff = min_cutoff + beta * |filtered speed|
    alpha  = 1 / (1 + tau / dt),  tau = 1 / (2 pi cutoff)

``min_cutoff`` (Hz) sets the smoothing at rest (lower = smoother), ``beta`` how quickly it opens
up with speed (higher = less lag), ``d_cutoff`` (Hz) smooths the speed estimate.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class OneEuroConfig:
    min_cutoff: float = 1.5
    beta: float = 0.5
    d_cutoff: float = 1.0

    def __post_init__(self):
        if self.min_cutoff <= 0 or self.d_cutoff <= 0 or self.beta < 0:
            raise ValueError("One-Euro filter: min_cutoff and d_cutoff must be > 0 and beta >= 0 "
                             f"(got {self.min_cutoff}, {self.d_cutoff}, {self.beta})")


def _alpha(cutoff, dt: float):
    tau = 1.0 / (2.0 * math.pi * cutoff)
    return 1.0 / (1.0 + tau / dt)


class OneEuroFilter:
    """``f(x, t)`` returns the filtered ``x`` (same shape); the first call passes ``x`` through."""

    def __init__(self, config: OneEuroConfig = OneEuroConfig()):
        self.config = config
        self.reset()

    def reset(self) -> None:
        self._x = None
        self._dx = None
        self._t = None

    def __call__(self, x, t: float) -> np.ndarray:
        x = np.asarray(x, np.float64)
        if self._x is None:
            self._x, self._dx, self._t = x.copy(), np.zeros_like(x), t
            return x.copy()
        dt = t - self._t
        if dt <= 0:
            return self._x.copy()
        cfg = self.config
        dx = (x - self._x) / dt
        self._dx = self._dx + _alpha(cfg.d_cutoff, dt) * (dx - self._dx)
        a = _alpha(cfg.min_cutoff + cfg.beta * np.abs(self._dx), dt)
        self._x = self._x + a * (x - self._x)
        self._t = t
        return self._x.copy()
