"""The expression model: what landmark displacement each blendshape causes.

Linear and fitted on same-person data (see :mod:`facexpr.expression.fit`)::

    canonical_landmarks = identity_shape + basis.T @ blendshapes

``identity_shape`` is a person's own geometry with no expression; ``basis`` (52 x 478*3) is shared
by everyone. Canonical coordinates are the pose-free frame of :func:`facexpr.faces.align.to_canonical`
with the reference ``mean_shape``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from ..errors import ModelError
from ..tensorfile import load_tensors, save_tensors
from ..faces.topology import LIPS_INNER, LIPS_OUTER
from .shading import atlas_layout
from .blendshapes import FITTED, FROM_MEDIAPIPE, INDEX, NAMES
from .prior import load_default_prior

DEFAULT_PATH = Path(__file__).resolve().parent.parent / "data" / "expression_linear.safetensors"


@dataclass
class ExpressionModel:
    mean_shape: np.ndarray  # (478, 3) reference shape, canonical frame
    basis: np.ndarray       # (52, 478, 3) displacement per unit of each blendshape
    meta: dict = field(default_factory=dict)
    shading: np.ndarray | None = None  # (52, T, T) log-luminance change per blendshape, atlas space
    # (52,) True where shading is only *added* (a rendered fold or wrinkle): relaxing an expression
    # the face shows does not paint bright negative wrinkles on skin that never had them
    one_sided: np.ndarray | None = None

    def displacement(self, blendshape_delta: np.ndarray) -> np.ndarray:
        """Canonical-frame landmark displacement (478, 3) for a change of blendshapes."""
        return np.tensordot(np.asarray(blendshape_delta, np.float64), self.basis, axes=1)

    @property
    def layout(self) -> np.ndarray:
        """Atlas positions of the landmarks for :attr:`shading` (read-only; computed once per
        mean shape and atlas size: every retargeted frame of an animation asks for it)."""
        size = self.shading.shape[-1] if self.shading is not None else 128
        key = (id(self.mean_shape), size)
        cached = self.__dict__.get("_layout")
        if cached is None or cached[0] != key:
            lay = atlas_layout(self.mean_shape, size)
            lay.flags.writeable = False
            self.__dict__["_layout"] = cached = (key, lay)
        return cached[1]

    def shading_ratio(self, blendshape_delta: np.ndarray) -> np.ndarray | None:
        """Atlas log-luminance ratio (T, T) for a change of blendshapes (None without shading)."""
        if self.shading is None:
            return None
        d = np.asarray(blendshape_delta, np.float32)
        if self.one_sided is not None:
            d = np.where(self.one_sided, np.maximum(d, 0.0), d)
        # several shapes' folds add; a face never gets brighter than a highlight or darker than a fold
        return np.clip(np.tensordot(d, self.shading, axes=1), *SHADING_LIMITS)

    def save(self, path: Path) -> None:
        tensors = {"mean_shape": self.mean_shape.astype(np.float32), "basis": self.basis.astype(np.float16)}
        if self.shading is not None:
            tensors["shading"] = self.shading.astype(np.float16)
        save_tensors(path, tensors, self.meta)

    @classmethod
    def load(cls, path: Path) -> "ExpressionModel":
        t, meta = load_tensors(path, "expression model", "fit one with `facexpr fit-expression`")
        try:
            mean = t["mean_shape"].astype(np.float64)
            basis = t["basis"].astype(np.float64)
        except KeyError as e:
            raise ModelError(f"expression model {path} has no tensor {e}") from None
        shading = t["shading"].astype(np.float32) if "shading" in t else None
        if mean.shape != (478, 3) or basis.shape != (52, 478, 3):
            raise ModelError(f"expression model {path} has shapes {mean.shape}, {basis.shape}; "
                             "expected (478, 3) and (52, 478, 3)")
        if shading is not None and (shading.ndim != 3 or shading.shape[0] != 52):
            raise ModelError(f"expression model {path}: shading has shape {shading.shape}, expected (52, T, T)")
        return cls(mean, basis, meta, shading)


# Shading that stays the London-fitted one: learned on real same-person smiles (the London data
# holds no other expression, so its other rows are left to the prior's ICT shading).
SHADING_FROM_LONDON = ("mouthSmileLeft", "mouthSmileRight")
SHADING_LIMITS = (-0.6, 0.12)  # summed log-luminance change: deep fold … mild highlight
# Motion that stays the London-fitted one: the smile (person-calibrated on real smiles, better on
# held-out London smiles than ICT's, benchmarks/prior_smile.py) and the jaw (the same motion,
# cos 0.98). The London model's other rows were learned from smiles and speech only and carry
# smile motion with them (an AU7 edit through them reads as happy); ICT's are clean shapes.
MOTION_FROM_LONDON = ("mouthSmileLeft", "mouthSmileRight", "jawOpen")
# Shading that stays the London-fitted one for codes *measured* on a photo (transfer, animate):
# every MediaPipe-scored shape (its learned eye crinkles and cheek shading go with the scores it
# was fitted on). London smiles, happy share: 59.8 % this way, 57.8 % with ICT's shading; the
# probes read 14/32 this way, 10/32 with London's motion rows too, 15/32 with ICT's everything.
MEASURED_FROM_LONDON = FROM_MEDIAPIPE


# A shape that moves the inner lips more than this (canonical units) takes the lips' motion from
# what MediaPipe saw on the rendered head (the prior's ``observed`` basis) rather than from ICT's
# surface: when lips roll in or press, the surface point under an inner-lip landmark slides into
# the mouth and up, while the visible line where the lips meet — what the landmark marks and what a
# 2D warp must move — stays put. Taking the surface would open a gap (and paint a mouth) there.
# All lip points (contours and the rows between them) switch together, so the lip stays coherent.
CONTACT_MOTION = 0.02


def lip_points(mean_shape: np.ndarray, grow: float = 1.08) -> list[int]:
    """Mesh points on the lips: inside the outer lip contour, slightly grown, of ``mean_shape``."""
    import cv2

    outer = mean_shape[list(LIPS_OUTER), :2]
    c = outer.mean(0)
    poly = (c + (outer - c) * grow).astype(np.float32)
    return [i for i in range(len(mean_shape))
            if cv2.pointPolygonTest(poly, tuple(map(float, mean_shape[i, :2])), False) >= 0]


def with_prior(model: ExpressionModel, prior, london_rows=MOTION_FROM_LONDON,
               london_shading=SHADING_FROM_LONDON) -> ExpressionModel:
    """The 3D prior's (ICT) motion and shading for every blendshape except ``london_rows``, which
    keep the London-fitted ones (their shading too for measured codes; for edits only the smile's,
    :data:`SHADING_FROM_LONDON`). Both share ``model.mean_shape``'s frame."""
    basis = prior.expression.copy()
    if prior.observed is not None:  # the lips' visible contact line, not the rolled-in surface
        lips = lip_points(model.mean_shape)
        moves = np.abs(basis[:, list(LIPS_INNER)]).max(axis=(1, 2)) > CONTACT_MOTION
        basis[np.ix_(moves, lips)] = prior.observed[np.ix_(moves, lips)]
    for n in london_rows:
        basis[INDEX[n]] = model.basis[INDEX[n]]
    T = model.shading.shape[-1] if model.shading is not None else 128
    shading = np.zeros((len(basis), T, T), np.float32)
    if prior.shading is not None and prior.shading.shape[-1] == T:
        shading[:] = prior.shading
    for n in london_shading:
        if model.shading is not None:
            shading[INDEX[n]] = model.shading[INDEX[n]]
    meta = dict(model.meta, prior=prior.meta, from_prior=[n for n in NAMES if n in FITTED])
    one_sided = ~np.isin(NAMES, london_shading)
    return ExpressionModel(model.mean_shape, basis, meta, shading, one_sided)


@lru_cache(maxsize=4)
def load_default_model(path: str | None = None, prior: bool = True, edit: bool = False) -> ExpressionModel:
    """The London-fitted model combined with the 3D expression prior, for measured codes
    (transfer, animate) or for edits (``edit=True``); ``prior=False``: the London-fitted model
    alone, e.g. to refit or compare it."""
    model = ExpressionModel.load(Path(path) if path else DEFAULT_PATH)
    if not prior:
        return model
    if edit:
        return with_prior(model, load_default_prior())
    return with_prior(model, load_default_prior(), MOTION_FROM_LONDON, MEASURED_FROM_LONDON)
