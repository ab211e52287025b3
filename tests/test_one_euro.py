"""The One-Euro filter: smooths noise at rest, follows fast motion with little lag."""
import numpy as np
import pytest

from facexpr.one_euro import OneEuroConfig, OneEuroFilter


def test_smooths_noise_at_rest():
    rng = np.random.default_rng(0)
    f = OneEuroFilter(OneEuroConfig(min_cutoff=1.0, beta=0.0))
    x = 0.5 + 0.02 * rng.standard_normal((200, 4))
    y = np.stack([f(v, i / 25) for i, v in enumerate(x)])
    assert np.abs(np.diff(y[50:], axis=0)).mean() < 0.3 * np.abs(np.diff(x[50:], axis=0)).mean()
    assert abs(y[50:].mean() - 0.5) < 0.01


def test_fast_step_passes_quickly_with_beta():
    def settle(beta):
        f = OneEuroFilter(OneEuroConfig(min_cutoff=1.0, beta=beta))
        ys = [float(f(np.array([0.0 if i < 10 else 1.0]), i / 25)[0]) for i in range(40)]
        return next(i for i, y in enumerate(ys) if y > 0.9) - 10

    assert settle(5.0) < settle(0.0)
    assert settle(5.0) <= 4


def test_first_value_passes_and_reset():
    f = OneEuroFilter()
    assert np.array_equal(f(np.array([3.0, 4.0]), 0.0), [3.0, 4.0])
    f(np.array([0.0, 0.0]), 0.04)
    f.reset()
    assert np.array_equal(f(np.array([7.0, 7.0]), 1.0), [7.0, 7.0])


def test_bad_config():
    with pytest.raises(ValueError):
        OneEuroConfig(min_cutoff=0)
