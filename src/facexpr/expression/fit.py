"""Fit the linear expression model on same-person data.

Each *group* is one person (a London neutral/smiling pair, or every sampled frame of one video
clip). Within a group identity is constant, so after subtracting the group mean the remaining
landmark motion is expression only; a ridge regression from blendshape changes to canonical
landmark changes gives the shared ``basis``. London pairs and video frames are weighted so each
source contributes about half of the evidence (4 video clips would otherwise swamp 60 pairs).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from ..datasets import london, video
from ..faces.align import to_canonical, umeyama
from ..faces.topology import STABLE
from ..io import load_image
from .model import ExpressionModel
from .shading import atlas_layout, atlas_weight, log_luminance_texture


@dataclass
class Group:
    name: str
    landmarks: np.ndarray    # (n, 478, 3) image-space
    blendshapes: np.ndarray  # (n, 52)
    kind: str                # "pair" | "video"
    sources: list = field(default_factory=list)  # (path, frame index or None) per sample


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
    canon = [np.stack([to_canonical(l, reference)[0] for l in g.landmarks]).reshape(len(g.landmarks), -1)
             for g in groups]
    basis = _ridge_within_groups(groups, canon, ridge).reshape(-1, 478, 3)
    per_kind = {k: sum(len(g.landmarks) for g in groups if g.kind == k) for k in {g.kind for g in groups}}
    info = dict(meta or {})
    info.update({"ridge": ridge, "samples": {k: int(v) for k, v in per_kind.items()},
                 "groups": len(groups)})
    return ExpressionModel(reference, basis, info)


def _ridge_within_groups(groups: list[Group], targets: list[np.ndarray], ridge: float) -> np.ndarray:
    """Ridge regression of per-group-centred ``targets`` on centred blendshapes (52 x D).

    Centring within a group removes identity (and, for textures, skin colour); each data kind
    (London pairs, video frames) gets equal total weight."""
    kinds = {g.kind for g in groups}
    per_kind = {k: sum(len(g.blendshapes) for g in groups if g.kind == k) for k in kinds}
    Ys, Bs, Ws = [], [], []
    for g, y in zip(groups, targets):
        Ys.append(y - y.mean(0))
        Bs.append(g.blendshapes - g.blendshapes.mean(0))
        Ws.append(np.full(len(y), 1.0 / (per_kind[g.kind] * len(kinds))))
    Y, B, w = np.concatenate(Ys), np.concatenate(Bs).astype(np.float64), np.concatenate(Ws)
    Bw = B * w[:, None]
    A = B.T @ Bw + ridge * np.eye(B.shape[1]) * w.sum() / B.shape[1]
    return np.linalg.solve(A, Bw.T @ Y)


def fit_shading(groups: list[Group], model: ExpressionModel, ridge: float = 2.0,
                size: int = 128, smooth: float = 1.0, log=print) -> np.ndarray:
    """Per-texel log-luminance change per blendshape (52, size, size), same regression as the
    geometry; re-reads each sample's image (landmarks are already known).

    Much stronger ridge than the geometry (2.0 vs 0.05) and a light blur: with ~60 people the
    per-texel fit would otherwise memorise individual beards, pores and frown lines; what
    survives is the shared shading (smile lines, cheek bulge)."""
    layout = atlas_layout(model.mean_shape, size)
    textures = []
    for g in groups:
        tex = [log_luminance_texture(img, lm[:, :2], layout, size)
               for img, lm in zip(_images(g), g.landmarks)]
        textures.append(np.stack(tex).reshape(len(tex), -1))
    log(f"shading: {sum(len(t) for t in textures)} textures")
    basis = _ridge_within_groups(groups, textures, ridge).reshape(-1, size, size).astype(np.float32)
    if smooth > 0:
        basis = np.stack([cv2.GaussianBlur(b, (0, 0), smooth) for b in basis])
    return (basis * atlas_weight(layout, size)[None]).astype(np.float32)


def _images(g: Group):
    """The images behind a group's samples, in order (video frames decoded again)."""
    frames_of: dict = {}
    for path, idx in g.sources:
        if idx is None:
            yield load_image(path)
            continue
        if path not in frames_of:
            wanted = {i for p, i in g.sources if p == path}
            frames_of[path] = {i: f for i, f in video.frames(path) if i in wanted}
        yield frames_of[path][idx]


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
    groups = []
    for p in london.split(root, london_part):
        faces = [analyze(load_image(f)) for f in (p.neutral, p.smiling)]
        if all(faces):
            groups.append(Group(f"london/{p.id}", np.stack([f.landmarks for f in faces]),
                                np.stack([f.blendshapes for f in faces]), "pair",
                                [(p.neutral, None), (p.smiling, None)]))
    log(f"london {london_part}: {len(groups)} pairs")
    for clip in video.clips(root):
        lms, bss, srcs = [], [], []
        for i, rgb in video.frames(clip, every=video_every):
            f = analyze(rgb)
            if f is not None:
                lms.append(f.landmarks)
                bss.append(f.blendshapes)
                srcs.append((clip, i))
        if len(lms) >= 10:
            groups.append(Group(f"video/{clip.name}", np.stack(lms), np.stack(bss), "video", srcs))
        log(f"video {clip.name}: {len(lms)} frames")
    return groups


def fit_default(root: Path, out: Path, analyze: Callable, ridge: float = 0.05, video_every: int = 3,
                log=print) -> dict:
    """Fit on London *train* + all video clips; report the error on London *unseen*; save."""
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
    # Shading is learned from the sharp, evenly lit London photos only: the videos are small and
    # compressed, and their shading maps put noise (and forehead creases) on every face.
    model.shading = fit_shading([g for g in groups if g.kind == "pair"], model, log=log)
    model.meta["shading_data"] = "London train pairs only"
    model.save(out)
    log(f"saved {out}: unseen London smile landmarks error {report['model_error']:.4f} "
        f"(no-change baseline {report['no_change_error']:.4f}, {len(errs)} pairs)")
    return report
