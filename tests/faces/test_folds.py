"""Fold-free geometry: lids and lips meet but never cross; mesh folds are smoothed out; the warp
triangulates the photo's own points (a closed eye must not read eyeball pixels into the skin)."""
from __future__ import annotations

import numpy as np
from scipy.spatial import Delaunay

from facexpr.faces.mesh import MeshSampler, _signed_area, meet_not_cross, untangle
from facexpr.faces.topology import INNER_LIP_PAIRS, LID_PAIRS, LIPS_INNER, LIPS_OUTER, LIP_ROW_PAIRS


def test_pairs_face_each_other(target_face):
    xy = target_face.xy
    for upper, lower in LID_PAIRS + INNER_LIP_PAIRS + LIP_ROW_PAIRS:
        assert xy[upper, 1] <= xy[lower, 1] + 2.0, (upper, lower)  # upright photo: upper is above
    assert len(INNER_LIP_PAIRS) == len(LIPS_INNER) // 2 - 1
    assert {u for u, _ in LIP_ROW_PAIRS[:9]} <= set(LIPS_OUTER) and len(LIP_ROW_PAIRS) == 6 * 9


def _blink(xy: np.ndarray, amount: float) -> np.ndarray:
    moved = xy.copy()
    for u, l in LID_PAIRS:
        moved[u] += amount * (xy[l] - xy[u])
    return moved


def test_overshooting_blink_stops_where_the_lids_meet(target_face):
    xy = target_face.xy
    moved = meet_not_cross(xy, _blink(xy, 1.6))
    for u, l in LID_PAIRS:
        assert abs(moved[u, 1] - moved[l, 1]) < 1e-6
        # the upper lid did the moving: the lower lid stays (it was still)
        assert abs(moved[l, 1] - xy[l, 1]) < 1e-6
    untouched = meet_not_cross(xy, _blink(xy, 0.5))
    np.testing.assert_allclose(untouched, _blink(xy, 0.5))  # no crossing, no change


def test_meet_not_cross_follows_head_roll(target_face):
    xy = target_face.xy
    th = np.deg2rad(25)
    R = np.array([[np.cos(th), -np.sin(th)], [np.sin(th), np.cos(th)]])
    moved = _blink(xy, 1.6)
    upright = meet_not_cross(xy, moved)
    rolled = meet_not_cross(xy @ R.T, moved @ R.T, down=R @ np.array([0.0, 1.0]))
    np.testing.assert_allclose(rolled @ R, upright, atol=1e-6)


def test_untangle_removes_a_fold_and_keeps_a_clean_motion():
    rng = np.random.default_rng(0)
    g = np.stack(np.meshgrid(np.arange(8.0), np.arange(8.0)), -1).reshape(-1, 2) * 10
    smooth = g + np.array([3.0, -2.0])
    np.testing.assert_allclose(untangle(g, smooth), smooth)
    folded = g.copy()
    folded[27] += [16.0, 14.0]  # pushed over its neighbours
    out = untangle(g, folded)
    tri = Delaunay(g).simplices
    assert (_signed_area(folded, tri) * np.sign(_signed_area(g, tri)) < 0).any()
    assert not (_signed_area(out, tri) * np.sign(_signed_area(g, tri)) < -1e-6).any()
    far = np.linalg.norm(g - g[27], axis=1) > 25
    np.testing.assert_allclose(out[far], folded[far])  # only the fold's neighbourhood moved
    del rng


def test_rest_triangulation_keeps_a_collapsed_eye_out_of_the_skin():
    # a square "eye" whose top edge collapses onto the bottom: with the rest points'
    # triangulation no output pixel reads from inside the eye opening
    rest = np.array([[0, 0], [40, 0], [40, 40], [0, 40], [15, 15], [25, 15], [25, 25], [15, 25]], float)
    moved = rest.copy()
    moved[[4, 5], 1] = 25.0  # upper lid down onto the lower lid
    sampler = MeshSampler(moved, (0, 0, 40, 40), 40, rest_pts=rest)
    mx, my = sampler.backward_map(moved, rest)
    inside = (mx > 15.5) & (mx < 24.5) & (my > 15.5) & (my < 24.5)
    assert not inside.any()
