"""Shared pieces of the render layer: the layer type, colour probes, Lab helpers."""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ..faces.topology import EYE_LEFT, EYE_RIGHT, LIPS_INNER, LIPS_OUTER


@dataclass
class Layer:
    """An RGB image + soft alpha covering the box at ``offset`` (x0, y0) of the caller's image."""
    image: np.ndarray   # (h, w, 3) uint8 RGB
    alpha: np.ndarray   # (h, w) float32 in [0, 1]
    offset: tuple[int, int]


@dataclass(frozen=True)
class Colours:
    """Median Lab (OpenCV 8-bit scale) of the target's skin and lips: the lighting references."""
    skin: np.ndarray
    lip: np.ndarray
    white: float | None = None  # lightness of the eye whites: a white-albedo lighting reference


def _patch_lab(img: np.ndarray, pts: np.ndarray, r: int) -> np.ndarray:
    H, W = img.shape[:2]
    out = []
    for x, y in np.round(pts).astype(int):
        p = img[max(0, y - r):min(H, y + r + 1), max(0, x - r):min(W, x + r + 1)]
        if p.size:
            out.append(p.reshape(-1, 3))
    if not out:
        return np.array([160.0, 140.0, 145.0], np.float32)
    rgb = np.concatenate(out)[None].astype(np.uint8)
    return np.median(cv2.cvtColor(rgb, cv2.COLOR_RGB2LAB).reshape(-1, 3).astype(np.float32), 0)


def skin_lab(img: np.ndarray, xy: np.ndarray, size: float) -> np.ndarray:
    """Median Lab of cheek and chin patches: the face's skin tone under its lighting."""
    return _patch_lab(img, xy[[50, 280, 199]], max(2, int(size * 0.04)))


def colour_probe(img: np.ndarray, xy: np.ndarray, size: float) -> Colours:
    """Skin from cheek and chin patches; lip from points halfway between the inner and outer
    lip contours (the red of the lips, not the skin around them)."""
    skin = skin_lab(img, xy, size)
    mid = 0.5 * (xy[list(LIPS_INNER)] + xy[list(LIPS_OUTER)])
    lip = _patch_lab(img, mid, max(1, int(size * 0.006)))
    return Colours(skin, lip, _white(img, xy))


def _white(img: np.ndarray, xy: np.ndarray) -> float | None:
    """The eye whites' lightness (the light low-chroma pixels inside both eye contours): teeth
    and sclera have similar albedo whatever the skin tone, so this sets how bright teeth look."""
    vals = []
    for eye in (EYE_RIGHT, EYE_LEFT):
        poly = xy[list(eye)]
        box = box_of(poly, 0, (0, 0, img.shape[1], img.shape[0]))
        if box is None:
            continue
        x0, y0, x1, y1 = box
        m = np.zeros((y1 - y0, x1 - x0), np.uint8)
        cv2.fillPoly(m, [np.round(poly - (x0, y0)).astype(np.int32)], 1)
        lab = cv2.cvtColor(img[y0:y1, x0:x1], cv2.COLOR_RGB2LAB).astype(np.float32)[m.astype(bool)]
        vals.append(lab[np.hypot(lab[:, 1] - 128, lab[:, 2] - 128) < 20, 0])
    v = np.concatenate(vals) if vals else np.zeros(0)
    return float(np.percentile(v, 80)) if v.size >= 20 else None


def lab_to_rgb(L: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    lab = np.stack([L, a, b], -1)
    return cv2.cvtColor(np.clip(lab + 0.5, 0, 255).astype(np.uint8), cv2.COLOR_LAB2RGB)


def box_of(poly: np.ndarray, pad: int, bounds=None) -> tuple[int, int, int, int] | None:
    """Integer box (x0, y0, x1, y1) around ``poly`` padded by ``pad``, clipped to ``bounds``
    (x0, y0, x1, y1); None when it is empty."""
    x0, y0 = np.floor(poly.min(0)).astype(int) - pad
    x1, y1 = np.ceil(poly.max(0)).astype(int) + pad + 1
    if bounds is not None:
        x0, y0, x1, y1 = max(x0, bounds[0]), max(y0, bounds[1]), min(x1, bounds[2]), min(y1, bounds[3])
    if x1 - x0 < 2 or y1 - y0 < 2:
        return None
    return int(x0), int(y0), int(x1), int(y1)


def poly_area(p: np.ndarray) -> float:
    x, y = p[:, 0], p[:, 1]
    return 0.5 * abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))


def smoothstep(e0: float, e1, x: np.ndarray) -> np.ndarray:
    t = np.clip((x - e0) / (e1 - e0), 0.0, 1.0)
    return t * t * (3 - 2 * t)


def work_grid(x0: int, y0: int, w: int, h: int, max_side: int):
    """Pixel-centre coordinates (float32) of the box sampled at most ``max_side`` px on its long
    side, and the sample step in px. Shading is smooth: computing it coarser and upsampling with
    :func:`upsample` saves most of the time on large faces (cv2.resize's half-pixel convention)."""
    s = min(1.0, max(max_side / max(w, h), 16 / min(w, h)))  # never under 16 px across a slit
    ws, hs = max(2, int(round(w * s))), max(2, int(round(h * s)))
    xs = x0 + (np.arange(ws, dtype=np.float32) + 0.5) * np.float32(w / ws) - 0.5
    ys = y0 + (np.arange(hs, dtype=np.float32) + 0.5) * np.float32(h / hs) - 0.5
    gx, gy = np.meshgrid(xs.astype(np.float32), ys.astype(np.float32))
    return gx, gy, max(w / ws, h / hs)


def upsample(a: np.ndarray, w: int, h: int) -> np.ndarray:
    return a if a.shape[:2] == (h, w) else cv2.resize(a, (w, h), interpolation=cv2.INTER_LINEAR)
