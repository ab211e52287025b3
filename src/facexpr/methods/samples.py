"""Samples in the common format: what a generator sees, at training (``facexpr.train.data``) and at
inference (:mod:`facexpr.methods.exported`) alike.

Images are float32 (3, S, S) in [-1, 1]; landmarks (478, 3) in crop pixels; blendshapes (52,); AUs
(17, or 22 for families that read all of ``action_units.AUS``) in [0, 1]; identity (128,). Keys: ``target``/``target_*``, ``source``/``source_*``,
``want_landmarks``/``want_blendshapes``/``want_aus``, ``gt``/``has_gt``, ``index``.
"""
from __future__ import annotations

import cv2
import numpy as np

from ..expression import action_units
from ..faces.topology import (BROW_LEFT, BROW_RIGHT, EYE_LEFT, EYE_RIGHT, FACE_OVAL, IRIS_LEFT, IRIS_RIGHT,
                              LIPS_INNER, LIPS_OUTER)


def to_tensor_image(img: np.ndarray) -> np.ndarray:
    """(S, S, 3) uint8 -> (3, S, S) float32 in [-1, 1]."""
    return np.ascontiguousarray(img.transpose(2, 0, 1), dtype=np.float32) / 127.5 - 1.0


def to_uint8_image(x) -> np.ndarray:
    """(3, S, S) tensor/array in [-1, 1] -> (S, S, 3) uint8."""
    a = x.detach().float().cpu().numpy() if hasattr(x, "detach") else np.asarray(x, np.float32)
    return np.clip((a.transpose(1, 2, 0) + 1.0) * 127.5 + 0.5, 0, 255).astype(np.uint8)


def _side(prefix: str, d: dict) -> dict:
    ident = d.get("identity")
    return {prefix: to_tensor_image(d["image"]),
            f"{prefix}_landmarks": np.asarray(d["landmarks"], np.float32),
            f"{prefix}_blendshapes": np.asarray(d["blendshapes"], np.float32),
            f"{prefix}_aus": np.asarray(d["aus"], np.float32),
            f"{prefix}_identity": np.zeros(128, np.float32) if ident is None else np.asarray(ident, np.float32)}


def make_sample(target: dict, source: dict, want: dict, gt: np.ndarray | None = None, index: int = 0,
                aus: tuple[int, ...] = action_units.AUS_V1) -> dict:
    """One sample in the common format from plain dicts (``image`` uint8, ``landmarks``,
    ``blendshapes``, ``aus``, ``identity``); ``want`` has ``landmarks`` and ``blendshapes`` (and
    ``aus``, else they are estimated over ``aus``). Used by the training datasets and by inference
    (:mod:`facexpr.methods.exported`)."""
    s = {**_side("target", target), **_side("source", source)}
    want_bs = np.asarray(want["blendshapes"], np.float32)
    s["want_landmarks"] = np.asarray(want["landmarks"], np.float32)
    s["want_blendshapes"] = want_bs
    s["want_aus"] = np.asarray(want["aus"] if "aus" in want else action_units.estimate(want_bs, aus), np.float32)
    s["gt"] = to_tensor_image(gt) if gt is not None else np.zeros_like(s["target"])
    s["has_gt"] = np.float32(gt is not None)
    s["index"] = np.int64(index)
    return s


def landmark_map(landmarks: np.ndarray, size: int, thickness: int = 1) -> np.ndarray:
    """A (1, S, S) float32 drawing of the face's contours (oval, brows, eyes, irises, lips, nose
    bridge) in [0, 1]: the usual way to condition an image generator on landmarks."""
    xy = np.asarray(landmarks, np.float64)[:, :2]
    canvas = np.zeros((size, size), np.uint8)
    shift = 4
    pts = lambda idx: np.round(xy[list(idx)] * (1 << shift)).astype(np.int32)  # noqa: E731
    closed = (FACE_OVAL, EYE_RIGHT, EYE_LEFT, LIPS_OUTER, LIPS_INNER)
    opened = (BROW_RIGHT[:5], BROW_RIGHT[5:], BROW_LEFT[:5], BROW_LEFT[5:], (168, 6, 197, 195, 5, 4))
    cv2.polylines(canvas, [pts(c) for c in closed], True, 255, thickness, cv2.LINE_AA, shift)
    cv2.polylines(canvas, [pts(c) for c in opened], False, 255, thickness, cv2.LINE_AA, shift)
    for iris in (IRIS_RIGHT, IRIS_LEFT):
        c = xy[iris[0]]
        r = float(np.linalg.norm(xy[list(iris[1:])] - c, axis=1).mean())
        cv2.circle(canvas, tuple(np.round(c * (1 << shift)).astype(int)), int(round(r * (1 << shift))), 255,
                   thickness, cv2.LINE_AA, shift)
    return (canvas.astype(np.float32) / 255.0)[None]


__all__ = ["to_tensor_image", "to_uint8_image", "make_sample", "landmark_map"]
