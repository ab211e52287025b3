"""``warp``: move the target's own pixels along the dense face mesh to the retargeted geometry.

No training, no generator: the face is a piecewise-affine mesh warp (backward-mapped, so it can
never tear), with three fixes for what warping alone cannot do:

* the mouth interior, where it opens wider than in the target, is taken from the source (warped
  along the inner-lip contour and colour-matched to the target's skin), so no stretched lips;
* irises are re-pasted rigidly (translated, never squashed) and clipped by the new eyelids;
* the displacement fades to zero on a ring around the face, so hair and background stay put.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ...expression.shading import SKIN_CHROMA
from ...faces.mesh import MeshSampler, Untangler, backward_map, meet_not_cross
from ...faces.paste import Patch, blend, polygon_mask
from ...faces.topology import (EYE_LEFT, EYE_LEFT_CORNERS, EYE_RIGHT, EYE_RIGHT_CORNERS, FACE_OVAL,
                              INNER_LIP_PAIRS, IRIS_LEFT, IRIS_RIGHT, LID_PAIRS, LIPS_INNER, LIPS_OUTER, N_MESH)
from ...render import mix_synthetic, open_eye
from ...threads import RecentCache, on_helper
from ..base import RenderJob
from ..spec import MethodSpec
from . import SPECS


@dataclass(frozen=True)
class WarpConfig:
    ring: float = 1.45          # anchor ring radius, relative to the face oval (zero motion there)
    grid: int = 320             # the mesh map is evaluated on a grid this many px on its long side (at most half the face region's)
    smooth: float = 1.0         # Gaussian sigma (grid px) smoothing the displacement field
    mouth_open_ratio: float = 1.15  # fill the mouth when its opening grows more than this
    mouth_min_gap: float = 0.01     # … and its lips part by more than this × the face size
    shading: bool = True        # apply the expression model's skin shading (smile lines…)


def _anchors(face_xy: np.ndarray, ring: float, shape) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    oval = face_xy[list(FACE_OVAL)]
    c = oval.mean(0)
    ring_pts = c + (oval - c) * ring
    H, W = shape[:2]
    x0, y0 = np.floor(ring_pts.min(0)).astype(int)
    x1, y1 = np.ceil(ring_pts.max(0)).astype(int)
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, W), min(y1, H)
    # the ROI's corners and edge midpoints, just outside it, so the mesh covers every pixel
    bx0, by0, bx1, by1 = x0 - 1.0, y0 - 1.0, x1 + 0.5, y1 + 0.5
    box = np.array([[bx0, by0], [bx1, by0], [bx1, by1], [bx0, by1], [(bx0 + bx1) / 2, by0],
                    [bx1, (by0 + by1) / 2], [(bx0 + bx1) / 2, by1], [bx0, (by0 + by1) / 2]])
    return np.concatenate([ring_pts, box]), (int(x0), int(y0), int(x1 - x0), int(y1 - y0))


# Control points: every mesh point except the irises (pasted rigidly afterwards; an iris centre
# inside a closing eye would hold the lids open around it).
_CONTROL = np.array([i for i in range(478) if i not in IRIS_RIGHT + IRIS_LEFT])


def _skin_lab(img: np.ndarray, xy: np.ndarray, size: float) -> np.ndarray:
    """Mean Lab colour of small cheek and chin patches (robust skin-tone and lighting probe)."""
    r = max(2, int(size * 0.04))
    H, W = img.shape[:2]
    samples = []
    for i in (50, 280, 199):  # right cheek, left cheek, chin
        x, y = np.round(xy[i]).astype(int)
        p = img[max(0, y - r):min(H, y + r), max(0, x - r):min(W, x + r)]
        if p.size:
            samples.append(p.reshape(-1, 3))
    lab = cv2.cvtColor(np.concatenate(samples)[None], cv2.COLOR_RGB2LAB).reshape(-1, 3).astype(np.float32)
    return np.median(lab, axis=0)


def open_area(xy: np.ndarray) -> tuple[float, float]:
    """(area, widest gap) of the mouth opening: the inner lips' facing points' positive gaps
    across the mouth line, integrated along it. Unlike the inner contour's polygon area it is 0
    for pressed or rolled-in lips whose contour points cross (a crossed polygon has an area)."""
    u, l = (np.array(p) for p in zip(*INNER_LIP_PAIRS))
    axis = xy[LIPS_INNER[len(LIPS_INNER) // 2]] - xy[LIPS_INNER[0]]
    width = float(np.linalg.norm(axis))
    if width < 1e-6:
        return 0.0, 0.0
    normal = np.array([-axis[1], axis[0]]) / width  # points down the face for an upright mouth
    gaps = np.maximum((xy[l] - xy[u]) @ normal, 0.0)
    return float(gaps.sum() * width / (len(gaps) + 1)), float(gaps.max())


def _mouth_fill(job: RenderJob, out: np.ndarray, roi, dst_xy: np.ndarray, cfg: WarpConfig) -> None:
    """Where the mouth opens wider than in the target, paint the source's mouth interior."""
    _paint(out, _mouth_layers(job, roi, dst_xy, cfg))


def _paint(out: np.ndarray, layers: list) -> None:
    """Blend ``(slice, image, alpha)`` layers into ``out``, in order."""
    for sl, img, alpha in layers:
        out[sl] = blend(out[sl], img, alpha)


def _mouth_layers(job: RenderJob, roi, dst_xy: np.ndarray, cfg: WarpConfig) -> list:
    """:func:`_mouth_fill`'s layer (none when the mouth does not open wider): it reads the
    target and source only, never the warped face, so it is made while the face is warped."""
    t_xy, s_xy = job.target_face.xy, job.source_face.xy
    inner = list(LIPS_INNER)
    (a_dst, gap), (a_tgt, _) = open_area(dst_xy), open_area(t_xy)
    if a_dst <= cfg.mouth_open_ratio * a_tgt + 1.0 or gap < cfg.mouth_min_gap * job.target_face.size:
        return []
    alpha = float(np.clip((a_dst - a_tgt) / (0.5 * a_dst), 0.0, 1.0))
    x0, y0, w, h = roi
    poly = dst_xy[inner]
    bx0, by0 = np.floor(poly.min(0)).astype(int) - 2
    bx1, by1 = np.ceil(poly.max(0)).astype(int) + 3
    bx0, by0 = max(bx0, x0), max(by0, y0)
    bx1, by1 = min(bx1, x0 + w), min(by1, y0 + h)
    if bx1 - bx0 < 2 or by1 - by0 < 2:
        return []
    lips = inner + list(LIPS_OUTER)
    mx, my = backward_map(dst_xy[lips], s_xy[lips], (bx0, by0, bx1 - bx0, by1 - by0),
                          grid=max(32, max(bx1 - bx0, by1 - by0) // 2))  # cells of 2 px
    src_mouth = cv2.remap(job.source, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    # Colour-match: scale lightness, shift chroma by the difference in skin tone/lighting.
    ts = _skin_lab(job.target, t_xy, job.target_face.size)
    ss = _skin_lab(job.source, s_xy, job.source_face.size)
    lab = cv2.cvtColor(src_mouth, cv2.COLOR_RGB2LAB).astype(np.float32)
    lab[..., 0] *= np.clip(ts[0] / max(ss[0], 1.0), 0.5, 2.0)
    lab[..., 1:] += 0.5 * (ts[1:] - ss[1:])
    src_mouth = cv2.cvtColor(np.clip(lab, 0, 255).astype(np.uint8), cv2.COLOR_LAB2RGB)
    feather = max(1.0, job.target_face.size * 0.004)
    m = polygon_mask((by1 - by0, bx1 - bx0), poly, feather=feather, offset=(bx0, by0)) * alpha
    # how much interior the source can lend, both areas in face-size units: the two photos' face
    # sizes differ (a video frame's face is often half a portrait's), a pixel ratio would not
    lend = (open_area(s_xy)[0] / max(job.source_face.size, 1.0) ** 2) / (a_dst / max(job.target_face.size, 1.0) ** 2)
    src_mouth, m = mix_synthetic(src_mouth, m, job.target, t_xy, poly, (bx0, by0), job.target_face.size,
                                 lend, alpha)  # synthetic where the source lacks one
    sl = (slice(by0 - y0, by1 - y0), slice(bx0 - x0, bx1 - x0))
    return [(sl, src_mouth, m)]


def _rigid_irises(job: RenderJob, out: np.ndarray, roi, dst_xy: np.ndarray) -> None:
    """Paste each target iris translated to its new place, visible only between the new lids."""
    _paint(out, _iris_layers(job, roi, dst_xy))


def _iris_layers(job: RenderJob, roi, dst_xy: np.ndarray) -> list:
    """:func:`_rigid_irises`' layers (an eyeball where the lids open wider, then the iris, per
    eye): like the mouth's, made from the target alone."""
    layers = []
    x0, y0, w, h = roi
    t_xy = job.target_face.xy
    for eye, iris in ((EYE_RIGHT, IRIS_RIGHT), (EYE_LEFT, IRIS_LEFT)):
        c_t, c_d = t_xy[iris[0]], dst_xy[iris[0]]
        r = float(np.linalg.norm(t_xy[list(iris[1:])] - c_t, axis=1).mean())
        if r < 1.5:
            continue
        eye_poly = dst_xy[list(eye)]
        bx0, by0 = np.floor(np.minimum(eye_poly.min(0), c_d - r)).astype(int) - 2
        bx1, by1 = np.ceil(np.maximum(eye_poly.max(0), c_d + r)).astype(int) + 3
        bx0, by0, bx1, by1 = max(bx0, x0), max(by0, y0), min(bx1, x0 + w), min(by1, y0 + h)
        if bx1 - bx0 < 2 or by1 - by0 < 2:
            continue
        shape = (by1 - by0, bx1 - bx0)
        disk = np.zeros(shape, np.float32)
        cv2.circle(disk, tuple(np.round((c_d - (bx0, by0)) * 16).astype(int)), int(round(r * 16)), 1.0,
                   -1, cv2.LINE_AA, shift=4)
        lids = polygon_mask(shape, eye_poly, feather=1.0, offset=(bx0, by0))
        shift = c_d - c_t
        xs, ys = np.meshgrid(np.arange(bx0, bx1, dtype=np.float32) - shift[0],
                             np.arange(by0, by1, dtype=np.float32) - shift[1])
        iris_img = cv2.remap(job.target, xs.astype(np.float32), ys.astype(np.float32), cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        sl = (slice(by0 - y0, by1 - y0), slice(bx0 - x0, bx1 - x0))
        fill = open_eye(job.target, t_xy, dst_xy, eye, iris, (bx0, by0, bx1, by1))  # wider lids: eyeball
        if fill is not None:
            layers.append((sl, fill.layer.image, fill.layer.alpha))
            disk *= fill.keep
        layers.append((sl, iris_img, disk * lids))
    return layers


def _apply_shading(out: np.ndarray, mesh: MeshSampler, rt, dst: np.ndarray, roi, dst_xy) -> None:
    """Multiply the warped face by exp(log-luminance ratio), in place, on the face only.

    The atlas is looked up on the mesh's grid (finer than the 128-px atlas over the face) and the
    factor upsampled: the same image as a per-pixel lookup, at a fraction of the cost."""
    tex = np.full((len(dst), 2), np.nan)  # anchors lie off the atlas
    tex[:len(_CONTROL)] = rt.layout[_CONTROL]
    coarse = mesh.interpolate(np.nan_to_num(tex, nan=-1e4), -1e4)
    ratio = cv2.remap(rt.shading.astype(np.float32), coarse[..., 0], coarse[..., 1], cv2.INTER_LINEAR,
                      borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    x0, y0, w, h = roi
    fx0, fy0 = np.maximum(np.floor(dst_xy.min(0)).astype(int) - (x0, y0), 0)
    fx1, fy1 = np.minimum(np.ceil(dst_xy.max(0)).astype(int) + 1 - (x0, y0), (w, h))
    sl = (slice(fy0, fy1), slice(fx0, fx1))
    gain = mesh.full(np.exp(ratio[..., None] * SKIN_CHROMA))[sl]  # per channel: skin shadows are redder
    rows = fy1 - fy0
    if rows * (fx1 - fx0) < _SPLIT_PX:
        _shade_rows(out, gain, fy0, sl[1], 0, rows)
        return
    # a big photo's face: its two halves at once (numpy's loops run outside the GIL)
    lower = on_helper(_shade_rows, out, gain, fy0, sl[1], rows // 2, rows)
    try:
        _shade_rows(out, gain, fy0, sl[1], 0, rows // 2)
    finally:
        lower.result()


_SPLIT_PX = 250_000  # face pixels above which shading is split over two threads (a 1350-px portrait)


def _shade_rows(out: np.ndarray, gain: np.ndarray, top: int, cols: slice, a: int, b: int) -> None:
    """Rows ``[a, b)`` of the shaded face (``gain``'s rows; the face's starts at ``out`` row ``top``)."""
    part = (slice(top + a, top + b), cols)
    face = out[part].astype(np.float32)
    face *= gain[a:b]
    face += 0.5  # round half up; the gain is positive, so only the top needs clipping
    np.minimum(face, 255.0, out=face)
    out[part] = face.astype(np.uint8)


_UNTANGLERS = RecentCache(8)


def _untangler(rest: np.ndarray) -> Untangler:
    """One per face (a re-render of the same target reuses it)."""
    return _UNTANGLERS.get(RecentCache.key(rest), lambda: Untangler(rest, LID_PAIRS + INNER_LIP_PAIRS))


def fold_free(rest: np.ndarray, moved: np.ndarray, rounds: int = 3) -> np.ndarray:
    """The retargeted points with no mesh fold and no lid or lip passing its counterpart
    (:class:`~facexpr.faces.mesh.Untangler` and :func:`~facexpr.faces.mesh.meet_not_cross` in
    turn: smoothing out a fold can push an inner lip across the other)."""
    eyes = rest[EYE_LEFT_CORNERS[0]] - rest[EYE_RIGHT_CORNERS[0]]  # outer corners
    down = np.array([-eyes[1], eyes[0]]) / max(float(np.linalg.norm(eyes)), 1e-9)
    out = meet_not_cross(rest, moved, down)  # retargeting kept them apart in its own frame; this is the photo's
    mesh = slice(0, N_MESH)  # irises are pasted rigidly, not part of the mesh
    untangle = _untangler(rest[mesh])
    for _ in range(rounds):
        if not untangle.folded(out[mesh]).any():
            break
        out = out.copy()
        out[mesh] = untangle(out[mesh])
        out = meet_not_cross(rest, out, down)
    return out


class Warp:
    """The method (its spec, :data:`facexpr.methods.warp.SPECS`, declares it landmark-driven: it
    renders exactly the retargeted landmarks, so the pipeline may correct them)."""

    def __init__(self, config: WarpConfig = WarpConfig(), spec: MethodSpec | None = None):
        self.config = config
        self.spec = spec or SPECS[0]

    @property
    def name(self) -> str:
        return self.spec.name

    def render(self, job: RenderJob) -> Patch:
        cfg = self.config
        t_xy = job.target_face.xy
        dst_xy = fold_free(t_xy, job.retargeted.xy)
        anchors, roi = _anchors(t_xy, cfg.ring, job.target.shape)
        # The mouth and eye layers and the patch's mask read only the photos and the new geometry:
        # on a big photo a helper thread makes them while this one warps the face (a warm
        # transfer's critical path). A small one's are mostly Python, which holds the GIL: on two
        # threads they would only take turns, so they are made here.
        if roi[2] * roi[3] >= _SPLIT_PX:
            layers = on_helper(self._layers, job, roi, dst_xy, anchors)
        else:
            layers = None
        try:
            dst = np.concatenate([dst_xy[_CONTROL], anchors])
            src = np.concatenate([t_xy[_CONTROL], anchors])
            mesh = MeshSampler(dst, roi, min(cfg.grid, max(64, max(roi[2:]) // 2)), rest_pts=src)  # cells ≥ 2 px
            mx, my = mesh.backward_map(dst, src, cfg.smooth)
            out = cv2.remap(job.target, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
            rt = job.retargeted
            if cfg.shading and rt.shading is not None:
                _apply_shading(out, mesh, rt, dst, roi, dst_xy)
        except BaseException:
            if layers is not None:
                layers.exception()  # let it finish before the job goes away
            raise
        over, mask = self._layers(job, roi, dst_xy, anchors) if layers is None else layers.result()
        _paint(out, over)
        x0, y0 = roi[:2]
        return Patch(out, mask, np.array([[1, 0, x0], [0, 1, y0]], np.float64))

    def _layers(self, job: RenderJob, roi, dst_xy: np.ndarray, anchors: np.ndarray) -> tuple[list, np.ndarray]:
        """(the mouth's, then the eyes' layers, in painting order; the patch's mask)."""
        over = _mouth_layers(job, roi, dst_xy, self.config) + _iris_layers(job, roi, dst_xy)
        return over, _patch_mask(anchors, roi, job.target_face.size)

    def prepare(self, job: RenderJob) -> None:
        """Work a render of ``job`` will need whatever its geometry: the patch's mask, which
        depends on the photo's face alone. The pipeline calls it on a helper thread while the
        closed loop measures, so the final full-size render finds it made."""
        anchors, roi = _anchors(job.target_face.xy, self.config.ring, job.target.shape)
        _patch_mask(anchors, roi, job.target_face.size)


_MASKS = RecentCache(8)


def _patch_mask(anchors: np.ndarray, roi, face_size: float) -> np.ndarray:
    """The patch's soft mask: the anchor ring filled, feathered inwards. The last few are kept
    (read-only): a transfer renders one photo twice (the closed loop's try, then the result), an
    animation every frame, and at full size on a big photo it costs milliseconds."""
    feather = max(2.0, face_size * 0.02)
    ring = anchors[:len(FACE_OVAL)]
    x0, y0, w, h = roi
    return _MASKS.get(RecentCache.key(ring, np.array([*roi, feather], np.float64)),
                      lambda: polygon_mask((h, w), ring, feather=feather, offset=(x0, y0)))

