"""Action-unit edits: ``AU12=+0.8`` specs, the emotion → AU prototype table, and AU deltas mapped
onto blendshapes.

An *edit* is a relative change Δ of the action units of
:data:`facexpr.expression.action_units.AUS` (values in [0, 1], estimated from the fitted
expression code), or of one side of a face (``L12``/``R12``, FACS's notation for unilateral AUs;
:data:`UNITS` lists them all). What the edited face should show is
``desired = clip(current + Δ, 0, 1)`` per unit, and the condition given to a relative-AU generator
(Ling et al. 2020, "Toward Fine-grained Facial Expression Manipulation") is ``desired − current``.

Emotion prototypes
------------------
``--emotion NAME`` asks for the prototypical AU combination of a basic emotion, after EMFACS
(W. V. Friesen & P. Ekman 1983, *EMFACS-7: Emotional Facial Action Coding System*, unpublished
manual, University of California San Francisco; the prototype combinations are reproduced in
P. Ekman, W. V. Friesen & J. C. Hager 2002, *Facial Action Coding System: Investigator's Guide*).
EMFACS lists which AUs make up each prototype (sometimes with a FACS intensity letter); the
intensities below are this module's choice, on the FACS letter scale mapped to [0, 1] as
A (trace) 0.2, B (slight) 0.4, C (marked) 0.6, D (severe) 0.8, E (maximum) 1.0:

| emotion  | EMFACS prototype            | used here (AU: intensity)                                   |
|----------|-----------------------------|-------------------------------------------------------------|
| happy    | 6 + 12                      | 6: 0.6 (C), 12: 0.8 (D)                                     |
| sad      | 1 + 4 + 15                  | 1: 1.0 (E), 4: 0.3 (A–B), 15: 1.0 (E)                       |
| surprise | 1 + 2 + 5B + 26             | 1: 0.8 (D), 2: 0.8 (D), 5: 0.4 (B), 26: 0.6 (C)             |
| fear     | 1 + 2 + 4 + 5 + 20 + 25     | 1: 1.0, 2: 0.6, 4: 0.8, 5: 1.0, 20: 1.0, 25: 0.5            |
| angry    | 4 + 5 + 7 + 23 (+ 17, 9)    | 4: 1.0 (E), 5: 0.4 (B), 7: 1.0 (E), 9: 0.5, 17: 0.5, 23: 1.0 |
| disgust  | 9 + 15 + 16 (+ 10, 17)      | 9: 1.0 (E), 10: 0.6 (C), 15: 0.8 (D), 16: 0.2 (A), 17: 0.5  |
| contempt | R12A + R14A                 | R12: 0.6 (C), R14: 0.6 (C) — the subject's right side only  |

The intensities are strong (C–E) where EMFACS gives no letter: an expression photographed for a
face-emotion database is a clear one, and face readers (human or face-api) need the brow and
mouth cues together. Two prototypes add an AU from EMFACS's other variants of the same emotion:
anger's chin raiser (EMFACS "4+5+7+17+23/24") and disgust's upper-lip raiser and chin raiser
(EMFACS's "10" and "9+17" / "10+17" variants beside "9+15+16") — without them face-api read the
anger edit as neutral and the disgust edit (a nose wrinkle and lowered lips) as *anger*; with
AU16 stronger than a trace the lowered lip opens the mouth and disgust reads as *surprise*.
Anger also wrinkles the nose a little (AU9 at C; the shared angry probe photo does, and a warp
cannot show AU5's glare beside AU7's narrowed lids, so AU5 stays slight). Fear is EMFACS's
"1+2+4+5+20+25" variant (lips parted and stretched, no jaw drop): with the jaw
dropped (its "…+26" variant) face-api read it as surprise. These intensities were chosen with
face-api on 12 London neutrals of the *fitting* split (fear .25 → .50, disgust .50 → .75, anger
.42 → .58); the edit benchmark reports the unseen ones.
AU4 lowers the inner brows (the corrugator, see
:func:`facexpr.research.prior_build.corrugator`), so beside AU1 it is kept slight (sadness):
a strong AU4 would flatten sadness's oblique brows into a frown. Contempt is EMFACS's trace-level (A) unilateral smile-and-dimple; at A it is
invisible on a photo, so C is used. AU25 (lips part) is not added beside AU26: both move the
jaw, and a jaw drop parts the lips.

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
AU25 and AU26 share ``jawOpen``: editing both adds both deltas to it. A one-sided unit (``R12``)
changes only that side's blendshapes, so the bilateral AU12 moves by half of it.
"""
from __future__ import annotations

import math
import re
from typing import Iterable, Mapping, Union

import numpy as np

from ..errors import (AUDeltaOutOfRange, EditSpecError, IntensityOutOfRange, MalformedAUSpec,  # noqa: F401
                      UnknownActionUnit, UnknownEmotion)
from ..limits import MAX_DELTA, MAX_INTENSITY, check_intensity  # noqa: F401
from .action_units import AU_TABLE, AUS, au_matrix, estimate, estimate_sides, side_of
from .blendshapes import INDEX, NAMES, region_mask


# AUs whose blendshapes have a left and a right half: they can be edited on one side (L12, R12).
SIDED: tuple[int, ...] = tuple(au for au in AUS if any(side_of(n) for n, _ in AU_TABLE[au]))
# Every editable unit: the bilateral AUs (ints, AUS order), then the subject's left and right halves.
UNITS: tuple[int | str, ...] = tuple(AUS) + tuple(f"L{a}" for a in SIDED) + tuple(f"R{a}" for a in SIDED)

# emotion -> {unit: prototype intensity in [0, 1]} (see the module docstring's table)
EMOTIONS: dict[str, dict[int | str, float]] = {
    "happy": {6: 0.6, 12: 0.8},
    "sad": {1: 1.0, 4: 0.3, 15: 1.0},
    "surprise": {1: 0.8, 2: 0.8, 5: 0.4, 26: 0.6},
    "fear": {1: 1.0, 2: 0.6, 4: 0.8, 5: 1.0, 20: 1.0, 25: 0.5},
    "angry": {4: 1.0, 5: 0.4, 7: 1.0, 9: 0.5, 17: 0.5, 23: 1.0},
    "disgust": {9: 1.0, 10: 0.6, 15: 0.8, 16: 0.2, 17: 0.5},
    "contempt": {"R12": 0.6, "R14": 0.6},
}
# AUs of an EMFACS prototype that cannot be requested here, and what stands in for them.
SUBSTITUTIONS: dict[str, dict[int, int | None]] = {}

_AU_POS = {u: k for k, u in enumerate(UNITS)}
SUPPORTED = ", ".join(f"AU{a}" for a in AUS) + f" (one side: L or R before the number, e.g. R12; sided: {', '.join(map(str, SIDED))})"
_SPEC = re.compile(r"^\s*(?:AU)?\s*([LR]?\s*\d+)\s*=\s*([+-]?(?:\d+\.?\d*|\.\d+))\s*$", re.IGNORECASE)


def unit_name(pos: int) -> str:
    """``AU12`` for a bilateral unit, ``R12`` for a one-sided one."""
    u = UNITS[pos]
    return f"AU{u}" if isinstance(u, int) else u


def current_units(blendshapes: np.ndarray) -> np.ndarray:
    """(len(UNITS),) the face's units now: bilateral AUs, then each side's sided AUs."""
    sides = estimate_sides(blendshapes)
    pos = [AUS.index(a) for a in SIDED]
    return np.concatenate([estimate(blendshapes), sides["L"][pos], sides["R"][pos]])

AUEdits = Union[None, str, Iterable[str], Mapping[Union[int, str], float]]


def au_index(au: int | str) -> int:
    """Position in :data:`UNITS` of an AU given as ``12``, ``"12"``, ``"AU12"``, or one side of
    it as ``"R12"``/``"AU R12"`` (the subject's right)."""
    text = str(au).strip()
    m = re.fullmatch(r"(?:AU)?\s*([LR]?)\s*(\d+)", text, re.IGNORECASE)
    if not m:
        raise MalformedAUSpec(f"'{text}' is not an action unit (write it as AU12 or R12; supported: {SUPPORTED})")
    side, n = m.group(1).upper(), int(m.group(2))
    key: int | str = f"{side}{n}" if side else n
    if n not in AUS:
        raise UnknownActionUnit(f"AU{n} is not supported; supported: {SUPPORTED}")
    if key not in _AU_POS:
        raise UnknownActionUnit(f"AU{n} has no left/right halves, so {side}{n} cannot be edited; "
                                f"use AU{n}; supported: {SUPPORTED}")
    return _AU_POS[key]


def check_delta(au_pos: int, delta: float) -> float:
    d = float(delta)
    if not math.isfinite(d) or not -MAX_DELTA <= d <= MAX_DELTA:
        raise AUDeltaOutOfRange(f"{unit_name(au_pos)}: change {delta} is outside [-{MAX_DELTA:g}, +{MAX_DELTA:g}] "
                                "(AU intensities run from 0 to 1)")
    return d


def parse_au_spec(spec: str) -> tuple[int, float]:
    """``"AU12=+0.8"`` → ``(index into UNITS, +0.8)``; ``"R12=+0.4"`` edits one side. ``AU`` is
    optional and case-free."""
    text = str(spec)
    m = _SPEC.match(text)
    if not m:
        if "=" in text:
            au_index(text.split("=", 1)[0])  # an unknown/garbled AU gets its own message
        raise MalformedAUSpec(f"--au '{text}': expected AU<number>=<change>, e.g. AU12=+0.8, AU4=-0.5 or R12=+0.4")
    pos = au_index(m.group(1))
    return pos, check_delta(pos, float(m.group(2)))


def au_deltas(aus: AUEdits) -> np.ndarray:
    """Δ in :data:`UNITS` order from ``"AU12=+0.8"`` specs (one string or several) or a
    mapping ``{12: 0.8, "AU4": -0.5, "R14": 0.3}``. A unit given twice is an error."""
    out = np.zeros(len(UNITS), np.float64)
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
            raise MalformedAUSpec(f"{unit_name(pos)} is given more than once; give each AU once")
        seen.add(pos)
        out[pos] = d
    return out


def emotion_prototype(name: str) -> np.ndarray:
    """Prototype intensities of an emotion over :data:`UNITS` (0 for units outside it)."""
    key = str(name).strip().lower()
    if key not in EMOTIONS:
        raise UnknownEmotion(f"unknown emotion '{name}' (choose from {', '.join(EMOTIONS)})")
    p = np.zeros(len(UNITS), np.float64)
    for au, v in EMOTIONS[key].items():
        p[_AU_POS[au]] = v
    return p


def emotion_delta(name: str, intensity: float, current_aus: np.ndarray) -> np.ndarray:
    """Δ over :data:`UNITS` that adds the emotion's prototype: ``intensity · max(prototype − current, 0)`` on the
    prototype's AUs, 0 elsewhere."""
    p = emotion_prototype(name)
    cur = np.asarray(current_aus, np.float64)
    return check_intensity(intensity) * np.where(p > 0, np.maximum(p - cur, 0.0), 0.0)


def edit_delta(current_aus: np.ndarray, aus: AUEdits = None, emotion: str | None = None,
               intensity: float = 1.0) -> np.ndarray:
    """The requested Δ over :data:`UNITS`: ``intensity · (AU deltas + the emotion's deltas)``.
    ``current_aus`` are the face's units (:func:`current_units`)."""
    intensity = check_intensity(intensity)
    d = au_deltas(aus)
    if emotion:
        d = d + emotion_delta(emotion, 1.0, current_aus)
    return intensity * d


def desired_aus(current_aus: np.ndarray, delta: np.ndarray) -> np.ndarray:
    """``clip(current + Δ, 0, 1)``: the AUs the edited face should show."""
    return np.clip(np.asarray(current_aus, np.float64) + delta, 0.0, 1.0)


def au_region_mask(regions) -> np.ndarray:
    """(len(AUS),) 1 for the AUs whose blendshapes lie in ``regions`` (brows, eyes, mouth), else 0."""
    return np.clip(au_matrix() @ region_mask(tuple(regions)), 0.0, 1.0)


def edited_blendshapes(blendshapes: np.ndarray, delta: np.ndarray) -> np.ndarray:
    """(52,) scores after a change ``delta`` over :data:`UNITS` (or just the bilateral AUS):
    every blendshape of an AU gets that AU's Δ (shared blendshapes get the sum); a one-sided
    unit reaches only that side's (and unsided) blendshapes; clipped to [0, 1]."""
    bs = np.asarray(blendshapes, np.float64).copy()
    if bs.shape != (len(NAMES),):
        raise ValueError(f"expected {len(NAMES)} blendshape scores, got shape {bs.shape}")
    add = np.zeros_like(bs)
    for k, unit in enumerate(UNITS[:len(delta)]):
        if not delta[k]:
            continue
        side, au = (None, unit) if isinstance(unit, int) else (unit[0], int(unit[1:]))
        for name, _ in AU_TABLE[au]:
            if side is None or side_of(name) in (None, side):
                add[INDEX[name]] += delta[k]
    return np.clip(bs + add, 0.0, 1.0)


__all__ = ["EMOTIONS", "SUBSTITUTIONS", "UNITS", "SIDED", "current_units", "unit_name", "MAX_INTENSITY", "EditSpecError", "UnknownActionUnit",
           "MalformedAUSpec", "AUDeltaOutOfRange", "UnknownEmotion", "IntensityOutOfRange", "au_index",
           "parse_au_spec", "au_deltas", "emotion_prototype", "emotion_delta", "edit_delta", "desired_aus",
           "edited_blendshapes", "au_region_mask", "check_intensity"]
