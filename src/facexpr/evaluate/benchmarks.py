"""Pair lists to evaluate: a named benchmark (``london`` or a dataset adapter) or a user's CSV.

``london`` is the project's fixed benchmark (102 pairs, :func:`facexpr.datasets.london.benchmark_pairs`,
with the ``unseen`` flag). The dataset adapters build cross-identity pairs with ground truth from a
dataset's published layout (see :mod:`facexpr.datasets.expressions`); their data folder defaults to
``<shared data>/<name>`` and is usually given with ``--data``.

A pairs CSV has the columns ``id,source,target`` and optionally ``gt,label,source_neutral``; paths
are relative to the CSV's folder.
"""
from __future__ import annotations

import csv
import re
from pathlib import Path
from typing import Callable

import numpy as np

from ..datasets import data_root
from ..datasets.expressions import EMOTIONS, Pair, canonical_emotion, cross_identity_pairs, ref_path
from ..errors import InputError


def _adapter(module: str) -> Callable[[Path], list]:
    def samples(root: Path):
        import importlib

        return importlib.import_module(f"facexpr.datasets.{module}").samples(root)
    return samples


ADAPTERS: dict[str, tuple[str, Callable[[Path], list]]] = {
    "rafd": ("Radboud Faces Database (frontal camera, frontal gaze)", _adapter("rafd")),
    "ckplus": ("Extended Cohn-Kanade CK+ (neutral -> peak sequences)", _adapter("ckplus")),
    "mmi": ("MMI Facial Expression Database (onset-apex-offset videos)", _adapter("mmi")),
    "cfd": ("Chicago Face Database (N, A, F, HC, HO)", _adapter("cfd")),
    "jaffe": ("JAFFE (10 Japanese women, 7 expressions)", _adapter("jaffe")),
    "kdef": ("KDEF (straight angle, series A then B)", _adapter("kdef")),
    "folders": ("generic <person>/<expression>.<ext> folders", _adapter("folders")),
}
BENCHMARKS = ("london", *ADAPTERS)


def london_pairs(root: Path) -> list[Pair]:
    from ..datasets import london

    return [Pair(id=p.id, source=p.source, target=p.target, gt=p.gt, source_neutral=p.source_neutral,
                 label="happy", unseen=p.unseen, expression="smiling")
            for p in london.benchmark_pairs(root)]


def benchmark_pairs(name: str, data: Path | None = None, seed: int = 0) -> list[Pair]:
    """The pairs of benchmark ``name``; ``data`` is its folder (default: the shared data's)."""
    name = name.lower()
    if name not in BENCHMARKS:
        raise InputError(f"unknown benchmark '{name}' (available: {', '.join(BENCHMARKS)})")
    if data is None:
        shared = data_root()
        if shared is None:
            raise InputError(f"no data folder for benchmark '{name}': pass --data or set FACEXPR_DATA")
        data = shared / name
    data = Path(data)
    if not data.is_dir():
        raise InputError(f"{data}: no such folder (data for benchmark '{name}')")
    try:
        if name == "london":
            return london_pairs(data)
        pairs = cross_identity_pairs(ADAPTERS[name][1](data), seed=seed)
    except FileNotFoundError as e:
        raise InputError(str(e)) from None
    if not pairs:
        raise InputError(f"{data}: no {name} pairs found (expected layout: see facexpr.datasets.{name})")
    return pairs


_SAFE_ID = re.compile(r"^[A-Za-z0-9._-]+$")


def read_pairs_csv(path: Path) -> list[Pair]:
    """Pairs from a CSV (``id,source,target`` + optional ``gt,label,source_neutral``)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such pairs file")
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            rows = list(reader)
            header = set(reader.fieldnames or ())
    except (UnicodeDecodeError, csv.Error) as e:
        raise InputError(f"{path}: not a readable CSV ({e})") from None
    if not {"id", "source", "target"} <= header:
        raise InputError(f"{path}: CSV needs a header with columns id,source,target "
                         "(optional: gt,label,source_neutral)")
    if not rows:
        raise InputError(f"{path}: no pairs in the CSV")
    base = path.resolve().parent
    seen, pairs = set(), []
    for n, row in enumerate(rows, start=2):
        pid = (row.get("id") or "").strip()
        if not _SAFE_ID.match(pid):
            raise InputError(f"{path}:{n}: id '{pid}' must be non-empty and use only letters, digits, '.', '_', '-'")
        if pid in seen:
            raise InputError(f"{path}:{n}: duplicate id '{pid}'")
        seen.add(pid)
        label_text = (row.get("label") or "").strip()
        # an expression the emotion judges do not know (e.g. "pout") is scored without emotion accuracy
        label = canonical_emotion(label_text) if label_text else None
        refs = {col: _csv_ref(row, col, base, f"{path}:{n}", col in ("source", "target"))
                for col in ("source", "target", "gt", "source_neutral")}
        pairs.append(Pair(id=pid, label=label, expression=label_text or None, **refs))
    return pairs


def _csv_ref(row: dict, col: str, base: Path, where: str, required: bool) -> Path | None:
    val = (row.get(col) or "").strip()
    if not val:
        if required:
            raise InputError(f"{where}: empty '{col}'")
        return None
    p = Path(val).expanduser()
    full = p if p.is_absolute() else base / p
    if not ref_path(full).exists():
        raise InputError(f"{where}: {col} {ref_path(full)}: no such file")
    return full


def subset(pairs: list[Pair], limit: int | None) -> list[Pair]:
    """``limit`` pairs spread evenly over the list (so both London parts stay represented)."""
    if limit is None or limit >= len(pairs):
        return list(pairs)
    if limit < 1:
        raise InputError("--limit must be at least 1")
    idx = np.unique(np.round(np.linspace(0, len(pairs) - 1, limit)).astype(int))
    return [pairs[i] for i in idx]


__all__ = ["Pair", "EMOTIONS", "BENCHMARKS", "ADAPTERS", "benchmark_pairs", "london_pairs",
           "read_pairs_csv", "subset"]
