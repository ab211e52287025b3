"""The ``roundtrip`` benchmark: every emotion carried from one unseen person to another, with a
known answer.

Sources: unseen London neutral photos (:func:`facexpr.datasets.london.split`) edited to each
basic emotion with :func:`facexpr.pipeline.run_edit` (``warp``, the EMFACS prototypes of
:mod:`facexpr.expression.emotions`), plus the unedited photo for ``neutral``. Targets: the neutral
photos of *other* unseen London people, drawn with ``numpy.random.default_rng(seed)``. The label is
the emotion asked for, and each pair's ``source_neutral`` is the unedited photo, so
``facexpr evaluate --source-neutral`` measures the faithful mode on the same pairs.

Why: London holds only smiles, and the probes are few. Here the source's expression is known
and every emotion has the same number of pairs, so the table tells how much of each expression
the analysis -> retarget -> render path keeps from a *single* photo of an unseen face (and how
much more a neutral photo of the source gives). Read it beside the edit benchmark: an emotion the
edit itself does not show (face-api on the sources, the *source* row) cannot survive the trip.
The sources are the project's own renders, not real photos: realism (KID/FID) of this benchmark
is not a claim about real expressions.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..datasets import london
from ..datasets.expressions import Pair, canonical_emotion
from ..errors import FacexprError, InputError
from ..io import load_image, save_image
from ..pipeline import EditConfig, run_edit

EMOTIONS = ("neutral", "happy", "sad", "angry", "surprise", "fear", "disgust")
SOURCES_PER_EMOTION = 6


def roundtrip_pairs(root: Path, work: Path, seed: int = 0, n: int = SOURCES_PER_EMOTION, log=None) -> list[Pair]:
    """``n`` sources per emotion (the first ``n`` unseen people), each onto one seeded target among
    the other unseen people; the edited sources are written to ``work/`` (PNG, atomically)."""
    root, work = Path(root), Path(work)
    try:
        people = london.split(root / "london", "unseen")
    except FileNotFoundError as e:
        raise InputError(str(e)) from None
    if len(people) < n + 1:
        raise InputError(f"{root / 'london'}: fewer than {n + 1} unseen London neutral photos")
    work.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    pairs = []
    for a in people[:n]:
        others = [p for p in people if p.id != a.id]
        neutral = load_image(a.neutral)
        for emo in EMOTIONS:
            src = Path(a.neutral)
            if emo != "neutral":
                src = work / f"{a.id}-{emo}.png"
                try:
                    save_image(run_edit(neutral, EditConfig(emotion=emo)).image, src)
                except FacexprError as e:  # a face the edit cannot find: leave its pairs out, say so
                    (log or print)(f"roundtrip: {a.id} {emo} skipped ({e})")
                    continue
            b = others[int(rng.integers(len(others)))]
            pairs.append(Pair(id=f"{a.id}-{emo}-{b.id}", source=str(src), target=b.neutral,
                              source_neutral=a.neutral, label=canonical_emotion(emo), unseen=True,
                              expression=emo))
    return pairs


__all__ = ["roundtrip_pairs", "EMOTIONS", "SOURCES_PER_EMOTION"]
