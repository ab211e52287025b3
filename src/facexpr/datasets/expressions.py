"""Posed-expression datasets as cross-identity benchmark pairs with ground truth.

Every adapter (:mod:`~facexpr.datasets.rafd`, :mod:`~facexpr.datasets.ckplus`,
:mod:`~facexpr.datasets.mmi`, :mod:`~facexpr.datasets.cfd`, :mod:`~facexpr.datasets.jaffe`,
:mod:`~facexpr.datasets.kdef`, :mod:`~facexpr.datasets.folders`) reads its dataset's published folder
layout into :class:`Sample` s (person, expression, image, and for sequences the neutral frame of the
same take); :func:`cross_identity_pairs` turns them into :class:`Pair` s:

    SOURCE = person A with expression X,  TARGET = person B neutral,  GROUND TRUTH = person B with X.

Sources are assigned by a seeded rotation: for each expression X the people who show it are
shuffled once (``numpy.random.default_rng`` seeded by ``seed`` and X) and each target takes the
next person in that cycle as its source, so every person is a source exactly once per expression
and nobody is their own source. The same seed always gives the same pairs.

Image references are paths, or ``"<video>#frame=<n>"`` / ``"<video>#frame=middle"`` for one frame
of a video (MMI); :func:`load_ref` reads any of them.
"""
from __future__ import annotations

import re
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Union

import numpy as np
from ..errors import ImageNotFound, NotAnImage
from ..io import load_image
from .video import frames

ImageRef = Union[str, Path]

# facexpr's canonical emotion names = face-api's seven classes, in its order.
EMOTIONS = ("neutral", "happy", "sad", "angry", "fearful", "disgusted", "surprised")
_SYNONYMS = {
    "neutral": "neutral", "ne": "neutral", "calm": "neutral",
    "happy": "happy", "happiness": "happy", "ha": "happy", "joy": "happy", "smile": "happy",
    "smiling": "happy",
    "sad": "sad", "sadness": "sad", "sa": "sad",
    "angry": "angry", "anger": "angry", "an": "angry",
    "fearful": "fearful", "fear": "fearful", "fe": "fearful", "afraid": "fearful", "scared": "fearful",
    "disgusted": "disgusted", "disgust": "disgusted", "di": "disgusted",
    "surprised": "surprised", "surprise": "surprised", "su": "surprised",
}
_FRAME = re.compile(r"^(?P<path>.+)#frame=(?P<frame>\d+|middle)$")


def canonical_emotion(name: str | None) -> str | None:
    """One of :data:`EMOTIONS` for a dataset's expression name, or None (e.g. contempt)."""
    if not name:
        return None
    key = name.strip().lower().replace("-", "_").split("_")[0]
    return _SYNONYMS.get(name.strip().lower(), _SYNONYMS.get(key))


@dataclass(frozen=True)
class Sample:
    person: str
    expression: str             # the dataset's expression, lower case ("happy", "contempt", "happy_open")
    image: ImageRef
    neutral: ImageRef | None = None  # neutral frame of the same take (sequence datasets), if any

    @property
    def label(self) -> str | None:
        return canonical_emotion(self.expression)

    @property
    def is_neutral(self) -> bool:
        return self.label == "neutral"


@dataclass(frozen=True)
class Pair:
    id: str
    source: ImageRef
    target: ImageRef
    gt: ImageRef | None = None
    source_neutral: ImageRef | None = None
    label: str | None = None        # canonical emotion of the source (None: not one of the seven)
    unseen: bool | None = None      # London only: the target is outside the fitting split
    expression: str | None = None   # the dataset's own expression name


def _first_per_key(samples: Iterable[Sample]) -> dict[tuple[str, str], Sample]:
    out: dict[tuple[str, str], Sample] = {}
    for s in sorted(samples, key=lambda s: (s.person, s.expression, str(s.image))):
        out.setdefault((s.person, s.expression), s)
    return out


def cross_identity_pairs(samples: Iterable[Sample], seed: int = 0) -> list[Pair]:
    """Cross-identity pairs (see the module docstring), sorted by id; one per (target, expression)."""
    by_key = _first_per_key(samples)
    neutral_of: dict[str, ImageRef] = {}
    for (person, _), s in by_key.items():
        if s.is_neutral and person not in neutral_of:
            neutral_of[person] = s.image
    expressions = sorted({e for (_, e), s in by_key.items() if not s.is_neutral})
    pairs = []
    for expr in expressions:
        people = sorted(p for (p, e) in by_key if e == expr)
        if len(people) < 2:
            continue
        order = list(np.random.default_rng([seed, zlib.crc32(expr.encode())]).permutation(people))
        for i, person in enumerate(order):
            gt = by_key[person, expr]
            target = gt.neutral or neutral_of.get(person)
            if target is None:
                continue
            src = by_key[order[(i + 1) % len(order)], expr]
            pairs.append(Pair(id=_safe_id(f"{person}_{expr}"), source=src.image, target=target, gt=gt.image,
                              source_neutral=src.neutral or neutral_of.get(src.person),
                              label=gt.label, expression=expr))
    return sorted(pairs, key=lambda p: p.id)


def _safe_id(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text)


def ref_path(ref: ImageRef) -> Path:
    """The file behind a reference (the video for a frame reference)."""
    m = _FRAME.match(str(ref))
    return Path(m.group("path") if m else ref)


def load_ref(ref: ImageRef) -> np.ndarray:
    """RGB uint8 image of a reference: an image file, or one frame of a video."""
    m = _FRAME.match(str(ref))
    if not m:
        return load_image(ref)
    path = Path(m.group("path"))
    if not path.is_file():
        raise ImageNotFound(f"{path}: no such file")
    try:
        if m.group("frame") == "middle":
            all_frames = [f for _, f in frames(path)]
            if not all_frames:
                raise NotAnImage(f"{ref}: the video has no frames")
            return load_image(all_frames[len(all_frames) // 2], str(ref))
        want = int(m.group("frame"))
        for i, f in frames(path):
            if i == want:
                return load_image(f, str(ref))
    except NotAnImage:
        raise
    except Exception as e:  # PyAV errors: not a video, unsupported codec, truncated
        raise NotAnImage(f"{ref}: cannot decode the video ({e})") from None
    raise NotAnImage(f"{ref}: the video has no frame {m.group('frame')}")
