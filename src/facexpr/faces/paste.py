"""Soft masks and paste-back: how a rendered patch goes back into the full-resolution photo.

A method returns a patch, the 2x3 affine that maps patch pixels into the target image, and a soft
mask. Outside the mask the target is left bit-for-bit unchanged.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass
class Patch:
    image: np.ndarray      # (h, w, 3) uint8 RGB
    mask: np.ndarray       # (h, w) float32 in [0, 1]
    to_target: np.ndarray  # (2, 3) affine: patch pixel -> target pixel


def polygon_mask(shape: tuple[int, int], polygon: np.ndarray, feather: float = 0.0,
                 offset=(0.0, 0.0)) -> np.ndarray:
    """Float mask of a filled polygon; ``feather`` (px) blurs the edge *inwards* so that the mask
    is exactly 0 on and outside the polygon outline."""
    h, w = shape
    f = max(1.0, feather / 4.0)  # a wide feather is smooth: build it at 1/f scale, then upsample
    if f > 1.0:
        small = polygon_mask((max(1, int(np.ceil(h / f))), max(1, int(np.ceil(w / f)))),
                             (np.asarray(polygon, np.float64) - offset + 0.5) / f - 0.5, feather / f)
        return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR) * (_hard(shape, polygon, offset) > 0)
    m = _hard(shape, polygon, offset)
    if feather > 0:
        # OpenCV's float Gaussian kernel reaches 4 sigma: with sigma = feather/4 the blur stays
        # inside the eroded band, so the mask is exactly 0 on and outside the outline.
        k = int(np.ceil(feather)) + 1
        m = cv2.erode(m, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * k + 1, 2 * k + 1)))
        m = cv2.GaussianBlur(m, (0, 0), feather / 4.0)
    return m


def _hard(shape, polygon, offset) -> np.ndarray:
    m = np.zeros(shape, np.uint8)
    pts = np.round((np.asarray(polygon, np.float64) - offset) * 16).astype(np.int32)
    cv2.fillPoly(m, [pts], 255, lineType=cv2.LINE_AA, shift=4)
    return m.astype(np.float32) / 255.0


def blend(base: np.ndarray, over: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``base*(1-mask) + over*mask``, rounded back to uint8 (OpenCV: fast on big photos)."""
    m = np.ascontiguousarray(mask, dtype=np.float32)
    return cv2.blendLinear(np.ascontiguousarray(over), np.ascontiguousarray(base), m, 1.0 - m)


def paste_back(target: np.ndarray, patch: Patch, copy: np.ndarray | None = None) -> np.ndarray:
    """Composite ``patch`` into a copy of ``target``; pixels where the mask is 0 stay identical.
    ``copy``: that copy, made beforehand (a big photo's copy can be made while the patch renders)."""
    out = target.copy() if copy is None else copy
    A = np.asarray(patch.to_target, np.float64)
    h, w = patch.mask.shape
    if np.allclose(A[:, :2], np.eye(2)) and np.allclose(A[:, 2], np.round(A[:, 2])):
        x0, y0 = int(round(A[0, 2])), int(round(A[1, 2]))
        region = out[y0:y0 + h, x0:x0 + w]
        out[y0:y0 + h, x0:x0 + w] = blend(region, patch.image, patch.mask)
        return out
    box = _roi(A, (h, w), target.shape[:2])
    if box is None:
        return out
    x0, y0, x1, y1, A_roi, size = box
    img = cv2.warpAffine(patch.image, A_roi, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    m = cv2.warpAffine(patch.mask, A_roi, size, flags=cv2.INTER_LINEAR, borderValue=0)
    out[y0:y1, x0:x1] = blend(out[y0:y1, x0:x1], img, m)
    return out


def _roi(A: np.ndarray, patch_hw: tuple[int, int], image_hw: tuple[int, int]):
    """The image region a patch lands in under the affine ``A`` (patch → image): ``(x0, y0, x1,
    y1, A shifted to that region, its size)``, or None when it misses the image."""
    h, w = patch_hw
    H, W = image_hw
    corners = np.array([[0, 0, 1], [w, 0, 1], [0, h, 1], [w, h, 1]], np.float64) @ A.T
    x0, y0 = np.maximum(np.floor(corners.min(0)).astype(int), 0)
    x1, y1 = np.minimum(np.ceil(corners.max(0)).astype(int), [W, H])
    if x1 <= x0 or y1 <= y0:
        return None
    A_roi = A.copy()
    A_roi[:, 2] -= (x0, y0)
    return int(x0), int(y0), int(x1), int(y1), A_roi, (int(x1 - x0), int(y1 - y0))


def paste_change(canvas: np.ndarray, patch: Patch, base: np.ndarray) -> np.ndarray:
    """``canvas`` + the change ``patch.image − base`` (both crops of it), under ``patch.mask``,
    mapped back into the photo: where a generator changed nothing the photo's pixels stay
    bit-identical (pasting the crop itself would resample them twice)."""
    out = canvas.copy()
    A = np.asarray(patch.to_target, np.float64)
    box = _roi(A, patch.mask.shape, canvas.shape[:2])
    if box is None:
        return out
    x0, y0, x1, y1, A_roi, size = box
    change = patch.image.astype(np.float32) - base.astype(np.float32)
    change = cv2.warpAffine(change * patch.mask[..., None].astype(np.float32), A_roi, size, flags=cv2.INTER_LINEAR,
                            borderValue=0)
    roi = out[y0:y1, x0:x1].astype(np.float32) + change
    out[y0:y1, x0:x1] = np.clip(np.rint(roi), 0, 255).astype(np.uint8)
    return out
