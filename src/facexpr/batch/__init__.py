"""Dataset-scale batch jobs (``facexpr batch transfer|edit|animate``): a manifest in, one output
file per item and ``results.parquet`` out, resumable, on a local process pool or a Ray cluster.

Importing this package loads no model and no torch; engines are imported when a job runs.
"""
from .config import BatchConfig, Item, JobSpec
from .runner import BatchSummary, run_batch, run_items

__all__ = ["BatchConfig", "Item", "JobSpec", "BatchSummary", "run_batch", "run_items"]
