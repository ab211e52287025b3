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

import os
import threading
from concurrent.futures import Future, ThreadPoolExecutor

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
