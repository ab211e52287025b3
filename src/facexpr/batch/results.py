"""The results manifest (``DIR/results.parquet``) and the journal that makes a job resumable.

Each finished item is appended to ``DIR/.results.journal.jsonl`` at once (one JSON line, flushed
and fsynced): a driver killed at any moment loses at most the line being written, and a torn last
line is ignored on reading. The Parquet file is rewritten atomically from time to time and at the
end, and the journal is deleted once everything in it is in the Parquet file.

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


def read_results(path: Path) -> dict[str, dict]:
    """id -> row of an existing results.parquet (empty if none); a damaged file counts as none:
    its items are then checked and redone, never trusted."""
    if not path.is_file():
        return {}
    import pyarrow.parquet as pq

    try:
        rows = pq.read_table(path).to_pylist()
    except Exception:  # a damaged file is never trusted: everything is redone
        return {}
    return {r["id"]: r for r in rows if r.get("id")}


def read_journal(path: Path) -> dict[str, dict]:
    """id -> latest row of the journal; a torn or damaged line (the driver killed mid-write) is skipped."""
    out: dict[str, dict] = {}
    if not path.is_file():
        return out
    with open(path, "rb") as f:
        for line in f:
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            if isinstance(rec, dict) and rec.get("id"):
                out[rec["id"]] = rec
    return out


def write_results(path: Path, rows: list[dict]) -> None:
    """Write ``rows`` as Parquet atomically (temp file in the same folder, then rename)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pylist([{c: r.get(c) for c in COLUMNS} for r in rows], schema=_schema())
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


__all__ = ["COLUMNS", "JOURNAL", "Journal", "read_results", "read_journal", "write_results", "still_valid",
           "remove_partials"]
