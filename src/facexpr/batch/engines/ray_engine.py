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

import os
from collections.abc import Iterable, Iterator

from ...errors import InputError
from ..config import Item, JobSpec


def ray_available() -> bool:
    try:
        import ray  # noqa: F401
        import ray.data  # noqa: F401
    except ImportError:
        return False
    return True


class _Actor:
    """One Ray actor: the method loaded once in ``__init__``; ``__call__`` renders one row."""

    def __init__(self, job: JobSpec):
        from ..work import ItemRunner, limit_threads

        limit_threads(job.threads)
        self.runner = ItemRunner(job)

    def __call__(self, row: dict) -> dict:
        return self.runner(row)


def init_ray(address: str | None, cpus: float | None = None) -> None:
    """Connect to ``address`` (``auto``, ``ray://…``, ``host:port``), or start a private local Ray on
    127.0.0.1 (no dashboard, no usage stats) when it is None."""
    import ray

    if ray.is_initialized():
        return
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    if address:
        ray.init(address=address, log_to_driver=False)
        return
    os.environ.setdefault("RAY_DISABLE_DOCKER_CPU_WARNING", "1")
    ray.init(_node_ip_address="127.0.0.1", include_dashboard=False, num_cpus=cpus,
             log_to_driver=False, configure_logging=False)


def run_ray(job: JobSpec, items: Iterable[Item], actors: int, address: str | None = None,
            num_cpus: float = 1.0, num_gpus: float = 0.0) -> Iterator[dict]:
    """Records of ``items`` as they finish (any order). Each actor reserves ``num_cpus`` CPUs and
    ``num_gpus`` GPUs of the cluster (fractions allowed)."""
    if not ray_available():
        raise InputError("the Ray engine needs Ray: pip install 'facexpr[ray]' (or use --engine local)")
    import ray
    import ray.data

    own = address is None and not ray.is_initialized()
    # a private Ray gets exactly the CPUs the actors ask for (at least this machine's cores)
    init_ray(address, cpus=max(float(os.cpu_count() or 1), actors * num_cpus) if own else None)
    try:
        ctx = ray.data.DataContext.get_current()
        ctx.enable_progress_bars = False  # the command draws its own bar
        ctx.print_on_execution_start = False
        rows = [it.as_dict() for it in items]
        if not rows:
            return
        ds = ray.data.from_items(rows, override_num_blocks=max(1, min(len(rows), 8 * actors)))
        ds = ds.map(_Actor, fn_constructor_kwargs={"job": job}, concurrency=actors, num_cpus=num_cpus,
                    num_gpus=num_gpus or None)
        yield from ds.iter_rows()
    finally:
        if own:
            ray.shutdown()


__all__ = ["run_ray", "ray_available", "init_ray"]
