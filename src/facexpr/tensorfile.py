"""The project's small numeric data files (the expression model, the expression prior):
safetensors with a JSON ``meta`` entry, written atomically — a crash mid-write leaves the old
file, never half a new one — and read into numpy with one clear error for every failure."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .errors import ModelError


def save_tensors(path: Path, tensors: dict[str, np.ndarray], meta: dict, **metadata: str) -> None:
    from safetensors.numpy import save_file

    path = Path(path)
    tmp = path.with_suffix(".part")
    save_file(tensors, str(tmp), metadata={"meta": json.dumps(meta), **metadata})
    tmp.replace(path)


def load_tensors(path: Path, what: str, missing_hint: str) -> tuple[dict[str, np.ndarray], dict]:
    """``(tensors, meta)``; :class:`ModelError` ("<what> <path> not found (<hint>)" or
    "… is unreadable (…)") for a missing, truncated or foreign file."""
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise ModelError(f"{what} {path} not found ({missing_hint})")
    try:
        with safe_open(str(path), framework="numpy") as f:
            meta = json.loads((f.metadata() or {}).get("meta", "{}"))
            return {k: f.get_tensor(k) for k in f.keys()}, meta
    except Exception as e:
        raise ModelError(f"{what} {path} is unreadable ({e})") from None
