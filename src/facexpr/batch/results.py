"""The results manifest (``DIR/results.parquet``) and the journal that makes a job resumable.

Each finished item is appended to ``DIR/.results.journal.jsonl`` at once (one JSON line, flushed
and fsynced): a driver killed at any moment loses at most the line being written, and a torn last
line is ignored on reading. The Parquet file is written atomically when a run ends (Ctrl-C
included) or when the next run starts after a killed one, and the journal is deleted once
everything in it is in the Parquet file. The driver keeps no row in memory while items run: what
it holds does not grow with the number of items done.

Resuming trusts nothing but what it can check: an item is kept only if its row says ``ok``, its
request fingerprint matches the current command's, and its output file exists with the recorded
SHA-256. Anything else (no row, a failed row when failures are retried, a missing or changed
file) is done again.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

from ..errors import OutputError
from .work import sha256_file

JOURNAL = ".results.journal.jsonl"
# Column order of results.parquet (and what each means, for the docs).
COLUMNS = {
    "id": "the manifest's id",
    "kind": "transfer, edit or animate",
    "status": "ok or failed",
    "error": "the one-line reason, for a failed item",
    "output": "the output's file name inside the output folder",
    "sha256": "SHA-256 of the output file",
    "bytes": "its size",
    "stage_ms": "JSON object: milliseconds per pipeline stage (load, analyze, ..., save, checksum)",
    "total_ms": "milliseconds for the item, as the worker saw it",
    "method": "the method name (or exported file)",
    "method_version": "facexpr version + digest of the method's weights",
    "request": "digest of the item's inputs and the job's options (resume redoes an item when it changes)",
    "worker": "host:pid that rendered it",
    "finished_at": "Unix time the item finished",
}


def _schema():
    import pyarrow as pa

    types = {"bytes": pa.int64(), "total_ms": pa.float64(), "finished_at": pa.float64()}
    return pa.schema([(c, types.get(c, pa.string())) for c in COLUMNS])


def read_results(path: Path):
    """The rows of an existing results.parquet as an Arrow table (None if there is none); a
    damaged file counts as none: its items are then checked and redone, never trusted."""
    if not path.is_file():
        return None
    import pyarrow.parquet as pq

    try:
        return pq.read_table(path).select(list(COLUMNS)).cast(_schema())
    except Exception:  # a damaged file, or one of another layout: never trusted
        return None


def read_journal(path: Path):
    """The journal's rows as an Arrow table (None if there is none). Only whole lines count: a
    driver killed mid-write leaves a torn last line, which is dropped."""
    if not path.is_file():
        return None
    import io

    import pyarrow.json as pj

    data = path.read_bytes()
    data = data[: data.rfind(b"\n") + 1]
    if not data.strip():
        return None
    opts = pj.ParseOptions(explicit_schema=_schema(), unexpected_field_behavior="ignore")
    try:
        return pj.read_json(io.BytesIO(data), parse_options=opts).select(list(COLUMNS))
    except Exception:  # a damaged journal: its items are redone
        return None


def merged(tables, manifest_ids: list[str]):
    """One row per manifest id, in manifest order, from ``tables`` (a later table's row wins over
    an earlier one's; rows of ids not in the manifest are dropped). Arrow all the way: a million
    rows never become Python objects."""
    import pyarrow as pa
    import pyarrow.compute as pc

    parts = [t for t in tables if t is not None and t.num_rows]
    if not parts:
        return pa.Table.from_pylist([], schema=_schema())
    t = pa.concat_tables(parts)
    t = t.append_column("_seq", pa.array(range(t.num_rows), pa.int64()))
    last = t.group_by("id").aggregate([("_seq", "max")])["_seq_max"]
    t = t.take(last)  # the latest row of each id (its position in the concatenation)
    pos = pc.index_in(t["id"], value_set=pa.array(manifest_ids, pa.string()))
    t = t.append_column("_pos", pos).filter(pc.is_valid(pos))
    return t.take(pc.sort_indices(t["_pos"])).drop_columns(["_seq", "_pos"])


def write_results(path: Path, table) -> None:
    """Write ``table`` (or a list of row dicts) as Parquet atomically (temp file, then rename)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    if isinstance(table, list):
        table = pa.Table.from_pylist([{c: r.get(c) for c in COLUMNS} for r in table], schema=_schema())
    tmp = path.with_name(f".{path.name}.part")
    try:
        pq.write_table(table, tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


class Journal:
    """Append-only record of finished items (see the module docstring)."""

    def __init__(self, out_dir: Path):
        self.path = out_dir / JOURNAL
        try:
            self._f = open(self.path, "ab")
        except OSError as e:
            raise OutputError(f"{out_dir}: cannot write the results journal ({e.strerror})") from None

    def append(self, rec: dict) -> None:
        self._f.write((json.dumps(rec) + "\n").encode())
        self._f.flush()
        os.fsync(self._f.fileno())

    def close(self, remove: bool = False) -> None:
        self._f.close()
        if remove:
            self.path.unlink(missing_ok=True)


def still_valid(row: dict | None, out_dir: Path, fingerprint: str, retry_failed: bool) -> bool:
    """Whether a previous row can stand for this run (see the module docstring)."""
    if not row or row.get("request") != fingerprint:
        return False
    if row.get("status") == "failed":
        return not retry_failed
    if row.get("status") != "ok" or not row.get("output") or not row.get("sha256"):
        return False
    out = out_dir / row["output"]
    try:
        return out.is_file() and sha256_file(out) == row["sha256"]
    except OSError:
        return False


def remove_partials(out_dir: Path) -> list[Path]:
    """Delete temp files a killed writer left behind (``.<name>.<random>.part`` and
    ``….part.mp4``, the atomic writers' naming); called before a run starts and after it ends,
    never during one."""
    gone = []
    for p in [*out_dir.glob(".*.part"), *out_dir.glob(".*.part.mp4")]:
        try:
            p.unlink()
            gone.append(p)
        except OSError:
            pass
    return gone


__all__ = ["COLUMNS", "JOURNAL", "Journal", "read_results", "read_journal", "merged", "write_results",
           "still_valid", "remove_partials"]
