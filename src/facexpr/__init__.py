"""facexpr: facial expression transfer.

>>> import facexpr
>>> result = facexpr.transfer("smiling.jpg", "neutral.jpg")   # doctest: +SKIP
>>> result.image.shape == facexpr.load_image("neutral.jpg").shape  # doctest: +SKIP
True
>>> smiling = facexpr.edit("neutral.jpg", aus={"AU12": 0.8}, method="warp")  # doctest: +SKIP
"""
from __future__ import annotations

from .errors import FacexprError
from .io import ImageLike, load_image, save_image

__version__ = "0.1.0"


def transfer(source: ImageLike, target: ImageLike, method: str = "warp", intensity: float = 1.0,
             regions=None, source_face: int | None = None, target_face: int | None = None,
             source_neutral: ImageLike | None = None):
    """The ``target`` photo wearing the expression of the face in ``source``.

    ``source_neutral``: the source person's neutral photo, when you have it (datasets and video
    drivers do): the source's *change* from it is transferred, as measured geometry plus its own
    expression ratio image — the most faithful mode.

    Returns a :class:`facexpr.pipeline.TransferResult` (``.image`` is an RGB uint8 array of the
    target's size; ``.timings`` has per-stage milliseconds).
    """
    from .expression.blendshapes import REGIONS
    from .pipeline import TransferConfig, run_transfer

    cfg = TransferConfig(method, float(intensity), tuple(regions or REGIONS), source_face, target_face,
                         source_neutral=source_neutral)
    return run_transfer(source, target, cfg)


def edit(target: ImageLike, aus=None, emotion: str | None = None, intensity: float = 1.0,
         method: str = "warp", face: int | None = None):
    """The ``target`` photo with some facial action units changed by relative amounts.

    ``aus``: ``{"AU12": +0.8, 4: -0.5, "R14": 0.3}``, ``"AU12=+0.8"`` or a list of such strings
    (changes in [-1, 1] of AU intensities in [0, 1]; ``R``/``L`` before the number: one side);
    ``emotion``: happy, sad, angry, fear, disgust, surprise or contempt
    (its prototype AUs are added, see :mod:`facexpr.expression.emotions`); both add, and
    ``intensity`` (0-1.5) scales the sum. ``method``: ``warp`` (default: the mesh warp, the
    most controllable on the AU benchmark, docs/RESULTS.md), ``relative-au``, ``ganimation`` or an
    exported ``.safetensors`` generator. No change (e.g.
    ``intensity=0``) returns a bit-identical copy of the input.

    Returns a :class:`facexpr.pipeline.EditResult` (``.image``, ``.current_aus``, ``.want_aus``,
    ``.timings`` in ms).
    """
    from .expression.emotions import UNITS, au_deltas
    from .pipeline import EditConfig, run_edit

    d = au_deltas(aus)
    pairs = tuple((UNITS[k], float(d[k])) for k in range(len(UNITS)) if d[k] != 0)
    return run_edit(target, EditConfig(method, pairs, emotion, float(intensity), face))


def analyze(image: ImageLike, thorough: bool = True) -> list:
    """Every face in ``image`` (largest first): landmarks, head pose and the expression code
    (``blendshapes``: fitted with the 3D prior, fused with MediaPipe's scores)."""
    from .expression.analysis import analyze_faces

    return analyze_faces(load_image(image), thorough=thorough)


__all__ = ["transfer", "edit", "analyze", "load_image", "save_image", "FacexprError", "__version__"]
