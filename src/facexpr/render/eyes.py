"""Sclera and a whole iris for lids that open wider than the photo shows.

Warping a wider eye stretches the thin band between the lids (lashes, lid margin, a squashed
sclera), and the top of the iris that the target's upper lid hid does not exist in the photo. So
the new opening is painted as an eyeball: sclera in the target's own sclera colour, shaded under
the upper lid and toward the corners, and the iris as a full disk of the target's iris radius and
colour with a limbal ring and pupil. The target's real visible eye (iris and sclera) is then laid
back on top, moved with the iris, so eye colour and texture stay the person's own; only what the
target never showed is synthetic. Narrowing or unchanged eyes get nothing (None).
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ..faces.paste import polygon_mask
from .common import Layer, box_of, skin_lab, lab_to_rgb, poly_area, smoothstep, upsample, work_grid


_BINS = 8  # radial bins of the iris colour profile


@dataclass(frozen=True)
class EyeConfig:
    open_from: float = 1.1    # new / target eye-opening area ratio from which the eyeball is painted
    open_full: float = 1.3    # ... fully
    lid_shadow: float = 0.4   # darkening of the sclera right under the upper lid
    corner_shadow: float = 0.4  # darkening toward the eye corners (a sphere turning away)
    limbal: float = 0.15      # darkening of the iris rim (limbal ring)
    pupil: float = 0.4        # pupil radius / iris radius
    keep_inset: float = 0.12  # the target's visible eye is re-pasted this far (× eye height) inside its lids
    highlight: bool = False   # a synthetic specular dot (the real iris usually brings its own)
    work_px: int = 64         # the eyeball is shaded on at most this many px across, then upsampled


@dataclass
class EyeFill:
    layer: Layer              # synthetic eyeball + the target's visible eye, clipped by the new lids
    keep: np.ndarray          # (h, w) where the target's own iris may still be re-pasted (0..1)


def _grow(img: np.ndarray, known: np.ndarray, scale: float) -> np.ndarray:
    """Fill the unknown pixels from the nearby known ones (normalised convolution at two scales:
    fine where known pixels are close, coarse further out); known pixels stay as they are."""
    k = known.astype(np.float32)
    out = img.copy()
    filled = np.zeros(k.shape, bool)
    sizes = (3, 7, 15, 2 * int(max(8.0, 0.6 * scale)) + 1)
    for size in sizes:  # box filters: O(1) per pixel
        wsum = cv2.blur(k, (size, size))
        val = cv2.blur(img * k[..., None], (size, size)) / np.maximum(wsum, 1e-6)[..., None]
        take = ~known & ~filled & (wsum > (0.1 if size != sizes[-1] else 1e-4))
        out[take] = val[take]
        filled |= take
    return out


def _iris_edge(L, m, dx, dy, d, r: float, sclera_L: float) -> float:
    """The iris's visible radius: MediaPipe's iris ring often lies a little outside it, and a
    disk that large shows a grey-brown halo. Measured where the iris meets the sclera on the
    horizontal band through its centre; MediaPipe's radius when the edge is not seen."""
    band = m & (np.abs(dy) < 0.4 * r) & (d > 0.55 * r) & (d < 1.3 * r)
    core = m & (d < 0.6 * r)
    if band.sum() < 6 or core.sum() < 6:
        return r
    mid = 0.5 * (np.median(L[core]) + sclera_L)
    bright = band & (L > mid)
    if bright.sum() < 3:
        return r
    return float(np.clip(np.percentile(d[bright], 10), 0.7 * r, r))


def _eye_colours(target: np.ndarray, t_xy: np.ndarray, eye, c_t: np.ndarray, r: float, skin: np.ndarray):
    """Sclera (bright, low-chroma pixels of the visible eye outside the iris) and iris (inside the
    disk, no specular highlight: a radial profile, so pupil and limbal ring come from the
    person's own eye) colours, each with a fallback."""
    poly = t_xy[list(eye)]
    box = box_of(poly, 1, (0, 0, target.shape[1], target.shape[0]))
    sclera = np.array([min(skin[0] * 1.02, 225.0), 129.0, 131.0], np.float32)
    iris = np.array([70.0, 134.0, 140.0], np.float32)
    if box is None:
        return sclera, np.tile(iris, (_BINS, 1)), r
    x0, y0, x1, y1 = box
    hard = np.zeros((y1 - y0, x1 - x0), np.uint8)
    cv2.fillPoly(hard, [np.round(poly - (x0, y0)).astype(np.int32)], 1)
    m = cv2.erode(hard, np.ones((3, 3), np.uint8)).astype(bool)
    xs, ys = np.meshgrid(np.arange(x0, x1), np.arange(y0, y1))
    d = np.hypot(xs - c_t[0], ys - c_t[1])
    rgb = target[y0:y1, x0:x1]
    lab = cv2.cvtColor(rgb, cv2.COLOR_RGB2LAB).astype(np.float32)
    chroma = np.hypot(lab[..., 1] - 128, lab[..., 2] - 128)
    cand = m & (d > 1.15 * r) & (chroma < 22)
    if cand.sum() >= 6:
        Ls = lab[..., 0][cand]
        sel = cand & (lab[..., 0] >= np.percentile(Ls, 60))
        sclera = np.median(lab[sel], 0)
    t_h = max(1.0, 1.3 * poly_area(poly) / max(float(np.ptp(poly[:, 0])), 1.0))
    k = 2 * int(max(2.0, 0.15 * t_h)) + 1
    m_in = cv2.erode(hard, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))).astype(bool)
    r = _iris_edge(lab[..., 0], m_in, xs - c_t[0], ys - c_t[1], d, r, sclera[0])
    inside = m_in & (d < r)  # clear of the lid margins and lashes
    if inside.sum() >= 6:
        inside &= lab[..., 0] <= np.percentile(lab[..., 0][inside], 88)  # no specular highlight
        ring = inside & (d > 0.45 * r) & (d < 0.9 * r)
        if ring.sum() >= 6:
            iris = np.median(lab[ring], 0)
        # Radial profile (pupil, iris, limbal ring) from the visible part, for the hidden part.
        bins = np.minimum((d[inside] / r * _BINS).astype(int), _BINS - 1)
        n = np.bincount(bins, minlength=_BINS)
        means = np.stack([np.bincount(bins, lab[inside][:, c], _BINS) for c in range(3)], 1)
        prof = np.where((n >= 3)[:, None], means / np.maximum(n, 1)[:, None], iris[None]).astype(np.float32)
        return sclera, prof, r
    return sclera, np.tile(iris, (_BINS, 1)), r


def _lid_frame(poly: np.ndarray, xs: np.ndarray, ys: np.ndarray):
    """``u`` in [0, 1] between the corners (points 0 and 8), ``v`` across (px, down), and the
    upper / lower lid curves at each pixel (eye contours: 0..8 lower lid, 8..15, 0 upper)."""
    c0, c1 = poly[0], poly[8]
    span = max(float(np.linalg.norm(c1 - c0)), 1e-6)
    ex = (c1 - c0) / span
    ey = np.array([-ex[1], ex[0]])
    if ey[1] < 0:
        ey = -ey

    def to_uv(p):
        q = p - c0
        return (q @ ex) / span, q @ ey

    u_lo, v_lo = to_uv(poly[:9])
    u_up, v_up = to_uv(poly[[0] + list(range(15, 7, -1))])
    dx, dy = xs - float(c0[0]), ys - float(c0[1])
    u = (dx * np.float32(ex[0]) + dy * np.float32(ex[1])) / np.float32(span)
    v = dx * np.float32(ey[0]) + dy * np.float32(ey[1])
    vu = np.interp(u, np.maximum.accumulate(u_up), v_up).astype(np.float32)
    vl = np.interp(u, np.maximum.accumulate(u_lo), v_lo).astype(np.float32)
    if np.mean(v_up) > np.mean(v_lo):  # the "upper" curve is the one higher in the image
        vu, vl = vl, vu
    return u, v, vu, vl


def open_eye(target: np.ndarray, t_xy: np.ndarray, dst_xy: np.ndarray, eye, iris, box,
             cfg: EyeConfig = EyeConfig()) -> EyeFill | None:
    """The eyeball for ``eye`` (a ``topology.EYE_*`` contour) and ``iris`` (``IRIS_*``, centre
    first) over ``box`` (x0, y0, x1, y1) of the output, or None when the lids do not open wider."""
    t_poly, d_poly = t_xy[list(eye)], dst_xy[list(eye)]
    a_t, a_d = poly_area(t_poly), poly_area(d_poly)
    w = float(smoothstep(cfg.open_from, cfg.open_full, np.float64(a_d / max(a_t, 1.0))))
    if w <= 0 or a_d < 4.0:
        return None
    c_t, c_d = t_xy[iris[0]], dst_xy[iris[0]]
    r = float(np.linalg.norm(t_xy[list(iris[1:])] - c_t, axis=1).mean())
    skin = skin_lab(target, t_xy, float(np.ptp(t_xy[:, 1])))
    sclera, iris_lab, r = _eye_colours(target, t_xy, eye, c_t, r, skin)
    x0, y0, x1, y1 = box
    shape = (y1 - y0, x1 - x0)
    xs, ys, step = work_grid(x0, y0, shape[1], shape[0], cfg.work_px)
    u, v, vu, vl = _lid_frame(d_poly, xs, ys)
    H = max(float(np.max(vl - vu, initial=1.0)), 1.0)

    dx, dy = xs - float(c_d[0]), ys - float(c_d[1])
    dist = np.hypot(dx, dy)
    # The target's own visible eye, moved with the iris, inset from its lids (no lash line).
    shift = c_d - c_t
    t_h = max(float(poly_area(t_poly)) / max(float(np.ptp(t_poly[:, 0])), 1.0) * 1.5, 1.0)
    keep = polygon_mask(shape, t_poly + shift, feather=max(1.0, cfg.keep_inset * t_h), offset=(x0, y0))
    fx, fy = np.meshgrid(np.arange(x0, x1, dtype=np.float32) - np.float32(shift[0]),
                         np.arange(y0, y1, dtype=np.float32) - np.float32(shift[1]))
    real = cv2.remap(target, fx, fy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    real_w = cv2.remap(target, xs - np.float32(shift[0]), ys - np.float32(shift[1]), cv2.INTER_LINEAR,
                       borderMode=cv2.BORDER_REFLECT)   # the same, on the working grid
    keep_w = cv2.resize(keep, xs.shape[::-1], interpolation=cv2.INTER_LINEAR)

    # Sclera: the target's own sclera grown outward (so no seam where the real eye ends), else
    # its robust colour shaded toward the corners; either way in the upper lid's shadow.
    upper = 1 - cfg.lid_shadow * np.exp(-np.maximum(v - vu, 0) / (0.3 * H))
    real_lab = cv2.cvtColor(real_w, cv2.COLOR_RGB2LAB).astype(np.float32)
    source = (keep_w > 0.5) & (dist > 1.2 * r) & (real_lab[..., 0] > 0.8 * sclera[0])  # sclera only
    if source.sum() >= 10:
        grown = _grow(real_lab, source, H / step)
        L, a, b = grown[..., 0] * (0.5 + 0.5 * upper), grown[..., 1], grown[..., 2]  # already shaded once
    else:
        shade = upper * (1 - 0.12 * np.exp(-np.maximum(vl - v, 0) / (0.15 * H)))
        shade *= 1 - cfg.corner_shadow * np.clip(np.abs(2 * u - 1), 0, 1) ** 2
        L = sclera[0] * shade
        warm = 0.5 * np.clip(np.abs(2 * u - 1), 0, 1) ** 3   # pinker toward the corners
        a = sclera[1] * (1 - warm) + skin[1] * warm
        b = sclera[2] * (1 - warm) + skin[2] * warm
    # Iris: a full disk with a limbal ring, faint radial fibres and the pupil.
    cov = np.clip((r - dist) / step + 0.5, 0, 1)
    fibres = 1 + 0.05 * np.sin(np.arctan2(dy, dx) * 29) * smoothstep(0.4 * r, 0.7 * r, dist)
    rho = np.clip(dist / r * _BINS - 0.5, 0, _BINS - 1)   # the target's radial profile, interpolated
    i0 = np.floor(rho).astype(int)
    i1, t = np.minimum(i0 + 1, _BINS - 1), (rho - i0)[..., None]
    prof = iris_lab[i0] * (1 - t) + iris_lab[i1] * t
    iL = prof[..., 0] * (1 - cfg.limbal * smoothstep(0.85 * r, r, dist)) * fibres
    iL = iL * upper
    seen = prof[..., 0] > 0.6 * iris_lab[-2, 0]            # the profile has no pupil of its own there
    pup = np.clip((cfg.pupil * r - dist) / step + 0.5, 0, 1) * seen
    iL = iL * (1 - pup) + 12.0 * pup
    ia = prof[..., 1] * (1 - pup) + 128 * pup
    ib = prof[..., 2] * (1 - pup) + 128 * pup
    if cfg.highlight:
        spot = np.exp(-((dx + 0.3 * r) ** 2 + (dy + 0.35 * r) ** 2) / (0.12 * r) ** 2)
        iL = iL + (235 - iL) * spot
    L, a, b = L * (1 - cov) + iL * cov, a * (1 - cov) + ia * cov, b * (1 - cov) + ib * cov
    img = upsample(lab_to_rgb(L, a, b), shape[1], shape[0])

    k3 = keep[..., None]
    img = np.clip(img * (1 - k3) + real * k3 + 0.5, 0, 255).astype(np.uint8)
    lids = polygon_mask(shape, d_poly, feather=max(1.0, 0.04 * H), offset=(x0, y0))
    corners = 1 - smoothstep(0.7, 1.0, np.abs(2 * u - 1)).astype(np.float32)  # there: the warp's own
    lids *= upsample(corners, shape[1], shape[0])
    keep = (1 - w * (1 - keep)).astype(np.float32)
    return EyeFill(Layer(img, (lids * w).astype(np.float32), (x0, y0)), keep)
