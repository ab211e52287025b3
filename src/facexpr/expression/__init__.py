"""Expression: the identity-free code (blendshapes), the learned landmark model, retargeting.

The package names below are resolved on first use (PEP 562), not at import: the action-unit and
emotion tables (:mod:`.action_units`, :mod:`.emotions`) feed the command line's help text, and
reading them must not load SciPy and the mesh model behind :mod:`.model`.
"""
from __future__ import annotations

import importlib

_LAZY = {"ExpressionModel": ".model", "load_default_model": ".model", "RetargetConfig": ".retarget",
         "Retargeted": ".retarget", "retarget": ".retarget"}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["ExpressionModel", "load_default_model", "RetargetConfig", "Retargeted", "retarget"]
