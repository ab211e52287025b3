"""Synthetic caches: cartoon faces with exact annotations, for smoke training and tests.

No photo and no face detector is involved: each face is the expression model's mean shape with a
random expression (``mean_shape + basis . blendshapes``), framed by the same crop template as
real caches (:data:`facexpr.faces.crops.TEMPLATE`), and painted from its landmarks (skin,
eyes, irises, brows, lips, a little texture). The result is a cache in the exact format of
``facexpr prepare`` (:mod:`facexpr.train.prepare`), so everything downstream is exercised.
"""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

from ..expression import action_units
from ..expression.blendshapes import NAMES
from ..faces.align import umeyama
from ..faces.topology import (BROW_LEFT, BROW_RIGHT, EYE_LEFT, EYE_RIGHT, FACE_OVAL, IRIS_LEFT, IRIS_RIGHT,
                              LIPS_INNER, LIPS_OUTER, STABLE)
from .augment import movable
from ..cache import CACHE_VERSION, Annotation, write_item
from ..faces.crops import TEMPLATE
from .sources import make_key
from ..expression.model import load_default_model


def face_landmarks(blendshapes: np.ndarray, size: int, model=None, jitter: np.ndarray | None = None) -> np.ndarray:
    """(478, 3) crop-pixel landmarks of the mean face showing ``blendshapes``."""
    model = model or load_default_model()
    canon = model.mean_shape + model.displacement(blendshapes)
    if jitter is not None:
        canon = canon * (1.0 + jitter)  # a slightly different face shape per person
    sim = umeyama(model.mean_shape[list(STABLE), :2], TEMPLATE * size)
    out = np.empty_like(canon)
    out[:, :2] = sim.apply(canon[:, :2])
    out[:, 2] = canon[:, 2] * sim.scale
    return out


def paint_face(landmarks: np.ndarray, size: int, skin, background, rng: np.random.Generator) -> np.ndarray:
    xy = np.asarray(landmarks)[:, :2]
    s = 16
    P = lambda idx: np.round(xy[list(idx)] * s).astype(np.int32)  # noqa: E731
    img = np.empty((size, size, 3), np.uint8)
    img[:] = background
    noise = rng.normal(0, 6, (size, size, 1))
    cv2.fillPoly(img, [P(FACE_OVAL)], tuple(int(c) for c in skin), cv2.LINE_AA, 4)
    for eye, iris in ((EYE_RIGHT, IRIS_RIGHT), (EYE_LEFT, IRIS_LEFT)):
        cv2.fillPoly(img, [P(eye)], (240, 240, 235), cv2.LINE_AA, 4)
        c = xy[iris[0]]
        r = float(np.linalg.norm(xy[list(iris[1:])] - c, axis=1).mean())
        mask = np.zeros((size, size), np.uint8)
        cv2.fillPoly(mask, [P(eye)], 255, cv2.LINE_AA, 4)
        iris_img = img.copy()
        cv2.circle(iris_img, tuple(np.round(c * s).astype(int)), int(round(r * s)), (70, 45, 30), -1, cv2.LINE_AA, 4)
        img = np.where(mask[..., None] > 0, iris_img, img)
    for brow in (BROW_RIGHT, BROW_LEFT):
        cv2.fillPoly(img, [P(brow)], (60, 40, 30), cv2.LINE_AA, 4)
    cv2.fillPoly(img, [P(LIPS_OUTER)], (170, 60, 70), cv2.LINE_AA, 4)
    cv2.fillPoly(img, [P(LIPS_INNER)], (60, 20, 25), cv2.LINE_AA, 4)
    return np.clip(img.astype(np.float32) + noise, 0, 255).astype(np.uint8)


def make_cache(out: Path, n_people: int = 4, per_person: int = 3, size: int = 64, seed: int = 0,
               dataset: str = "synthetic", au_labels: bool = False) -> Path:
    """Write a synthetic cache of ``n_people`` x ``per_person`` faces (the first of each person
    neutral) to ``out``. With ``au_labels`` each item also gets noisy OpenFace-style AU labels."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    model = load_default_model()
    idx = movable()
    meta = {"version": CACHE_VERSION, "size": size, "dataset": dataset, "root": "synthetic",
            "crop": "synthetic (expression model mean shape on the crop template)",
            "aus": list(action_units.AUS_V1), "identity": "synthetic"}
    (out / "meta.json").write_text(json.dumps(meta, indent=1), encoding="utf-8")
    lines = []
    for p in range(n_people):
        skin = rng.uniform([150, 110, 90], [235, 200, 180])
        bg = rng.uniform(0, 255, 3)
        jitter = rng.normal(0, 0.03, (1, 3))
        ident = rng.normal(0, 1, 128).astype(np.float32)
        ident /= np.linalg.norm(ident)
        for k in range(per_person):
            bs = np.zeros(len(NAMES), np.float32)
            if k:
                chosen = rng.choice(idx, size=4, replace=False)
                bs[chosen] = rng.uniform(0.2, 0.9, len(chosen))
            lm = face_landmarks(bs, size, model, jitter)
            img = paint_face(lm, size, skin, bg, rng)
            aus = action_units.estimate(bs, action_units.AUS_V1).astype(np.float32)
            key = make_key(f"synthetic/p{p:03d}/{k}")
            ann = Annotation(img, lm.astype(np.float32), bs, np.eye(4, dtype=np.float32), aus, ident,
                             np.eye(2, 3), float(size * 0.8))
            rel = write_item(out, key, ann)
            labels = None
            if au_labels:
                labels = [round(float(v), 4) for v in np.clip(aus + rng.normal(0, 0.05, len(aus)), 0, 1)]
            lines.append({"key": key, "ref": f"synthetic:{p}/{k}", "person": f"p{p:03d}", "group": f"p{p:03d}",
                          "expression": "neutral" if k == 0 else f"expr{k}", "label": "neutral" if k == 0 else None,
                          "frame": None, "au_labels": labels, "ok": True, "file": rel, "face_px": ann.face_px,
                          "blendshapes": [round(float(v), 5) for v in bs], "aus": [round(float(v), 5) for v in aus],
                          "has_identity": True, "yaw": 0.0, "pitch": 0.0, "roll": 0.0})
    with open(out / "index.jsonl", "w", encoding="utf-8") as f:
        for rec in lines:
            f.write(json.dumps(rec) + "\n")
    return out
