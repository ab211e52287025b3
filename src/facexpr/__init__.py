"""facexpr: facial expression transfer.

>>> import facexpr
>>> result = facexpr.transfer("smiling.jpg", "neutral.jpg")   # doctest: +SKIP
>>> result.image.shape == facexpr.load_image("neutral.jpg").shape  # doctest: +SKIP
True
>>> smiling = facexpr.edit("neutral.jpg", aus={"AU12": 0.8}, method="warp")  # doctest: +SKIP
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from .errors import FacexprError

if TYPE_CHECKING:
    from .io import ImageLike

__version__ = "0.1.0"

# Loaded on first use, not at import: `facexpr --help` and `import facexpr` stay fast (no
# MediaPipe, OpenCV or SciPy until a photo is read) and never load torch.
_LAZY = {"analyze_faces": ".expression.analysis", "ImageLike": ".io", "load_image": ".io", "save_image": ".io",
         "EditConfig": ".pipeline", "TransferConfig": ".pipeline", "run_edit": ".pipeline",
         "run_swap": ".pipeline", "run_transfer": ".pipeline", "AnimateConfig": ".animation",
         "Animation": ".animation", "write_animation": ".animation", "REGIONS": ".expression.blendshapes",
         "OneEuroConfig": ".one_euro"}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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
    from .pipeline import TransferConfig, run_transfer

    return run_transfer(source, target, TransferConfig(method, intensity, regions, source_face, target_face,
                                                       source_neutral=source_neutral))


def swap(a: ImageLike, b: ImageLike, method: str = "au-swap", intensity: float = 1.0, regions=None,
         a_face: int | None = None, b_face: int | None = None):
    """Photos ``a`` and ``b`` with their expressions swapped (Shao et al. 2019's setting; any
    transfer method works, ``au-swap`` is the default). Each photo is analysed once.

    Returns a :class:`facexpr.pipeline.SwapResult`: ``.a.image`` is A wearing B's expression,
    ``.b.image`` B wearing A's (each the size of its input).
    """
    from .pipeline import TransferConfig, run_swap

    return run_swap(a, b, TransferConfig(method, intensity, regions, a_face, b_face))


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
    from .pipeline import EditConfig, run_edit

    return run_edit(target, EditConfig.parse(aus, emotion, intensity, method, face))


def analyze(image: ImageLike, thorough: bool = True) -> list:
    """Every face in ``image`` (largest first), each a :class:`facexpr.faces.Face`: landmarks,
    head pose, the expression code (``blendshapes``: fitted with the 3D prior, fused with
    MediaPipe's scores), MediaPipe's own scores (``mediapipe_scores``; the raw reading is
    ``detection``) and the fit (``fit``)."""
    from .expression.analysis import analyze_faces
    from .io import load_image

    return analyze_faces(load_image(image), thorough=thorough)


def animate(photo: ImageLike, driving, method: str = "warp", relative: bool = True,
            reference_frame: int | None = None, driving_neutral: ImageLike | None = None,
            intensity: float = 1.0, regions=None, pose: bool = False, smooth: bool = True,
            min_cutoff: float = 1.5, beta: float = 0.5, size: int | None = 512,
            start: float | None = None, end: float | None = None, max_frames: int | None = None,
            photo_face: int | None = None, max_pose_deg: float = 15.0, calibrate: bool = True):
    """Animate ``photo`` with the expressions (and, with ``pose=True``, small head rotations) of
    the face in the ``driving`` video.

    Returns a :class:`facexpr.animation.Animation`: errors (no face in the photo, none in the whole
    video, a bad file) are raised at once; iterating it yields
    :class:`facexpr.animation.AnimatedFrame` objects (``.image`` RGB uint8, ``.index``, ``.time``,
    ``.found``) as they are rendered, for streaming. ``.fps``, ``.frame_count``, ``.width`` and
    ``.height`` describe the output. :func:`facexpr.animate_to_file` writes an MP4 with the
    driver's audio, or an image sequence.

    ``calibrate`` (default): measure once how strongly the photo shows a smile and an open jaw
    when rendered, and render every frame's at the strength it needs to show (:mod:`facexpr.response`).
    """
    from .animation import AnimateConfig, Animation
    from .expression.blendshapes import REGIONS
    from .one_euro import OneEuroConfig

    cfg = AnimateConfig(method=method, relative=relative, reference_frame=reference_frame,
                        driving_neutral=driving_neutral, intensity=float(intensity),
                        regions=tuple(regions or REGIONS), pose=pose, smooth=smooth,
                        filter=OneEuroConfig(min_cutoff, beta), size=size, start=start, end=end,
                        max_frames=max_frames, photo_face=photo_face, max_pose_deg=max_pose_deg,
                        calibrate=calibrate)
    return Animation(photo, driving, cfg)


def animate_to_file(photo: ImageLike, driving, out, audio: bool = True, progress=None, **options) -> dict:
    """:func:`animate` written to ``out`` (``.mp4``: H.264 at the driver's frame rate with its audio
    copied in sync, atomic; any other path: a folder of PNG frames). Returns a summary (frames,
    frames/s, lost frames, per-stage ms, jitter)."""
    from .animation import write_animation

    return write_animation(animate(photo, driving, **options), out, audio=audio, progress=progress)


__all__ = ["transfer", "swap", "edit", "analyze", "animate", "animate_to_file", "load_image", "save_image", "FacexprError", "__version__"]
