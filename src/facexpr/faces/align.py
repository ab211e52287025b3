"""Similarity alignment: map a face's landmarks into a pose-free canonical frame and back.

Uses 3D orthogonal Procrustes (Umeyama) on the :data:`~facexpr.faces.topology.STABLE` points, so
expression displacements can be compared between people, poses and image sizes.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..threads import RecentCache
from .topology import STABLE


@dataclass(frozen=True)
class Similarity:
    """``y = scale * R @ x + t`` (3D)."""

    scale: float
    R: np.ndarray
    t: np.ndarray

    def apply(self, x: np.ndarray) -> np.ndarray:
        return self.scale * x @ self.R.T + self.t

    def inverse(self) -> "Similarity":
        Ri = self.R.T
        return Similarity(1.0 / self.scale, Ri, -(Ri @ self.t) / self.scale)


def umeyama(src: np.ndarray, dst: np.ndarray) -> Similarity:
    """Least-squares similarity taking ``src`` points onto ``dst`` points (rows are points)."""
    mu_s, mu_d = src.mean(0), dst.mean(0)
    s, d = src - mu_s, dst - mu_d
    cov = d.T @ s / len(src)
    U, S, Vt = np.linalg.svd(cov)
    D = np.eye(src.shape[1])
    if np.linalg.det(U) * np.linalg.det(Vt) < 0:
        D[-1, -1] = -1
    R = U @ D @ Vt
    var = (s ** 2).sum() / len(src)
    scale = float(np.trace(np.diag(S) @ D) / var)
    return Similarity(scale, R, mu_d - scale * R @ mu_s)


_STABLE = np.array(STABLE)
_SIMILARITIES = RecentCache(16)


def to_canonical(landmarks: np.ndarray, reference: np.ndarray) -> tuple[np.ndarray, Similarity]:
    """Landmarks in the reference frame, and the similarity that took them there.

    The similarity of the last few (landmarks, reference) pairs is kept: an animation or a live
    session retargets the same photo face every frame, and the pipeline aligns a target several
    times per transfer; a fresh 3x3 SVD each time costs more than the lookup (and LAPACK calls can
    stall behind busy threads on a small machine)."""
    landmarks = np.asarray(landmarks)
    sim = _SIMILARITIES.get(RecentCache.key(landmarks, reference),
                            lambda: umeyama(landmarks[_STABLE], reference[_STABLE]))
    return sim.apply(landmarks), sim
