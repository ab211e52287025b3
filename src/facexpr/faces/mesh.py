"""Piecewise-affine mesh maps over the face landmarks (the workhorse of warping and texturing).

Backward mapping: for every *output* pixel we compute where to read in the input, linearly
inside each triangle. Backward maps never tear or leave holes, whatever the motion.

Warps triangulate the *rest* points (the photo's own landmarks): a triangulation of the moved
points would connect, say, a closed upper lid to the lower lid differently than the photo does,
and read eyeball pixels into the skin. Triangles that the motion flattens or folds are drawn
first, so the intact ones around them decide what a pixel shows.
"""
from __future__ import annotations

import cv2
import numpy as np
from scipy.sparse import csr_matrix
from scipy.spatial import Delaunay

from ..threads import RecentCache
from .topology import INNER_LIP_PAIRS, LID_PAIRS, LIP_ROW_PAIRS


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


def _signed_area(pts: np.ndarray, simplices: np.ndarray) -> np.ndarray:
    a, b, c = (pts[simplices[:, i]] for i in range(3))
    return 0.5 * ((b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (b[:, 1] - a[:, 1]) * (c[:, 0] - a[:, 0]))


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


class Untangler:
    """Removes folds from motions of one set of rest points: where a triangle of the rest points'
    triangulation turns over, its corners' displacements are replaced by their neighbours' mean
    until none does (late rounds smooth the fold's whole neighbourhood).

    Linear expression shapes added to a face they were not made for can push one point past its
    neighbour (a lip corner over the lip, a cheek point over the lip line); a backward warp then
    reads the wrong skin into the fold. Collapsed triangles (a closed eye, pressed lips) are fine
    and left alone, and so are triangles across an opening — those joining the two points of an
    ``openings`` pair (upper, lower lid or lip): they may close or turn over, which hides nothing.
    Built once per face (triangulation, neighbours); each call costs ~1 ms without folds."""

    def __init__(self, rest: np.ndarray, openings: tuple[tuple[int, int], ...] = (), iters: int = 40):
        self.rest, self.iters = np.asarray(rest, np.float64), iters
        tri = Delaunay(self.rest).simplices
        if openings:
            up, lo = np.zeros(len(rest), bool), np.zeros(len(rest), bool)
            for u, l in openings:
                up[u] = lo[l] = True
            tri = tri[~(up[tri].any(1) & lo[tri].any(1))]  # and their edges: lids, lips part
        a0 = _signed_area(self.rest, tri)
        med = float(np.median(np.abs(a0)))
        solid = np.abs(a0) > 0.1 * med  # slivers (a straight jaw line) turn over at a touch,
        tri, a0 = tri[solid], a0[solid]  # whatever the smoothing: the draw order handles them
        self.tri, self.sign, self.tol = tri, np.sign(a0), 0.02 * med
        n = len(rest)
        edges = np.concatenate([tri[:, [0, 1]], tri[:, [1, 2]], tri[:, [2, 0]]])
        adj = np.zeros((n, n), np.float32)
        adj[edges[:, 0], edges[:, 1]] = adj[edges[:, 1], edges[:, 0]] = 1.0
        self.ring = adj > 0
        self.adj = adj / np.maximum(adj.sum(1, keepdims=True), 1.0)

    def folded(self, moved: np.ndarray) -> np.ndarray:
        return _signed_area(moved, self.tri) * self.sign < -self.tol

    def __call__(self, moved: np.ndarray) -> np.ndarray:
        d = np.asarray(moved, np.float64) - self.rest
        best, stale = None, 0
        for k in range(self.iters):
            bad = self.folded(self.rest + d)
            if not bad.any():
                break
            best, stale = (bad.sum(), 0) if best is None or bad.sum() < best else (best, stale + 1)
            if stale >= 8:  # not getting better (a sliver of a straight jaw line): leave the rest
                # to the warp's draw order
                break
            v = np.zeros(len(d), bool)
            v[self.tri[bad]] = True
            if k >= self.iters // 2:
                v |= self.ring[v].any(0)
            d[v] = self.adj[v] @ d
        return self.rest + d


def untangle(rest: np.ndarray, moved: np.ndarray, iters: int = 40,
             openings: tuple[tuple[int, int], ...] = ()) -> np.ndarray:
    """``moved`` with folds removed (see :class:`Untangler`)."""
    return Untangler(rest, openings, iters)(moved)


_PAIR_SETS = tuple(tuple(np.array(p) for p in zip(*pairs))
                   for pairs in (LID_PAIRS + INNER_LIP_PAIRS, LIP_ROW_PAIRS))


def meet_not_cross(before: np.ndarray, after: np.ndarray, down: np.ndarray | None = None) -> np.ndarray:
    """``after`` (y down, or along the unit vector ``down``) with every upper lid / upper inner lip point that would pass
    its facing lower point stopped where the two meet (and each lip's outer edge kept outside its
    inner edge).

    The shapes are linear and the person's own eye or mouth opening is not ICT's: a full blink or
    lip press of a narrow eye or thin mouth overshoots, and crossed contours fold the mesh warp
    (smeared lashes, a "mouth" drawn where the lips overlap). Each pair meets where its two
    motions cross (so a blinking upper lid stops on a still lower lid); pairs already crossed in
    the photo cross no further. A point in two pairs (an inner lip point) is settled in turn."""
    if down is not None:  # rotate so that ``down`` is +y, and back
        c, s = float(down[1]), float(down[0])
        R = np.eye(after.shape[1])
        R[:2, :2] = [[c, s], [-s, c]]
        return meet_not_cross(before @ R, after @ R) @ R.T
    out = after
    for _ in range(3):
        for upper, lower in _PAIR_SETS:
            out = _meet(before, out, upper, lower)
    return out


def _meet(before: np.ndarray, after: np.ndarray, upper: np.ndarray, lower: np.ndarray) -> np.ndarray:
    gap0 = before[lower, 1] - before[upper, 1]
    gap1 = after[lower, 1] - after[upper, 1]
    allowed = np.minimum(gap0, 0.0)  # a closed mouth reads slightly crossed: no worse than that
    bad = gap1 < allowed
    if not bad.any():
        return after
    out = after.copy()
    u, l = upper[bad], lower[bad]
    t = (gap0[bad] - allowed[bad]) / (gap0[bad] - gap1[bad])
    meet = before[u, 1] + t * (after[u, 1] - before[u, 1])
    out[u, 1] = meet
    out[l, 1] = meet + allowed[bad]
    return out


_REST_TRIANGLES = RecentCache(16)


def _rest_triangles(rest: np.ndarray) -> np.ndarray:
    """The Delaunay triangles of a warp's rest points, kept for the last few point sets: a video
    or a live session warps the same photo every frame, and triangulating it again each time is
    a third of the mesh's cost."""
    return _REST_TRIANGLES.get(RecentCache.key(rest), lambda: Delaunay(rest).simplices)


class MeshSampler:
    """One triangulation of output points and one barycentric lookup of a coarse grid over
    ``roi``, reused for every quantity interpolated on it (source positions, atlas positions…).
    """

    def __init__(self, dst_pts: np.ndarray, roi: tuple[int, int, int, int], grid: int,
                 rest_pts: np.ndarray | None = None):
        self.roi = roi
        x0, y0, w, h = roi
        gx, gy = grid_points(x0, y0, w, h, grid)
        self.shape = gx.shape
        gh, gw = gx.shape
        simplices = Delaunay(dst_pts).simplices if rest_pts is None else _rest_triangles(rest_pts)
        if rest_pts is not None:  # folded or flattened triangles first (overdrawn by intact ones)
            simplices = simplices[np.argsort(_signed_area(dst_pts, simplices) * np.sign(
                _signed_area(rest_pts, simplices)) > 1e-6, kind="stable")]
        # Rasterise the triangles' ids onto the grid (scipy's find_simplex can fall back to a
        # brute-force search near sliver triangles, e.g. a closed mouth: seconds instead of ms).
        ids = np.full((gh, gw), -1, np.int32)
        uv = np.empty_like(dst_pts, dtype=np.float64)
        uv[:, 0] = (dst_pts[:, 0] - x0 + 0.5) * gw / w - 0.5
        uv[:, 1] = (dst_pts[:, 1] - y0 + 0.5) * gh / h - 0.5
        corners = np.round(uv * 16).astype(np.int32)[simplices]  # (T, 3, 2), gathered once
        fill, line8 = cv2.fillConvexPoly, cv2.LINE_8  # ~1000 calls: no attribute or keyword look-ups
        for k, tri in enumerate(list(corners)):
            fill(ids, tri, k, line8, 4)  # shift=4: corners in 1/16 px
        ids = ids.ravel()
        self.inside = ids >= 0
        s = np.where(self.inside, ids, 0)
        corner_ids = simplices[s]  # (n, 3) each grid point's triangle's corners
        # Barycentric weights in float32 and ROI-local coordinates (small numbers: no precision
        # lost): per corner, its 3 coefficients gathered for every grid point (contiguous rows of
        # the (9, T) table: the map's hot loop), w = a·x + b·y + c.
        C = _barycentric(dst_pts - (x0, y0), simplices).astype(np.float32).reshape(len(simplices), 9).T.copy()
        qx = (gx.ravel() - x0).astype(np.float32)
        qy = (gy.ravel() - y0).astype(np.float32)
        wt = np.empty((3, len(s)), np.float32)
        for k in range(3):
            np.multiply(C[3 * k].take(s), qx, out=wt[k])
            wt[k] += C[3 * k + 1].take(s) * qy
            wt[k] += C[3 * k + 2].take(s)
        # A grid point just outside its thin (or, after a closed lid, flat) triangle would
        # extrapolate far beyond its corners: keep every value a mix of the corners' values.
        np.clip(wt, 0.0, None, out=wt)
        total = wt[0] + wt[1]
        total += wt[2]
        wt /= np.maximum(total, 1e-12)
        w = self.weights = wt.T  # (n, 3)
        # The same weights as a sparse (grid points x output points) matrix, three entries a row in
        # corner order, none outside: one product gives every value, summed in the same order as
        # w_a v_a + w_b v_b + w_c v_c (bit for bit), at a seventh of the gathers' cost.
        n = len(w)
        self._matrix = csr_matrix(((w * self.inside[:, None]).ravel(), corner_ids.ravel(),
                                   np.arange(0, 3 * n + 1, 3, dtype=corner_ids.dtype)), shape=(n, len(dst_pts)))

    def interpolate(self, values: np.ndarray, outside: float = 0.0) -> np.ndarray:
        """Values (per output point, shape (N, C)) at the coarse grid, (gh, gw, C)."""
        values = np.asarray(values, np.float32)
        v = np.asarray(self._matrix @ values, np.float32)
        if outside != 0.0:
            v[~self.inside] = outside
        return v.reshape(self.shape + (values.shape[1],))

    def full(self, coarse: np.ndarray) -> np.ndarray:
        _, _, w, h = self.roi
        return _upsample(coarse, w, h)

    def backward_map(self, dst_pts: np.ndarray, src_pts: np.ndarray, smooth: float = 0.0):
        """As :func:`backward_map`, for the points this sampler was built on."""
        d = self.interpolate(src_pts - dst_pts)
        if smooth > 0:
            d = cv2.GaussianBlur(d, (0, 0), smooth)
        # each plane upsampled on its own (contiguous, added to the pixel positions in place):
        # cv2.split of the upsampled (h, w, 2) field cost 5 ms a render at 1350 px, the two
        # single-plane resizes 0.2 ms
        dx, dy = (self.full(np.ascontiguousarray(d[..., k])) for k in range(2))
        x0, y0, w, h = self.roi
        dx += np.arange(x0, x0 + w, dtype=np.float32)[None, :]
        dy += np.arange(y0, y0 + h, dtype=np.float32)[:, None]
        return dx, dy
