"""One worker: holds the loaded method and renders items one at a time into result records.

Every engine runs this same code (in the driver for one process, in each pool process, in each
Ray actor), which is what makes outputs identical across engines: an item's pixels depend only
on the item and the :class:`~facexpr.batch.config.JobSpec`, never on who ran it.

A :class:`~facexpr.errors.FacexprError` (no face, a missing or corrupt file…) fails that item
alone with its one-line message. Any other exception is a bug, but in a dataset job one item
must not take the other million down: it is recorded as ``internal error: …`` with its type.
"""
from __future__ import annotations

import hashlib
import json
import os
import socket
import time
from pathlib import Path

import cv2

from .. import __version__, assets
from ..animation import AnimateConfig, Animation, write_animation
from ..errors import FacexprError, MethodNotFound
from ..expression.blendshapes import REGIONS
from ..expression.model import load_default_model
from ..faces.landmarks import get_landmarker
from ..io import check_output_path, save_image
from ..io_video import check_video_output
from ..methods import get_method
from ..methods.registry import get_spec
from ..pipeline import AnalysisCache, EditConfig, TransferConfig, run_edit, run_transfer
from .config import Item, JobSpec


THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS")


def thread_env(n: int | None) -> dict[str, str]:
    """The environment that caps BLAS/OpenMP pools at ``n`` threads. It must be in place when the
    worker process starts: those libraries size their pools (whose idle threads spin) when numpy
    is first imported, before any of our code runs in the worker."""
    return {} if n is None else {v: str(n) for v in THREAD_VARS}


def limit_threads(n: int | None) -> None:
    """Cap this process's OpenCV threads (changeable at any time) and set the BLAS/OpenMP
    variables for anything it starts (see :func:`thread_env`): with N workers on N cores, each
    library's own pool of N threads per worker only adds contention."""
    if n is None:
        return
    os.environ.update(thread_env(n))
    cv2.setNumThreads(n)


sha256_file = assets.sha256_of  # one streaming SHA-256 for model files and outputs alike


def method_version(name: str) -> str:
    """The package version, plus the first 12 hex digits of a digest of the method's weight files'
    checksums (a retrained model with the same name is a different version)."""
    if name.endswith(".safetensors") and Path(name).is_file():
        return f"{__version__}+{sha256_file(Path(name))[:12]}"
    try:
        spec = get_spec(name, shipped=False)
    except MethodNotFound:
        return __version__
    if not spec.weights:
        return __version__
    digest = hashlib.sha256("".join(assets.ASSETS[w].sha256 for w in spec.weights).encode()).hexdigest()
    return f"{__version__}+{digest[:12]}"


class ItemRunner:
    """Load the method (and the face landmarker) once; then ``runner(item) -> record``."""

    def __init__(self, job: JobSpec):
        self.job = job
        self.out_dir = Path(job.out_dir)
        # loading here, not on the first item, puts a broken model file before any work and
        # keeps model loading out of the per-item timings
        get_method(job.method)
        get_landmarker()
        load_default_model(edit=job.kind == "edit")
        self.version = method_version(job.method)
        self.photos = AnalysisCache()  # a batch against one target reads and analyses it once
        self.host = socket.gethostname()

    def __call__(self, item: Item | dict) -> dict:
        if isinstance(item, dict):
            item = Item.from_dict(item)
        t0 = time.perf_counter()
        rec = {"id": item.id, "kind": self.job.kind, "request": self.job.fingerprint(item),
               "method": self.job.method, "method_version": self.version,
               "worker": f"{self.host}:{os.getpid()}"}
        out = self.out_dir / self.job.output_name(item.id)
        try:
            stages = self._render(item, out)
            t = time.perf_counter()
            digest = sha256_file(out)
            stages["checksum"] = (time.perf_counter() - t) * 1000
            rec.update(status="ok", error=None, output=out.name, sha256=digest, bytes=out.stat().st_size)
        except FacexprError as e:
            stages = {}
            rec.update(status="failed", error=str(e), output=None, sha256=None, bytes=None)
        except Exception as e:  # a bug: fail this item, keep the job going, say what it was
            stages = {}
            msg = " ".join(str(e).splitlines()) or "(no message)"
            rec.update(status="failed", error=f"internal error: {type(e).__name__}: {msg}", output=None,
                       sha256=None, bytes=None)
        rec["stage_ms"] = json.dumps({k: round(v, 2) for k, v in stages.items()})
        rec["total_ms"] = round((time.perf_counter() - t0) * 1000, 2)
        rec["finished_at"] = time.time()
        return rec

    def _render(self, item: Item, out: Path) -> dict[str, float]:
        job = self.job
        intensity = job.intensity if item.intensity is None else item.intensity
        inputs = [p for p in (item.source, item.target, item.source_neutral, item.driving) if p]
        if job.kind == "animate":
            return self._animate(item, out, intensity, inputs)
        check_output_path(out, inputs)
        if job.kind == "transfer":
            cfg = TransferConfig(job.method, intensity, job.regions, job.source_face, job.target_face,
                                 source_neutral=item.source_neutral)
            res = run_transfer(item.source, item.target, cfg, cache=self.photos)
        else:
            cfg = EditConfig.parse(list(item.aus), item.emotion, intensity, job.method)
            res = run_edit(item.target, cfg, cache=self.photos)
        stages = dict(res.timings)
        t = time.perf_counter()
        save_image(res.image, out)
        stages["save"] = (time.perf_counter() - t) * 1000
        return stages

    def _animate(self, item: Item, out: Path, intensity: float, inputs: list) -> dict[str, float]:
        job = self.job
        check_video_output(out, inputs, sequence=False)
        cfg = AnimateConfig(method=job.method, relative=job.relative, intensity=float(intensity),
                            regions=tuple(job.regions or REGIONS), size=job.size, max_frames=job.max_frames)
        summary = write_animation(Animation(item.target, item.driving, cfg), out, audio=job.audio)
        return {k: v * summary["frames"] for k, v in summary["stage_ms_per_frame"].items()}


__all__ = ["ItemRunner", "limit_threads", "thread_env", "sha256_file", "method_version"]
