"""facexpr: facial expression transfer.

>>> import facexpr
>>> result = facexpr.transfer("smiling.jpg", "neutral.jpg")   # doctest: +SKIP
>>> result.image.shape == facexpr.load_image("neutral.jpg").shape  # doctest: +SKIP
True
>>> smiling = facexpr.edit("neutral.jpg", aus={"AU12": 0.8}, method="warp")  # doctest: +SKIP
"""
from __future__ import annotations

from .errors import FacexprError
from .faces.landmarks import analyze_faces
from .io import ImageLike, load_image, save_image
from .pipeline import EditConfig, TransferConfig, run_edit, run_transfer

__version__ = "0.1.0"


def transfer(source: ImageLike, target: ImageLike, method: str = "warp", intensity: float = 1.0,
             regions=None, source_face: int | None = None, target_face: int | None = None):
    """The ``target`` photo wearing the expression of the face in ``source``.

    Returns a :class:`facexpr.pipeline.TransferResult` (``.image`` is an RGB uint8 array of the
    target's size; ``.timings`` has per-stage milliseconds).
    """
    return run_transfer(source, target, TransferConfig(method, intensity, regions, source_face, target_face))


def edit(target: ImageLike, aus=None, emotion: str | None = None, intensity: float = 1.0,
         method: str = "warp", face: int | None = None):
    """The ``target`` photo with some facial action units changed by relative amounts.

    ``aus``: ``{"AU12": +0.8, 4: -0.5}``, ``"AU12=+0.8"`` or a list of such strings (changes in
    [-1, 1] of AU intensities in [0, 1]); ``emotion``: happy, sad, angry, fear, disgust or surprise
    (its prototype AUs are added, see :mod:`facexpr.expression.emotions`); both add, and
    ``intensity`` (0-1.5) scales the sum. ``method``: ``warp`` (default: the mesh warp, the
    most controllable on the AU benchmark, docs/RESULTS.md), ``relative-au``, ``ganimation`` or an
    exported ``.safetensors`` generator. No change (e.g.
    ``intensity=0``) returns a bit-identical copy of the input.

    Returns a :class:`facexpr.pipeline.EditResult` (``.image``, ``.current_aus``, ``.want_aus``,
    ``.timings`` in ms).
    """
    return run_edit(target, EditConfig.parse(aus, emotion, intensity, method, face))


def analyze(image: ImageLike, thorough: bool = True) -> list:
    """Every face in ``image`` (largest first): landmarks, blendshapes and head pose."""
    return analyze_faces(load_image(image), thorough=thorough)


__all__ = ["transfer", "edit", "analyze", "load_image", "save_image", "FacexprError", "__version__"]
