"""Self-supervised pairs: a face and a landmark-driven deformation of it.

A random blendshape change ``delta`` is turned into new landmarks by the expression model
(:func:`facexpr.expression.retarget.apply_delta`, the same retargeting inference uses), and the
photo is moved along with them by a backward piecewise-affine mesh warp
(:class:`facexpr.faces.mesh.MeshSampler`), fading to no motion at the crop border. Any single photo
thus becomes a pair: the deformed face (an input with another expression) and the real one (the
ground truth for the landmarks, blendshapes and AUs it really has).
"""
from __future__ import annotations

import cv2
import numpy as np

from ..expression.blendshapes import NAMES, region_mask
from ..expression.model import ExpressionModel
from ..faces.landmarks import Face
from ..methods.flow import backward_map as _backward_map
from ..methods.flow import landmark_flow  # noqa: F401  (moved to the methods layer; re-exported)
from .config import DeformConfig
from ..expression.retarget import apply_delta


def movable(regions=("brows", "eyes", "mouth")) -> np.ndarray:
    """Indices of the blendshapes a deformation may change (no gaze, no ``_neutral``)."""
    return np.flatnonzero(region_mask(tuple(regions)) > 0)


def random_delta(rng: np.random.Generator, blendshapes: np.ndarray, cfg: DeformConfig,
                 borrow: np.ndarray | None = None) -> np.ndarray:
    """A blendshape change for a face with scores ``blendshapes``.

    With probability ``cfg.p_borrow`` (and ``borrow`` given: another face's scores) the face takes
    that expression over the movable blendshapes; otherwise up to ``cfg.max_active`` random movable
    blendshapes change by up to ``cfg.max_delta``. Scores stay within [0, 1] either way.
    """
    bs = np.asarray(blendshapes, np.float64)
    idx = movable(cfg.regions)
    delta = np.zeros(len(NAMES))
    if borrow is not None and rng.random() < cfg.p_borrow:
        delta[idx] = np.asarray(borrow, np.float64)[idx] - bs[idx]
        return delta
    k = int(rng.integers(1, max(1, cfg.max_active) + 1))
    chosen = rng.choice(idx, size=min(k, len(idx)), replace=False)
    new = np.clip(bs[chosen] + rng.uniform(-cfg.max_delta, cfg.max_delta, len(chosen)), 0.0, 1.0)
    delta[chosen] = new - bs[chosen]
    return delta


def deform(image: np.ndarray, landmarks: np.ndarray, blendshapes: np.ndarray, delta: np.ndarray,
           model: ExpressionModel, pose: np.ndarray | None = None, grid: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``image`` (a crop, (S, S, 3)) with the expression changed by ``delta``: the warped crop and
    its new landmarks (478, 3), both in crop pixels."""
    h, w = image.shape[:2]
    face = Face(np.asarray(landmarks, np.float64), np.asarray(blendshapes, np.float32),
                np.eye(4) if pose is None else np.asarray(pose, np.float64), (w, h))
    new = apply_delta(face, np.asarray(delta, np.float64), model)
    if not np.any(delta):
        return image.copy(), new
    mx, my = _backward_map(face.landmarks, new, (h, w), grid)
    out = cv2.remap(image, mx.astype(np.float32), my.astype(np.float32), cv2.INTER_LINEAR,
                    borderMode=cv2.BORDER_REPLICATE)
    return out, new
