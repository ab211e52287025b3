"""The default engine: a pool of processes on this machine, no service to run.

Each process loads the method once (the pool's initializer) and renders items until the pool
closes. One worker runs in the calling process itself (what ``transfer --pairs`` always did).

Processes are started with ``spawn``: the driver may already hold threads (the progress bar,
MediaPipe's pool) and forking a threaded process can deadlock in the child. Items are submitted a
few at a time per worker (backpressure), so a million-row manifest never becomes a million
futures in memory. A worker that dies (killed, out of memory) breaks the pool: the items it held
are resubmitted once to a fresh pool, and fail with a message if that pool breaks too.
"""
from __future__ import annotations

import multiprocessing as mp
import os
import signal
from collections.abc import Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool

from ...errors import FacexprError
from ..config import Item, JobSpec
from ..work import ItemRunner, limit_threads, thread_env

IN_FLIGHT_PER_WORKER = 2  # enough to keep a worker busy while the driver records the last item

_runner: ItemRunner | None = None
_init_error: FacexprError | None = None


def _init(job: JobSpec) -> None:
    """Pool initializer: a model that cannot load is reported on each item's future (the driver
    stops the job with it) rather than breaking the pool, which would look like a crash."""
    global _runner, _init_error
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the driver's to handle (it drains the pool)
    limit_threads(job.threads)
    try:
        _runner = ItemRunner(job)
    except FacexprError as e:
        _init_error = e


def _run(item: dict) -> dict:
    if _init_error is not None:
        raise _init_error
    return _runner(item)


def default_workers() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1))


def run_local(job: JobSpec, items: Iterable[Item], workers: int) -> Iterator[dict]:
    """Records of ``items`` as they finish (any order)."""
    if workers <= 1:
        limit_threads(job.threads)
        runner = ItemRunner(job)
        for it in items:
            yield runner(it)
        return
    pending = iter(items)
    retry: list[Item] = []
    retried: set[str] = set()
    while True:
        broken = yield from _pool_pass(job, workers, pending, retry, retried)
        if not broken:
            return
        for it in broken:  # a second death of the same item is that item's failure
            if it.id in retried:
                yield _died(job, it)
            else:
                retried.add(it.id)
                retry.append(it)


def _pool_pass(job: JobSpec, workers: int, pending: Iterator[Item], retry: list[Item],
               retried: set[str]) -> Iterator[dict]:
    """Run items through one pool; returns the items in flight if the pool broke, else []."""
    ctx = mp.get_context("spawn")
    # spawned workers inherit this environment: their BLAS/OpenMP pools are sized before _init runs
    saved = {k: os.environ.get(k) for k in thread_env(job.threads)}
    os.environ.update(thread_env(job.threads))
    pool = ProcessPoolExecutor(workers, mp_context=ctx, initializer=_init, initargs=(job,))
    inflight: dict = {}
    try:
        def submit_more():
            while len(inflight) < workers * IN_FLIGHT_PER_WORKER:
                it = retry.pop() if retry else next(pending, None)
                if it is None:
                    return
                inflight[pool.submit(_run, it.as_dict())] = it

        submit_more()
        while inflight:
            done, _ = wait(inflight, return_when=FIRST_COMPLETED)
            for fut in done:
                it = inflight.pop(fut)
                try:
                    rec = fut.result()
                except BrokenProcessPool:
                    return [it, *inflight.values()]
                yield rec
            submit_more()
        return []
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _died(job: JobSpec, it: Item) -> dict:
    return {"id": it.id, "kind": job.kind, "request": job.fingerprint(it), "method": job.method,
            "status": "failed", "error": "worker process died twice on this item (out of memory? killed?)",
            "stage_ms": "{}"}


__all__ = ["run_local", "default_workers"]
