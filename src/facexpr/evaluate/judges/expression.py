"""Expression judge: MediaPipe's FaceLandmarker (Google, Apache-2.0) read as an observer.

It reports what a face does: 52 blendshape scores, 478 landmarks, and the 17 FACS action-unit
intensities estimated from the blendshapes by the fixed linear map of
:mod:`facexpr.expression.action_units`. facexpr also *uses* MediaPipe to find faces, so this judge
is not independent of the method's input analysis; it is used only for geometry and blendshape
read-outs, never as the sole judge of success (emotion, identity and realism judges are separate
networks).

Scores are computed on the whole image (MediaPipe crops internally); the largest face is read.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...expression import action_units
from ...expression.blendshapes import REGIONS, region_mask
from ...expression.analysis import analyze_faces, change_between, reanalyze  # the fitted expression code


@dataclass
class ExpressionReading:
    landmarks: np.ndarray    # (478, 3) pixels
    blendshapes: np.ndarray  # (52,)
    aus: np.ndarray          # in action_units.AUS order, 0..1

    @classmethod
    def from_face(cls, face) -> "ExpressionReading":
        bs = np.asarray(face.blendshapes, np.float64)
        return cls(np.asarray(face.landmarks, np.float64), bs, action_units.estimate(bs))


# Blendshapes that are expression (brows, lids, mouth, cheeks, nose); gaze and "_neutral" are not.
EXPRESSION_MASK = region_mask(REGIONS).astype(bool)


def read(image: np.ndarray) -> ExpressionReading | None:
    """The largest face's reading, or None when MediaPipe finds no face."""
    faces = analyze_faces(image)
    return ExpressionReading.from_face(faces[0]) if faces else None


def measure_aus(image: np.ndarray, near) -> np.ndarray | None:
    """The AUs (action_units.AUS) of the face near ``near`` (a :class:`~facexpr.faces.landmarks.Face` of the same
    photo) re-analysed on ``image`` (MediaPipe on a crop around it, then
    :func:`facexpr.expression.action_units.estimate`), or None when no face is found there. The one
    way the AU-editing task measures AUs, inputs and outputs alike: a change of the AU estimator
    reaches every number through here."""
    face = reanalyze(image, near)
    return None if face is None else action_units.estimate(face.blendshapes)


def measure_au_change(before, after_image: np.ndarray) -> np.ndarray | None:
    """The AU change (action_units.AUS, signed) from ``before`` (a re-analysed face, e.g.
    ``reanalyze(input, face)``) to the same face re-analysed on ``after_image``, or None when no
    face is found there. A *paired* reading (:func:`facexpr.expression.analysis.change_between`):
    the two photos' landmark change is fitted, so the person's identity cancels; every shape but
    smile, jaw, blink and gaze is read from the landmarks — MediaPipe's classifier barely scores
    dimples, presses, rolls, frowns or brow motion. It still needs MediaPipe to *see* the change
    in the pixels: the landmarks come from the output image."""
    face = reanalyze(after_image, before)
    if face is None:
        return None
    return action_units.au_matrix() @ change_between(before, face)
