"""The eyeball painted into widened lids (``render.eyes``), on a drawn eye whose upper lid hides the
top of the iris."""
from __future__ import annotations

import cv2
import numpy as np

from facexpr.faces.topology import EYE_RIGHT, IRIS_RIGHT
from facexpr.render.eyes import open_eye

C = np.array([100.0, 60.0])   # iris centre
R = 12.0                      # iris radius
SKIN, SCLERA, IRIS = (200, 160, 140), (235, 232, 228), (110, 70, 40)


def eye_contour(up: float, down: float = 10.0, half_w: float = 30.0) -> np.ndarray:
    """16 points in EYE_* order: 0 outer corner (image left), 1..7 lower lid, 8 inner corner,
    9..15 upper lid back toward 0."""
    t = np.linspace(0, np.pi, 9)
    x = C[0] - half_w * np.cos(t)
    lower = np.stack([x, C[1] + down * np.sin(t)], 1)
    upper = np.stack([x[::-1], C[1] - up * np.sin(t[::-1])], 1)
    return np.concatenate([lower, upper[1:-1]])


def face(up: float) -> tuple[np.ndarray, np.ndarray]:
    """A 478-point face whose only meaningful points are the right eye and iris, and a photo with
    skin, a sclera filling the lids and an iris whose top the upper lid hides."""
    xy = np.tile(C, (478, 1)) + np.linspace(-80, 80, 478)[:, None]  # spread: a sane face size
    xy[list(EYE_RIGHT)] = eye_contour(up)
    xy[IRIS_RIGHT[0]] = C
    ang = np.linspace(0, 2 * np.pi, 4, endpoint=False)
    xy[list(IRIS_RIGHT[1:])] = C + R * np.stack([np.cos(ang), np.sin(ang)], 1)
    img = np.zeros((140, 200, 3), np.uint8)
    img[:] = SKIN
    lids = np.round(eye_contour(up) * 16).astype(np.int32)
    eye = np.zeros(img.shape[:2], np.uint8)
    cv2.fillPoly(eye, [lids], 255, cv2.LINE_AA, 4)
    ball = img.copy()
    ball[:] = SCLERA
    cv2.circle(ball, (int(C[0]), int(C[1])), int(R), IRIS, -1, cv2.LINE_AA)
    cv2.circle(ball, (int(C[0]), int(C[1])), 4, (10, 10, 10), -1, cv2.LINE_AA)
    m = (eye.astype(np.float32) / 255)[..., None]
    return xy, (img * (1 - m) + ball * m).astype(np.uint8)


BOX = (50, 30, 150, 90)


def test_narrowing_or_unchanged_eye_gets_nothing():
    xy, img = face(up=6.0)
    assert open_eye(img, xy, xy, EYE_RIGHT, IRIS_RIGHT, BOX) is None
    closing = xy.copy()
    closing[list(EYE_RIGHT)] = eye_contour(up=3.0, down=6.0)
    assert open_eye(img, xy, closing, EYE_RIGHT, IRIS_RIGHT, BOX) is None


def test_opened_eye_layer_shapes_alpha_and_keep():
    xy, img = face(up=6.0)
    dst = xy.copy()
    dst[list(EYE_RIGHT)] = eye_contour(up=16.0)
    fill = open_eye(img, xy, dst, EYE_RIGHT, IRIS_RIGHT, BOX)
    h, w = BOX[3] - BOX[1], BOX[2] - BOX[0]
    assert fill.layer.offset == BOX[:2]
    assert fill.layer.image.shape == (h, w, 3) and fill.layer.image.dtype == np.uint8
    a = fill.layer.alpha
    assert a.shape == (h, w) and a.dtype == np.float32 and 0 <= a.min() and a.max() <= 1 and a.max() > 0.99
    assert fill.keep.shape == (h, w) and 0 <= fill.keep.min() and fill.keep.max() <= 1
    contour = (eye_contour(16.0) - BOX[:2]).astype(np.float32).reshape(-1, 1, 2)
    ys, xs = np.nonzero(a > 0)
    assert min(cv2.pointPolygonTest(contour, (float(x), float(y)), True) for x, y in zip(xs, ys)) > -0.5
    # The target's own iris is re-pasted only where it was visible: not above the old lid.
    assert fill.keep[int(C[1] - 10 - BOX[1]), int(C[0] - BOX[0])] < 0.05
    assert fill.keep[int(C[1] - BOX[1]), int(C[0] - BOX[0])] > 0.95


def test_revealed_sclera_is_light_and_hidden_iris_is_completed():
    xy, img = face(up=6.0)
    dst = xy.copy()
    dst[list(EYE_RIGHT)] = eye_contour(up=16.0)
    fill = open_eye(img, xy, dst, EYE_RIGHT, IRIS_RIGHT, BOX)
    lab = cv2.cvtColor(fill.layer.image, cv2.COLOR_RGB2LAB).astype(float)
    skin_L = cv2.cvtColor(np.uint8([[SKIN]]), cv2.COLOR_RGB2LAB)[0, 0, 0]
    iris_L = cv2.cvtColor(np.uint8([[IRIS]]), cv2.COLOR_RGB2LAB)[0, 0, 0]
    # Newly revealed sclera (above the old lid, beside the iris): light, not skin.
    y = int(C[1] - 10 - BOX[1])
    for x in (int(C[0] - 15 - BOX[0]), int(C[0] + 15 - BOX[0])):
        assert fill.layer.alpha[y, x] > 0.9 and lab[y, x, 0] > skin_L
    # The iris's top, hidden before, now iris-dark (within the new lids).
    top = lab[int(C[1] - 0.8 * R - BOX[1]), int(C[0] - BOX[0])]
    assert abs(top[0] - iris_L) < 25
    again = open_eye(img, xy, dst, EYE_RIGHT, IRIS_RIGHT, BOX)
    assert np.array_equal(again.layer.image, fill.layer.image)  # deterministic
