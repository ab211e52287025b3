"""The expression model: what landmark displacement each blendshape causes.

Linear and fitted on same-person data (see :mod:`facexpr.expression.fit`)::

    canonical_landmarks = identity_shape + basis.T @ blendshapes

``identity_shape`` is a person's own geometry with no expression; ``basis`` (52 x 478*3) is shared
by everyone. Canonical coordinates are the pose-free frame of :func:`facexpr.faces.align.to_canonical`
with the reference ``mean_shape``.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from ..errors import ModelError
from .shading import atlas_layout

DEFAULT_PATH = Path(__file__).resolve().parent.parent / "data" / "expression_linear.safetensors"


@dataclass
class ExpressionModel:
    mean_shape: np.ndarray  # (478, 3) reference shape, canonical frame
    basis: np.ndarray       # (52, 478, 3) displacement per unit of each blendshape
    meta: dict = field(default_factory=dict)
    shading: np.ndarray | None = None  # (52, T, T) log-luminance change per blendshape, atlas space

    def displacement(self, blendshape_delta: np.ndarray) -> np.ndarray:
        """Canonical-frame landmark displacement (478, 3) for a change of blendshapes."""
        return np.tensordot(np.asarray(blendshape_delta, np.float64), self.basis, axes=1)

    @property
    def layout(self) -> np.ndarray:
        """Atlas positions of the landmarks for :attr:`shading`."""
        return atlas_layout(self.mean_shape, self.shading.shape[-1] if self.shading is not None else 128)

    def shading_ratio(self, blendshape_delta: np.ndarray) -> np.ndarray | None:
        """Atlas log-luminance ratio (T, T) for a change of blendshapes (None without shading)."""
        if self.shading is None:
            return None
        return np.tensordot(np.asarray(blendshape_delta, np.float32), self.shading, axes=1)

    def save(self, path: Path) -> None:
        from safetensors.numpy import save_file

        path = Path(path)
        tmp = path.with_suffix(".part")
        tensors = {"mean_shape": self.mean_shape.astype(np.float32), "basis": self.basis.astype(np.float16)}
        if self.shading is not None:
            tensors["shading"] = self.shading.astype(np.float16)
        save_file(tensors, str(tmp),
                  metadata={"meta": json.dumps(self.meta)})
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> "ExpressionModel":
        from safetensors import safe_open

        path = Path(path)
        if not path.is_file():
            raise ModelError(f"expression model {path} not found (fit one with `facexpr fit-expression`)")
        try:
            with safe_open(str(path), framework="numpy") as f:
                meta = json.loads((f.metadata() or {}).get("meta", "{}"))
                mean = f.get_tensor("mean_shape").astype(np.float64)
                basis = f.get_tensor("basis").astype(np.float64)
                shading = f.get_tensor("shading").astype(np.float32) if "shading" in f.keys() else None
        except Exception as e:
            raise ModelError(f"expression model {path} is unreadable ({e})") from None
        if mean.shape != (478, 3) or basis.shape != (52, 478, 3):
            raise ModelError(f"expression model {path} has shapes {mean.shape}, {basis.shape}; "
                             "expected (478, 3) and (52, 478, 3)")
        if shading is not None and (shading.ndim != 3 or shading.shape[0] != 52):
            raise ModelError(f"expression model {path}: shading has shape {shading.shape}, expected (52, T, T)")
        return cls(mean, basis, meta, shading)


@lru_cache(maxsize=4)
def load_default_model(path: str | None = None) -> ExpressionModel:
    return ExpressionModel.load(Path(path) if path else DEFAULT_PATH)
