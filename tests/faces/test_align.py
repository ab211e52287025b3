"""Similarity alignment (Umeyama) and the canonical frame."""
from __future__ import annotations

import numpy as np
import pytest

from facexpr.faces.align import Similarity, to_canonical, umeyama


def _rotation(rng, dim=3) -> np.ndarray:
    q, r = np.linalg.qr(rng.normal(size=(dim, dim)))
    q = q @ np.diag(np.sign(np.diag(r)))
    if np.linalg.det(q) < 0:
        q[:, 0] *= -1
    return q


def _rot_z(deg: float) -> np.ndarray:
    a = np.radians(deg)
    return np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_umeyama_recovers_known_similarity(seed):
    rng = np.random.default_rng(seed)
    src = rng.normal(size=(50, 3)) * 10
    R, scale, t = _rotation(rng), float(rng.uniform(0.2, 5)), rng.normal(size=3) * 100
    dst = scale * src @ R.T + t
    sim = umeyama(src, dst)
    assert sim.scale == pytest.approx(scale, rel=1e-10)
    np.testing.assert_allclose(sim.R, R, atol=1e-10)
    np.testing.assert_allclose(sim.t, t, atol=1e-8)
    np.testing.assert_allclose(sim.apply(src), dst, atol=1e-8)


def test_umeyama_2d():
    rng = np.random.default_rng(5)
    src = rng.normal(size=(20, 2))
    R = _rotation(rng, 2)
    dst = 3.0 * src @ R.T + (4.0, -2.0)
    sim = umeyama(src, dst)
    np.testing.assert_allclose(sim.apply(src), dst, atol=1e-10)


def test_umeyama_never_returns_a_reflection():
    rng = np.random.default_rng(3)
    src = rng.normal(size=(30, 3))
    mirrored = src * (-1, 1, 1)  # no proper rotation maps src onto this exactly
    sim = umeyama(src, mirrored)
    assert np.linalg.det(sim.R) == pytest.approx(1.0)
    np.testing.assert_allclose(sim.R @ sim.R.T, np.eye(3), atol=1e-10)


def test_umeyama_least_squares_with_noise():
    rng = np.random.default_rng(4)
    src = rng.normal(size=(400, 3)) * 10
    R = _rotation(rng)
    dst = 2.0 * src @ R.T + 7 + rng.normal(scale=0.05, size=src.shape)
    sim = umeyama(src, dst)
    assert sim.scale == pytest.approx(2.0, rel=1e-3)
    np.testing.assert_allclose(sim.R, R, atol=1e-3)


def test_similarity_inverse_round_trip():
    rng = np.random.default_rng(6)
    sim = Similarity(2.5, _rotation(rng), np.array([1.0, -2.0, 3.0]))
    x = rng.normal(size=(10, 3))
    np.testing.assert_allclose(sim.inverse().apply(sim.apply(x)), x, atol=1e-12)
    np.testing.assert_allclose(sim.apply(sim.inverse().apply(x)), x, atol=1e-12)


def _face_like(model) -> np.ndarray:
    """Image-space landmarks: the model's mean shape plus a personal, expression-like deformation."""
    rng = np.random.default_rng(7)
    return model.mean_shape * 200 + (600, 500, 0) + rng.normal(scale=3.0, size=(478, 3))


@pytest.mark.parametrize("deg,scale,shift", [(0, 1.0, (0, 0, 0)), (25, 1.0, (0, 0, 0)),
                                             (-40, 0.3, (100, -50, 7)), (170, 4.0, (-900, 300, 0))])
def test_to_canonical_invariant_to_similarity(model, deg, scale, shift):
    lm = _face_like(model)
    canon, _ = to_canonical(lm, model.mean_shape)
    moved = scale * lm @ _rot_z(deg).T + np.array(shift, float)
    canon2, sim2 = to_canonical(moved, model.mean_shape)
    np.testing.assert_allclose(canon2, canon, atol=1e-9)
    # And the returned similarity takes the landmarks back where they were.
    np.testing.assert_allclose(sim2.inverse().apply(canon2), moved, atol=1e-7)


def test_to_canonical_invariant_to_3d_rotation(model):
    lm = _face_like(model)
    canon, _ = to_canonical(lm, model.mean_shape)
    R = _rotation(np.random.default_rng(8))
    canon2, _ = to_canonical(0.7 * lm @ R.T + 12.0, model.mean_shape)
    np.testing.assert_allclose(canon2, canon, atol=1e-9)


def test_to_canonical_of_reference_is_identity(model):
    canon, sim = to_canonical(model.mean_shape, model.mean_shape)
    np.testing.assert_allclose(canon, model.mean_shape, atol=1e-12)
    assert sim.scale == pytest.approx(1.0)


def test_to_canonical_real_face_lands_on_reference(model, target_face):
    """A real detected face maps to roughly the reference's size and place (stable points)."""
    from facexpr.faces.topology import STABLE

    canon, sim = to_canonical(target_face.landmarks, model.mean_shape)
    idx = list(STABLE)
    err = np.linalg.norm(canon[idx] - model.mean_shape[idx], axis=1).mean()
    assert err < 0.15  # canonical units: stable-point RMS radius is 1
    assert 1e-3 < sim.scale < 1.0  # pixels -> canonical units shrink
