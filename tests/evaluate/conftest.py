"""Locating ../shared/data: skipped when absent, unless FACEXPR_REQUIRE_DATA=1 makes that a failure."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

DEFAULT_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"


def missing_data(what: str) -> None:
    """Skip (or fail, when data is required, e.g. in CI) because ``what`` is not there."""
    msg = f"{what} not found (set FACEXPR_DATA to the shared data folder)"
    if os.environ.get("FACEXPR_REQUIRE_DATA") == "1":
        pytest.fail(msg + "; FACEXPR_REQUIRE_DATA=1 forbids skipping")
    pytest.skip(msg)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    root = Path(os.environ.get("FACEXPR_DATA") or DEFAULT_DATA)
    if not root.is_dir():
        missing_data(f"shared data folder {root}")
    return root


@pytest.fixture(scope="session")
def london(shared_data: Path) -> Path:
    d = shared_data / "london"
    if not (d / "smiling").is_dir() or not (d / "neutral").is_dir():
        missing_data(f"London set {d}")
    return d
