"""Masks, blending and paste-back: outside the mask the target stays bit-for-bit identical."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from facexpr.faces.paste import Patch, blend, paste_back, polygon_mask

SQUARE = np.array([[50, 50], [150, 50], [150, 150], [50, 150]], float)


def _noise(shape, seed):
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def _outside(shape, poly, margin: int = 1) -> np.ndarray:
    """Pixels at least ``margin`` px outside ``poly``."""
    inside = np.zeros(shape, np.uint8)
    cv2.fillPoly(inside, [np.round(poly).astype(np.int32)], 1)
    k = 2 * margin + 1
    return cv2.dilate(inside, np.ones((k, k), np.uint8)) == 0


@pytest.mark.parametrize("feather", [0.0, 1.0, 4.0])
def test_polygon_mask_values(feather):
    m = polygon_mask((200, 200), SQUARE, feather=feather)
    assert m.shape == (200, 200) and m.dtype == np.float32
    assert m.min() >= 0.0 and m.max() <= 1.0 + 1e-6
    assert m[100, 100] == pytest.approx(1.0, abs=1e-5)  # the centre is fully inside
    assert m[0, 0] == 0.0 and m[199, 199] == 0.0
    assert np.all(m[_outside((200, 200), SQUARE, margin=int(np.ceil(2 * feather)) + 1)] == 0.0)


def test_polygon_mask_sharp_is_zero_outside():
    m = polygon_mask((200, 200), SQUARE)
    assert np.all(m[_outside((200, 200), SQUARE)] == 0.0)
    assert np.all(m[51:150, 51:150] == 1.0)


def test_polygon_mask_offset():
    a = polygon_mask((200, 200), SQUARE)
    b = polygon_mask((200, 200), SQUARE + (30, 20), offset=(30, 20))
    assert np.array_equal(a, b)


def test_polygon_mask_feather_softens_the_edge_inwards():
    sharp = polygon_mask((200, 200), SQUARE)
    soft = polygon_mask((200, 200), SQUARE, feather=8.0)
    assert soft[100, 55] < 0.5 < sharp[100, 55]  # just inside the edge: faded
    assert soft.sum() < sharp.sum()              # the fade eats into the polygon, not outward


@pytest.mark.parametrize("feather", [2.0, 10.0])
def test_polygon_mask_feathered_is_zero_outside_outline(feather):
    m = polygon_mask((200, 200), SQUARE, feather=feather)
    assert np.all(m[_outside((200, 200), SQUARE, margin=1)] == 0.0)


def test_blend_exact_where_mask_is_zero_or_one():
    base, over = _noise((60, 80, 3), 0), _noise((60, 80, 3), 1)
    mask = np.zeros((60, 80), np.float32)
    mask[:, 40:] = 1.0
    mask[:, 30:40] = 0.5
    out = blend(base, over, mask)
    assert out.dtype == np.uint8
    assert np.array_equal(out[:, :30], base[:, :30])
    assert np.array_equal(out[:, 40:], over[:, 40:])
    mid = (base[:, 30:40].astype(float) + over[:, 30:40]) / 2
    assert np.abs(out[:, 30:40] - mid).max() <= 0.51


def test_paste_back_translation_leaves_outside_identical():
    target = _noise((300, 400, 3), 2)
    target_before = target.copy()
    img = _noise((100, 120, 3), 3)
    mask = polygon_mask((100, 120), np.array([[10, 10], [110, 10], [110, 90], [10, 90]], float), feather=3)
    patch = Patch(img, mask, np.array([[1, 0, 200], [0, 1, 150]], float))
    out = paste_back(target, patch)
    assert np.array_equal(target, target_before)  # the input is not modified
    assert out.shape == target.shape and out.dtype == np.uint8
    full = np.zeros(target.shape[:2], np.float32)
    full[150:250, 200:320] = mask
    assert np.array_equal(out[full == 0], target[full == 0])
    assert np.array_equal(out[full == 1], img[mask == 1])
    assert (out != target).any()


def test_paste_back_general_affine_leaves_outside_identical():
    target = _noise((300, 300, 3), 4)
    img = _noise((80, 80, 3), 5)
    mask = np.ones((80, 80), np.float32)
    a = np.radians(30)
    A = np.array([[1.5 * np.cos(a), -1.5 * np.sin(a), 120.3], [1.5 * np.sin(a), 1.5 * np.cos(a), 60.7]])
    out = paste_back(target, Patch(img, mask, A))
    warped = cv2.warpAffine(mask, A, (300, 300), flags=cv2.INTER_LINEAR, borderValue=0)
    assert np.array_equal(out[warped == 0], target[warped == 0])
    assert (out[warped > 0.99] != target[warped > 0.99]).any()


def test_paste_back_patch_outside_the_image_is_a_copy():
    target = _noise((100, 100, 3), 6)
    A = np.array([[np.cos(0.3), -np.sin(0.3), 500.0], [np.sin(0.3), np.cos(0.3), 500.0]])
    out = paste_back(target, Patch(_noise((20, 20, 3), 7), np.ones((20, 20), np.float32), A))
    assert np.array_equal(out, target) and out is not target


def test_paste_back_zero_mask_is_identity():
    target = _noise((100, 100, 3), 8)
    out = paste_back(target, Patch(_noise((50, 50, 3), 9), np.zeros((50, 50), np.float32),
                                   np.array([[1, 0, 10], [0, 1, 20]], float)))
    assert np.array_equal(out, target)
