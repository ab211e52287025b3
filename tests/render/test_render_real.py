"""``facexpr.edit(<London neutral>, emotion="surprise")`` through ``warp``: the opened mouth shows
a teeth band lighter than the lips, and the widened eyes more sclera than before."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

import facexpr
from facexpr.faces.topology import EYE_LEFT, EYE_RIGHT, LIPS_INNER
from facexpr.render.common import colour_probe

pytestmark = pytest.mark.data


@pytest.fixture(scope="module")
def surprise(target_path):
    return facexpr.edit(target_path, emotion="surprise", method="warp")


def _lab(img: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(img, cv2.COLOR_RGB2LAB).astype(np.float64)


def _inside(shape, poly: np.ndarray) -> np.ndarray:
    m = np.zeros(shape[:2], np.uint8)
    cv2.fillPoly(m, [np.round(poly).astype(np.int32)], 1)
    return m.astype(bool)


def test_surprise_mouth_shows_a_teeth_band_lighter_than_the_lips(surprise, target_img, target_face):
    xy = surprise.retargeted.xy
    poly = xy[list(LIPS_INNER)]
    top, bottom = xy[13, 1], xy[14, 1]
    assert bottom - top > 0.03 * target_face.size  # the mouth did open
    ys, xs = np.mgrid[:target_img.shape[0], :target_img.shape[1]]
    mid = 0.5 * (poly[0, 0] + poly[10, 0])
    half = 0.25 * abs(poly[10, 0] - poly[0, 0])
    inside = _inside(target_img.shape, poly) & (np.abs(xs - mid) < half)
    band = inside & (ys < top + (bottom - top) / 3)
    below = inside & (ys > top + (bottom - top) / 2)
    L = _lab(surprise.image)[..., 0]
    lip_L = colour_probe(target_img, target_face.xy, target_face.size).lip[0]
    assert L[band].mean() > lip_L + 10, (L[band].mean(), lip_L)
    assert L[below].mean() < L[band].mean() - 30  # a darker cavity below the teeth
    assert L[inside].std() > 15                   # not a flat fill


def _sclera_pixels(img: np.ndarray, xy: np.ndarray, skin_L: float) -> int:
    lab = _lab(img)
    light = (lab[..., 0] > skin_L) & (np.hypot(lab[..., 1] - 128, lab[..., 2] - 128) < 20)
    return sum(int((_inside(img.shape, xy[list(eye)]) & light).sum()) for eye in (EYE_RIGHT, EYE_LEFT))


@pytest.mark.parametrize("aus", [{"AU5": 1.0}])
def test_widened_eyes_show_more_sclera(aus, target_path, target_img, target_face):
    """The upper lid raiser at full strength (ICT's eyeWide): the opening shows sclera, not skin."""
    wide = facexpr.edit(target_path, aus=aus, method="warp")
    skin_L = colour_probe(target_img, target_face.xy, target_face.size).skin[0]
    before = _sclera_pixels(target_img, target_face.xy, skin_L)
    after = _sclera_pixels(wide.image, wide.retargeted.xy, skin_L)
    assert after > 1.05 * before, (before, after)
