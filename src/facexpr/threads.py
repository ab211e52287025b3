"""One small process-wide thread pool for the independent parts of a single request.

A transfer on a 2-core CPU is latency-bound, not throughput-bound: its source and target analyses,
or a warp's mouth and eye layers and its mesh map, do not depend on each other, and MediaPipe,
OpenCV and large numpy operations run outside the GIL. Running such parts at once on a shared
pool (rather than a pool per call, whose threads would cost more to start than the parts take)
is what brings a warm transfer near its MediaPipe floor.

A task that itself asks for a helper runs that part inline (no nesting), so the pool cannot
deadlock however many requests share it.
"""
from __future__ import annotations

import functools
import os
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager

import numpy as np

_POOL: ThreadPoolExecutor | None = None
_LOCK = threading.Lock()


def helper_pool() -> ThreadPoolExecutor:
    """The shared pool (created on first use, one thread per core, at most 4)."""
    global _POOL
    with _LOCK:
        if _POOL is None:
            _POOL = ThreadPoolExecutor(max(1, min(4, os.cpu_count() or 1)), thread_name_prefix=_PREFIX)
        return _POOL


_PREFIX = "facexpr-helper"


def _forget_after_fork() -> None:
    """A forked child (a DataLoader worker rendering warp bases) has none of the parent's threads:
    it starts its own pool rather than queueing work for threads that are not there."""
    global _POOL, _LOCK
    _POOL, _LOCK = None, threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_after_fork)


def on_helper(fn, *args, **kwargs) -> Future:
    """``fn(*args, **kwargs)`` started on the shared pool; its future (run at once, in this
    thread, when this thread is one of the pool's)."""
    if threading.current_thread().name.startswith(_PREFIX):
        fut: Future = Future()
        try:
            fut.set_result(fn(*args, **kwargs))
        except BaseException as e:
            fut.set_exception(e)
        return fut
    return helper_pool().submit(fn, *args, **kwargs)


# ----------------------------------------------------------------------------- BLAS threads

_BLAS_LOCK = threading.Lock()
_blas_state = {"depth": 0, "limiter": None, "for_good": False}


@functools.lru_cache(maxsize=1)
def _numpy_blas():
    """numpy's OpenBLAS, as threadpoolctl sees it (None without threadpoolctl or OpenBLAS)."""
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:
        return None
    sel = ThreadpoolController().select(prefix="libscipy_openblas")  # numpy's (and scipy's) own
    return sel if sel.lib_controllers else None


@contextmanager
def one_blas_thread():
    """numpy's BLAS limited to one thread while a request runs (nested and concurrent uses share
    it; the previous limit comes back when the last one ends).

    Every matrix product of the pipeline is small (a 52-shape code times a basis, a 1.5k-wide
    MLP, 3x3 alignments), so BLAS threads only wake, spin and wait for each other; with
    facexpr's own threads (analysis, render workers, the video tracker) busy on two cores they
    stall behind them. Measured on ``facexpr animate`` with the same output, bit for bit: 25 s of
    CPU for the shared clip with OpenBLAS's default two threads, 15-16 s with one. Other BLAS
    libraries (a torch method's) are left alone, and so is everything when the environment sets
    ``FACEXPR_BLAS_THREADS`` (to anything)."""
    with _BLAS_LOCK:
        if (_blas_state["depth"] == 0 and os.environ.get("FACEXPR_BLAS_THREADS") is None
                and not _blas_state["for_good"]):
            blas = _numpy_blas()
            _blas_state["limiter"] = None if blas is None else blas.limit(limits=1)
        _blas_state["depth"] += 1
    try:
        yield
    finally:
        with _BLAS_LOCK:
            _blas_state["depth"] -= 1
            if _blas_state["depth"] == 0 and _blas_state["limiter"] is not None:
                if not _blas_state["for_good"]:  # a limit for good outlives the requests around it
                    _blas_state["limiter"].restore_original_limits()
                _blas_state["limiter"] = None


def one_blas_thread_for_good() -> None:
    """numpy's BLAS limited to one thread for the rest of the process: for a server whose requests
    overlap without end (the Live tab), where :func:`one_blas_thread`'s restore would never come.
    Measured there: OpenBLAS's spinning second thread cost 17–21 ms of CPU per frame, as much as
    the frame's own work. ``FACEXPR_BLAS_THREADS`` set (to anything) leaves it alone.

    A request already inside :func:`one_blas_thread` when this is called (the Live tab analyses a
    new photo while another viewer's frames stream) must not put its "original" two threads back
    when it ends: the limit is marked for good, and no later restore undoes it. (Live test runs with
    the server above 1.3 cores: 5 of 9 before this, 1 of 6 after; docs/LIVE.md.)"""
    blas = _numpy_blas()
    if blas is not None and os.environ.get("FACEXPR_BLAS_THREADS") is None:
        with _BLAS_LOCK:
            _blas_state["for_good"] = True
            blas.limit(limits=1)


class RecentCache:
    """The last ``size`` results of an expensive function of a few arrays, keyed by the arrays'
    bytes: a video or a live session renders the same photo face every frame, and a transfer aligns
    and renders its target more than once. Thread-safe (render threads share it); the oldest entry
    goes first; results that are arrays are made read-only so no caller can change what the next
    one gets."""

    def __init__(self, size: int):
        self.size = size
        self._items: dict[bytes, object] = {}
        self._lock = threading.Lock()

    @staticmethod
    def key(*arrays) -> bytes:
        return b"".join(np.asarray(a).dtype.str.encode() + np.ascontiguousarray(a, np.float64).tobytes()
                        for a in arrays)

    def get(self, key: bytes, make):
        with self._lock:
            hit = self._items.get(key)
        if hit is not None:
            return hit
        value = make()
        if isinstance(value, np.ndarray):
            value.flags.writeable = False
        with self._lock:
            if len(self._items) >= self.size:
                self._items.pop(next(iter(self._items)))
            self._items[key] = value
        return value
