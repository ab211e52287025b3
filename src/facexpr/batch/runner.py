"""A batch job from manifest to results manifest: read the items, keep what a previous run
finished (checked, see :mod:`facexpr.batch.results`), run the rest through the chosen engine, and
write ``results.parquet`` listing every item of the manifest exactly once.

Order of ``results.parquet`` is the manifest's, whatever order the engine finished items in, so
two runs of one manifest (any engine, any worker count, resumed or not) give the same table
apart from timings and worker names.
"""
from __future__ import annotations

import fcntl
import json
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

from ..errors import OutputError
from .config import BatchConfig, Item
from .engines.local import default_workers, run_local
from .engines.ray_engine import run_ray
from .manifest import read_manifest
from .results import (JOURNAL, Journal, merged, read_journal, read_results, remove_partials, still_valid,
                      write_results)

LOCK = ".batch.lock"


@dataclass
class BatchSummary:
    total: int
    ok: int
    failed: int
    resumed: int                      # items kept from a previous run
    seconds: float                    # wall time of this run (manifest to results file)
    work_seconds: float               # from the first item finished to the last (startup excluded)
    rendered: int                     # items this run rendered (ok or failed)
    failures: list[tuple[str, str]] = field(default_factory=list)  # (id, message), manifest order
    stage_ms: dict[str, float] = field(default_factory=dict)       # mean per ok item rendered now

    @property
    def items_per_s(self) -> float | None:
        """Steady-state rate: items after the first, over the time from the first to the last
        (excludes starting workers and loading models, which a long job pays once)."""
        return (self.rendered - 1) / self.work_seconds if self.work_seconds > 0 else None


def run_batch(cfg: BatchConfig, progress: Callable[[int, int], None] | None = None,
              on_start: Callable[[int, int], None] | None = None) -> BatchSummary:
    """Run the job of ``cfg.manifest``. ``on_start(total, already_done)`` is called once the work
    is known; ``progress(done, total)`` after each item."""
    t_start = time.perf_counter()
    return run_items(cfg, read_manifest(cfg.manifest, cfg.job.kind), progress, on_start, t_start)


def run_items(cfg: BatchConfig, items: list[Item], progress: Callable[[int, int], None] | None = None,
              on_start: Callable[[int, int], None] | None = None, t_start: float | None = None) -> BatchSummary:
    """Run ``items`` (ids unique, as a manifest's) as the job of ``cfg``; what :func:`run_batch`
    does after reading the manifest, and what ``evaluate`` calls with its benchmark's pairs."""
    t_start = time.perf_counter() if t_start is None else t_start
    out_dir = cfg.out_dir
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OutputError(f"{out_dir}: cannot create output folder ({e.strerror})") from None
    with _exclusive(out_dir):
        return _run_locked(cfg, items, progress, on_start, t_start)


@contextmanager
def _exclusive(out_dir: Path):
    """One job per output folder at a time: a second one would delete the first's temporary files
    and interleave their results. The lock dies with its process, so a killed run never blocks."""
    path = out_dir / LOCK
    f = open(path, "a+b")
    try:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise OutputError(f"{out_dir}: another batch job is writing into this folder") from None
        try:
            yield
        finally:
            path.unlink(missing_ok=True)
    finally:
        f.close()


def _run_locked(cfg: BatchConfig, items: list[Item], progress, on_start, t_start: float) -> BatchSummary:
    import pyarrow as pa  # here, not at the top: the CLI starts without it

    out_dir = cfg.out_dir
    remove_partials(out_dir)
    ids = [it.id for it in items]
    killed_run = read_journal(out_dir / JOURNAL)
    previous = merged([read_results(cfg.results_path), killed_run], ids)
    kept_rows = _still_valid(previous, items, cfg)
    kept_table = previous.filter(pa.array(kept_rows, pa.bool_()))
    kept_ids = set(kept_table["id"].to_pylist())
    todo = [it for it in items if it.id not in kept_ids]
    resumed = kept_table.num_rows
    if on_start:
        on_start(len(items), resumed)
    if killed_run is not None:  # fold a killed run's journal into the results file before going on
        write_results(cfg.results_path, kept_table)
        (out_dir / JOURNAL).unlink()
    journal = Journal(out_dir)
    stage_sum: dict[str, float] = {}
    n_now = n_ok_now = 0
    finished_cleanly = False
    t_first = t_last = None
    try:
        for rec in _engine(cfg, todo):
            done_at = rec.get("finished_at") or time.time()  # the worker's clock: engines deliver in bursts
            t_first = min(t_first or done_at, done_at)
            t_last = max(t_last or done_at, done_at)
            journal.append(rec)
            n_now += 1
            if rec.get("status") == "ok":
                n_ok_now += 1
                for k, v in json.loads(rec.get("stage_ms") or "{}").items():
                    stage_sum[k] = stage_sum.get(k, 0.0) + v
            if progress:
                progress(resumed + n_now, len(items))
        finished_cleanly = True
    finally:
        # on Ctrl-C too: what finished is in the results file, so the next run skips it
        journal.close()
        final = merged([kept_table, read_journal(journal.path)], ids)
        write_results(cfg.results_path, final)
        journal.path.unlink(missing_ok=True)
        if finished_cleanly:
            remove_partials(out_dir)
    status = final["status"].to_pylist()
    failures = [(i, e or "") for i, st, e in zip(final["id"].to_pylist(), status, final["error"].to_pylist())
                if st != "ok"]
    return BatchSummary(total=len(items), ok=len(status) - len(failures), failed=len(failures), resumed=resumed,
                        seconds=time.perf_counter() - t_start,
                        work_seconds=(t_last - t_first) if t_first and t_last else 0.0,
                        rendered=n_now, failures=failures,
                        stage_ms={k: v / n_ok_now for k, v in stage_sum.items()} if n_ok_now else {})


def _still_valid(previous, items: list[Item], cfg: BatchConfig) -> list[bool]:
    """Per row of ``previous`` (at most one per id, in manifest order): whether it stands for
    this run (:func:`~facexpr.batch.results.still_valid`). Walks the rows and the manifest side by
    side, so no per-row Python object outlives its check."""
    names = ("id", "request", "status", "output", "sha256")
    cols = [previous[c].to_pylist() for c in names]
    out, k = [], 0
    for vals in zip(*cols):
        row = dict(zip(names, vals))
        while items[k].id != row["id"]:  # the item of this row: the manifest order is shared
            k += 1
        out.append(still_valid(row, cfg.out_dir, cfg.job.fingerprint(items[k]), cfg.retry_failed))
    return out


def _engine(cfg: BatchConfig, todo: list[Item]):
    """The chosen engine's record stream. Unless the job says otherwise, a worker gets the
    library threads of its share of the cores (one process alone keeps the libraries' defaults):
    N workers each running N-thread OpenCV/BLAS pools only fight over the same cores."""
    if not todo:
        return iter(())
    job = cfg.job
    if cfg.engine == "ray":
        if job.threads is None:
            job = replace(job, threads=max(1, int(cfg.num_cpus)))
        return run_ray(job, todo, cfg.workers or 2, cfg.address, cfg.num_cpus, cfg.num_gpus)
    workers = cfg.workers or default_workers()
    if job.threads is None and workers > 1:
        job = replace(job, threads=max(1, default_workers() // workers))
    return run_local(job, todo, workers)


__all__ = ["run_batch", "run_items", "BatchSummary"]
