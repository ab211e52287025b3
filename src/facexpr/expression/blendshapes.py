"""MediaPipe's 52 ARKit-style blendshapes: names and the face regions they belong to.

Blendshape scores are the project's identity-independent expression code: they say *what* the
face does (smile, blink, jaw open) without saying whose face it is.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

NAMES = (
    "_neutral", "browDownLeft", "browDownRight", "browInnerUp", "browOuterUpLeft", "browOuterUpRight",
    "cheekPuff", "cheekSquintLeft", "cheekSquintRight", "eyeBlinkLeft", "eyeBlinkRight",
    "eyeLookDownLeft", "eyeLookDownRight", "eyeLookInLeft", "eyeLookInRight", "eyeLookOutLeft",
    "eyeLookOutRight", "eyeLookUpLeft", "eyeLookUpRight", "eyeSquintLeft", "eyeSquintRight",
    "eyeWideLeft", "eyeWideRight", "jawForward", "jawLeft", "jawOpen", "jawRight", "mouthClose",
    "mouthDimpleLeft", "mouthDimpleRight", "mouthFrownLeft", "mouthFrownRight", "mouthFunnel",
    "mouthLeft", "mouthLowerDownLeft", "mouthLowerDownRight", "mouthPressLeft", "mouthPressRight",
    "mouthPucker", "mouthRight", "mouthRollLower", "mouthRollUpper", "mouthShrugLower",
    "mouthShrugUpper", "mouthSmileLeft", "mouthSmileRight", "mouthStretchLeft", "mouthStretchRight",
    "mouthUpperUpLeft", "mouthUpperUpRight", "noseSneerLeft", "noseSneerRight",
)
INDEX = {n: i for i, n in enumerate(NAMES)}
# The code of a mirrored face: index i of a mirror image's code holds the original's MIRRORED[i]
# (Left <-> Right swapped; gaze In/Out also swap sides but keep their names, as MediaPipe scores
# them per eye).
MIRRORED = tuple(INDEX[n.replace("Left", "#").replace("Right", "Left").replace("#", "Right")] for n in NAMES)

REGIONS = ("brows", "eyes", "mouth")

# Fitted with the prior: the movements MediaPipe's classifier is blind to (its scores stay near 0
# on every shared video, 95th percentile ≤ 0.05, while the landmarks move) — brows, widened
# eyes, cheek raise, nose wrinkle, lip-corner depression.
FITTED = tuple(n for n in NAMES if n.startswith(("brow", "eyeWide", "cheekSquint", "noseSneer", "mouthFrown")))
# Everything else keeps MediaPipe's score: it measures smiles, jaw, blinks, lids and lips well,
# and the London-fitted model — person-calibrated on exactly these scores, and better than ICT's
# generic shapes on held-out London smiles (benchmarks/prior_smile.py) — moves the landmarks
# for them. Gaze is not expression.
FROM_MEDIAPIPE = tuple(n for n in NAMES if n not in FITTED)


def _region_of(name: str) -> str | None:
    if name.startswith("brow"):
        return "brows"
    if name.startswith("eyeLook"):
        return None  # gaze direction is not expression: the target keeps its own gaze
    if name.startswith(("eyeBlink", "eyeSquint", "eyeWide")):
        return "eyes"
    if name.startswith(("jaw", "mouth", "cheek", "nose")):
        return "mouth"
    return None  # "_neutral" is a summary, not a movement


def region_mask(regions=REGIONS) -> np.ndarray:
    """A 0/1 vector over the 52 blendshapes that belong to any of ``regions``."""
    bad = set(regions) - set(REGIONS)
    if bad:
        raise ValueError(f"unknown region(s) {sorted(bad)}; choose from {', '.join(REGIONS)}")
    return _region_mask(frozenset(regions)).copy()


@lru_cache(maxsize=16)
def _region_mask(regions: frozenset) -> np.ndarray:  # asked for per retargeted frame
    return np.array([_region_of(n) in regions for n in NAMES], dtype=np.float32)


def as_dict(scores: np.ndarray) -> dict[str, float]:
    return {n: float(v) for n, v in zip(NAMES, scores)}
