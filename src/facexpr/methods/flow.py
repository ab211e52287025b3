"""Dense motion from sparse landmark motion: the geometric half of every "warp + learned residual"
generator (:mod:`facexpr.methods.residual`), and of the self-supervised deformation that trains them
(:mod:`facexpr.train.augment`), so training and inference move pixels the same way.

A backward piecewise-affine map over the face mesh (:class:`facexpr.faces.mesh.MeshSampler`), with
anchors just outside the crop so the motion fades to zero at its border. Numpy: the landmarks are
inputs, not learned, so the map need not be differentiable; the warp that *applies* it is
(``torch.grid_sample``, :func:`facexpr.methods.residual.warp`), so losses see the final image.
"""
from __future__ import annotations

import numpy as np

from ..faces.mesh import MeshSampler


def border_anchors(size: int, n: int = 4) -> np.ndarray:
    """Points just outside the crop's border (n per side): no motion there."""
    t = np.linspace(-1.0, size, n + 1)
    lo, hi = -1.0, size + 0.0
    pts = [(x, lo) for x in t] + [(x, hi) for x in t] + [(lo, y) for y in t[1:-1]] + [(hi, y) for y in t[1:-1]]
    return np.array(pts, np.float64)


def backward_map(src_landmarks: np.ndarray, dst_landmarks: np.ndarray, shape: tuple[int, int], grid: int = 0):
    """Per output pixel (geometry ``dst_landmarks``), where to read the input (geometry
    ``src_landmarks``): a piecewise-affine map over the mesh, no motion at the crop border.
    ``grid``: the map is evaluated on a grid this many px on its long side (0 = full size)."""
    h, w = shape
    anchors = border_anchors(max(h, w))
    dst = np.concatenate([np.asarray(dst_landmarks, np.float64)[:, :2], anchors])
    src = np.concatenate([np.asarray(src_landmarks, np.float64)[:, :2], anchors])
    sampler = MeshSampler(dst, (0, 0, w, h), grid or max(h, w))
    return sampler.backward_map(dst, src)


def landmark_flow(src_landmarks: np.ndarray, dst_landmarks: np.ndarray, size: int, grid: int = 0) -> np.ndarray:
    """(2, S, S) float32 backward flow in pixels: an image with the geometry ``src_landmarks``,
    sampled at ``p + flow(p)`` (:func:`facexpr.methods.residual.warp`), takes the geometry
    ``dst_landmarks``."""
    mx, my = backward_map(src_landmarks, dst_landmarks, (size, size), grid)
    ys, xs = np.mgrid[0:size, 0:size]
    return np.stack([mx - xs, my - ys]).astype(np.float32)


__all__ = ["border_anchors", "backward_map", "landmark_flow"]
