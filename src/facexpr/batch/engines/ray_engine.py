"""The Ray engine: Ray Data streams the manifest through a pool of actors, each holding a loaded
method (an :class:`~facexpr.batch.work.ItemRunner`).

Ray Data gives what a dataset job needs without home-made scheduling: a bounded stream (its
streaming executor applies backpressure, so neither the manifest nor the results pile up in the
object store), actors restarted and their tasks retried when a worker process dies (Ray Data's
actor pools default to ``max_restarts=-1``, ``max_task_retries=-1``), and the same code on a laptop
(``ray.init()`` here) and on a cluster (``--address auto`` or ``ray://head:10001``).

Outputs are written by the actors straight into the output folder, which must therefore be
visible to every node (a shared filesystem); the driver only receives the small result records.

A private local Ray is bound to 127.0.0.1 with its dashboard off and usage stats disabled: no
socket leaves the machine.
"""
from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Iterator

from ...errors import InputError
from ..config import Item, JobSpec
from ..work import ItemRunner, limit_threads


def ray_available() -> bool:
    try:
        import ray  # noqa: F401
        import ray.data  # noqa: F401
    except ImportError:
        return False
    return True


class _Actor:
    """One Ray actor: the method loaded once in ``__init__``; ``__call__`` renders one row.

    The job travels as a class attribute of a subclass made per run (:func:`_actor_class`), not as
    a constructor argument: Ray keeps constructor arguments in the object store, where a restarted
    actor may no longer find them."""

    job: JobSpec

    def __init__(self):
        limit_threads(self.job.threads)
        self.runner = ItemRunner(self.job)

    def __call__(self, row: dict) -> dict:
        return self.runner(row)


def _actor_class(job: JobSpec) -> type:
    return type("FacexprWorker", (_Actor,), {"job": job, "__module__": __name__})


def init_ray(address: str | None, cpus: float | None = None) -> None:
    """Connect to ``address`` (``auto``, ``ray://…``, ``host:port``), or start a private local Ray
    bound to 127.0.0.1 (no dashboard, no usage stats) when it is None.

    Ray turns a loopback node address into the machine's outward address unless it believes it
    runs on a laptop OS (``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0``); that switch, set here for this
    process and the Ray processes it starts, is what keeps every socket on 127.0.0.1."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    if not address:
        os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    import ray
    from ray._private import ray_constants

    if ray.is_initialized():
        return
    quiet = dict(log_to_driver=False, logging_level=logging.WARNING)
    if address:
        ray.init(address=address, **quiet)
        return
    ray_constants.ENABLE_RAY_CLUSTER = False  # read at call time: also right if ray was imported first
    ray.init(_node_ip_address="127.0.0.1", include_dashboard=False, num_cpus=cpus, **quiet)


def run_ray(job: JobSpec, items: Iterable[Item], actors: int, address: str | None = None,
            num_cpus: float = 1.0, num_gpus: float = 0.0) -> Iterator[dict]:
    """Records of ``items`` as they finish (any order). Each actor reserves ``num_cpus`` CPUs and
    ``num_gpus`` GPUs of the cluster (fractions allowed)."""
    if not ray_available():
        raise InputError("the Ray engine needs Ray: pip install 'facexpr[ray]' (or use --engine local)")
    import ray
    import ray.data

    own = not address and not ray.is_initialized()
    # a private Ray gets exactly the CPUs the actors ask for (at least this machine's cores)
    init_ray(address, cpus=max(float(os.cpu_count() or 1), actors * num_cpus) if own else None)
    try:
        ctx = ray.data.DataContext.get_current()
        ctx.enable_progress_bars = False  # the command draws its own bar
        ctx.print_on_execution_start = False
        logging.getLogger("ray.data").setLevel(logging.WARNING)
        rows = [it.as_dict() for it in items]
        if not rows:
            return
        ds = ray.data.from_items(rows, override_num_blocks=max(1, min(len(rows), 8 * actors)))
        # Ray starts each worker process with OMP_NUM_THREADS = its num_cpus (BLAS pools sized to the
        # actor's share from the start); the runner's job.threads matches it for OpenCV
        ds = ds.map(_actor_class(job), compute=ray.data.ActorPoolStrategy(size=actors), num_cpus=num_cpus,
                    num_gpus=num_gpus or None)
        yield from ds.iter_rows()
    finally:
        if own:
            ray.shutdown()


__all__ = ["run_ray", "ray_available", "init_ray"]
