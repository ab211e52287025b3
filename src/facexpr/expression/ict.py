"""ICT-FaceKit (USC ICT, MIT licence): read the packed head and render it for MediaPipe.

The scanned head is geometry only. To carry its identity and expression shapes onto MediaPipe's
478-point topology we render it (a plain Lambertian software rasteriser: painter's algorithm
over its triangles, a skin-grey albedo, dark irises on the eyeballs), let MediaPipe find the
landmarks on the render, and take the mesh surface point under each landmark
(:mod:`facexpr.research.prior_build`). Rendering is orthographic and frontal so a pixel maps
back to a surface point without a camera model.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..errors import ModelError

FACE_VERTICES = 9409          # vertices 0..9408 are the face (ICT's README)
HEAD_VERTICES = 11248         # + head and neck
EYEBALLS = (21451, 24591)     # vertex range of both eyeballs


@dataclass
class ICTModel:
    neutral: np.ndarray             # (V, 3) cm, x to the subject's left, y up, z to the viewer
    triangles: np.ndarray           # (F, 3) int
    expression_names: tuple[str, ...]
    expression_deltas: np.ndarray   # (E, V, 3) float32
    identity_deltas: np.ndarray     # (I, V, 3) float32

    def shape(self, identity: np.ndarray | None = None, expression: dict[str, float] | None = None) -> np.ndarray:
        v = self.neutral.astype(np.float64).copy()
        if identity is not None:
            v += np.tensordot(np.asarray(identity, np.float64), self.identity_deltas[:len(identity)], axes=1)
        for name, w in (expression or {}).items():
            v += w * self.expression_deltas[self.expression_names.index(name)]
        return v


def load_ict(path: Path) -> ICTModel:
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"ICT-FaceKit file {path} not found (expected ict_facekit.npz from ../shared/data/ict-facekit)")
    try:
        d = np.load(path)
        quads = d["quads"]
        tris = np.concatenate([quads[:, [0, 1, 2]], quads[quads[:, 3] >= 0][:, [0, 2, 3]]])
        return ICTModel(d["neutral"].astype(np.float64), tris.astype(np.int64),
                        tuple(str(n) for n in d["expression_names"]),
                        d["expression_deltas"].astype(np.float32), d["identity_deltas"].astype(np.float32))
    except (KeyError, ValueError, OSError) as e:
        raise ModelError(f"ICT-FaceKit file {path} is unreadable ({e})") from None


@dataclass(frozen=True)
class View:
    """Orthographic frontal view: pixel = (x - cx) * scale + size/2, (cy - y) * scale + size/2."""

    size: int = 1024
    scale: float = 30.0  # px per cm
    cx: float = 0.0
    cy: float = 0.5

    def project(self, v: np.ndarray) -> np.ndarray:
        return np.stack([(v[:, 0] - self.cx) * self.scale + self.size / 2,
                         (self.cy - v[:, 1]) * self.scale + self.size / 2], 1)

    def unproject_xy(self, px: np.ndarray) -> np.ndarray:
        return np.stack([(px[:, 0] - self.size / 2) / self.scale + self.cx,
                         self.cy - (px[:, 1] - self.size / 2) / self.scale], 1)


def vertex_normals(v: np.ndarray, tris: np.ndarray) -> np.ndarray:
    """Unit per-vertex normals (area-weighted face normals summed at each vertex)."""
    fn = np.cross(v[tris[:, 1]] - v[tris[:, 0]], v[tris[:, 2]] - v[tris[:, 0]])
    n = np.zeros_like(v)
    for k in range(3):
        np.add.at(n, tris[:, k], fn)
    return n / np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)


def render(model: ICTModel, verts: np.ndarray, view: View = View(),
           light=(0.25, 0.45, 1.0), albedo: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """An RGB render (size², uint8) and a triangle-id image (-1 = background or not the face).

    ``albedo`` (V, 3) paints the skin (e.g. brows and lips, so MediaPipe tracks them as on a
    real face); eyeballs are always white with a dark iris.

    Painter's algorithm (far triangles first) is exact enough for a frontal face, whose few
    self-occlusions (nose wings, lids) are resolved by depth order of small triangles.
    """
    tris = model.triangles
    keep = np.all(tris < HEAD_VERTICES, 1) | np.all((tris >= EYEBALLS[0]) & (tris < EYEBALLS[1]), 1)
    tris_k = tris[keep]
    ids_k = np.nonzero(keep)[0]
    n = vertex_normals(verts, tris)
    l = np.asarray(light, np.float64)
    l /= np.linalg.norm(l)
    shade = np.clip(n @ l, 0, 1) * 0.8 + 0.2
    albedo = np.tile(np.array([205.0, 170.0, 150.0]), (len(verts), 1)) if albedo is None else albedo.astype(np.float64).copy()
    # eyeballs: white sclera, a dark iris disc where the eyeball faces forward
    eb = np.arange(EYEBALLS[0], EYEBALLS[1])
    for side in (verts[eb, 0] < 0, verts[eb, 0] >= 0):
        idx = eb[side]
        c = verts[idx].mean(0)
        d = verts[idx] - c
        cosang = d[:, 2] / np.maximum(np.linalg.norm(d, axis=1), 1e-9)
        albedo[idx] = np.where(cosang[:, None] > 0.93, [40.0, 30.0, 25.0],
                               np.where(cosang[:, None] > 0.83, [90.0, 70.0, 50.0], [235.0, 230.0, 225.0]))
        shade[idx] = 0.5 + 0.5 * np.clip(shade[idx], 0, 1)
    col = albedo * shade[:, None]
    px = view.project(verts)
    order = np.argsort(verts[tris_k].mean(1)[:, 2])  # far first
    img = np.full((view.size, view.size, 3), 90, np.uint8)
    ids = np.full((view.size, view.size), -1, np.int32)
    fixed = np.round(px * 16).astype(np.int32)
    for k in order:
        t = tris_k[k]
        c = col[t].mean(0)
        cv2.fillConvexPoly(img, fixed[t], tuple(float(x) for x in c), lineType=cv2.LINE_AA, shift=4)
        cv2.fillConvexPoly(ids, fixed[t], int(ids_k[k]) if np.all(t < FACE_VERTICES) else -1,
                           lineType=cv2.LINE_8, shift=4)
    return img, ids


def surface_points(model: ICTModel, verts: np.ndarray, ids: np.ndarray, px: np.ndarray,
                   view: View = View()) -> tuple[np.ndarray, np.ndarray]:
    """For pixel positions ``px`` (N, 2): the face triangle under each (N,) (-1 = none) and the
    barycentric weights (N, 3) of the surface point there (in the triangle's 2D projection)."""
    H = ids.shape[0]
    xi = np.clip(np.round(px).astype(int), 0, H - 1)
    tri_id = ids[xi[:, 1], xi[:, 0]]
    bary = np.zeros((len(px), 3))
    proj = view.project(verts)
    for i, t in enumerate(tri_id):
        if t < 0:
            continue
        a, b, c = proj[model.triangles[t]]
        m = np.array([[a[0] - c[0], b[0] - c[0]], [a[1] - c[1], b[1] - c[1]]])
        try:
            l12 = np.linalg.solve(m, px[i] - c)
        except np.linalg.LinAlgError:
            l12 = np.array([1 / 3, 1 / 3])
        w = np.array([l12[0], l12[1], 1 - l12.sum()])
        w = np.clip(w, 0, 1)
        bary[i] = w / w.sum()
    return tri_id, bary
