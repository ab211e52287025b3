"""Aligned face crops: every image-level judge of realism and fidelity looks at the same framing.

A crop is the similarity transform (2D Umeyama) that takes the face's expression-stable MediaPipe
points (:data:`facexpr.faces.topology.STABLE`: forehead, nose, temples, inner eye corners) onto a
fixed template, so two photos of a person with different expressions line up where the face does
not move, and the moving parts (mouth, brows, lids) show their real difference.

The template is the mean of 51 London neutral faces (generalised Procrustes, eyes levelled), scaled
so the face oval spans 80 % of the crop with its centre in the middle: chin at 0.90, top of the
forehead landmark at 0.10, eye centres at y = 0.35. It is fixed here (not read from a fitted model)
so numbers stay comparable when models are refitted.
"""
from __future__ import annotations

import cv2
import numpy as np

from ..faces.align import umeyama
from ..faces.topology import STABLE

CROP_SIZE = 256

# (x, y) of each STABLE point, as a fraction of the crop side.
TEMPLATE = np.array([
    (0.4963, 0.1000), (0.4961, 0.1733), (0.4965, 0.2522), (0.4964, 0.2948), (0.4970, 0.3353),
    (0.4972, 0.3719), (0.4966, 0.4044), (0.4969, 0.4337), (0.4965, 0.4651), (0.4966, 0.5038),
    (0.4967, 0.5352), (0.4057, 0.1032), (0.5869, 0.1021), (0.3277, 0.1173), (0.6654, 0.1157),
    (0.2566, 0.1470), (0.7381, 0.1445), (0.2094, 0.1923), (0.7866, 0.1892), (0.1607, 0.3873),
    (0.8393, 0.3843), (0.1650, 0.4579), (0.8371, 0.4556), (0.1657, 0.3123), (0.8331, 0.3086),
    (0.1802, 0.2501), (0.8173, 0.2468), (0.4177, 0.3634), (0.5771, 0.3640), (0.4632, 0.3404),
    (0.5306, 0.3405), (0.4703, 0.3792), (0.5238, 0.3789), (0.4518, 0.3765), (0.5432, 0.3767),
])
assert len(TEMPLATE) == len(STABLE)


def alignment(landmarks: np.ndarray, size: int = CROP_SIZE) -> np.ndarray:
    """2x3 affine (image px -> crop px) aligning a face's STABLE points to the template."""
    xy = np.asarray(landmarks, np.float64)[list(STABLE), :2]
    sim = umeyama(xy, TEMPLATE * size)
    return np.hstack([sim.scale * sim.R, sim.t[:, None]])


def aligned_crop(image: np.ndarray, landmarks: np.ndarray, size: int = CROP_SIZE) -> np.ndarray:
    """The ``size`` x ``size`` RGB aligned face crop of ``image``.

    Big photos are first shrunk (area filter) to about the crop's scale around the face, so the
    final bilinear warp never decimates (no aliasing whatever the photo's resolution).
    """
    M = alignment(landmarks, size)
    scale = float(np.sqrt(abs(np.linalg.det(M[:, :2]))))
    h, w = image.shape[:2]
    inv = cv2.invertAffineTransform(M)
    corners = np.array([[0, 0, 1], [size, 0, 1], [0, size, 1], [size, size, 1]], np.float64) @ inv.T
    x0, y0 = np.floor(corners.min(0)).astype(int) - 2
    x1, y1 = np.ceil(corners.max(0)).astype(int) + 2
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
    if x1 <= x0 or y1 <= y0:
        raise ValueError("the face crop lies outside the image")
    region = image[y0:y1, x0:x1]
    shift = np.array([[1, 0, -x0], [0, 1, -y0], [0, 0, 1]], np.float64)  # image -> region
    if scale < 0.9:
        f = min(1.0, scale * 1.05)
        region = cv2.resize(region, (max(1, round(region.shape[1] * f)), max(1, round(region.shape[0] * f))),
                            interpolation=cv2.INTER_AREA)
        fx, fy = region.shape[1] / (x1 - x0), region.shape[0] / (y1 - y0)
        # resize maps pixel centres: x' = (x + 0.5) * f - 0.5
        shift = np.array([[fx, 0, 0.5 * fx - 0.5], [0, fy, 0.5 * fy - 0.5], [0, 0, 1]]) @ shift
    M3 = np.vstack([M, [0, 0, 1]]) @ np.linalg.inv(shift)  # region px -> crop px
    return cv2.warpAffine(np.ascontiguousarray(region), M3[:2], (size, size), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REPLICATE)


def crop_landmarks(landmarks: np.ndarray, M: np.ndarray) -> np.ndarray:
    """Image-space (478, 3) landmarks in crop pixels (z scaled by the similarity's scale)."""
    lm = np.asarray(landmarks, np.float64)
    out = np.empty_like(lm)
    out[:, :2] = lm[:, :2] @ M[:, :2].T + M[:, 2]
    out[:, 2] = lm[:, 2] * float(np.sqrt(abs(np.linalg.det(M[:, :2]))))
    return out
