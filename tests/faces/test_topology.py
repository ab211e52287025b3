"""Mesh index sets: valid, disjoint where they must be, and the helpers measure what they say."""
from __future__ import annotations

import numpy as np

from facexpr.faces import topology as T


def test_indices_valid_and_unique():
    for name in ("LIPS_OUTER", "LIPS_INNER", "EYE_RIGHT", "EYE_LEFT", "BROW_RIGHT", "BROW_LEFT",
                 "FACE_OVAL", "IRIS_RIGHT", "IRIS_LEFT", "STABLE"):
        idx = getattr(T, name)
        assert all(0 <= i < T.N_LANDMARKS for i in idx), name
        assert len(set(idx)) == len(idx), name
    assert T.IRIS_RIGHT[0] == 468 and T.IRIS_LEFT[0] == 473 and T.N_LANDMARKS == 478


def test_stable_points_avoid_moving_parts():
    moving = set(T.LIPS_OUTER + T.LIPS_INNER + T.BROW_LEFT + T.BROW_RIGHT + T.IRISES)
    assert not set(T.STABLE) & moving
    assert len(T.STABLE) >= 10


def test_left_right_sets_disjoint():
    assert not set(T.EYE_LEFT) & set(T.EYE_RIGHT)
    assert not set(T.BROW_LEFT) & set(T.BROW_RIGHT)
    assert set(T.MOUTH_CORNERS) <= set(T.LIPS_OUTER)
    assert set(T.EYE_RIGHT_LIDS + T.EYE_RIGHT_CORNERS) <= set(T.EYE_RIGHT)
    assert set(T.EYE_LEFT_LIDS + T.EYE_LEFT_CORNERS) <= set(T.EYE_LEFT)


def test_face_size_and_interocular():
    xy = np.full((478, 2), 50.0)
    xy[0] = (10, 20)
    xy[1] = (110, 70)
    assert T.face_size(xy) == 100.0
    xy[T.IRIS_RIGHT[0]] = (40, 50)
    xy[T.IRIS_LEFT[0]] = (70, 90)
    assert T.interocular(xy) == 50.0


def test_oval_surrounds_the_features(model):
    """On the model's mean face the oval polygon contains eyes, brows and mouth."""
    import cv2

    pts = model.mean_shape[:, :2] * 100 + 500
    oval = pts[list(T.FACE_OVAL)].astype(np.float32)
    for i in T.LIPS_OUTER + T.EYE_LEFT + T.EYE_RIGHT + T.BROW_LEFT + T.BROW_RIGHT:
        assert cv2.pointPolygonTest(oval, (float(pts[i, 0]), float(pts[i, 1])), False) > 0
