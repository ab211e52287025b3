"""The synthesised mouth interior (``render.mouth``) on hand-made inner-lip polygons."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from facexpr.render.common import Colours
from facexpr.render.mouth import MouthConfig, mix_synthetic, synth_mouth, synthetic_weight

SKIN = np.array([170.0, 140.0, 145.0], np.float32)
LIP = np.array([130.0, 160.0, 145.0], np.float32)
COLOURS = Colours(SKIN, LIP)
FACE = 500.0


def inner_lips(cx=200.0, cy=150.0, half_w=60.0, up=10.0, down=30.0) -> np.ndarray:
    """20 points in LIPS_INNER order: 0 = right corner (image left), 0→10 lower lip, 10 = left
    corner, 10→20 upper lip."""
    t = np.linspace(0, np.pi, 11)
    x = cx - half_w * np.cos(t)                    # 0 → 10: image left → right
    lower = np.stack([x, cy + down * np.sin(t)], 1)
    upper = np.stack([x[::-1], cy - up * np.sin(t[::-1])], 1)  # 10 → 0 back along the top
    return np.concatenate([lower, upper[1:-1]])


def lum(img: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(img, cv2.COLOR_RGB2LAB)[..., 0].astype(np.float64)


def test_polygon_order_helper():
    p = inner_lips()
    assert p.shape == (20, 2)
    assert p[0, 0] < p[10, 0] and p[5, 1] > p[15, 1]  # corners left→right, lower below upper


def test_shapes_ranges_and_alpha_inside_polygon():
    poly = inner_lips()
    layer = synth_mouth(poly, FACE, COLOURS)
    h, w = layer.alpha.shape
    assert layer.image.shape == (h, w, 3) and layer.image.dtype == np.uint8
    assert layer.alpha.dtype == np.float32 and layer.alpha.min() >= 0 and layer.alpha.max() <= 1
    assert layer.alpha.max() == pytest.approx(1.0)
    x0, y0 = layer.offset
    contour = (poly - (x0, y0)).astype(np.float32).reshape(-1, 1, 2)
    ys, xs = np.nonzero(layer.alpha > 0)
    dist = [cv2.pointPolygonTest(contour, (float(x), float(y)), True) for x, y in zip(xs, ys)]
    assert min(dist) > -0.5  # nothing painted outside the inner lips


def test_closed_mouth_gives_nothing():
    poly = inner_lips(up=0.0, down=0.0)
    assert synth_mouth(poly, FACE, COLOURS) is None
    img = np.full((40, 60, 3), 77, np.uint8)
    mask = np.zeros((40, 60), np.float32)
    out, m = mix_synthetic(img, mask, np.zeros((300, 400, 3), np.uint8), np.zeros((478, 2)) + 100,
                           poly, (170, 130), FACE, 0.0)
    assert out is img and m is mask


def test_not_a_flat_fill_teeth_on_top_cavity_below():
    poly = inner_lips(up=12.0, down=38.0)  # a jaw drop
    layer = synth_mouth(poly, FACE, COLOURS)
    L, a = lum(layer.image), layer.alpha > 0.99
    assert L[a].std() > 15
    x0, y0 = layer.offset
    top, bottom = poly[15, 1] - y0, poly[5, 1] - y0
    col = slice(int(poly[17, 0] - x0), int(poly[13, 0] - x0))  # the middle of the mouth
    third = (bottom - top) / 3
    band = L[int(top + 2):int(top + third), col][a[int(top + 2):int(top + third), col]]
    below = L[int(top + third):int(bottom - 2), col][a[int(top + third):int(bottom - 2), col]]
    assert band.mean() > 0.9 * SKIN[0]         # teeth: about as light as the skin
    assert band.mean() > LIP[0]                # and lighter than the lips
    assert below.mean() < 0.6 * band.mean()    # a dark cavity under them


def test_slight_parting_is_mostly_teeth_jaw_drop_has_cavity_and_tongue():
    slit = synth_mouth(inner_lips(up=2.0, down=4.0), FACE, COLOURS)
    drop = synth_mouth(inner_lips(up=14.0, down=45.0), FACE, COLOURS)

    def bright_fraction(layer):
        L, a = lum(layer.image), layer.alpha > 0.5
        return float((L[a] > 0.6 * SKIN[0]).mean())

    assert bright_fraction(slit) > 0.3
    assert bright_fraction(drop) < bright_fraction(slit)
    # The tongue: reddish (Lab a above neutral) pixels low in the jaw-drop opening.
    lab = cv2.cvtColor(drop.image, cv2.COLOR_RGB2LAB).astype(float)
    low = lab[int(0.75 * lab.shape[0]):, :][drop.alpha[int(0.75 * lab.shape[0]):, :] > 0.99]
    assert (low[:, 1] > 140).mean() > 0.2 and low[:, 0].mean() > 40


def test_deterministic_and_scales_with_face():
    poly = inner_lips(up=10.0, down=30.0)
    a, b = synth_mouth(poly, FACE, COLOURS), synth_mouth(poly, FACE, COLOURS)
    assert np.array_equal(a.image, b.image) and np.array_equal(a.alpha, b.alpha)
    big = synth_mouth(poly * 2, FACE * 2, COLOURS)
    assert big.alpha.shape[0] > 1.8 * a.alpha.shape[0]


def test_bounds_clip_the_box():
    poly = inner_lips()
    layer = synth_mouth(poly, FACE, COLOURS, bounds=(150, 140, 230, 200))
    assert layer.offset == (150, 140) and layer.alpha.shape[1] == 80 and layer.alpha.shape[0] <= 60


def test_synthetic_weight_and_mix():
    cfg = MouthConfig()
    assert synthetic_weight(0.0) == 1.0 and synthetic_weight(1.0) == 0.0
    assert 0 < synthetic_weight(0.5 * (cfg.synth_below + cfg.synth_above)) < 1
    poly = inner_lips()
    target = np.full((300, 400, 3), 180, np.uint8)
    xy = np.tile([200.0, 150.0], (478, 1))
    src = np.full((80, 160, 3), 90, np.uint8)
    mask = np.zeros((80, 160), np.float32)
    mask[20:60, 40:120] = 0.5
    same_img, same_mask = mix_synthetic(src, mask, target, xy, poly, (120, 110), FACE, 1.0)
    assert same_img is src and same_mask is mask  # a wide-open source keeps its own interior
    img, m = mix_synthetic(src, mask, target, xy, poly, (120, 110), FACE, 0.0)
    assert img.shape == src.shape and m.dtype == np.float32
    assert np.all(m >= mask - 1e-6) and m.max() == pytest.approx(1.0)
    assert not np.array_equal(img, src)
    outside = m == mask
    assert np.array_equal(img[outside & (mask > 0)], src[outside & (mask > 0)])


def test_teeth_take_their_lightness_from_the_eye_whites_on_dark_skin():
    dark = Colours(np.array([90.0, 140.0, 145.0], np.float32), np.array([70.0, 150.0, 140.0], np.float32))
    lit = Colours(dark.skin, dark.lip, white=200.0)
    poly = inner_lips(up=12.0, down=38.0)
    a, b = synth_mouth(poly, FACE, dark), synth_mouth(poly, FACE, lit)
    assert lum(b.image).max() > lum(a.image).max() + 40
