"""Method registry: ``get_method(name)`` returns a ready (models loaded once) method instance."""
from __future__ import annotations

from functools import lru_cache
from typing import Callable

from ..errors import MethodNotFound
from .base import Method, RenderJob

_FACTORIES: dict[str, Callable[[], Method]] = {}


def register(name: str):
    def deco(factory):
        _FACTORIES[name] = factory
        return factory
    return deco


def available() -> list[str]:
    _load_builtin()
    return sorted(_FACTORIES)


@lru_cache(maxsize=None)
def get_method(name: str) -> Method:
    """A registered method by name, or an exported generator given as a ``.safetensors`` path."""
    _load_builtin()
    if name in _FACTORIES:
        return _FACTORIES[name]()
    if name.endswith(".safetensors"):
        from pathlib import Path

        if not Path(name).is_file():
            raise MethodNotFound(f"{name}: no such checkpoint file")
        from ..errors import ModelError
        from ..train.method import ExportedMethod

        try:
            return ExportedMethod(name)
        except (KeyError, ValueError, OSError) as e:
            raise ModelError(f"{name}: not a facexpr exported generator ({e})") from None
    raise MethodNotFound(f"unknown method '{name}' (available: {', '.join(available())}, "
                         "or a path to an exported .safetensors generator)")


def _load_builtin() -> None:
    from . import landmark_fusion, relative_au, warp  # noqa: F401  (register themselves)


__all__ = ["Method", "RenderJob", "get_method", "available", "register"]
