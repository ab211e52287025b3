"""FACS action units estimated from the expression code: a fixed, documented linear map.

The expression code (:mod:`facexpr.expression.analysis`) has MediaPipe's 52 ARKit-named
blendshapes — fitted to the face's landmarks with the ICT-FaceKit prior, MediaPipe's own scores
kept for smiles — and ARKit's documentation (and ICT-FaceKit's FACS table) describes each as a
facial movement; most correspond to one FACS action unit (AU), usually split into a left and a
right half. The estimate of an AU's intensity is a weighted sum of its blendshapes, clipped to
[0, 1] (0 = absent, 1 = maximal; multiply by 5 for a FACS A-E-like 0-5 scale)::

    AU_k = clip( sum_j  W[k, j] * blendshape_j , 0, 1)

| AU | FACS name            | blendshapes (weight)                                               |
|----|----------------------|--------------------------------------------------------------------|
| 1  | inner brow raiser    | browInnerUp (1)                                                    |
| 2  | outer brow raiser    | browOuterUpLeft, browOuterUpRight (1/2 each)                       |
| 4  | brow lowerer         | browDownLeft, browDownRight (1/2 each)                             |
| 5  | upper lid raiser     | eyeWideLeft, eyeWideRight (1/2 each)                               |
| 6  | cheek raiser         | cheekSquintLeft, cheekSquintRight (1/2 each)                       |
| 7  | lid tightener        | eyeSquintLeft, eyeSquintRight (1/2 each)                           |
| 9  | nose wrinkler        | noseSneerLeft, noseSneerRight (1/2 each)                           |
| 10 | upper lip raiser     | mouthUpperUpLeft, mouthUpperUpRight (1/2 each)                     |
| 12 | lip corner puller    | mouthSmileLeft, mouthSmileRight (1/2 each)                         |
| 14 | dimpler              | mouthDimpleLeft, mouthDimpleRight (1/2 each)                       |
| 15 | lip corner depressor | mouthFrownLeft, mouthFrownRight (1/2 each)                         |
| 17 | chin raiser          | mouthShrugLower (1)                                                |
| 20 | lip stretcher        | mouthStretchLeft, mouthStretchRight (1/2 each)                     |
| 23 | lip tightener        | mouthPressLeft, mouthPressRight (1/2 each)                         |
| 25 | lips part            | jawOpen (0.4), mouthLowerDownLeft, mouthLowerDownRight (0.3 each)  |
| 26 | jaw drop             | jawOpen (1)                                                        |
| 45 | blink                | eyeBlinkLeft, eyeBlinkRight (1/2 each)                             |
| 16 | lower lip depressor  | mouthLowerDownLeft, mouthLowerDownRight (1/2 each)                 |
| 18 | lip pucker           | mouthPucker (1)                                                    |
| 22 | lip funneler         | mouthFunnel (1)                                                    |
| 24 | lip pressor          | mouthPressLeft, mouthPressRight (1/2 each)                         |
| 28 | lip suck             | mouthRollLower, mouthRollUpper (1/2 each)                          |

The first 17 rows are the original table (their order is kept: generators trained on that
17-vector, e.g. ``relative-au``, read :data:`AUS_V1`); AU16–28 follow ICT-FaceKit's FACS table.
ICT lists AU10 as ``mouthShrugUpper`` and ``mouthUpperUp`` as AU11 (nasolabial deepener); here
AU10 stays ``mouthUpperUp`` (ARKit's "upper lip up", what MediaPipe and most ARKit→FACS maps
use), so labels made with the original table keep their meaning.

Caveats, stated so nobody over-reads the numbers: this is an *estimate* through MediaPipe's
landmarks and a generic 3D prior, not a FACS coder. ARKit has no separate lip tightener (AU23) and
lip pressor (AU24): ``mouthPress`` stands for both. Lips part (AU25) has no blendshape of its own; it is approximated by jaw opening plus the
lower lip pulled down. Left/right halves are averaged; :func:`estimate_sides` gives each side
(``L12``/``R12`` in FACS's notation for unilateral AUs).
"""
from __future__ import annotations

import numpy as np

from .blendshapes import INDEX, NAMES

# AU number -> ((blendshape, weight), ...)
AU_TABLE: dict[int, tuple[tuple[str, float], ...]] = {
    1: (("browInnerUp", 1.0),),
    2: (("browOuterUpLeft", 0.5), ("browOuterUpRight", 0.5)),
    4: (("browDownLeft", 0.5), ("browDownRight", 0.5)),
    5: (("eyeWideLeft", 0.5), ("eyeWideRight", 0.5)),
    6: (("cheekSquintLeft", 0.5), ("cheekSquintRight", 0.5)),
    7: (("eyeSquintLeft", 0.5), ("eyeSquintRight", 0.5)),
    9: (("noseSneerLeft", 0.5), ("noseSneerRight", 0.5)),
    10: (("mouthUpperUpLeft", 0.5), ("mouthUpperUpRight", 0.5)),
    12: (("mouthSmileLeft", 0.5), ("mouthSmileRight", 0.5)),
    14: (("mouthDimpleLeft", 0.5), ("mouthDimpleRight", 0.5)),
    15: (("mouthFrownLeft", 0.5), ("mouthFrownRight", 0.5)),
    17: (("mouthShrugLower", 1.0),),
    20: (("mouthStretchLeft", 0.5), ("mouthStretchRight", 0.5)),
    23: (("mouthPressLeft", 0.5), ("mouthPressRight", 0.5)),
    25: (("jawOpen", 0.4), ("mouthLowerDownLeft", 0.3), ("mouthLowerDownRight", 0.3)),
    26: (("jawOpen", 1.0),),
    45: (("eyeBlinkLeft", 0.5), ("eyeBlinkRight", 0.5)),
    16: (("mouthLowerDownLeft", 0.5), ("mouthLowerDownRight", 0.5)),
    18: (("mouthPucker", 1.0),),
    22: (("mouthFunnel", 1.0),),
    24: (("mouthPressLeft", 0.5), ("mouthPressRight", 0.5)),
    28: (("mouthRollLower", 0.5), ("mouthRollUpper", 0.5)),
}

AUS: tuple[int, ...] = tuple(AU_TABLE)
AUS_V1: tuple[int, ...] = AUS[:17]  # the original table, the condition of generators trained on it
AU_NAMES: dict[int, str] = {
    1: "inner brow raiser", 2: "outer brow raiser", 4: "brow lowerer", 5: "upper lid raiser",
    6: "cheek raiser", 7: "lid tightener", 9: "nose wrinkler", 10: "upper lip raiser",
    12: "lip corner puller", 14: "dimpler", 15: "lip corner depressor", 17: "chin raiser",
    20: "lip stretcher", 23: "lip tightener", 25: "lips part", 26: "jaw drop", 45: "blink",
    16: "lower lip depressor", 18: "lip pucker", 22: "lip funneler", 24: "lip pressor", 28: "lip suck",
}


def au_matrix() -> np.ndarray:
    """W, shape (len(AUS), 52): AU estimates are ``clip(W @ blendshapes, 0, 1)``."""
    w = np.zeros((len(AUS), len(NAMES)), np.float64)
    for k, au in enumerate(AUS):
        for name, weight in AU_TABLE[au]:
            w[k, INDEX[name]] = weight
    return w


_W = au_matrix()


def estimate(blendshapes: np.ndarray, aus: tuple[int, ...] = AUS) -> np.ndarray:
    """AU intensities in [0, 1] in ``aus`` order (default :data:`AUS`), for (52,) or (N, 52)
    expression codes."""
    bs = np.asarray(blendshapes, np.float64)
    if bs.shape[-1] != len(NAMES):
        raise ValueError(f"expected {len(NAMES)} blendshape scores, got shape {bs.shape}")
    out = np.clip(bs @ _W.T, 0.0, 1.0)
    return out if aus == AUS else out[..., [AUS.index(a) for a in aus]]


def side_of(name: str) -> str | None:
    """"L" or "R" (the subject's side) for a sided blendshape name, else None."""
    return "L" if name.endswith("Left") else "R" if name.endswith("Right") else None


def side_matrix(side: str) -> np.ndarray:
    """W for one side (len(AUS), 52): that side's blendshapes at full weight (bilateral ones
    such as ``browInnerUp`` count for both sides)."""
    w = np.zeros((len(AUS), len(NAMES)), np.float64)
    for k, au in enumerate(AUS):
        entries = AU_TABLE[au]
        for name, weight in entries:
            s = side_of(name)
            if s is None:
                w[k, INDEX[name]] = weight
            elif s == side:
                w[k, INDEX[name]] = 2 * weight
    return w


def estimate_sides(blendshapes: np.ndarray) -> dict[str, np.ndarray]:
    """{"L": AUs of the subject's left half, "R": of the right half}, each in :data:`AUS` order."""
    bs = np.asarray(blendshapes, np.float64)
    return {s: np.clip(bs @ side_matrix(s).T, 0.0, 1.0) for s in ("L", "R")}


def as_dict(aus: np.ndarray) -> dict[str, float]:
    return {f"AU{au}": float(v) for au, v in zip(AUS, aus)}
