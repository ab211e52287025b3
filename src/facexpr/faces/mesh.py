"""Piecewise-affine mesh maps over the face landmarks (the workhorse of warping and texturing).

Backward mapping: for every *output* pixel we compute where to read in the input, linearly
inside each triangle of the Delaunay triangulation of the output points. Backward maps never
tear or leave holes, whatever the motion.
"""
from __future__ import annotations

import cv2
import numpy as np
from scipy.interpolate import LinearNDInterpolator
from scipy.spatial import Delaunay


def grid_points(x0: float, y0: float, w: int, h: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Coarse sample positions (at most ``n`` on the long side) matching cv2.resize's
    half-pixel convention, so a coarse map resized to (w, h) lines up exactly."""
    s = max(w, h) / n if max(w, h) > n else 1.0
    gw, gh = max(2, int(round(w / s))), max(2, int(round(h / s)))
    xs = (np.arange(gw) + 0.5) * (w / gw) - 0.5 + x0
    ys = (np.arange(gh) + 0.5) * (h / gh) - 0.5 + y0
    return np.meshgrid(xs, ys)


def _upsample(a: np.ndarray, w: int, h: int) -> np.ndarray:
    return a if a.shape[:2] == (h, w) else cv2.resize(a, (w, h), interpolation=cv2.INTER_LINEAR)


def backward_map(dst_pts: np.ndarray, src_pts: np.ndarray, roi: tuple[int, int, int, int],
                 grid: int, smooth: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Remap tables for ``roi`` = (x0, y0, w, h): each output pixel's source position.

    Outside the triangulated hull the displacement is zero (identity), so callers add anchor
    points where the motion must fade out.
    """
    x0, y0, w, h = roi
    gx, gy = grid_points(x0, y0, w, h, grid)
    interp = LinearNDInterpolator(dst_pts, src_pts - dst_pts)
    d = interp(np.stack([gx.ravel(), gy.ravel()], 1)).reshape(gx.shape + (2,))
    d = np.nan_to_num(d, nan=0.0).astype(np.float32)
    if smooth > 0:
        d = cv2.GaussianBlur(d, (0, 0), smooth)
    d = _upsample(d, w, h)
    xs, ys = np.meshgrid(np.arange(x0, x0 + w, dtype=np.float32), np.arange(y0, y0 + h, dtype=np.float32))
    return xs + d[..., 0], ys + d[..., 1]


def coords_map(dst_pts: np.ndarray, tex_pts: np.ndarray, roi: tuple[int, int, int, int],
               grid: int, outside: float = -1e4) -> tuple[np.ndarray, np.ndarray]:
    """Like :func:`backward_map` but into another space (e.g. a texture atlas): pixels outside
    the mesh get ``outside`` coordinates, which ``cv2.remap`` with a constant border reads as 0."""
    x0, y0, w, h = roi
    gx, gy = grid_points(x0, y0, w, h, grid)
    interp = LinearNDInterpolator(dst_pts, tex_pts, fill_value=outside)
    c = interp(np.stack([gx.ravel(), gy.ravel()], 1)).reshape(gx.shape + (2,)).astype(np.float32)
    c = _upsample(c, w, h)
    return c[..., 0], c[..., 1]


class MeshSampler:
    """One triangulation of output points and one barycentric lookup of a coarse grid over
    ``roi``, reused for every quantity interpolated on it (source positions, atlas positions…).
    """

    def __init__(self, dst_pts: np.ndarray, roi: tuple[int, int, int, int], grid: int):
        self.roi = roi
        x0, y0, w, h = roi
        gx, gy = grid_points(x0, y0, w, h, grid)
        self.shape = gx.shape
        q = np.stack([gx.ravel(), gy.ravel()], 1)
        tri = Delaunay(dst_pts)
        simplex = tri.find_simplex(q)
        self.inside = simplex >= 0
        s = np.where(self.inside, simplex, 0)
        T = tri.transform[s]  # (n, 3, 2): affine to barycentric
        b = np.einsum("nij,nj->ni", T[:, :2], q - T[:, 2])
        self.weights = np.concatenate([b, 1 - b.sum(1, keepdims=True)], 1)  # (n, 3)
        self.vertices = tri.simplices[s]  # (n, 3)

    def interpolate(self, values: np.ndarray, outside: float = 0.0) -> np.ndarray:
        """Values (per output point, shape (N, C)) at the coarse grid, (gh, gw, C)."""
        v = np.einsum("nk,nkc->nc", self.weights, values[self.vertices])
        v[~self.inside] = outside
        return v.reshape(self.shape + (values.shape[1],)).astype(np.float32)

    def full(self, coarse: np.ndarray) -> np.ndarray:
        _, _, w, h = self.roi
        return _upsample(coarse, w, h)

    def backward_map(self, dst_pts: np.ndarray, src_pts: np.ndarray, smooth: float = 0.0):
        """As :func:`backward_map`, for the points this sampler was built on."""
        d = self.interpolate(src_pts - dst_pts)
        if smooth > 0:
            d = cv2.GaussianBlur(d, (0, 0), smooth)
        d = self.full(d)
        x0, y0, w, h = self.roi
        xs, ys = np.meshgrid(np.arange(x0, x0 + w, dtype=np.float32), np.arange(y0, y0 + h, dtype=np.float32))
        return xs + d[..., 0], ys + d[..., 1]

    def coords_map(self, tex_pts: np.ndarray, outside: float = -1e4):
        """As :func:`coords_map`; points with NaN coordinates count as outside."""
        c = self.interpolate(np.nan_to_num(tex_pts, nan=outside), outside)
        c = self.full(c)
        return c[..., 0], c[..., 1]
