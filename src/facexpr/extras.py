"""The optional parts of facexpr and the pip extra that installs each.

The core (analyse, transfer/edit/animate with ``warp``, the CLI) needs none of them; anything that
does checks here first, so a user without the extra gets one line naming it instead of a
``ModuleNotFoundError`` traceback from deep inside an import.
"""
from __future__ import annotations

import importlib.util

from .errors import MissingExtra

# import name -> the extra (pyproject.toml's [project.optional-dependencies]) that installs it
EXTRA_OF: dict[str, str] = {
    "torch": "torch", "kornia": "eval", "dlib": "eval", "h5py": "eval", "accelerate": "train",
    "yaml": "train", "dacite": "train", "tensorboard": "train", "gradio": "web", "gradio_client": "web",
}


def hint(extra: str) -> str:
    return f"pip install 'facexpr[{extra}]'"


def require(what: str, *modules: str, extra: str | None = None) -> None:
    """Raise :class:`MissingExtra` naming ``extra`` (default: the first missing module's) if any of
    ``modules`` is not importable."""
    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if missing:
        extra = extra or EXTRA_OF.get(missing[0], "all")
        raise MissingExtra(f"{what} needs {', '.join(missing)}, which is not installed: {hint(extra)}")


def from_import_error(err: ImportError, what: str) -> MissingExtra | None:
    """The one-line error for ``err`` when it is an optional package that is missing, else ``None``
    (a genuine bug stays a traceback)."""
    name = (getattr(err, "name", None) or "").split(".")[0]
    if isinstance(err, ModuleNotFoundError) and name in EXTRA_OF:
        return MissingExtra(f"{what} needs {name}, which is not installed: {hint(EXTRA_OF[name])}")
    return None


__all__ = ["EXTRA_OF", "hint", "require", "from_import_error"]
