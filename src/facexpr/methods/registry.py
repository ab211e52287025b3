"""The method registry: every built-in method's :class:`~.spec.MethodSpec`, listed here explicitly (one
folder per method family, each ``__init__.py`` holding its specs; nothing registers itself as an
import side effect), and ``get_method(name)``: a ready instance (models loaded once, weights
checksum-verified through :mod:`facexpr.assets`), built with its spec (``method.spec``: name,
capabilities, traits) and never altered afterwards.

``register(spec)`` adds a method at run time (plug-ins, tests). A spec with ``shipped=False`` (a
family being trained, no weights yet) is known to training and to exported files
(:func:`spec_for_task`, :func:`all_specs`) but not offered as a method by name.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from ..errors import MethodNotFound, ModelError
from ..extras import from_import_error
from . import aip_gan, au_swap, landmark_fusion, pix2pix, relative_au, warp
from .base import Method
from .spec import MethodSpec, load_ref

BUILTIN: tuple[MethodSpec, ...] = (*warp.SPECS, *landmark_fusion.SPECS, *pix2pix.SPECS, *relative_au.SPECS,
                                   *au_swap.SPECS, *aip_gan.SPECS)
_SPECS: dict[str, MethodSpec] = {s.name: s for s in BUILTIN}
EXPORTED = "facexpr.methods.exported:ExportedMethod"  # what a .safetensors path loads


def register(spec: MethodSpec) -> MethodSpec:
    _SPECS[spec.name] = spec
    get_method.cache_clear()
    return spec


def available() -> list[str]:
    return sorted(n for n, s in _SPECS.items() if s.shipped)


def specs() -> list[MethodSpec]:
    return [_SPECS[n] for n in available()]


def all_specs() -> list[MethodSpec]:
    """Every spec, shipped or not (training recipes, exported files)."""
    return [_SPECS[n] for n in sorted(_SPECS)]


def get_spec(name: str, shipped: bool = True) -> MethodSpec:
    """The spec of ``name``; ``shipped=False`` also finds families whose weights do not ship yet."""
    if name in _SPECS and not _SPECS[name].shipped and shipped:
        raise MethodNotFound(f"method '{name}' has no shipped weights yet: train and export it "
                             "(docs/TRAINING.md), then pass the file with -m path/to/model.safetensors")
    if name not in _SPECS:
        raise MethodNotFound(f"unknown method '{name}' (available: {', '.join(available())}, "
                             "or a path to an exported .safetensors generator)")
    return _SPECS[name]


def spec_for_task(task: str) -> MethodSpec | None:
    """The spec whose training recipe is ``task`` (the name in an exported file's metadata)."""
    for s in _SPECS.values():
        if s.task and s.name == task:
            return s
    return None


def _load(ref: str, what: str):
    """The adapter class ``ref``; generators import torch here, so a torch-free install gets one
    line naming the extra to install instead of a traceback."""
    try:
        return load_ref(ref)
    except ImportError as e:
        missing = from_import_error(e, what)
        if missing is None:
            raise
        raise missing from None


@lru_cache(maxsize=None)
def get_method(name: str) -> Method:
    """A registered method by name, or an exported generator given as a ``.safetensors`` path."""
    if name not in _SPECS and name.endswith(".safetensors"):
        if not Path(name).is_file():
            raise MethodNotFound(f"{name}: no such checkpoint file")
        try:
            return _load(EXPORTED, f"an exported generator ({name})")(name)
        except (KeyError, ValueError, OSError) as e:
            raise ModelError(f"{name}: not a facexpr exported generator ({e})") from None
    spec = get_spec(name)
    return _load(spec.adapter, f"method '{name}'")(*spec.weight_paths(), spec=spec, **spec.kwargs)


__all__ = ["BUILTIN", "register", "available", "specs", "all_specs", "get_spec", "spec_for_task", "get_method"]
