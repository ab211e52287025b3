"""facexpr: facial expression transfer.

>>> import facexpr
>>> result = facexpr.transfer("smiling.jpg", "neutral.jpg")   # doctest: +SKIP
>>> result.image.shape == facexpr.load_image("neutral.jpg").shape  # doctest: +SKIP
True
"""
from __future__ import annotations

from .errors import FacexprError
from .io import ImageLike, load_image, save_image

__version__ = "0.1.0"


def transfer(source: ImageLike, target: ImageLike, method: str = "warp", intensity: float = 1.0,
             regions=None, source_face: int | None = None, target_face: int | None = None):
    """The ``target`` photo wearing the expression of the face in ``source``.

    Returns a :class:`facexpr.pipeline.TransferResult` (``.image`` is an RGB uint8 array of the
    target's size; ``.timings`` has per-stage milliseconds).
    """
    from .expression.blendshapes import REGIONS
    from .pipeline import TransferConfig, run_transfer

    cfg = TransferConfig(method, float(intensity), tuple(regions or REGIONS), source_face, target_face)
    return run_transfer(source, target, cfg)


def analyze(image: ImageLike, thorough: bool = True) -> list:
    """Every face in ``image`` (largest first): landmarks, blendshapes and head pose."""
    from .faces.landmarks import analyze_faces

    return analyze_faces(load_image(image), thorough=thorough)


__all__ = ["transfer", "analyze", "load_image", "save_image", "FacexprError", "__version__"]
