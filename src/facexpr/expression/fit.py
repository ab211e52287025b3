"""Fit the linear expression model on same-person data.

Each *group* is one person (a London neutral/smiling pair, or every sampled frame of one video
clip). Within a group identity is constant, so after subtracting the group mean the remaining
landmark motion is expression only; a ridge regression from blendshape changes to canonical
landmark changes gives the shared ``basis``. London pairs and video frames are weighted so each
source contributes about half of the evidence (4 video clips would otherwise swamp 60 pairs).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from ..faces.align import to_canonical, umeyama
from ..faces.topology import STABLE
from .model import ExpressionModel


@dataclass
class Group:
    name: str
    landmarks: np.ndarray    # (n, 478, 3) image-space
    blendshapes: np.ndarray  # (n, 52)
    kind: str                # "pair" | "video"


def reference_shape(shapes: list[np.ndarray], iters: int = 3) -> np.ndarray:
    """Generalised Procrustes mean of (478, 3) shapes, centred, stable-point RMS radius 1."""
    idx = list(STABLE)
    ref = shapes[0].copy()
    for _ in range(iters):
        aligned = [umeyama(s[idx], ref[idx]).apply(s) for s in shapes]
        ref = np.mean(aligned, axis=0)
        ref = ref - ref[idx].mean(0)
        ref = ref / np.sqrt((ref[idx] ** 2).sum(1).mean())
    return ref


def fit(groups: list[Group], ridge: float = 0.05, reference: np.ndarray | None = None,
        meta: dict | None = None) -> ExpressionModel:
    if reference is None:
        reference = reference_shape([g.landmarks[0] for g in groups if g.kind == "pair"] or
                                    [g.landmarks[0] for g in groups])
    Xs, Bs, Ws = [], [], []
    kinds = {g.kind for g in groups}
    per_kind = {k: sum(len(g.landmarks) for g in groups if g.kind == k) for k in kinds}
    for g in groups:
        canon = np.stack([to_canonical(l, reference)[0] for l in g.landmarks]).reshape(len(g.landmarks), -1)
        Xs.append(canon - canon.mean(0))
        Bs.append(g.blendshapes - g.blendshapes.mean(0))
        Ws.append(np.full(len(canon), 1.0 / (per_kind[g.kind] * len(kinds))))
    X, B, w = np.concatenate(Xs), np.concatenate(Bs).astype(np.float64), np.concatenate(Ws)
    Bw = B * w[:, None]
    A = B.T @ Bw + ridge * np.eye(B.shape[1]) * w.sum() / B.shape[1]
    basis = np.linalg.solve(A, Bw.T @ X).reshape(B.shape[1], 478, 3)
    info = dict(meta or {})
    info.update({"ridge": ridge, "samples": {k: int(v) for k, v in per_kind.items()},
                 "groups": len(groups)})
    return ExpressionModel(reference, basis, info)


def landmark_error(model: ExpressionModel, neutral: Group | np.ndarray, expressive_lm: np.ndarray,
                   b_neutral: np.ndarray, b_expr: np.ndarray) -> tuple[float, float]:
    """(model error, no-change error): mean per-point distance in canonical units between the
    predicted and the real expressive landmarks of one person."""
    ref = model.mean_shape
    cn, _ = to_canonical(neutral, ref)
    ce, _ = to_canonical(expressive_lm, ref)
    pred = cn + model.displacement(b_expr - b_neutral)
    err = np.linalg.norm((pred - ce)[:, :2], axis=1).mean()
    base = np.linalg.norm((cn - ce)[:, :2], axis=1).mean()
    return float(err), float(base)


def collect(root: Path, analyze: Callable, video_every: int = 3, london_part: str = "train",
            log=print) -> list[Group]:
    """Annotate the fitting data: London pairs of ``london_part`` and frames of every clip."""
    from ..datasets import london, video
    from ..io import load_image

    groups = []
    for p in london.split(root, london_part):
        faces = [analyze(load_image(f)) for f in (p.neutral, p.smiling)]
        if all(faces):
            groups.append(Group(f"london/{p.id}", np.stack([f.landmarks for f in faces]),
                                np.stack([f.blendshapes for f in faces]), "pair"))
    log(f"london {london_part}: {len(groups)} pairs")
    for clip in video.clips(root):
        lms, bss = [], []
        for _, rgb in video.frames(clip, every=video_every):
            f = analyze(rgb)
            if f is not None:
                lms.append(f.landmarks)
                bss.append(f.blendshapes)
        if len(lms) >= 10:
            groups.append(Group(f"video/{clip.name}", np.stack(lms), np.stack(bss), "video"))
        log(f"video {clip.name}: {len(lms)} frames")
    return groups


def fit_default(root: Path, out: Path, analyze: Callable, ridge: float = 0.05, video_every: int = 3,
                log=print) -> dict:
    """Fit on London *train* + all video clips; report the error on London *unseen*; save."""
    from ..datasets import london
    from ..io import load_image

    groups = collect(root, analyze, video_every=video_every, london_part="train", log=log)
    reference = reference_shape([g.landmarks[0] for g in groups if g.kind == "pair"])
    model = fit(groups, ridge=ridge, reference=reference, meta={
        "data": "London set ids of the first 60 (sorted) neutral/smiling pairs (CC-BY 4.0, "
                "DeBruine & Jones 2017) + every 3rd frame of the 4 shared video clips",
        "split": f"london train = first {london.TRAIN_COUNT} ids in sorted order",
    })
    errs = []
    for p in london.split(root, "unseen"):
        a, b = analyze(load_image(p.neutral)), analyze(load_image(p.smiling))
        if a is not None and b is not None:
            errs.append(landmark_error(model, a.landmarks, b.landmarks, a.blendshapes, b.blendshapes))
    e = np.array(errs)
    report = {"unseen_pairs": len(errs), "model_error": float(e[:, 0].mean()),
              "no_change_error": float(e[:, 1].mean()),
              "units": "mean 2D landmark distance, canonical units (stable-point RMS radius = 1)"}
    model.meta["heldout"] = report
    model.save(out)
    log(f"saved {out}: unseen London smile landmarks error {report['model_error']:.4f} "
        f"(no-change baseline {report['no_change_error']:.4f}, {len(errs)} pairs)")
    return report
