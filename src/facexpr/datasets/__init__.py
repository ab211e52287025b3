"""Dataset readers: one module per dataset, shared by fitting, training and evaluation.

``data_root()`` finds the shared data (``FACEXPR_DATA`` or ``../shared/data`` beside the repo).
"""
from __future__ import annotations

import os
from pathlib import Path


def data_root() -> Path | None:
    env = os.environ.get("FACEXPR_DATA")
    if env:
        return Path(env).expanduser()
    here = Path(__file__).resolve()
    for parent in here.parents:
        cand = parent.parent / "shared" / "data"
        if (parent / "pyproject.toml").exists() and cand.is_dir():
            return cand
    cand = Path.cwd().parent / "shared" / "data"
    return cand if cand.is_dir() else None
