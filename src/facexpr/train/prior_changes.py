"""Expression changes for self-supervised pairs drawn in the 3D prior's space.

The legacy sampler (:func:`facexpr.train.augment.random_delta`) changed MediaPipe's scores, in
which frowns, sneers, cheek raises and widened eyes are near 0 on every photo, and moved the
landmarks with a model that had seen smiles and speech only: generators never saw a brow move.
Here a change is one of (odds proportional to the ``p_*`` of :class:`~facexpr.train.config.DeformConfig`):

* ``emotion`` (``p_emotion``): an EMFACS prototype (:data:`facexpr.expression.emotions.EMOTIONS`)
  added at a random intensity, each AU jittered, turned into blendshapes through the AU table
  exactly as ``facexpr edit --emotion`` does (:func:`~facexpr.expression.emotions.edited_blendshapes`);
* ``relax`` (``p_relax``): the face's own expression (part of it) taken away — the deformed input
  is more neutral and the real photo, with its real folds and teeth, is what the generator must
  produce (an emotion change teaches the reverse direction);
* ``borrow`` (``p_borrow``): another face's expression code (a real combination);
* ``random`` (``p_random``): up to ``max_active`` of the movable blendshapes (every one but gaze and
  ``_neutral``) changed by up to ``max_delta``.

The code is the prior-fitted one (``data.code: fitted``) and the landmarks move with the
prior-backed edit model (:func:`facexpr.expression.model.load_default_model` with ``edit=True``):
ICT-FaceKit motion for brows, lids, nose and lip corners. As at inference, a closed eye is never
opened (a warp has no eyeball to show).
"""
from __future__ import annotations

import numpy as np

from ..expression.blendshapes import INDEX, NAMES
from ..expression.emotions import EMOTIONS, current_units, edited_blendshapes, emotion_delta
from ..expression.retarget import CLOSED_EYE
from .augment import movable
from .config import DeformConfig

KINDS = ("emotion", "relax", "borrow", "random")
EMOTION_NAMES = tuple(EMOTIONS)


def _kind(rng: np.random.Generator, cfg: DeformConfig, can_borrow: bool) -> str:
    """One of :data:`KINDS`, with odds proportional to ``p_emotion``, ``p_relax``, ``p_borrow``
    (0 without another face) and ``p_random``."""
    p = np.clip([cfg.p_emotion, cfg.p_relax, cfg.p_borrow if can_borrow else 0.0, cfg.p_random], 0.0, None)
    if p.sum() <= 0:
        return "random"
    return KINDS[int(rng.choice(len(KINDS), p=p / p.sum()))]


def emotion_change(rng: np.random.Generator, blendshapes: np.ndarray, cfg: DeformConfig,
                   emotion: str | None = None) -> np.ndarray:
    """(52,) the blendshape change that adds a (random) emotion's prototype to ``blendshapes``."""
    bs = np.asarray(blendshapes, np.float64)
    name = emotion or EMOTION_NAMES[int(rng.integers(len(EMOTION_NAMES)))]
    lo, hi = cfg.emotion_intensity
    d = emotion_delta(name, float(rng.uniform(lo, hi)), current_units(bs))
    d = d * rng.uniform(1.0 - cfg.emotion_jitter, 1.0 + cfg.emotion_jitter, len(d))
    return edited_blendshapes(bs, d) - bs


def prior_delta(rng: np.random.Generator, blendshapes: np.ndarray, cfg: DeformConfig,
                borrow=None) -> tuple[np.ndarray, str]:
    """A blendshape change for a face with the (fitted) code ``blendshapes`` and which kind it is
    (:data:`KINDS`); the new code stays within [0, 1], only movable blendshapes change. ``borrow``:
    another face's code, or a function returning it (loaded only when drawn), or None."""
    bs = np.asarray(blendshapes, np.float64)
    idx = movable(cfg.regions)
    keep = np.zeros(len(NAMES))
    keep[idx] = 1.0
    kind = _kind(rng, cfg, borrow is not None)
    if kind == "emotion":
        delta = emotion_change(rng, bs, cfg)
    elif kind == "relax":
        delta = -bs * rng.uniform(0.5, 1.0)
    elif kind == "borrow":
        delta = np.asarray(borrow() if callable(borrow) else borrow, np.float64) - bs
    else:
        delta = np.zeros(len(NAMES))
        k = int(rng.integers(1, max(1, cfg.max_active) + 1))
        chosen = rng.choice(idx, size=min(k, len(idx)), replace=False)
        delta[chosen] = np.clip(bs[chosen] + rng.uniform(-cfg.max_delta, cfg.max_delta, len(chosen)), 0, 1) - bs[chosen]
    delta = delta * keep
    for side in ("Left", "Right"):
        if bs[INDEX["eyeBlink" + side]] > CLOSED_EYE:  # a warp cannot open a closed eye
            b, w = INDEX["eyeBlink" + side], INDEX["eyeWide" + side]
            delta[b], delta[w] = max(delta[b], 0.0), min(delta[w], 0.0)
    return np.clip(bs + delta, 0.0, 1.0) - bs, kind


__all__ = ["KINDS", "prior_delta", "emotion_change"]
