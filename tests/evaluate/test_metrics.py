"""Metrics are pure functions: checked on arrays with known answers."""
from __future__ import annotations

import math

import numpy as np
import pytest

from facexpr.evaluate import metrics
from facexpr.expression import action_units as au
from facexpr.expression.blendshapes import INDEX, NAMES


def test_expression_change_scale():
    rng = np.random.default_rng(0)
    tgt, srcn = rng.uniform(0, 0.3, 52), rng.uniform(0, 0.3, 52)
    change = np.zeros(52)
    change[INDEX["mouthSmileLeft"]] = change[INDEX["mouthSmileRight"]] = 0.6
    src = srcn + change
    assert metrics.expression_change(tgt, tgt, src, srcn) == 0.0           # no change
    assert metrics.expression_change(tgt + change, tgt, src, srcn) == pytest.approx(1.0)
    assert metrics.expression_change(tgt + 0.5 * change, tgt, src, srcn) == pytest.approx(0.5)
    assert metrics.expression_change(tgt - change, tgt, src, srcn) == pytest.approx(-1.0)
    assert math.isnan(metrics.expression_change(tgt, tgt, srcn, srcn))     # the source shows no change


def test_landmark_nme_forgives_pose_not_shape():
    rng = np.random.default_rng(1)
    ref = rng.uniform(0, 500, (478, 3))
    ref[468, :2], ref[473, :2] = (200, 200), (300, 200)  # inter-ocular 100 px
    a = np.deg2rad(12)
    R = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    moved = ref.copy()
    moved[:, :2] = 1.7 * ref[:, :2] @ R.T + (40, -25)
    assert metrics.landmark_nme(moved, ref) == pytest.approx(0.0, abs=1e-9)
    bent = ref.copy()
    bent[:100, 1] += 10  # a real shape change
    assert metrics.landmark_nme(bent, ref) > 1.0


def test_fid_matches_the_square_root_formula():
    from scipy import linalg

    rng = np.random.default_rng(2)
    for n, m, d in ((40, 50, 60), (80, 90, 20)):  # fewer samples than dims, and more
        a, b = rng.normal(size=(n, d)), rng.normal(size=(m, d)) * 1.3 + 0.2
        sa, sb = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
        ref = (((a.mean(0) - b.mean(0)) ** 2).sum() + np.trace(sa) + np.trace(sb)
               - 2 * np.trace(np.real(linalg.sqrtm(sa @ sb))))
        assert metrics.fid(a, b) == pytest.approx(ref, rel=1e-6)
    assert metrics.fid(a, a) == pytest.approx(0.0, abs=1e-6)


def test_kid_of_a_set_against_itself_is_zero():
    rng = np.random.default_rng(3)
    a = np.abs(rng.normal(size=(30, 2048))) * 0.3   # Inception-like: non-negative pool features
    b = a + 0.2
    k_self, _ = metrics.kid(a, a)
    assert abs(k_self) < 1e-9
    k_diff, k_std = metrics.kid(a, b)
    assert k_diff > 10 * k_std > 0
    assert metrics.kid(a, b, seed=5) == metrics.kid(a, b, seed=5)  # seeded, reproducible


def test_ssim_psnr_bounds():
    rng = np.random.default_rng(4)
    yy, xx = np.mgrid[0:64, 0:64]
    img = np.stack([xx * 4, yy * 4, (xx + yy) * 2], -1).astype(np.uint8)  # smooth: noise shows
    noisy = np.clip(img.astype(int) + rng.integers(-30, 31, img.shape), 0, 255).astype(np.uint8)
    s = metrics.ssim([img, noisy], [img, img])
    p = metrics.psnr([img, noisy], [img, img])
    assert s[0] == pytest.approx(1.0, abs=1e-6) and s[1] < 0.9
    assert p[0] == metrics.PSNR_CAP and 15 < p[1] < 40


def test_emotion_correct_and_summary():
    classes = ("neutral", "happy")
    assert metrics.emotion_correct([0.2, 0.8], "happy", classes) == 1.0
    assert metrics.emotion_correct([0.8, 0.2], "happy", classes) == 0.0
    assert math.isnan(metrics.emotion_correct([0.8, 0.2], None, classes))
    assert math.isnan(metrics.emotion_correct([0.8, 0.2], "contempt", classes))
    s = metrics.summary([1.0, math.nan, 3.0, None])
    assert s == {"mean": 2.0, "std": 1.0, "n": 2}
    assert metrics.summary([math.nan]) == {"mean": None, "std": None, "n": 0}


def test_action_unit_table():
    assert au.AUS_V1 == (1, 2, 4, 5, 6, 7, 9, 10, 12, 14, 15, 17, 20, 23, 25, 26, 45)
    assert au.AUS[:17] == au.AUS_V1 and set(au.AUS) >= {16, 18, 22, 24, 28}  # ICT's FACS table appended
    W = au.au_matrix()
    assert W.shape == (len(au.AUS), len(NAMES)) and (W >= 0).all()
    assert np.allclose(W.sum(1), 1.0)  # each AU is a weighted mean of its blendshapes: 0..1 in, 0..1 out
    bs = np.zeros(52)
    bs[INDEX["mouthSmileLeft"]], bs[INDEX["mouthSmileRight"]] = 0.8, 0.6
    est = dict(zip(au.AUS, au.estimate(bs)))
    assert est[12] == pytest.approx(0.7) and est[4] == 0.0
    assert au.estimate(np.ones(52)).max() <= 1.0
    np.testing.assert_allclose(au.estimate(bs, au.AUS_V1), au.estimate(bs)[:17])
    with pytest.raises(ValueError):
        au.estimate(np.zeros(10))
