"""Fixtures of the training tests: one torch thread
per test (the machines running the suite are small and shared: two OpenMP threads fighting
another process for two cores run ~10x slower than one)."""
from __future__ import annotations


import pytest


@pytest.fixture(autouse=True)
def _one_torch_thread(one_torch_thread):
    yield
