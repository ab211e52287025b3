"""The one reader of pairs CSVs (``facexpr transfer --pairs`` and ``facexpr evaluate --pairs``):
columns ``id,source,target`` (+ optional ``gt,label,source_neutral``), UTF-8 with or without a
byte-order mark, paths relative to the CSV; every problem one line (:class:`InputError`)."""
from __future__ import annotations

import csv
import re
from pathlib import Path

from ..errors import InputError
from .expressions import Pair, canonical_emotion, ref_path

_SAFE_ID = re.compile(r"^[A-Za-z0-9._-]+$")  # ids become file names: no folders, no surprises


def check_id(pid: str, where: str, seen: set[str]) -> str:
    """A row's id, checked once for every manifest reader: a safe file name, not seen before
    (added to ``seen``); one-line :class:`InputError` naming ``where`` (``file:line``) otherwise."""
    if not _SAFE_ID.match(pid):
        raise InputError(f"{where}: ids must be non-empty and use only letters, digits, '.', '_', '-' "
                         f"(got '{pid}')")
    if pid in seen:
        raise InputError(f"{where}: duplicate id '{pid}'")
    seen.add(pid)
    return pid


def read_pairs_csv(path: Path, check_files: bool = True) -> list[Pair]:
    """Pairs from a CSV (``id,source,target`` + optional ``gt,label,source_neutral``); paths are
    relative to the CSV. ``check_files``: a missing file is an error here (evaluation); batch
    transfer passes False and reports each missing file as that pair's failure."""
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
        pid = check_id((row.get("id") or "").strip(), f"{path}:{n}", seen)
        label_text = (row.get("label") or "").strip()
        # an expression the emotion judges do not know (e.g. "pout") is scored without emotion accuracy
        label = canonical_emotion(label_text) if label_text else None
        refs = {col: _csv_ref(row, col, base, f"{path}:{n}", col in ("source", "target"), check_files)
                for col in ("source", "target", "gt", "source_neutral")}
        pairs.append(Pair(id=pid, label=label, expression=label_text or None, **refs))
    return pairs


def _csv_ref(row: dict, col: str, base: Path, where: str, required: bool, check: bool) -> Path | None:
    val = (row.get(col) or "").strip()
    if not val:
        if required:
            raise InputError(f"{where}: empty '{col}'")
        return None
    p = Path(val).expanduser()
    full = p if p.is_absolute() else base / p
    if check and not ref_path(full).exists():
        raise InputError(f"{where}: {col} {ref_path(full)}: no such file")
    return full


__all__ = ["read_pairs_csv"]
