"""Helpers shared by the tests (imported as ``from _support import …``; tests/ is on sys.path
because tests/conftest.py lives there)."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data"

# The London pair used throughout: a clear smile onto a neutral face of another person.
SOURCE_REL = "london/smiling/061_08.jpg"
TARGET_REL = "london/neutral/010_03.jpg"


def missing_data(what: str) -> None:
    """Skip (or fail, when data is required, e.g. in CI) because ``what`` is not there."""
    msg = f"{what} not found (set FACEXPR_DATA to the shared data folder)"
    if os.environ.get("FACEXPR_REQUIRE_DATA") == "1":
        pytest.fail(msg + "; FACEXPR_REQUIRE_DATA=1 forbids skipping")
    pytest.skip(msg)


def data_file(root: Path, rel: str) -> Path:
    """``root/rel``, or skip/fail with a clear reason when that one file is missing."""
    p = root / rel
    if not p.is_file():
        missing_data(f"shared data file {p}")
    return p


def facexpr_cmd() -> list[str]:
    """The installed ``facexpr`` console script of this venv (else ``python -m facexpr.cli``)."""
    script = Path(sys.executable).parent / "facexpr"
    if script.is_file():
        return [str(script)]
    return [sys.executable, "-m", "facexpr.cli"]


def smoke_train_export(tmp_path_factory, name: str):
    """Train ``configs/<name>-smoke.yaml`` (a few steps on synthetic faces) and export it:
    ``(summary, card, path)`` — the module fixture of every family's training test."""
    from facexpr.train.config import load_config
    from facexpr.train.export import export
    from facexpr.train.trainer import Trainer

    out = tmp_path_factory.mktemp(name) / "run"
    cfg = load_config(REPO / "configs" / f"{name}-smoke.yaml", [f"train.out_dir={out}"])
    summary = Trainer(cfg).fit()
    path = out.parent / f"{name}.safetensors"
    return summary, export(out, path), path
