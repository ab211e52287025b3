"""Reading a batch manifest (CSV or Parquet) into :class:`~facexpr.batch.config.Item` rows.

Columns, by kind (paths relative to the manifest's folder; an ``intensity`` column, where given,
overrides the command's ``--intensity`` for that row):

* ``transfer``: ``id,source,target`` (+ optional ``source_neutral``) — a transfer CSV is read by
  :func:`facexpr.datasets.pairs.read_pairs_csv`, the reader ``evaluate --pairs`` uses;
* ``edit``: ``id,target`` + ``au`` (e.g. ``AU12=+0.8;AU4=-0.5``) and/or ``emotion``;
* ``animate``: ``id,target,driving`` (the photo and its driver video).

Files are not checked here: a missing file is that item's failure, not the whole job's. Bad
structure (missing column, bad or duplicate id) is one :class:`InputError` line for the job.
"""
from __future__ import annotations

import csv
import re
from pathlib import Path

from ..datasets.pairs import check_id, read_pairs_csv
from ..errors import InputError
from .config import Item

REQUIRED = {"transfer": ("id", "source", "target"), "edit": ("id", "target"), "animate": ("id", "target", "driving")}
_AU_SPLIT = re.compile(r"[;,\s]+")


def read_manifest(path: Path, kind: str) -> list[Item]:
    """The manifest's items, in file order (see the module docstring for the columns)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such manifest file")
    if kind == "transfer" and path.suffix.lower() != ".parquet":
        return [Item(id=p.id, source=str(p.source), target=str(p.target),
                     source_neutral=str(p.source_neutral) if p.source_neutral else None,
                     intensity=_intensity(row.get("intensity"), path, n))
                for n, (p, row) in enumerate(zip(read_pairs_csv(path, check_files=False), _rows(path)), start=2)]
    rows = _rows(path)
    need = REQUIRED[kind]
    if not rows:
        raise InputError(f"{path}: no rows in the manifest")
    missing = [c for c in need if c not in rows[0]]
    if missing:
        raise InputError(f"{path}: a {kind} manifest needs columns {','.join(need)} (missing: {','.join(missing)})")
    base = path.resolve().parent
    seen: set[str] = set()
    items = []
    for n, row in enumerate(rows, start=2):
        where = f"{path}:{n}"
        pid = check_id(_text(row.get("id")), where, seen)
        ref = {c: _path(row.get(c), base) for c in ("source", "target", "source_neutral", "driving")}
        for c in need[1:]:
            if ref[c] is None:
                raise InputError(f"{where}: empty '{c}'")
        aus = tuple(a for a in _AU_SPLIT.split(_text(row.get("au"))) if a)
        emotion = _text(row.get("emotion")) or None
        if kind == "edit" and not aus and not emotion:
            raise InputError(f"{where}: nothing to edit: give an 'au' (e.g. AU12=+0.8) and/or an 'emotion'")
        items.append(Item(id=pid, aus=aus, emotion=emotion, intensity=_intensity(row.get("intensity"), path, n),
                          **ref))
    return items


def _rows(path: Path) -> list[dict]:
    if path.suffix.lower() == ".parquet":
        import pyarrow.parquet as pq

        try:
            return pq.read_table(path).to_pylist()
        except Exception as e:  # pyarrow raises several types for a damaged file
            raise InputError(f"{path}: not a readable Parquet file ({type(e).__name__}: {e})") from None
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            return list(csv.DictReader(f))
    except (UnicodeDecodeError, csv.Error) as e:
        raise InputError(f"{path}: not a readable CSV ({e})") from None


def _text(v) -> str:
    return "" if v is None else str(v).strip()


def _path(v, base: Path) -> str | None:
    t = _text(v)
    if not t:
        return None
    p = Path(t).expanduser()
    return str(p if p.is_absolute() else base / p)


def _intensity(v, path: Path, n: int) -> float | None:
    t = _text(v)
    if not t:
        return None
    try:
        return float(t)
    except ValueError:
        raise InputError(f"{path}:{n}: intensity must be a number (got '{t}')") from None


__all__ = ["read_manifest", "REQUIRED"]
