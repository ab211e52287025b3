"""How strongly one photo *shows* each MediaPipe-read shape when rendered: the closed loop's
correction, measured once per photo, for the paths that render every frame (``animate``, Live).

Why: a blendshape weight is the 3D model's geometry; MediaPipe's score, which is how the driver's
expression was read, is a classifier's opinion of a face, and a warp moves landmarks without adding
the bulges and folds that classifier also looks at. So the same weight reads differently on
different faces: London 005, for one, shows MediaPipe no smile at all below a weight of 0.5, where
most faces read 0.4 at 0.4. A photo transfer measures its own render and corrects it
(:func:`facexpr.pipeline.render`'s closed loop). A video frame cannot pay another MediaPipe
inference, so the photo's response is measured once, when the photo is loaded: the photo rendered
with each group of shapes at a few weights (no other shape moved) and read by MediaPipe. Every
frame's request is then mapped through the inverse of that curve, within the closed loop's bounds:
never weaker than asked, at most :data:`~facexpr.pipeline.MAX_GAIN` times, and nothing new.

A first-order correction: each group is measured alone, so two groups at once (a laugh: smile and
open jaw) are corrected as if each were alone.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .expression.analysis import mediapipe_scores
from .expression.blendshapes import NAMES
from .expression.retarget import retargeted
from .faces.landmarks import Face, reread
from .methods import RenderJob
from .pipeline import MAX_GAIN, render
from .threads import on_helper

# The MediaPipe-read shapes (the reader answers others) that carry a smile and a laugh, the
# expressions a driver shows most; a smile is measured with both sides at once. Lip raisers and
# lowerers were measured too: MediaPipe reads nothing on them alone (they come with an open jaw),
# so their "curve" would only say "double it"; blinks read 0.15-0.25 at full weight on every face
# tried, the same. Neither is corrected: a first-order curve cannot see what they need.
GROUPS: tuple[tuple[str, ...], ...] = (
    ("mouthSmileLeft", "mouthSmileRight"),
    ("jawOpen",),
)
WEIGHTS = (0.25, 0.5, 1.0)  # the weights each group is rendered at (plus 0: the photo itself)
RAMP = 0.2  # requests below this are amplified proportionally less: a still driver's noise (MediaPipe
# reads up to ~0.1 of smile or jaw change on a still face) stays noise, not twice as large


@dataclass(frozen=True)
class ResponseCurves:
    """Per group, what MediaPipe read on the photo rendered at :data:`WEIGHTS` (minus what it
    reads on the photo itself), made non-decreasing."""

    groups: tuple[tuple[int, ...], ...]
    weights: np.ndarray   # (W,) with a leading 0
    shown: np.ndarray     # (G, W) with a leading 0, non-decreasing

    def amplified(self, delta: np.ndarray) -> np.ndarray:
        """``delta`` (a blendshape change, MediaPipe's scale) with each measured shape's increase
        raised to the weight this photo needs to *show* it: the curve's inverse, clamped to
        ``[asked, MAX_GAIN x asked]`` and to the full shape. Decreases and unmeasured shapes pass
        unchanged."""
        out = np.array(delta, np.float64, copy=True)
        for g, idx in enumerate(self.groups):
            shown, top = self.shown[g], self.shown[g, -1]
            for k in idx:
                c = out[k]
                if c <= 0.0:
                    continue
                if top <= 1e-3:  # the photo showed nothing at any weight: the most the loop allows
                    w = MAX_GAIN * c
                elif c <= top:
                    w = float(np.interp(c, shown, self.weights))
                else:
                    w = self.weights[-1] * c / top
                # within the loop's bounds, and never past the full shape (weight 1: beyond it the
                # linear model extrapolates, and a wide-open jaw tears the lips)
                w = min(max(w, c), MAX_GAIN * c, max(c, self.weights[-1]))
                out[k] = c + (w - c) * min(1.0, c / RAMP)
        return out

    def gains(self) -> dict[str, float]:
        """The gain each group gets at half strength (for reports)."""
        d = np.zeros(len(NAMES))
        for idx in self.groups:
            d[list(idx)] = 0.5
        a = self.amplified(d)
        return {NAMES[idx[0]].replace("Left", ""): round(float(a[idx[0]] / 0.5), 2) for idx in self.groups}


def _shown(method, photo: np.ndarray, face: Face, model, idx: tuple[int, ...], w: float,
           base: np.ndarray, point_weights, intent) -> float:
    delta = np.zeros(len(NAMES))
    delta[list(idx)] = np.minimum(w, 1.0 - np.clip(face.blendshapes[list(idx)], 0.0, 1.0))
    rt = retargeted(face, delta, model, point_weights=point_weights, intent=intent)
    out, _ = render(method, RenderJob(photo, face, photo, face, rt), model)
    seen = reread(out, face)
    return 0.0 if seen is None else float(np.mean(seen.blendshapes[list(idx)] - base[list(idx)]))


def measure_response(method, photo: np.ndarray, face: Face, model,
                     groups: tuple[tuple[str, ...], ...] = GROUPS, point_weights: np.ndarray | None = None,
                     intent=None) -> ResponseCurves:
    """The photo's :class:`ResponseCurves`: ``len(groups) x len(WEIGHTS)`` renders, each read
    once by MediaPipe (about 20 ms each at 512 px), half of them on a helper thread; rendered as the
    frames will be (``point_weights``: the regions; ``intent``: what the frames ask)."""
    base = mediapipe_scores(face)
    idxs = tuple(tuple(NAMES.index(n) for n in g) for g in groups)
    jobs = [(idx, w) for idx in idxs for w in WEIGHTS]
    half = len(jobs) // 2
    later = [on_helper(_shown, method, photo, face, model, idx, w, base, point_weights, intent)
             for idx, w in jobs[half:]]
    values = [_shown(method, photo, face, model, idx, w, base, point_weights, intent) for idx, w in jobs[:half]]
    values += [f.result() for f in later]
    shown = np.maximum.accumulate(np.maximum(np.array(values).reshape(len(idxs), len(WEIGHTS)), 0.0), axis=1)
    shown = np.concatenate([np.zeros((len(idxs), 1)), shown], axis=1)
    # strictly increasing, for the inverse
    shown = shown + np.linspace(0.0, 1e-6, shown.shape[1])
    return ResponseCurves(idxs, np.array((0.0,) + WEIGHTS), shown)
