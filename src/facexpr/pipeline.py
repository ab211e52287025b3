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
from .expression.retarget import RetargetConfig, Retargeted, retarget, retargeted
from .faces.landmarks import Face, analyze_faces, reanalyze, select_face
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
    feedback: int = 1  # closed-loop corrections for landmark-driven methods (0 = open loop)


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
        # An index refers to `facexpr analyze`'s list, which searches thoroughly (group photos).
        s_face = select_face(analyze_faces(src_img, thorough=cfg.source_face is not None),
                             cfg.source_face, "source " + _name(source, "image"))
        t_face = select_face(analyze_faces(tgt_img, thorough=cfg.target_face is not None),
                             cfg.target_face, "target " + _name(target, "image"))
    with timer("retarget"):
        model = load_default_model()
        rt = retarget(s_face, t_face, model, rcfg)
    point_weights = rt.point_weights  # the --regions restriction, kept through corrections
    if cfg.intensity == 0 or not np.any(rt.delta):
        return TransferResult(tgt_img.copy(), s_face, t_face, rt, timer.ms)
    with timer("render"):
        options = {"intensity": cfg.intensity, "regions": tuple(cfg.regions)}
        patch = method.render(RenderJob(tgt_img, t_face, src_img, s_face, rt, options))
    with timer("paste"):
        out = paste_back(tgt_img, patch)
    if getattr(method, "landmark_driven", False):
        for _ in range(cfg.feedback):
            with timer("feedback"):
                corrected = _corrected(out, t_face, rt, model, point_weights)
                if corrected is None:
                    break
                rt = corrected
                out = paste_back(tgt_img, method.render(RenderJob(tgt_img, t_face, src_img, s_face, rt, options)))
    return TransferResult(out, s_face, t_face, rt, timer.ms)


MAX_GAIN = 2.0


def _corrected(out: np.ndarray, t_face: Face, rt: Retargeted, model, point_weights) -> Retargeted | None:
    """One closed-loop step: measure the expression the output shows, and amplify each requested
    blendshape that fell short (never beyond ``MAX_GAIN`` x the request, never a new one).

    A mesh warp moves landmarks but cannot add the cheek bulge or skin folds that tell a face
    reader how strong an expression is, and the linear model predicts ~0.9 of the real motion;
    so a warped expression reads weaker than requested. Measuring and correcting per image keeps
    ``intensity=1`` meaning "the source's expression" on every face.
    """
    seen = reanalyze(out, t_face)
    if seen is None:
        return None
    want = rt.requested
    achieved = seen.blendshapes - t_face.blendshapes
    big = np.abs(want) > 0.05
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(big, achieved / np.where(big, want, 1.0), 1.0)
    gain = np.where(big, np.clip(rt.delta / np.where(big, want, 1.0) * (1.0 + (1.0 - ratio)), 1.0, MAX_GAIN), 1.0)
    delta = np.where(big, want * gain, rt.delta)
    return retargeted(t_face, delta, model, requested=want, point_weights=point_weights)
