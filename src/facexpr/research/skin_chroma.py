"""Measure the colour of real skin shading: :data:`facexpr.expression.shading.SKIN_CHROMA`.

The warp shades a fold or a bulge by a log-luminance ratio. Applied equally to R, G and B it makes
a grey shadow, which on skin reads as dirt: light that enters the skin scatters and comes back
red, so real folds are redder than the lit skin around them. This measures by how much, on real
photos: the same person's smiling and neutral photo (London *train* split only: ids of the first
60), both mapped into the shading atlas by their landmarks, so a texel is the same point of skin.
Per channel, the log change is regressed on the log-luminance change (through 0, after taking off
each channel's median change over the face: exposure and white balance).

    python -m facexpr.research.skin_chroma            # prints k(R, G, B) over all texels and darkening ones
"""
from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from ..expression.analysis import analyze_faces
from ..expression.model import load_default_model
from ..expression.shading import MESH_POINTS, TEX, atlas_weight
from ..faces.mesh import backward_map
from ..io import load_image

LUMA = np.float32([0.299, 0.587, 0.114])


def log_textures(rgb: np.ndarray, xy: np.ndarray, layout: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """(size, size, 3) per-channel and (size, size) luminance log textures of the face in the atlas."""
    x0, y0 = np.floor(xy.min(0)).astype(int) - 2
    x1, y1 = np.ceil(xy.max(0)).astype(int) + 3
    H, W = rgb.shape[:2]
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, W), min(y1, H)
    img = cv2.GaussianBlur(rgb[y0:y1, x0:x1].astype(np.float32), (0, 0), 0.5 * max(x1 - x0, y1 - y0) / size)
    mx, my = backward_map(layout[MESH_POINTS], xy[MESH_POINTS] - (x0, y0), (0, 0, size, size), grid=size)
    warp = lambda a: cv2.remap(np.log(a + 4.0), mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return warp(img), warp(img @ LUMA)


def measure(data: Path, people: int = 60) -> dict[str, np.ndarray]:
    """k(R, G, B) over the face's texels, and over those that darkened by more than 5 %."""
    layout = load_default_model().layout
    face = atlas_weight(layout) > 0.9
    london = Path(data) / "london"
    ids = sorted({p.name[:3] for p in (london / "neutral").glob("*_03.jpg")})[:people]
    dc, dl = [], []
    for i in ids:
        smiling = sorted((london / "smiling").glob(f"{i}_*.jpg"))
        if not smiling:
            continue
        pair = [load_image(london / "neutral" / f"{i}_03.jpg"), load_image(smiling[0])]
        (c0, l0), (c1, l1) = (log_textures(im, analyze_faces(im)[0].xy, layout, TEX) for im in pair)
        d, d_l = (c1 - c0)[face], (l1 - l0)[face]
        dc.append(d - np.median(d, 0))
        dl.append(d_l - np.median(d_l))
    dc, dl = np.concatenate(dc), np.concatenate(dl)
    fit = lambda sel: np.array([(dc[sel, c] @ dl[sel]) / (dl[sel] @ dl[sel]) for c in range(3)])
    return {"all": fit(np.ones(len(dl), bool)), "darker": fit(dl < -0.05), "texels": np.array(len(dl))}


if __name__ == "__main__":
    root = Path(os.environ.get("FACEXPR_DATA") or Path(__file__).resolve().parents[3].parent / "shared" / "data")
    for k, v in measure(root).items():
        print(k, np.round(v, 3))
