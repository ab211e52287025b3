"""Retarget: the target's own geometry, minus its expression, plus the source's expression.

Everything happens in the pose-free canonical frame, so the source's pose and face shape never
reach the target; the result is mapped back into the target's image with the target's pose.

The result (:class:`Retargeted`) is the request's one typed form: the geometry a renderer moves
the face to, and its :class:`Intent` (the action units the output should show, the intensity, the
regions, relative or absolute, transfer or edit). It is computed once, where a transfer, swap,
edit or animation frame is retargeted, and every method reads it — so a source's neutral photo,
the gate between two people and ``--regions`` reach a generator conditioned on AUs exactly as
they reach the warp.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from ..faces.align import to_canonical
from ..faces.mesh import meet_not_cross
from ..faces.landmarks import Face, analysed
from ..faces.topology import (BROW_LEFT, BROW_RIGHT, EYE_LEFT, EYE_RIGHT, IRIS_LEFT, IRIS_RIGHT, IRISES,
                              LEFT_LID_PAIRS, LIPS_INNER, LIPS_OUTER, RIGHT_LID_PAIRS, STABLE)
from ..limits import MAX_INTENSITY, check_intensity, check_regions
from . import action_units
from .blendshapes import FITTED, INDEX, NAMES, REGIONS, region_mask
from .model import ExpressionModel
from .reader import load_default_reader
from .shading import MESH_POINTS, atlas_weight, log_luminance_texture, region_texture_weight

CLOSED_EYE = 0.5  # eyeBlink score above which the warp cannot open the eye (no eyeball to show)
# Differences of the *fitted* coefficients below this are not transferred between two people: on
# neutral photos of unseen London people 90 % of the fitted values stay under 0.35 — a low brow or
# a narrow eye can be a person's own shape, which a single photo cannot tell from expression.
# Above it the difference is rescaled so a full expression still transfers fully. Shapes the
# learned reader answers are not gated (:func:`gated_shapes`).
FIT_GATE = 0.3


@dataclass(frozen=True)
class RetargetConfig:
    intensity: float = 1.0
    regions: tuple[str, ...] = REGIONS
    gate: bool = True  # FIT_GATE between two people; an edit's request is exact and is not gated
    # --source-neutral: how far the source and its neutral photo may disagree on the stable points
    # (RMS, canonical units) before their landmark difference is no longer trusted as expression:
    # fully trusted up to the 95th percentile of the London *train* split's same-person
    # neutral/smiling pairs (0.035; median 0.019, max 0.051), not at all from twice that.
    view_trust: tuple[float, float] = (0.035, 0.070)

    def __post_init__(self):  # the request's limits (a user's error: one line, exit code 2)
        object.__setattr__(self, "intensity", check_intensity(self.intensity))
        object.__setattr__(self, "regions", check_regions(self.regions))


TRANSFER = "transfer"  # the source's expression (or its change from a reference) onto the target
EDIT = "edit"          # the target's own action units changed by the amounts asked for


@dataclass(frozen=True)
class Intent:
    """What the output is asked to show, fixed when the request is retargeted (the closed loop
    corrects the geometry, never this).

    ``want_aus``: the action units the output should show (:data:`~.action_units.AUS` order, in
    [0, 1]): an edit's ``clip(current + change)``, a transfer's read off the retargeted code (so
    the gate, ``--regions``, the intensity and a source's neutral photo are in it).
    ``relative``: the change from a reference (``--source-neutral``, an animation's reference
    frame) was composed with the target's own expression, rather than the source's copied."""

    kind: str = TRANSFER
    want_aus: np.ndarray | None = None
    intensity: float = 1.0
    regions: tuple[str, ...] = REGIONS
    relative: bool = False


@dataclass
class Retargeted:
    landmarks: np.ndarray  # (478, 3) the new geometry, target image coordinates
    delta: np.ndarray      # (52,) blendshape change applied to the target's geometry
    blendshapes: np.ndarray  # (52,) the expression the result should show
    requested: np.ndarray | None = None  # (52,) the change asked for (delta may amplify it)
    shading: np.ndarray | None = None    # (T, T) atlas log-luminance ratio for ``delta``
    layout: np.ndarray | None = None     # (478, 2) atlas positions of the landmarks
    point_weights: np.ndarray | None = None  # (478,) how much each landmark may move (regions)
    geometry: np.ndarray | None = None  # (478, 3) a measured canonical displacement (--source-neutral)
    intent: Intent = Intent()  # what was asked (want_aus, when not given: read off ``blendshapes``)

    def __post_init__(self):
        if self.requested is None:
            self.requested = self.delta.copy()
        if self.intent.want_aus is None:
            self.intent = replace(self.intent, want_aus=action_units.estimate(self.blendshapes))

    @property
    def from_geometry(self) -> bool:
        """The landmarks are a measured displacement (``--source-neutral``), not the model's."""
        return self.geometry is not None

    @property
    def xy(self) -> np.ndarray:
        return self.landmarks[:, :2]


def expression_delta(source_bs: np.ndarray, target_bs: np.ndarray, cfg: RetargetConfig) -> np.ndarray:
    """The blendshape change to apply: source minus target (the fitted shapes through
    :data:`FIT_GATE`), in the chosen regions, scaled."""
    delta = np.asarray(source_bs, np.float64) - target_bs
    gate = gated_shapes() & (np.abs(delta) > 0) & cfg.gate
    delta[gate] = np.sign(delta[gate]) * np.maximum(np.abs(delta[gate]) - FIT_GATE, 0.0) / (1.0 - FIT_GATE)
    delta = delta * region_mask(cfg.regions) * cfg.intensity
    for side in ("Left", "Right"):
        if target_bs[INDEX["eyeBlink" + side]] > CLOSED_EYE:  # a warp cannot open a closed eye
            blink, wide = INDEX["eyeBlink" + side], INDEX["eyeWide" + side]
            delta[blink] = max(delta[blink], 0.0)  # may close further, not open
            delta[wide] = min(delta[wide], 0.0)
    return delta


def relative_delta(change: np.ndarray, target_bs: np.ndarray, cfg: RetargetConfig) -> np.ndarray:
    """The blendshape change that gives the target a source's *change* (from the source's own
    neutral photo or a video's reference frame), composed with the target's code as bounded
    activations: ``clip(target + change, 0, 1) − target``, by region and intensity, not gated (the
    change of one face carries no face shape). So a source that starts with half-closed lids opens
    the target's eyes to their neutral, not past it, and a smile from an already smiling reference
    adds to the target's smile without exceeding 1. Used by ``transfer --source-neutral`` and
    ``animate``."""
    target_bs = np.asarray(target_bs, np.float64)
    want = np.clip(target_bs + np.asarray(change, np.float64), 0.0, 1.0)
    return expression_delta(want, target_bs, replace(cfg, gate=False))


_FITTED_MASK = np.isin(NAMES, FITTED)


def gated_shapes() -> np.ndarray:
    """(52,) bool: the shapes :data:`FIT_GATE` applies to between two people — those the plain fit
    reads. The learned reader's readings already have what it reads on strangers' neutral faces
    taken off (:attr:`~.reader.ExpressionReader.rest`), so gating them again would shrink every
    brow, lid, nose and lip-corner change twice: a source's frown would reach the target at a
    fraction of the strength its smile does."""
    reader = load_default_reader()
    return _FITTED_MASK if reader is None else _FITTED_MASK & ~reader.use

# Landmarks that define each region; every other landmark belongs to the regions softly, by
# distance on the mean face (a partition of unity, so restricting regions never makes a seam).
REGION_POINTS = {"brows": BROW_RIGHT + BROW_LEFT, "eyes": EYE_RIGHT + EYE_LEFT + IRISES,
                 "mouth": LIPS_OUTER + LIPS_INNER + (152, 148, 377, 176, 400, 172, 397)}


def region_point_weights(mean_shape: np.ndarray, regions) -> np.ndarray | None:
    """(478,) weights in [0, 1]: 1 at the chosen regions, 0 at the others (None = all chosen)."""
    if set(regions) >= set(REGIONS):
        return None
    xy = mean_shape[:, :2]
    scale = 0.12 * float(np.ptp(xy[:, 1]))  # ~ the eye-to-brow distance
    aff = {}
    for r, pts in REGION_POINTS.items():
        d = np.linalg.norm(xy[:, None] - xy[list(pts)][None], axis=2).min(1)
        aff[r] = np.exp(-(d / scale) ** 2) + 1e-12
    total = sum(aff.values())
    w = sum(aff[r] for r in regions) / total if regions else np.zeros(len(xy))
    return np.clip((w - 0.01) / 0.98, 0.0, 1.0)  # exactly 0 / 1 away from region borders


def apply_delta(target: Face, delta: np.ndarray, model: ExpressionModel,
                point_weights: np.ndarray | None = None) -> np.ndarray:
    """New target landmarks (image coordinates) after a blendshape change ``delta``."""
    disp = model.displacement(delta)
    _blink_to_own_lids(target, np.asarray(delta, np.float64), model, disp)
    return apply_displacement(target, disp, model, point_weights)


_BLINKS = (("eyeBlinkRight", RIGHT_LID_PAIRS), ("eyeBlinkLeft", LEFT_LID_PAIRS))


def _blink_to_own_lids(target: Face, delta: np.ndarray, model: ExpressionModel, disp: np.ndarray) -> None:
    """Make a blink close *this* eye: ``eyeBlink = b`` lowers each upper-lid point by ``b`` × its
    own distance to the lower lid (ARKit's 1 = closed), not by the model's average amount, which
    leaves a wide eye half open and would push a narrow one through its lower lid."""
    canon = None
    for name, pairs in _BLINKS:
        b = float(delta[INDEX[name]])
        if b <= 0:
            continue
        if canon is None:
            canon, _ = to_canonical(target.landmarks, model.mean_shape)
        u, l = (np.array(p) for p in zip(*pairs))
        gap = np.maximum(canon[l, 1] - canon[u, 1], 0.0)
        closing = disp[u, 1] - disp[l, 1]  # what the model's rows do already (this blink and the rest)
        disp[u, 1] += np.maximum(b * gap - closing, 0.0)


def apply_displacement(target: Face, disp: np.ndarray, model: ExpressionModel,
                       point_weights: np.ndarray | None = None) -> np.ndarray:
    """New target landmarks (image coordinates) after a canonical-frame displacement (478, 3)."""
    canon, sim = to_canonical(target.landmarks, model.mean_shape)
    if point_weights is not None:
        disp = disp * point_weights[:, None]
    moved = sim.inverse().apply(meet_not_cross(canon, canon + disp))
    # Irises are rigid: each moves with its eye, it is never stretched or squashed.
    for eye, iris in ((EYE_RIGHT, IRIS_RIGHT), (EYE_LEFT, IRIS_LEFT)):
        shift = (moved[list(eye)] - target.landmarks[list(eye)]).mean(0)
        moved[list(iris)] = target.landmarks[list(iris)] + shift
    return moved


def retargeted(target: Face, delta: np.ndarray, model: ExpressionModel,
               requested: np.ndarray | None = None,
               point_weights: np.ndarray | None = None, intent: Intent | None = None,
               shading_delta: np.ndarray | None = None) -> Retargeted:
    """Everything a renderer needs to give ``target`` the blendshape change ``delta`` (``intent``:
    what was asked; by default a transfer of ``requested``). ``shading_delta``: the change the
    skin shading is drawn for, when it is not ``delta`` (a closed loop that amplified the geometry
    to make up what a reader under-measures keeps the folds at the strength asked for)."""
    analysed(target, "retarget target")
    shading = model.shading_ratio(delta if shading_delta is None else shading_delta)
    layout = model.layout if shading is not None else None
    if shading is not None and point_weights is not None:  # shading obeys --regions too
        shading = shading * region_texture_weight(layout, point_weights, shading.shape[-1], MESH_POINTS)
    return Retargeted(apply_delta(target, delta, model, point_weights), delta,
                      np.clip(target.blendshapes + (delta if requested is None else requested), 0, 1),
                      requested, shading, layout, point_weights, intent=intent or Intent())


def retarget(source: Face, target: Face, model: ExpressionModel,
             cfg: RetargetConfig = RetargetConfig(), source_neutral: Face | None = None,
             shading: np.ndarray | None = None) -> Retargeted:
    """The target with the source's expression: ``target − its expression + the source's``.

    With ``source_neutral`` (the source person's own neutral photo) the *change* from it is
    transferred instead, and as measured geometry — the source's canonical landmarks minus its
    neutral's, × intensity, by region — so nothing is lost to the expression model's basis: the
    most faithful mode (as reenactment tools do with a driving video's first frame). ``shading``
    then replaces the model's (an expression ratio image, :func:`expression_ratio`).

    A landmark difference is expression only while the two photos are seen alike: MediaPipe's
    3D points of one face turned 15–20° away differ by more than a smile does even after the
    similarity alignment. So the measured geometry and ratio image are blended with the model's
    motion for the code change (each code fitted with its own pose removed) by
    :func:`view_agreement`; a crying frame next to its reference keeps its measured frown, a
    laughing one with the head thrown back falls back on the codes."""
    analysed(source, "retarget source")
    weights = region_point_weights(model.mean_shape, cfg.regions)
    intent = Intent(TRANSFER, None, cfg.intensity, tuple(cfg.regions), relative=source_neutral is not None)
    if source_neutral is None:
        return retargeted(target, expression_delta(source.blendshapes, target.blendshapes, cfg), model,
                          point_weights=weights, intent=intent)
    analysed(source_neutral, "source neutral")
    delta = relative_delta(np.asarray(source.blendshapes, np.float64) - source_neutral.blendshapes,
                           target.blendshapes, cfg)
    c_src, c_neu = (to_canonical(f.landmarks, model.mean_shape)[0] for f in (source, source_neutral))
    trust = view_agreement(c_src, c_neu, *cfg.view_trust)
    rt = retargeted(target, delta, model, point_weights=weights, intent=intent)
    geometry = (c_src - c_neu) * cfg.intensity
    if trust < 1.0:  # the model's motion only where the measurement is not fully trusted
        modelled = model.displacement(delta)
        _blink_to_own_lids(target, delta, model, modelled)
        geometry = trust * geometry + (1.0 - trust) * modelled
    rt.landmarks = apply_displacement(target, geometry, model, weights)
    rt.geometry = geometry
    if shading is not None and trust > 0:
        w = 1.0 if weights is None else _texture_weight(rt.layout, weights, shading.shape[-1])
        measured = shading * cfg.intensity * w
        rt.shading = (trust * measured + (1.0 - trust) * (0.0 if rt.shading is None else rt.shading)).astype(np.float32)
    return rt


def view_agreement(canonical: np.ndarray, canonical_ref: np.ndarray, trusted: float, distrusted: float) -> float:
    """1 when two canonical landmark sets of one face agree on the expression-stable points (RMS
    distance ≤ ``trusted``), 0 from ``distrusted``, linear between: how far their difference
    can be read as expression rather than as the view (head turned, MediaPipe's depth)."""
    idx = list(STABLE)
    rms = float(np.sqrt(((canonical[idx] - canonical_ref[idx]) ** 2).sum(1).mean()))
    return float(np.clip((distrusted - rms) / max(distrusted - trusted, 1e-9), 0.0, 1.0))


def with_extra(target: Face, rt: Retargeted, extra: np.ndarray, model: ExpressionModel) -> Retargeted:
    """A measured-geometry retarget (``--source-neutral``) plus the model's motion for the
    blendshape change ``extra``: how the closed loop makes up what MediaPipe under-measured in the
    source's displacement (its landmarks follow only part of a smile) without replacing it."""
    extra = np.asarray(extra, np.float64)
    disp = model.displacement(extra)
    _blink_to_own_lids(target, extra, model, disp)
    return replace(rt, landmarks=apply_displacement(target, rt.geometry + disp, model, rt.point_weights),
                   delta=rt.requested + extra)


def _texture_weight(layout, weights, size):
    return region_texture_weight(layout, weights, size, MESH_POINTS)


def expression_ratio(expressive: np.ndarray, face: Face, neutral: np.ndarray, neutral_face: Face,
                     model: ExpressionModel, limit: float = 0.35) -> np.ndarray | None:
    """The source's own expression detail as a log-luminance ratio in the atlas (expression ratio
    image, Liu, Shan & Zhang 2001): its expressive photo over its neutral one, face-aligned, so
    its folds and wrinkles (not its skin) go onto the target. None without the model's atlas."""
    if model.shading is None:
        return None

    import cv2

    layout, size = model.layout, model.shading.shape[-1]
    ratio = (log_luminance_texture(expressive, face.xy, layout, size)
             - log_luminance_texture(neutral, neutral_face.xy, layout, size))
    ratio = cv2.GaussianBlur(ratio.astype(np.float32), (0, 0), 0.7)
    return np.clip(ratio * atlas_weight(layout, size), -limit, limit)
