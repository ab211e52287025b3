"""Piecewise-affine mesh maps over the face landmarks (the workhorse of warping and texturing).

Backward mapping: for every *output* pixel we compute where to read in the input, linearly
inside each triangle of the Delaunay triangulation of the output points. Backward maps never
tear or leave holes, whatever the motion.
"""
from __future__ import annotations

import cv2
import numpy as np
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
    return MeshSampler(dst_pts, roi, grid).backward_map(dst_pts, src_pts, smooth)


def _barycentric(pts: np.ndarray, simplices: np.ndarray) -> np.ndarray:
    """Per triangle, the affine map (3, 3) from (x, y, 1) to its barycentric coordinates.

    Closed-form 2x2 inverses in numpy: scipy's ``Delaunay.transform`` goes through LAPACK and
    OpenBLAS threads, which can stall for seconds on a busy 2-core machine."""
    a, b, c = (pts[simplices[:, i]] for i in range(3))
    e1, e2 = a - c, b - c
    det = e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0]
    det = np.where(np.abs(det) < 1e-12, 1e-12, det)
    inv = np.stack([np.stack([e2[:, 1], -e2[:, 0]], 1), np.stack([-e1[:, 1], e1[:, 0]], 1)], 1) / det[:, None, None]
    M = np.zeros((len(simplices), 3, 3))
    M[:, :2, :2] = inv
    M[:, :2, 2] = -np.einsum("nij,nj->ni", inv, c)
    M[:, 2, :2] = -M[:, 0, :2] - M[:, 1, :2]
    M[:, 2, 2] = 1 - M[:, 0, 2] - M[:, 1, 2]
    return M


class MeshSampler:
    """One triangulation of output points and one barycentric lookup of a coarse grid over
    ``roi``, reused for every quantity interpolated on it (source positions, atlas positions…).
    """

    def __init__(self, dst_pts: np.ndarray, roi: tuple[int, int, int, int], grid: int):
        self.roi = roi
        x0, y0, w, h = roi
        gx, gy = grid_points(x0, y0, w, h, grid)
        self.shape = gx.shape
        gh, gw = gx.shape
        tri = Delaunay(dst_pts)
        # Rasterise the triangles' ids onto the grid (scipy's find_simplex can fall back to a
        # brute-force search near sliver triangles, e.g. a closed mouth: seconds instead of ms).
        ids = np.full((gh, gw), -1, np.int32)
        uv = np.empty_like(dst_pts, dtype=np.float64)
        uv[:, 0] = (dst_pts[:, 0] - x0 + 0.5) * gw / w - 0.5
        uv[:, 1] = (dst_pts[:, 1] - y0 + 0.5) * gh / h - 0.5
        fixed = np.round(uv * 16).astype(np.int32)
        for k, simplex in enumerate(tri.simplices):
            cv2.fillConvexPoly(ids, fixed[simplex], int(k), lineType=cv2.LINE_8, shift=4)
        ids = ids.ravel()
        self.inside = ids >= 0
        s = np.where(self.inside, ids, 0)
        q = np.stack([gx.ravel(), gy.ravel()], 1)
        self.vertices = tri.simplices[s]  # (n, 3)
        self.weights = _barycentric(dst_pts, tri.simplices)[s, :, :]  # (n, 3, 3) affine rows
        self.weights = np.einsum("nkj,nj->nk", self.weights[:, :, :2], q) + self.weights[:, :, 2]

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
        """Each output pixel's position in another space (e.g. a texture atlas) given the points'
        positions ``tex_pts`` there; pixels off the mesh, and triangles touching a NaN point,
        get ``outside`` (read as 0 by ``cv2.remap`` with a constant border)."""
        c = self.interpolate(np.nan_to_num(tex_pts, nan=outside), outside)
        c = self.full(c)
        return c[..., 0], c[..., 1]
