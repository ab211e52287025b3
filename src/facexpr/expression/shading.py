"""Expression shading: the skin folds and highlights an expression adds (smile lines, cheek
bulge, eye crinkles), as a log-luminance ratio in a face texture atlas.

A warp only moves pixels; a smiling face also *looks* different where skin bunches. Following
expression ratio images (Liu, Shan & Zhang, SIGGRAPH 2001) we learn, per atlas texel, how log
luminance changes with each blendshape — linear, like the geometry model, fitted on the same
same-person data — and multiply the warped target by ``exp(ratio)``. Eyes and the mouth interior
are excluded (they are handled by iris pasting and mouth fill), and the ratio is smooth, so no
one's skin texture is copied onto anyone.
"""
from __future__ import annotations

import cv2
import numpy as np

from ..faces.mesh import backward_map
from ..faces.paste import polygon_mask
from ..faces.topology import EYE_LEFT, EYE_RIGHT, FACE_OVAL, IRIS_LEFT, IRIS_RIGHT, LIPS_INNER, STABLE

TEX = 128  # atlas side in texels
# How each colour channel's log intensity follows the log luminance when real skin darkens into a
# fold or brightens on a bulge (R, G, B): measured on the London *train* split's own smiles against
# their neutral photos (60 people, 375 060 face texels in this atlas, per-channel exposure
# removed; :func:`facexpr.research.skin_chroma.measure`): 0.88, 1.07, 1.09 over all texels, the
# same within 0.03 on the darkening ones alone. Light scattered under the skin comes back red, so
# a real shadow is redder than the lit skin; the same ratio on every channel (a grey shadow) made
# the deep folds of a wrinkled nose or knitted brows look like grey-green dirt.
SKIN_CHROMA = np.array([0.88, 1.065, 1.087], np.float32)
# Mesh points used to map between photo and atlas: all but the iris rims (irises are rigid).
MESH_POINTS = np.array([i for i in range(478) if i not in IRIS_RIGHT[1:] + IRIS_LEFT[1:]])


def atlas_layout(mean_shape: np.ndarray, size: int = TEX) -> np.ndarray:
    """Atlas positions (478, 2) in texels: the frontal mean shape fitted into the square."""
    xy = mean_shape[:, :2]
    mn, mx = xy.min(0), xy.max(0)
    s = 0.92 * size / float(max(mx - mn))
    return (xy - (mn + mx) / 2) * s + size / 2


def atlas_weight(layout: np.ndarray, size: int = TEX) -> np.ndarray:
    """Where shading applies: inside the face oval, away from the eyes and mouth interior."""
    w = polygon_mask((size, size), layout[list(FACE_OVAL)], feather=3.0)
    for region, grow in ((EYE_RIGHT, 1.6), (EYE_LEFT, 1.6), (LIPS_INNER, 1.3)):
        pts = layout[list(region)]
        c = pts.mean(0)
        hole = polygon_mask((size, size), c + (pts - c) * grow + np.sign(pts - c) * 4.0)
        w *= 1.0 - cv2.GaussianBlur(hole, (0, 0), 1.5)
    return w.astype(np.float32)


def log_luminance_texture(rgb: np.ndarray, landmarks_xy: np.ndarray, layout: np.ndarray,
                          size: int = TEX) -> np.ndarray:
    """The face's log luminance in atlas space, exposure-normalised on the stable points."""
    x0, y0 = np.floor(landmarks_xy.min(0)).astype(int) - 2
    x1, y1 = np.ceil(landmarks_xy.max(0)).astype(int) + 3
    H, W = rgb.shape[:2]
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, W), min(y1, H)
    lum = rgb[y0:y1, x0:x1].astype(np.float32) @ np.float32([0.299, 0.587, 0.114])
    sigma = 0.5 * max(x1 - x0, y1 - y0) / size  # anti-alias before sampling ~size texels
    if sigma > 0.5:
        lum = cv2.GaussianBlur(lum, (0, 0), sigma)
    mx, my = backward_map(layout[MESH_POINTS], landmarks_xy[MESH_POINTS] - (x0, y0), (0, 0, size, size), grid=size)
    tex = cv2.remap(np.log(lum + 4.0), mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    stable = np.round(layout[list(STABLE)]).astype(int).clip(0, size - 1)
    return tex - np.median(tex[stable[:, 1], stable[:, 0]])


def region_texture_weight(layout: np.ndarray, point_weights: np.ndarray, size: int,
                          points: np.ndarray = MESH_POINTS) -> np.ndarray:
    """Per-landmark weights interpolated over the atlas (so shading follows ``--regions``)."""
    from scipy.interpolate import LinearNDInterpolator

    gx, gy = np.meshgrid(np.arange(size, dtype=np.float64), np.arange(size, dtype=np.float64))
    w = LinearNDInterpolator(layout[points], point_weights[points], fill_value=0.0)(gx, gy)
    return w.astype(np.float32)
