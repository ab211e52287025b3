"""Fixtures of the training tests: synthetic caches (no photo, no detector) and one torch thread
per test (the machines running the suite are small and shared: two OpenMP threads fighting
another process for two cores run ~10x slower than one)."""
from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _one_torch_thread(one_torch_thread):
    yield


@pytest.fixture(scope="session")
def synthetic_cache(tmp_path_factory) -> Path:
    """4 cartoon people x 3 expressions at 64 px, in the `facexpr prepare` cache format."""
    from facexpr.train.synthetic import make_cache

    return make_cache(tmp_path_factory.mktemp("syn") / "cache", n_people=4, per_person=3, size=64, seed=0)

