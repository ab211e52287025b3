"""A generator on the warp pastes back only its change (:func:`facexpr.faces.paste.paste_change`).

Pasting the refined crop itself resamples the warped photo twice (into the crop, back out), which
softens a small face visibly (docs/results/small_faces.md). Pasting the change keeps every pixel
the generator left alone bit-identical, and still carries what it did change.
"""
from __future__ import annotations

import cv2
import numpy as np
import pytest

pytest.importorskip("torch")

from facexpr.faces.paste import Patch, paste_back, paste_change  # noqa: E402


def _setup(seed=0, size=96):
    rng = np.random.default_rng(seed)
    canvas = rng.integers(40, 216, (160, 180, 3), dtype=np.uint8)
    # crop -> photo: about 1:1 with a sub-pixel offset and a small rotation, as an aligned face crop
    a = np.deg2rad(3.0)
    to_target = np.array([[1.07 * np.cos(a), -1.07 * np.sin(a), 30.4], [1.07 * np.sin(a), 1.07 * np.cos(a), 20.7]])
    base = cv2.warpAffine(canvas, cv2.invertAffineTransform(to_target), (size, size), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REPLICATE)
    mask = np.zeros((size, size), np.float32)
    mask[10:-10, 10:-10] = 1.0
    return canvas, base, mask, to_target


def test_no_change_leaves_the_photo_bit_identical():
    canvas, base, mask, A = _setup()
    patch = Patch(base.copy(), mask, A)
    assert np.array_equal(paste_change(canvas, patch, base), canvas)
    # what pasting the crop itself does: the round trip blurs every pixel under the mask
    assert np.abs(paste_back(canvas, patch).astype(float) - canvas).mean() > 1.0


def test_the_change_is_carried_where_the_mask_is():
    canvas, base, mask, A = _setup(1)
    refined = np.clip(base.astype(int) + 20, 0, 255).astype(np.uint8)  # canvas stays < 216: no clipping
    out = paste_change(canvas, Patch(refined, mask, A), base).astype(int)
    inside = (slice(50, 90), slice(60, 100))   # deep inside the mask's image in the photo
    assert np.abs(out[inside] - canvas[inside] - 20).max() <= 1
    outside = (slice(140, 160), slice(0, 180))  # below the crop: untouched
    assert np.array_equal(out[outside], canvas[outside])


def test_a_crop_outside_the_photo_changes_nothing():
    canvas, base, mask, A = _setup(2)
    far = A.copy()
    far[:, 2] += 1000
    assert np.array_equal(paste_change(canvas, Patch(base + 1, mask, far), base), canvas)
