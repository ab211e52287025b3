"""Identity: dlib's 128-d face descriptor (ResNet, CC0 weights by Davis King).

An edited face should still be the same person. dlib's descriptor is independent of everything
facexpr uses (MediaPipe, our own nets), and has a well-known operating point: two photos of one
person are usually < 0.6 apart, two people usually > 0.6. Used by the identity judge
(:mod:`facexpr.evaluate`) and by ``facexpr prepare`` (the cache's identity descriptors), so it
sits below both.

Alignment is dlib's own: the 5-point shape predictor, then ``compute_face_descriptor`` cuts the
150x150 chip (padding 0.25) the network was trained on, so nothing here re-implements it.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from .. import assets
from ..errors import ModelError

MATCH_THRESHOLD = 0.6  # dlib's documented same-person threshold
DETECT_MAX_SIDE = 800  # HOG runs on a downscaled copy: big photos gain nothing but time


@lru_cache(maxsize=1)
def _models():
    import dlib  # optional dependency (the ``eval`` extra): only needed once a judge is used

    paths = {n: assets.resolve(n) for n in ("dlib_shape_predictor_5", "dlib_face_recognition")}
    try:
        sp = dlib.shape_predictor(str(paths["dlib_shape_predictor_5"]))
        rec = dlib.face_recognition_model_v1(str(paths["dlib_face_recognition"]))
    except RuntimeError as e:
        raise ModelError(f"dlib model files {', '.join(map(str, paths.values()))} unusable: {e}") from e
    return dlib, dlib.get_frontal_face_detector(), sp, rec


class DlibIdentity:
    """128-d descriptors and their distance; models load on first use."""

    def detect(self, image: np.ndarray) -> tuple[int, int, int, int] | None:
        """The largest HOG face box (x0, y0, x1, y1) in full-image pixels, or None."""
        dlib, detector, _, _ = _models()
        img = _rgb(image)
        step = max(1, int(np.ceil(max(img.shape[:2]) / DETECT_MAX_SIDE)))
        small = np.ascontiguousarray(img[::step, ::step])
        rects = detector(small, 1)
        if not rects:
            return None
        r = max(rects, key=lambda r: r.area())
        return r.left() * step, r.top() * step, r.right() * step, r.bottom() * step

    def embed(self, image: np.ndarray, box: tuple[int, int, int, int] | None = None) -> np.ndarray | None:
        """(128,) float32 descriptor of the face in ``box`` (else the largest detected), or None."""
        dlib, _, sp, rec = _models()
        img = _rgb(image)
        if box is None:
            box = self.detect(img)
            if box is None:
                return None
        rect = dlib.rectangle(*(int(round(v)) for v in box))
        shape = sp(img, rect)
        return np.asarray(rec.compute_face_descriptor(img, shape), np.float32)

    @staticmethod
    def distance(a: np.ndarray, b: np.ndarray) -> float:
        """Euclidean distance between two descriptors (< 0.6: probably the same person)."""
        return float(np.linalg.norm(np.asarray(a, np.float64) - np.asarray(b, np.float64)))


def _rgb(image: np.ndarray) -> np.ndarray:
    img = np.asarray(image)
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)
    if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
        raise ValueError(f"expected an RGB uint8 image (H, W, 3), got {img.dtype} {img.shape}")
    return np.ascontiguousarray(img)


@lru_cache(maxsize=1)
def get_dlib_identity() -> DlibIdentity:
    return DlibIdentity()
