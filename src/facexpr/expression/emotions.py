"""Action-unit edits: ``AU12=+0.8`` specs, the emotion → AU prototype table, and AU deltas mapped
onto blendshapes.

An *edit* is a relative change Δ of the 17 action units of
:data:`facexpr.expression.action_units.AUS` (values in [0, 1], estimated from MediaPipe's
blendshapes). What the edited face should show is ``desired = clip(current + Δ, 0, 1)`` per AU, and
the condition given to a relative-AU generator (Ling et al. 2020, "Toward Fine-grained Facial
Expression Manipulation") is ``desired − current``.

Emotion prototypes
------------------
``--emotion NAME`` asks for the prototypical AU combination of a basic emotion, after EMFACS
(W. V. Friesen & P. Ekman 1983, *EMFACS-7: Emotional Facial Action Coding System*, unpublished
manual, University of California San Francisco; the prototype combinations are reproduced in
P. Ekman, W. V. Friesen & J. C. Hager 2002, *Facial Action Coding System: Investigator's Guide*).
EMFACS lists which AUs make up each prototype (sometimes with a FACS intensity letter); the
intensities below are this module's choice, on the FACS letter scale mapped to [0, 1] as
A (trace) 0.2, B (slight) 0.4, C (marked) 0.6, D (severe) 0.8, E (maximum) 1.0:

| emotion  | EMFACS prototype         | used here (AU: intensity)                                      |
|----------|--------------------------|----------------------------------------------------------------|
| happy    | 6 + 12                   | 6: 0.6 (C), 12: 0.8 (D)                                        |
| sad      | 1 + 4 + 15               | 1: 0.6 (C), 4: 0.4 (B), 15: 0.6 (C)                            |
| surprise | 1 + 2 + 5B + 26          | 1: 0.8 (D), 2: 0.8 (D), 5: 0.4 (B), 26: 0.6 (C)                |
| fear     | 1 + 2 + 4 + 5 + 7 + 20 + 26 | 1: 0.6, 2: 0.6, 4: 0.4, 5: 0.6, 7: 0.4, 20: 0.6, 26: 0.4    |
| angry    | 4 + 5 + 7 + 23           | 4: 0.8 (D), 5: 0.4 (B), 7: 0.6 (C), 23: 0.6 (C)                |
| disgust  | 9 + 15 + 16              | 9: 0.6 (C), 15: 0.4 (B), 10: 0.4 (B) *(substitute for 16)*     |

Substitutions and omissions (only the 17 supported AUs can be requested):

* **AU16** (lower lip depressor) has no MediaPipe blendshape of its own, so disgust cannot use it;
  it is replaced by **AU10** (upper lip raiser), the other lip movement of EMFACS's disgust
  variants (the ``10 …`` combinations).
* Contempt (unilateral R12A + R14A) is not offered: AUs here are bilateral averages.
* AU25 (lips part) is not added beside AU26: both move ``jawOpen``, and a jaw drop parts the lips.

An emotion *adds* its prototype: for each prototype AU, ``Δ = intensity · max(p − current, 0)``
(a face that already shows the AU at least that strongly keeps it); AUs outside the prototype are
left as they are (combine with ``--au AU15=-1`` etc. to remove them). ``--au`` deltas and the
emotion's deltas add, and ``intensity`` scales the sum: 0 means no edit at all.

AU → blendshapes
----------------
The mesh-warp method (``warp``) moves the face through blendshapes, not AUs:
:func:`edited_blendshapes` gives each blendshape of an AU (per
:data:`facexpr.expression.action_units.AU_TABLE`) that AU's Δ and clips the scores to [0, 1].
Because each AU's weights sum to 1, this changes the AU estimate by exactly Δ (before clipping).
AU25 and AU26 share ``jawOpen``: editing both adds both deltas to it.
"""
from __future__ import annotations

import math
import re
from typing import Iterable, Mapping, Union

import numpy as np

from ..errors import (AUDeltaOutOfRange, EditSpecError, IntensityOutOfRange, MalformedAUSpec,  # noqa: F401
                      UnknownActionUnit, UnknownEmotion)
from ..limits import MAX_DELTA, MAX_INTENSITY, check_intensity  # noqa: F401
from .action_units import AU_TABLE, AUS, au_matrix
from .blendshapes import INDEX, NAMES, region_mask

# emotion -> {AU number: prototype intensity in [0, 1]} (see the module docstring's table)
EMOTIONS: dict[str, dict[int, float]] = {
    "happy": {6: 0.6, 12: 0.8},
    "sad": {1: 0.6, 4: 0.4, 15: 0.6},
    "surprise": {1: 0.8, 2: 0.8, 5: 0.4, 26: 0.6},
    "fear": {1: 0.6, 2: 0.6, 4: 0.4, 5: 0.6, 7: 0.4, 20: 0.6, 26: 0.4},
    "angry": {4: 0.8, 5: 0.4, 7: 0.6, 23: 0.6},
    "disgust": {9: 0.6, 15: 0.4, 10: 0.4},
}
# AUs of an EMFACS prototype that cannot be requested here, and what stands in for them.
SUBSTITUTIONS: dict[str, dict[int, int | None]] = {"disgust": {16: 10}}

_AU_POS = {au: k for k, au in enumerate(AUS)}
SUPPORTED = ", ".join(f"AU{a}" for a in AUS)
_SPEC = re.compile(r"^\s*(?:AU)?\s*(\d+)\s*=\s*([+-]?(?:\d+\.?\d*|\.\d+))\s*$", re.IGNORECASE)

AUEdits = Union[None, str, Iterable[str], Mapping[Union[int, str], float]]


def au_index(au: int | str) -> int:
    """Position in :data:`AUS` of an AU given as ``12``, ``"12"`` or ``"AU12"``."""
    text = str(au).strip()
    m = re.fullmatch(r"(?:AU)?\s*(\d+)", text, re.IGNORECASE)
    if not m:
        raise MalformedAUSpec(f"'{text}' is not an action unit (write it as AU12; supported: {SUPPORTED})")
    n = int(m.group(1))
    if n not in _AU_POS:
        extra = " (AU16, lower lip depressor, has no MediaPipe blendshape)" if n == 16 else ""
        raise UnknownActionUnit(f"AU{n} is not supported{extra}; supported: {SUPPORTED}")
    return _AU_POS[n]


def check_delta(au_pos: int, delta: float) -> float:
    d = float(delta)
    if not math.isfinite(d) or not -MAX_DELTA <= d <= MAX_DELTA:
        raise AUDeltaOutOfRange(f"AU{AUS[au_pos]}: change {delta} is outside [-{MAX_DELTA:g}, +{MAX_DELTA:g}] "
                                "(AU intensities run from 0 to 1)")
    return d


def parse_au_spec(spec: str) -> tuple[int, float]:
    """``"AU12=+0.8"`` → ``(index into AUS, +0.8)``. ``AU`` is optional and case-free."""
    text = str(spec)
    m = _SPEC.match(text)
    if not m:
        if "=" in text:
            au_index(text.split("=", 1)[0])  # an unknown/garbled AU gets its own message
        raise MalformedAUSpec(f"--au '{text}': expected AU<number>=<change>, e.g. AU12=+0.8 or AU4=-0.5")
    pos = au_index(m.group(1))
    return pos, check_delta(pos, float(m.group(2)))


def au_deltas(aus: AUEdits) -> np.ndarray:
    """(17,) Δ in :data:`AUS` order from ``"AU12=+0.8"`` specs (one string or several) or a
    mapping ``{12: 0.8, "AU4": -0.5}``. An AU given twice is an error."""
    out = np.zeros(len(AUS), np.float64)
    if aus is None:
        return out
    if isinstance(aus, Mapping):
        items = [(au_index(k), v) for k, v in aus.items()]
        items = [(p, check_delta(p, v)) for p, v in items]
    else:
        items = [parse_au_spec(s) for s in ([aus] if isinstance(aus, str) else aus)]
    seen: set[int] = set()
    for pos, d in items:
        if pos in seen:
            raise MalformedAUSpec(f"AU{AUS[pos]} is given more than once; give each AU once")
        seen.add(pos)
        out[pos] = d
    return out


def emotion_prototype(name: str) -> np.ndarray:
    """(17,) prototype intensities of an emotion (0 for AUs outside it)."""
    key = str(name).strip().lower()
    if key not in EMOTIONS:
        raise UnknownEmotion(f"unknown emotion '{name}' (choose from {', '.join(EMOTIONS)})")
    p = np.zeros(len(AUS), np.float64)
    for au, v in EMOTIONS[key].items():
        p[_AU_POS[au]] = v
    return p


def emotion_delta(name: str, intensity: float, current_aus: np.ndarray) -> np.ndarray:
    """(17,) Δ that adds the emotion's prototype: ``intensity · max(prototype − current, 0)`` on the
    prototype's AUs, 0 elsewhere."""
    p = emotion_prototype(name)
    cur = np.asarray(current_aus, np.float64)
    return check_intensity(intensity) * np.where(p > 0, np.maximum(p - cur, 0.0), 0.0)


def edit_delta(current_aus: np.ndarray, aus: AUEdits = None, emotion: str | None = None,
               intensity: float = 1.0) -> np.ndarray:
    """The requested (17,) Δ: ``intensity · (AU deltas + the emotion's deltas)``."""
    intensity = check_intensity(intensity)
    d = au_deltas(aus)
    if emotion:
        d = d + emotion_delta(emotion, 1.0, current_aus)
    return intensity * d


def desired_aus(current_aus: np.ndarray, delta: np.ndarray) -> np.ndarray:
    """``clip(current + Δ, 0, 1)``: the AUs the edited face should show."""
    return np.clip(np.asarray(current_aus, np.float64) + delta, 0.0, 1.0)


def au_region_mask(regions) -> np.ndarray:
    """(17,) 1 for the AUs whose blendshapes lie in ``regions`` (brows, eyes, mouth), else 0."""
    return np.clip(au_matrix() @ region_mask(tuple(regions)), 0.0, 1.0)


def edited_blendshapes(blendshapes: np.ndarray, delta: np.ndarray) -> np.ndarray:
    """(52,) scores after an AU change ``delta`` (17,): every blendshape of an AU gets that AU's
    Δ (shared blendshapes get the sum), clipped to [0, 1]."""
    bs = np.asarray(blendshapes, np.float64).copy()
    if bs.shape != (len(NAMES),):
        raise ValueError(f"expected {len(NAMES)} blendshape scores, got shape {bs.shape}")
    add = np.zeros_like(bs)
    for k, au in enumerate(AUS):
        if delta[k]:
            for name, _ in AU_TABLE[au]:
                add[INDEX[name]] += delta[k]
    return np.clip(bs + add, 0.0, 1.0)


__all__ = ["EMOTIONS", "SUBSTITUTIONS", "MAX_INTENSITY", "EditSpecError", "UnknownActionUnit",
           "MalformedAUSpec", "AUDeltaOutOfRange", "UnknownEmotion", "IntensityOutOfRange", "au_index",
           "parse_au_spec", "au_deltas", "emotion_prototype", "emotion_delta", "edit_delta", "desired_aus",
           "edited_blendshapes", "au_region_mask", "check_intensity"]
