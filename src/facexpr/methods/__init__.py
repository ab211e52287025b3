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
    _load_builtin()
    if name not in _FACTORIES:
        raise MethodNotFound(f"unknown method '{name}' (available: {', '.join(available())})")
    return _FACTORIES[name]()


def _load_builtin() -> None:
    from . import warp  # noqa: F401  (registers itself)


__all__ = ["Method", "RenderJob", "get_method", "available", "register"]
