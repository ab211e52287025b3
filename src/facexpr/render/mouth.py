"""A synthesised mouth interior for a mouth that opens wider than the photo shows.

When neither the target nor the source has an open mouth to borrow from (always so in editing),
the opening must be painted: an oral cavity shaded for depth, an upper teeth row hanging from the
upper lip, lower teeth and a tongue once the jaw drops, all lit like the face. Everything is laid
out in a mouth frame (``u`` along the corner-to-corner axis, ``v`` across it, the lips as curves
``v(u)``), so it follows the lip shape and scales with the opening. Deterministic: no noise.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .common import Colours, Layer, box_of, colour_probe, lab_to_rgb, smoothstep, upsample, work_grid

# Teeth boundaries along the dental arch (mm from the midline; central incisor, lateral, canine,
# two premolars, first molar) and their visible lengths relative to a central incisor.
_UPPER_EDGES = np.array([0.0, 8.5, 15.0, 22.5, 29.5, 36.5, 46.5])
_UPPER_LEN = np.array([1.0, 0.86, 0.93, 0.78, 0.7, 0.62])
_LOWER_EDGES = np.array([0.0, 5.4, 11.3, 18.3, 25.3, 32.8, 44.0])
_LOWER_LEN = np.array([1.0, 0.98, 0.9, 0.75, 0.65, 0.55])


@dataclass(frozen=True)
class MouthConfig:
    tooth_len: float = 0.044    # visible upper incisor length at most, × face size
    tooth_fill: float = 0.72    # in a slight parting the upper teeth fill this much of the gap
    lower_len: float = 0.016    # lower incisor height shown above the lower lip at most, × face size
    lower_from: float = 0.055   # opening height (× face size) from which lower teeth show
    tongue_from: float = 0.06   # ... from which the tongue shows
    arch_radius: float = 24.0   # dental arch radius (mm), for the teeth's foreshortening
    arch_span: float = 34.0     # arch length (mm) seen at the mouth corner
    teeth_light: float = 1.14   # teeth lightness relative to the skin's
    cavity_light: float = 0.14  # cavity lightness relative to the skin's
    gap_depth: float = 0.3      # darkening in the gaps between teeth
    feather: float = 0.003      # alpha's inner feather, × face size
    work_px: int = 96           # shading is computed on at most this many px across, then upsampled
    synth_below: float = 0.3    # source interior / new opening area: below this, all synthetic
    synth_above: float = 0.65   # above this, all the source's


def _frame(poly: np.ndarray, xs: np.ndarray, ys: np.ndarray):
    """Pixel coordinates in the mouth frame: ``u`` in [0, 1] from corner 0 to corner 10, ``v``
    (px) across, and the upper/lower inner-lip curves ``vu(u)``, ``vl(u)`` at each pixel."""
    c0, c1 = poly[0], poly[10]
    span = max(float(np.linalg.norm(c1 - c0)), 1e-6)
    ex = (c1 - c0) / span
    ey = np.array([-ex[1], ex[0]])

    def to_uv(p):
        d = p - c0
        return (d @ ex) / span, d @ ey

    u_lo, v_lo = to_uv(poly[list(range(0, 11))])
    u_up, v_up = to_uv(poly[[0] + list(range(19, 9, -1))])
    u_lo, u_up = np.maximum.accumulate(u_lo), np.maximum.accumulate(u_up)
    dx, dy = xs - float(c0[0]), ys - float(c0[1])
    u = ((dx * np.float32(ex[0]) + dy * np.float32(ex[1])) / np.float32(span))
    v = dx * np.float32(ey[0]) + dy * np.float32(ey[1])
    return (u, v, np.interp(u, u_up, v_up).astype(np.float32), np.interp(u, u_lo, v_lo).astype(np.float32),
            span)


def _teeth(u, v, top, length, edges, lens, cfg, px_per_mm, down: bool, step: float = 1.0):
    """Coverage, gap darkening and index of a row of teeth hanging from ``top`` (down) or
    standing on it (up); ``length`` is the central incisor's visible length per pixel."""
    R = cfg.arch_radius
    x_max = R * np.sin(min(cfg.arch_span / R, np.pi / 2))
    xs = np.abs(u - 0.5) * 2 * x_max                      # projected mm from the midline
    s = R * np.arcsin(np.clip(xs / R, 0, 1))              # arch length, mm
    k = np.clip(np.searchsorted(edges, s) - 1, 0, len(lens) - 1)
    q = (s - edges[k]) / (edges[k + 1] - edges[k])        # position across the tooth, 0..1
    bx = R * np.sin(np.minimum(edges / R, np.pi / 2))     # projected edges
    d_gap = np.min(np.abs(xs[None] - bx[:, None, None]), 0) * px_per_mm  # midline included
    shape = 1 - np.where(k == 2, 0.22 * np.abs(2 * q - 1) ** 1.5, 0.14 * np.abs(2 * q - 1) ** 4)
    ln = length * lens[k] * shape
    depth = (v - top) if down else (top - v)
    cover = np.clip((ln - depth) / step + 0.5, 0, 1) * (depth > -step)
    gw = max(0.6 * step, 0.35 * px_per_mm)              # a gap ~0.35 mm wide, seen by the grid
    gap = (1 - cfg.gap_depth * np.exp(-(d_gap / gw) ** 2)) * (1 - 0.1 * (2 * q - 1) ** 2)  # convex crowns
    rel = np.clip(depth / np.maximum(ln, 1e-3), 0, 1)
    return cover, gap, rel, k


def synth_mouth(poly: np.ndarray, face_size: float, colours: Colours, bounds=None,
                cfg: MouthConfig = MouthConfig()) -> Layer | None:
    """The interior of the inner-lip polygon ``poly`` (20 points, ``LIPS_INNER`` order) as a
    layer; ``bounds`` (x0, y0, x1, y1) clips its box. None when the mouth is closed."""
    poly = np.asarray(poly, np.float64)
    box = box_of(poly, 2, bounds)
    if box is None:
        return None
    x0, y0, x1, y1 = box
    h, w = y1 - y0, x1 - x0
    hard = np.zeros((h, w), np.uint8)
    cv2.fillPoly(hard, [np.round((poly - (x0, y0)) * 16).astype(np.int32)], 255, cv2.LINE_AA, 4)
    if not hard.any():
        return None
    xs, ys, step = work_grid(x0, y0, w, h, cfg.work_px)
    u, v, vu, vl, span = _frame(poly, xs, ys)
    g = np.maximum(vl - vu, 0.0)
    G = float(np.max(g[(u > 0.3) & (u < 0.7)], initial=0.0))
    if G < 0.5:
        return None
    fs = float(face_size)
    px_per_mm = span / (2 * cfg.arch_radius * np.sin(min(cfg.arch_span / cfg.arch_radius, np.pi / 2)))
    edge_full = cv2.distanceTransform((hard > 127).astype(np.uint8), cv2.DIST_L2, 3)
    edge = cv2.resize(edge_full, xs.shape[::-1], interpolation=cv2.INTER_LINEAR)
    du = np.abs(2 * u - 1)                                  # 0 mid, 1 at the corners
    corner = 1 - 0.6 * np.clip(du, 0, 1) ** 2
    skin, lip = colours.skin, colours.lip
    light = 0.7 + 0.3 * smoothstep(0.0, 0.03 * fs, np.float64(G))  # a slit lies in shadow

    # Oral cavity: dark, lip-hued; the inner-lip mucosa lighter right at the lips.
    near = np.exp(-edge / max(1.0, 0.012 * fs))
    back = 1 - 0.35 * np.exp(-(((v - 0.5 * (vu + vl)) / np.maximum(g, 1) * 2) ** 2)) * (1 - du)
    L = skin[0] * cfg.cavity_light * corner * back * (1 + 2.2 * near * light)
    a = 128 + (lip[1] - 128) * (0.55 + 0.35 * near)
    b = 128 + (lip[2] - 128) * (0.45 + 0.3 * near)

    # Tongue, low in the cavity once the jaw drops.
    lower_on = smoothstep(cfg.lower_from, 1.5 * cfg.lower_from, G / fs)
    Ll = cfg.lower_len * fs * lower_on * np.clip(g / G, 0, 1) * np.clip(1 - (du / 0.65) ** 2, 0, 1)
    tongue_on = smoothstep(cfg.tongue_from, 1.6 * cfg.tongue_from, G / fs)
    if tongue_on > 0:
        tw = 0.3
        tu = (u - 0.5) / tw
        top_len = min(cfg.tooth_len * fs, cfg.tooth_fill * G)
        th = 0.4 * max(G - top_len, 0) * tongue_on
        v_top = vl - Ll - th * np.clip(1 - tu ** 2, 0, 1) ** 0.5 + 0.15 * th
        tc = smoothstep(0.0, max(1.5, 0.15 * th), v - v_top) * (np.abs(tu) < 1)
        rim = np.exp(-np.maximum(v - v_top, 0) / max(1.0, 0.35 * th))
        tL = lip[0] * 0.52 * (1 - 0.5 * tu ** 2) * (1 + 0.12 * rim) * (1 - 0.1 * np.exp(-(tu / 0.1) ** 2))
        tL *= 1 - 0.35 * np.exp(-(vl - v) / max(1.0, 0.25 * th))   # shadow from the lower teeth/lip
        L = L * (1 - tc) + tL * light * tc
        a = a * (1 - tc) + (lip[1] + 4) * tc
        b = b * (1 - tc) + (lip[2] - 2) * tc

    # Teeth: off-white, tinted and lit like the skin, in shadow toward the corners.
    white = skin[0] * cfg.teeth_light
    if colours.white is not None:
        white = max(white, 0.95 * colours.white)
    teeth_L = min(white, 240.0) * light
    ta = 128 + 0.06 * (skin[1] - 128) + 1.0
    tb = 128 + 0.15 * (skin[2] - 128) + 3.0
    if lower_on > 0:
        cov, gap, rel, k = _teeth(u, v, vl, Ll, _LOWER_EDGES, _LOWER_LEN, cfg, px_per_mm * 0.85, False, step)
        lL = teeth_L * 0.78 * corner * gap * (1 - 0.25 * (1 - rel)) * (1 - 0.07 * k)
        L, a, b = L * (1 - cov) + lL * cov, a * (1 - cov) + ta * cov, b * (1 - cov) + tb * cov
    top_len = np.minimum(min(cfg.tooth_len * fs, cfg.tooth_fill * G), 0.85 * g + 0.5)
    cov, gap, rel, k = _teeth(u, v, vu, top_len, _UPPER_EDGES, _UPPER_LEN, cfg, px_per_mm, True, step)
    cov = cov * (1 - smoothstep(0.85, 1.0, du))              # dark buccal corridors at the corners
    lid = 1 - 0.3 * np.exp(-np.maximum(v - vu, 0) / max(0.8, 0.12 * cfg.tooth_len * fs))  # lip shadow
    tip = 1 - 0.1 * smoothstep(0.65, 1.0, rel)             # translucent incisal edge
    uL = teeth_L * (1 - 0.85 * np.clip(du, 0, 1) ** 2) * gap * lid * tip * (1 - 0.06 * k)
    warm = ta + 8 * (1 - uL / max(teeth_L, 1.0))            # shaded teeth pick up the mouth's red
    L, a, b = L * (1 - cov) + uL * cov, a * (1 - cov) + warm * cov, b * (1 - cov) + tb * cov
    # Inner-lip shadow: a thin darkening all along the lips' inner edge.
    L = L * (1 - 0.2 * np.exp(-edge / max(0.8, 0.003 * fs)))

    f = min(max(0.5, cfg.feather * fs), 0.25 * G)
    inside = np.clip((edge_full - 1) / f, 0, 1).astype(np.float32)  # strictly inside the lips
    alpha = (hard.astype(np.float32) / 255) * inside
    return Layer(upsample(lab_to_rgb(L, a, b), w, h), alpha, (x0, y0))


def synthetic_weight(source_ratio: float, cfg: MouthConfig = MouthConfig()) -> float:
    """How much of the synthetic interior to use, given the source mouth's area over the new
    opening's: a closed source has nothing to lend, a wide-open one everything."""
    return float(1 - smoothstep(cfg.synth_below, cfg.synth_above, np.float64(source_ratio)))


def mix_synthetic(src_img: np.ndarray, src_mask: np.ndarray, target: np.ndarray, t_xy: np.ndarray,
                  poly: np.ndarray, offset, face_size: float, source_ratio: float, strength: float = 1.0,
                  cfg: MouthConfig = MouthConfig()) -> tuple[np.ndarray, np.ndarray]:
    """Composite the synthetic interior over a (source-borrowed) mouth patch and its mask, in
    proportion to how little the source's mouth can lend: returns the new (image, mask)."""
    w = synthetic_weight(source_ratio, cfg) * strength
    if w <= 0:
        return src_img, src_mask
    h, wd = src_mask.shape
    x0, y0 = offset
    colours = colour_probe(target, t_xy, face_size)
    layer = synth_mouth(poly, face_size, colours, (x0, y0, x0 + wd, y0 + h), cfg)
    if layer is None:
        return src_img, src_mask
    lx, ly = layer.offset[0] - x0, layer.offset[1] - y0
    lh, lw = layer.alpha.shape
    sl = (slice(ly, ly + lh), slice(lx, lx + lw))
    a = layer.alpha * np.float32(w)
    m0 = src_mask[sl]
    m1 = m0 * (1 - a) + a                                   # synthetic "over" the source
    over = src_img[sl] * (m0 * (1 - a))[..., None] + layer.image * a[..., None]
    over /= np.maximum(m1, 1e-6)[..., None]
    img, mask = src_img.copy(), src_mask.astype(np.float32, copy=True)
    img[sl] = np.clip(over + 0.5, 0, 255).astype(np.uint8)
    mask[sl] = m1
    return img, mask


__all__ = ["MouthConfig", "synth_mouth", "synthetic_weight", "mix_synthetic"]
