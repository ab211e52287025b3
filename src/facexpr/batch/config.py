"""The batch job's boundary types: what a job is (:class:`BatchConfig`), what one item is
(:class:`Item`), and what a worker needs to render one (:class:`JobSpec`).

They are plain dataclasses of strings and numbers so that they pickle to a process pool and
serialise to Ray actors unchanged; nothing here imports a model.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path

from ..errors import InputError, MethodCannot, MethodNotFound
from ..limits import check_intensity, check_regions
from ..methods.registry import get_spec

KINDS = ("transfer", "edit", "animate")
ENGINES = ("local", "ray")
IMAGE_FORMATS = ("png", "jpg", "webp")


@dataclass(frozen=True)
class Item:
    """One row of the manifest, paths already resolved against the manifest's folder.

    ``intensity`` is the row's own (an ``intensity`` column), else None: the job's applies."""

    id: str
    target: str
    source: str | None = None
    source_neutral: str | None = None
    driving: str | None = None
    aus: tuple[str, ...] = ()
    emotion: str | None = None
    intensity: float | None = None

    def as_dict(self) -> dict:
        d = asdict(self)
        d["aus"] = list(self.aus)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "Item":
        d = dict(d)
        d["aus"] = tuple(d.get("aus") or ())
        return cls(**{k: d.get(k) for k in cls.__dataclass_fields__})


@dataclass(frozen=True)
class JobSpec:
    """Everything a worker needs to render items, the same for every item of a job: the
    pipeline's options (validated once, by the pipeline's own configs, before any worker starts)
    and where outputs go. ``threads`` caps each worker's OpenCV/BLAS threads (None: library
    defaults, what one process alone on the machine wants)."""

    kind: str
    out_dir: str
    method: str = "warp"
    intensity: float = 1.0
    regions: tuple[str, ...] | None = None
    image_format: str = "png"
    source_face: int | None = None  # transfer: which face (0 = largest; None = largest)
    target_face: int | None = None
    # animate only
    size: int | None = 512
    max_frames: int | None = None
    relative: bool = True
    audio: bool = True
    threads: int | None = None

    def output_name(self, item_id: str) -> str:
        return f"{item_id}.mp4" if self.kind == "animate" else f"{item_id}.{self.image_format}"

    def fingerprint(self, item: Item) -> str:
        """A digest of everything that decides an item's output: a resumed run redoes an item
        whose inputs or options changed instead of keeping a stale file."""
        opts = {k: v for k, v in asdict(self).items() if k not in ("out_dir", "threads")}
        blob = json.dumps({"job": opts, "item": item.as_dict()}, sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class BatchConfig:
    """A whole batch command: the manifest, the job, and how to run it.

    ``workers``: processes (``local``) or actors (``ray``); None = one per core for local, two
    actors for Ray. ``address``: Ray's (None = a private local Ray on 127.0.0.1). ``num_cpus`` /
    ``num_gpus``: what each Ray actor reserves. ``retry_failed``: a resumed run tries failed
    items again (a file that was missing may be there now)."""

    manifest: Path | None  # None: the items are given directly (:func:`~facexpr.batch.runner.run_items`)
    job: JobSpec
    engine: str = "local"
    workers: int | None = None
    address: str | None = None
    num_cpus: float = 1.0
    num_gpus: float = 0.0
    retry_failed: bool = True
    results_name: str = "results.parquet"

    def __post_init__(self):
        if self.job.kind not in KINDS:
            raise InputError(f"unknown batch kind '{self.job.kind}' (use one of {', '.join(KINDS)})")
        if self.engine not in ENGINES:
            raise InputError(f"unknown engine '{self.engine}' (use local or ray)")
        if self.workers is not None and self.workers < 1:
            raise InputError(f"--workers must be at least 1 (got {self.workers})")
        if self.num_cpus < 0 or self.num_gpus < 0:
            raise InputError("--num-cpus and --num-gpus cannot be negative")
        if self.job.image_format not in IMAGE_FORMATS:
            raise InputError(f"unknown image format '{self.job.image_format}' "
                             f"(use one of {', '.join(IMAGE_FORMATS)})")

    @property
    def out_dir(self) -> Path:
        return Path(self.job.out_dir)

    @property
    def results_path(self) -> Path:
        return self.out_dir / self.results_name


def checked_job(kind: str, out_dir, method: str = "warp", intensity: float = 1.0, regions=None,
                **options) -> JobSpec:
    """A :class:`JobSpec` whose options are checked now, as one-line errors, before any worker
    starts: the intensity and regions by the pipeline's own limits, the method by name and by
    what it can do (an animation renders transfers)."""
    if kind not in KINDS:
        raise InputError(f"unknown batch kind '{kind}' (use one of {', '.join(KINDS)})")
    check_intensity(intensity)
    regs = check_regions(regions)
    if not method.endswith(".safetensors"):
        spec = get_spec(method)
        need = "edit" if kind == "edit" else "transfer"
        if need not in spec.capabilities:
            raise MethodCannot(f"method '{method}' cannot {need} (it can: {', '.join(sorted(spec.capabilities))}); "
                               "`facexpr methods` lists what each method can do")
    elif not Path(method).expanduser().is_file():
        raise MethodNotFound(f"{method}: no such checkpoint file")
    return JobSpec(kind=kind, out_dir=str(out_dir), method=method, intensity=float(intensity), regions=regs,
                   **options)


__all__ = ["Item", "JobSpec", "BatchConfig", "KINDS", "ENGINES", "checked_job"]
