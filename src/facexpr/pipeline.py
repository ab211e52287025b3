"""One transfer, stage by stage: load → analyse → retarget → render → paste back.

Each stage is timed (``TransferResult.timings``, milliseconds) so ``--profile`` and the benchmarks
show where time goes. Models are loaded once per process and reused across calls.
"""
from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np

from .expression.blendshapes import REGIONS
from .expression.model import load_default_model
from .expression.retarget import RetargetConfig, Retargeted, retarget
from .faces.landmarks import Face, analyze_faces, select_face
from .faces.paste import paste_back
from .io import ImageLike, load_image
from .methods import RenderJob, get_method


@dataclass(frozen=True)
class TransferConfig:
    method: str = "warp"
    intensity: float = 1.0
    regions: tuple[str, ...] = REGIONS
    source_face: int | None = None  # index into faces sorted largest first; None = largest
    target_face: int | None = None


@dataclass
class TransferResult:
    image: np.ndarray  # the target photo, same size, with the new expression
    source_face: Face
    target_face: Face
    retargeted: Retargeted
    timings: dict[str, float] = field(default_factory=dict)


class _Timer:
    def __init__(self):
        self.ms: dict[str, float] = {}

    @contextmanager
    def __call__(self, stage: str):
        t = time.perf_counter()
        yield
        self.ms[stage] = self.ms.get(stage, 0.0) + (time.perf_counter() - t) * 1000.0


def _name(x, default: str) -> str:
    return str(x) if isinstance(x, (str,)) or hasattr(x, "__fspath__") else default


def run_transfer(source: ImageLike, target: ImageLike, cfg: TransferConfig = TransferConfig()) -> TransferResult:
    timer = _Timer()
    rcfg = RetargetConfig(cfg.intensity, tuple(cfg.regions))
    method = get_method(cfg.method)
    with timer("load"):
        src_img = load_image(source, _name(source, "source"))
        tgt_img = load_image(target, _name(target, "target"))
    with timer("analyze"):
        s_face = select_face(analyze_faces(src_img), cfg.source_face, "source " + _name(source, "image"))
        t_face = select_face(analyze_faces(tgt_img), cfg.target_face, "target " + _name(target, "image"))
    with timer("retarget"):
        model = load_default_model()
        rt = retarget(s_face, t_face, model, rcfg)
    if cfg.intensity == 0 or not np.any(rt.delta):
        return TransferResult(tgt_img.copy(), s_face, t_face, rt, timer.ms)
    with timer("render"):
        patch = method.render(RenderJob(tgt_img, t_face, src_img, s_face, rt))
    with timer("paste"):
        out = paste_back(tgt_img, patch)
    return TransferResult(out, s_face, t_face, rt, timer.ms)
