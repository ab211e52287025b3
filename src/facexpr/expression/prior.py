"""The 3D morphable landmark prior: ICT-FaceKit's identity and expression shapes on MediaPipe's
478 landmarks, in the pose-free canonical frame of :func:`facexpr.faces.align.to_canonical`::

    canonical_landmarks ≈ mean + identity.T @ a + expression.T @ e,   e ∈ [0, 1]^52

``expression`` is indexed like MediaPipe's 52 blendshapes (:data:`~.blendshapes.NAMES`; ICT's
split ``browInnerUp_L/_R`` and ``cheekPuff_L/_R`` are summed), so a fitted ``e`` is read the same
way as MediaPipe's scores — but it comes from geometry, and MediaPipe's classifier is blind to
frowns, sneers, cheek raises and widened eyes (it reads ``mouthFrown`` 0.00 on a rendered head
whose lip corners are visibly down). ``mean`` is the average MediaPipe face of real people (the
London/Canada neutral photos), ``identity`` holds ICT's identity modes plus the main modes of
those real neutral faces, so MediaPipe's own way of placing landmarks is explained as identity,
not expression. Built by :mod:`facexpr.research.prior_build`; shipped as
``data/expression_prior.safetensors`` (derived from ICT-FaceKit, MIT, notice in the metadata).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from ..errors import ModelError
from ..tensorfile import load_tensors, save_tensors
from ..faces.topology import MIRROR
from .blendshapes import MIRRORED, NAMES

DEFAULT_PATH = Path(__file__).resolve().parent.parent / "data" / "expression_prior.safetensors"
ICT_NOTICE = ("Derived from ICT-FaceKit (github.com/ICT-VGL/ICT-FaceKit), MIT License, "
              "Copyright (c) 2020 USC Institute for Creative Technologies.")


@dataclass
class ExpressionPrior:
    mean: np.ndarray        # (478, 3) canonical frame
    identity: np.ndarray    # (K, 478, 3) identity modes, coefficients ~ N(0, 1)
    expression: np.ndarray  # (52, 478, 3) displacement at full activation, NAMES order
    valid: np.ndarray       # (478,) bool: landmarks the ICT surface carries (irises are not)
    shading: np.ndarray | None = None  # (52, T, T) log-luminance change (ICT mesh under light)
    meta: dict = field(default_factory=dict)
    observed: np.ndarray | None = None  # (52, 478, 3) MediaPipe's landmark response per shape
    neutral_scores: np.ndarray | None = None  # (52,) MediaPipe's mean scores on real neutral faces
    neutral_code: np.ndarray | None = None    # (52,) the fit's mean reading of those faces

    def shape(self, a: np.ndarray | None = None, e: np.ndarray | None = None) -> np.ndarray:
        s = self.mean.copy()
        if a is not None:
            s += np.tensordot(np.asarray(a, np.float64), self.identity[:len(a)], axes=1)
        if e is not None:
            s += np.tensordot(np.asarray(e, np.float64), self.expression, axes=1)
        return s

    def save(self, path: Path) -> None:
        tensors = {"mean": self.mean.astype(np.float32), "identity": self.identity.astype(np.float16),
                   "expression": self.expression.astype(np.float32), "valid": self.valid.astype(np.uint8)}
        if self.shading is not None:
            tensors["shading"] = self.shading.astype(np.float16)
        for k in ("observed", "neutral_scores", "neutral_code"):
            if getattr(self, k) is not None:
                tensors[k] = getattr(self, k).astype(np.float32)
        save_tensors(path, tensors, self.meta, licence=ICT_NOTICE)

    @classmethod
    def load(cls, path: Path) -> "ExpressionPrior":
        t, meta = load_tensors(path, "expression prior", "rebuild it with `facexpr build-prior`")
        try:
            prior = cls(t["mean"].astype(np.float64), t["identity"].astype(np.float64),
                        t["expression"].astype(np.float64), t["valid"].astype(bool),
                        t["shading"].astype(np.float32) if "shading" in t else None, meta,
                        *(t[k].astype(np.float64) if k in t else None
                          for k in ("observed", "neutral_scores", "neutral_code")))
        except KeyError as e:
            raise ModelError(f"expression prior {path} has no tensor {e}") from None
        n = len(NAMES)
        if (prior.mean.shape != (478, 3) or prior.expression.shape != (n, 478, 3)
                or prior.identity.shape[1:] != (478, 3) or prior.valid.shape != (478,)):
            raise ModelError(f"expression prior {path} has unexpected shapes")
        return prior


@lru_cache(maxsize=4)
def load_default_prior(path: str | None = None) -> ExpressionPrior:
    return ExpressionPrior.load(Path(path) if path else DEFAULT_PATH)


@dataclass(frozen=True)
class MirrorPlane:
    """The reflection that takes a canonical face onto its own mirror image: reflect every point
    in the face's symmetry plane (``normal · x = offset``) and swap each landmark with its
    partner (:data:`facexpr.faces.topology.MIRROR`). It is an exact involution, so a model made
    symmetric with it reads a mirrored face exactly as the mirrored reading of the face."""

    normal: np.ndarray
    offset: float
    perm: np.ndarray

    @classmethod
    def of(cls, mean: np.ndarray, perm=None) -> "MirrorPlane":
        """The symmetry plane of ``mean`` (478, 3): its normal is the main direction joining
        partner points, its offset puts it half-way between them."""
        perm = np.asarray(MIRROR if perm is None else perm)
        pairs = perm != np.arange(len(perm))
        normal = np.linalg.svd(mean[pairs] - mean[perm[pairs]], full_matrices=False)[2][0]
        offset = float(np.mean((mean + mean[perm]) @ normal) / 2)
        return cls(normal, offset, perm)

    def points(self, x: np.ndarray) -> np.ndarray:
        """Mirror (..., 478, 3) positions."""
        r = x - 2.0 * ((x @ self.normal) - self.offset)[..., None] * self.normal
        return r[..., self.perm, :]

    def vectors(self, v: np.ndarray) -> np.ndarray:
        """Mirror (..., 478, 3) displacements (no offset)."""
        r = v - 2.0 * (v @ self.normal)[..., None] * self.normal
        return r[..., self.perm, :]

    def basis(self, b: np.ndarray) -> np.ndarray:
        """A (52, 478, 3) per-blendshape basis made mirror-symmetric: shape n's motion is the mean
        of its own and the mirror image of its Left/Right partner's, so a left brow raise is
        exactly a mirrored right one and a midline shape is left-right symmetric."""
        return (b + self.vectors(b[list(MIRRORED)])) / 2.0


def symmetry_frame(mean: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(R, c)``: the rotation and origin that put ``mean``'s symmetry plane at x = 0
    (``x' = (x − c) @ R.T``). In that frame the mirror is a plain sign flip of x, which commutes
    with the fit's per-axis weights (depth counts less); a mirror plane tilted a few degrees mixes
    depth into x and breaks the symmetry of a weighted fit."""
    mp = MirrorPlane.of(mean)
    n = mp.normal if mp.normal[0] >= 0 else -mp.normal
    ex = np.array([1.0, 0.0, 0.0])
    v, c = np.cross(n, ex), float(n @ ex)
    V = np.array([[0, -v[2], v[1]], [v[2], 0, -v[0]], [-v[1], v[0], 0]])
    R = np.eye(3) + V + V @ V / (1.0 + c)  # the rotation taking n onto x (Rodrigues)
    origin = n * (mp.offset if mp.normal[0] >= 0 else -mp.offset)
    return R, origin


def _symmetric_frame(mean: np.ndarray):
    """``(rotate, mirror)``: the map into the frame whose x = 0 is ``mean``'s symmetry plane, and
    the mirror there (a sign flip of x with the landmark partners swapped)."""
    R, origin = symmetry_frame(mean)
    return (lambda x: (x - origin) @ R.T, lambda v: v @ R.T,
            MirrorPlane(np.array([1.0, 0.0, 0.0]), 0.0, np.asarray(MIRROR)))


def symmetric_basis(prior: ExpressionPrior, basis: np.ndarray) -> np.ndarray:
    """Another (52, 478, 3) basis in ``prior``'s frame (the expression model's) carried into the
    frame of :func:`symmetrize` ``(prior)`` and made mirror-symmetric the same way."""
    _, rot, mp = _symmetric_frame(prior.mean)
    return mp.basis(rot(basis))


def symmetrize(prior: ExpressionPrior) -> ExpressionPrior:
    """The prior closed under mirroring, so a fit cannot learn one studio's left/right asymmetry
    (its light, camera and the calibration faces) and report it as expression on a stranger.

    First the frame is turned so the mean face's symmetry plane is x = 0 (:func:`symmetry_frame`).
    Then the mean becomes the average of itself and its mirror image; the identity prior becomes
    the Gaussian whose covariance is the average of the original and the mirrored one (modes and
    their mirror images, each scaled by 1/√2); each expression shape is averaged with its
    mirrored partner; the neutral reference scores are averaged with their swapped selves. The
    neutral code must be calibrated again afterwards; another basis of the prior's frame goes
    through :func:`symmetric_basis`."""
    move, rot, mp = _symmetric_frame(prior.mean)
    sw = list(MIRRORED)
    mean = move(prior.mean)
    valid = prior.valid & prior.valid[mp.perm]
    ident = rot(prior.identity)
    identity = np.concatenate([ident, mp.vectors(ident)]) / np.sqrt(2.0)
    identity[:, ~valid] = 0.0
    meta = dict(prior.meta, symmetric="frame turned to the mean face's symmetry plane; mean, identity "
                                      "covariance, expression and observed bases and neutral scores "
                                      "averaged with their mirror images")
    return ExpressionPrior(
        mean=(mean + mp.points(mean)) / 2.0, identity=identity,
        expression=mp.basis(rot(prior.expression)), valid=valid, shading=prior.shading, meta=meta,
        observed=None if prior.observed is None else mp.basis(rot(prior.observed)),
        neutral_scores=None if prior.neutral_scores is None else (prior.neutral_scores + prior.neutral_scores[sw]) / 2,
        neutral_code=None)
