"""One transfer or edit, stage by stage: load → analyse → retarget → render → paste back.

* :func:`run_transfer`: the target photo with the expression of a source face;
* :func:`run_swap`: two photos, each wearing the other's expression (au-swap's setting);
* :func:`run_edit`: the target photo with some action units changed by relative amounts
  (``AU12=+0.8``) and/or an emotion's prototype added (:mod:`facexpr.expression.emotions`).

A call's photos are analysed at once, on two threads (:func:`analyze_all`); photos given as files
can be read and analysed once for many calls (:class:`AnalysisCache`: what a batch does).

All share face selection, rendering (any registered method), paste-back and, for
landmark-driven methods, the closed-loop correction. A request is validated once, when its config
is built (:class:`TransferConfig`, :class:`EditConfig`, :class:`~facexpr.animation.AnimateConfig`:
limits from :mod:`facexpr.limits`), retargeted once into its typed form
(:class:`~facexpr.expression.retarget.Retargeted` and its
:class:`~facexpr.expression.retarget.Intent`), and rendered through :func:`render`, the one entry
point transfer, swap, edit, animate and the evaluation share; a method that does not declare the
capability is refused (:class:`~facexpr.errors.MethodCannot`, :func:`load_method`) before any image
is read. Each stage is timed (``.timings``,
milliseconds) so ``--profile`` and the benchmarks show where time goes. Models are loaded once
per process and reused across calls.
"""
from __future__ import annotations

import os
import threading
import time
from collections import OrderedDict
from contextlib import contextmanager
from dataclasses import dataclass, field, replace

import cv2
import numpy as np

from .errors import MalformedAUSpec
from .expression.action_units import AUS
from .expression.analysis import analyze_faces, describe, mediapipe_scores
from .expression.blendshapes import FROM_MEDIAPIPE, NAMES, REGIONS
from .expression.emotions import (UNITS, au_index, au_deltas, check_delta, current_units, desired_aus,
                                  edited_blendshapes, emotion_delta, emotion_prototype, unit_name)
from .expression.model import load_default_model
from .expression.reader import load_default_reader
from .expression.retarget import (Intent, RetargetConfig, Retargeted, expression_ratio, retarget, retargeted,
                                  with_extra)
from .faces.landmarks import Face, reread, select_face
from .faces.paste import paste_back
from .io import ImageLike, load_image
from .limits import check_intensity, check_regions
from .methods import EDIT, TRANSFER, Method, RenderJob, get_method, require
from .threads import on_helper, one_blas_thread


@dataclass(frozen=True)
class TransferConfig:
    method: str = "warp"
    intensity: float = 1.0
    regions: tuple[str, ...] = REGIONS
    source_face: int | None = None  # index into faces sorted largest first; None = largest
    target_face: int | None = None
    feedback: int = 1  # closed-loop corrections for landmark-driven methods (0 = open loop)
    source_neutral: ImageLike | None = None  # the source person's neutral photo: transfer its change

    def __post_init__(self):  # validated once, here: every caller gets the same errors
        object.__setattr__(self, "intensity", check_intensity(self.intensity))
        object.__setattr__(self, "regions", check_regions(self.regions))


@dataclass
class TransferResult:
    image: np.ndarray  # the target photo, same size, with the new expression
    source_face: Face
    target_face: Face
    retargeted: Retargeted
    timings: dict[str, float] = field(default_factory=dict)


class StageTimer:
    """Milliseconds per stage (``with timer("render"): …``), summed over repeats."""

    def __init__(self):
        self.ms: dict[str, float] = {}

    @contextmanager
    def __call__(self, stage: str):
        t = time.perf_counter()
        yield
        self.ms[stage] = self.ms.get(stage, 0.0) + (time.perf_counter() - t) * 1000.0


def analyze_all(images: list[tuple[np.ndarray, bool]]) -> list[list[Face]]:
    """:func:`~facexpr.expression.analysis.analyze_faces` of each ``(image, thorough)``, at once:
    the first in this thread, the others on helper threads. A MediaPipe inference holds one core
    (the landmarker pool, :class:`~facexpr.faces.landmarks.LandmarkerPool`, gives each thread its
    own), so a transfer's source and target cost little more than one. Errors are raised in the
    images' order."""
    if len(images) <= 1:
        return [analyze_faces(img, thorough=th) for img, th in images]
    futures = [on_helper(analyze_faces, img, thorough=th) for img, th in images[1:]]
    try:
        first = analyze_faces(images[0][0], thorough=images[0][1])
    finally:
        rest = [f.exception() for f in futures]  # wait for every one, even when the first failed
    return [first] + [f.result() for f in futures]


def _name(x, default: str) -> str:
    return str(x) if isinstance(x, (str,)) or hasattr(x, "__fspath__") else default


def load_method(name: str, kind: str) -> Method:
    """The method ``name`` (loaded once per process), refused unless its spec declares ``kind``."""
    method = get_method(name)
    require(method.spec, kind)
    return method


class AnalysisCache:
    """Photos given as files, loaded and analysed once: ``(path, size, mtime, thorough)`` →
    (the image, its faces), the last ``size`` of them. A batch of transfers onto one target (or
    from one source) reads and analyses that photo once instead of once per item. The image is
    kept read-only, so no caller can change what the next item gets."""

    def __init__(self, size: int = 8):
        self.size = size
        self._items: OrderedDict = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0

    @staticmethod
    def key(x, thorough: bool):
        if not isinstance(x, (str, os.PathLike)):
            return None  # arrays and PIL images: nothing cheap identifies them
        try:
            st = os.stat(x)
        except OSError:
            return None  # load_image reports it
        return os.path.realpath(x), st.st_size, st.st_mtime_ns, bool(thorough)

    def get(self, key):
        with self._lock:
            hit = None if key is None else self._items.get(key)
            if hit is not None:
                self._items.move_to_end(key)
                self.hits += 1
            return hit

    def put(self, key, image: np.ndarray, faces: list) -> None:
        if key is None:
            return
        image.flags.writeable = False
        with self._lock:
            self._items[key] = (image, faces)
            while len(self._items) > self.size:
                self._items.popitem(last=False)


def _load_and_analyze(inputs: list[tuple[ImageLike, str, bool]], timer: StageTimer,
                      cache: AnalysisCache | None = None) -> list[tuple[np.ndarray, list]]:
    """Each ``(image, name, thorough)`` loaded (every load before any analysis: a missing file is
    reported before a slow stage) and analysed, the analyses at once (:func:`analyze_all`),
    photos in ``cache`` taken from it."""
    keys = [None if cache is None else cache.key(x, th) for x, _, th in inputs]
    hits = [None if cache is None else cache.get(k) for k in keys]
    with timer("load"):
        images = [h[0] if h is not None else load_image(x, name) for h, (x, name, _) in zip(hits, inputs)]
    with timer("analyze"):
        todo = [i for i, h in enumerate(hits) if h is None]
        found = dict(zip(todo, analyze_all([(images[i], inputs[i][2]) for i in todo])))
    for i in todo:
        if cache is not None:
            cache.put(keys[i], images[i], found[i])
    return [(images[i], hits[i][1] if hits[i] is not None else found[i]) for i in range(len(inputs))]


@one_blas_thread()
def run_transfer(source: ImageLike, target: ImageLike, cfg: TransferConfig = TransferConfig(),
                 cache: AnalysisCache | None = None) -> TransferResult:
    """``target`` with the expression of ``source`` (``cache``: photos loaded and analysed by
    earlier calls, e.g. a batch's shared target)."""
    timer = StageTimer()
    method = load_method(cfg.method, TRANSFER)
    # An index refers to `facexpr analyze`'s list, which searches thoroughly (group photos).
    inputs = [(source, _name(source, "source"), cfg.source_face is not None),
              (target, _name(target, "target"), cfg.target_face is not None)]
    if cfg.source_neutral is not None:
        inputs.append((cfg.source_neutral, _name(cfg.source_neutral, "source neutral"), False))
    loaded = _load_and_analyze(inputs, timer, cache)
    (src_img, s_found), (tgt_img, t_found) = loaded[:2]
    neu_img, n_found = loaded[2] if len(loaded) > 2 else (None, None)
    with timer("analyze"):
        found = [s_found, t_found, n_found]
        s_face = select_face(found[0], cfg.source_face, "source " + _name(source, "image"))
        t_face = select_face(found[1], cfg.target_face, "target " + _name(target, "image"))
        n_face = None if neu_img is None else select_face(
            found[2], None, "source neutral " + _name(cfg.source_neutral, "image"))
    return _transfer_faces(method, src_img, s_face, tgt_img, t_face, cfg, timer, neu_img, n_face)


def _transfer_faces(method, src_img: np.ndarray, s_face: Face, tgt_img: np.ndarray, t_face: Face,
                    cfg: TransferConfig, timer: StageTimer, neu_img: np.ndarray | None = None,
                    n_face: Face | None = None) -> TransferResult:
    """Retarget, render and paste back, the faces found: what a transfer and each half of a swap do."""
    with timer("retarget"):
        model = load_default_model()
        ratio = None if n_face is None else expression_ratio(src_img, s_face, neu_img, n_face, model)
        rt = retarget(s_face, t_face, model, RetargetConfig(cfg.intensity, tuple(cfg.regions)),
                      source_neutral=n_face, shading=ratio)
    if cfg.intensity == 0 or (not np.any(rt.delta) and not rt.from_geometry):
        return TransferResult(tgt_img.copy(), s_face, t_face, rt, dict(timer.ms))
    out, rt = render(method, RenderJob(tgt_img, t_face, src_img, s_face, rt), model, cfg.feedback, timer)
    return TransferResult(out, s_face, t_face, rt, dict(timer.ms))


@dataclass
class SwapResult:
    """Two photos with their expressions swapped: ``a`` is photo A wearing B's expression, ``b``
    photo B wearing A's (each a :class:`TransferResult`)."""

    a: TransferResult
    b: TransferResult


@one_blas_thread()
def run_swap(a: ImageLike, b: ImageLike, cfg: TransferConfig = TransferConfig(method="au-swap")) -> SwapResult:
    """Swap the expressions of two photos (au-swap's own setting, Shao et al. 2019): each photo is
    loaded and analysed once, then each is the other's source. ``cfg.source_face`` picks the face
    in A, ``cfg.target_face`` the face in B."""
    method = load_method(cfg.method, TRANSFER)
    timer = StageTimer()
    with timer("load"):
        img_a = load_image(a, _name(a, "A"))
        img_b = load_image(b, _name(b, "B"))
    with timer("analyze"):
        found = analyze_all([(img_a, cfg.source_face is not None), (img_b, cfg.target_face is not None)])
        face_a = select_face(found[0], cfg.source_face, "A " + _name(a, "image"))
        face_b = select_face(found[1], cfg.target_face, "B " + _name(b, "image"))
    shared = dict(timer.ms)
    out_a = _transfer_faces(method, img_b, face_b, img_a, face_a, cfg, StageTimer())
    out_b = _transfer_faces(method, img_a, face_a, img_b, face_b, cfg, StageTimer())
    out_a.timings = {**shared, **out_a.timings}
    out_b.timings = {**shared, **out_b.timings}
    return SwapResult(out_a, out_b)


@one_blas_thread()
def render(method: Method, job: RenderJob, model=None, feedback: int = 0, timer: StageTimer | None = None,
           no_gain: np.ndarray | None = None) -> tuple[np.ndarray, Retargeted]:
    """The one render entry point: ``job`` rendered by ``method`` and pasted back, as transfer,
    swap, edit, animate (``feedback=0``: no per-frame loop) and the evaluation do it.

    What the method's spec declares decides the rest. A method with its own retargeting
    (``own_geometry``: landmark-fusion's fusion module, pix2pix's source key points) replaces an
    absolute transfer's geometry first (a relative one — ``--source-neutral``, an animation — is a
    measured change it must not overwrite; an edit has no source to take key points from).
    Landmark-driven methods then correct the expression ``feedback`` times (never amplifying the
    blendshapes where ``no_gain`` is True), measuring each try on a copy scaled so the face is
    :data:`MEASURE_FACE` px — MediaPipe reads a face at ~256 px anyway — and render the photo's
    resolution once, at the end."""
    timer = timer or StageTimer()
    spec = method.spec
    if spec.own_geometry and job.intent.kind == TRANSFER and not job.intent.relative:
        job = replace(job, retargeted=method.geometry(job))
    rt = job.retargeted
    point_weights = rt.point_weights  # the --regions restriction, kept through corrections
    copy = None
    if feedback and spec.landmark_driven and _gainable(rt.requested, no_gain, rt.intent):
        model = model or load_default_model()
        # the photo's copy that the result is pasted into, and what the method can make of the
        # final render before its geometry is known, made while the loop renders and measures
        copy = on_helper(job.target.copy)
        if hasattr(method, "prepare"):
            on_helper(method.prepare, job)
        # the target read once by the reader, as the loop will read its render (reader-measured shapes)
        read = _read_measured(rt.intent)
        own = (on_helper(describe, job.target_face.detection)
               if (_gain_mask(rt.requested, read, no_gain) & read).any() and job.target_face.detection is not None
               else None)
        with timer("feedback"):
            small, s, off = _scaled_job(job, MEASURE_FACE / max(job.target_face.size, 1.0))
            for _ in range(feedback):
                out = paste_back(small.target, method.render(small))
                delta = _corrected(out, small.target_face, small.retargeted, no_gain,
                                   None if own is None else own.result().blendshapes)
                if delta is None:
                    break
                if rt.from_geometry:  # keep the measured displacement, add the model's for the shortfall
                    rt = with_extra(job.target_face, rt, delta - rt.requested, model)
                else:
                    # folds and bulges at the strength asked for where the reader measured the
                    # shortfall: it reads landmarks, not shading (amplified, a nose wrinkle's
                    # shading turned into dark blotches)
                    rt = retargeted(job.target_face, delta, model, requested=rt.requested,
                                    point_weights=point_weights, intent=rt.intent,
                                    shading_delta=np.where(read, rt.requested, delta))
                small = replace(small, retargeted=_scaled_rt(rt, s, off))
        job = replace(job, retargeted=rt)
    with timer("render"):
        patch = method.render(job)
    with timer("paste"):
        out = paste_back(job.target, patch, None if copy is None else copy.result())
    return out, rt


MEASURE_FACE = 320.0  # face size (px) at which the closed loop measures its tries (at 256 px the
# anger edit read angry on 5 of 10 unseen London faces instead of 7-8; 384 px cost 40 ms more)


def _scaled_face(face: Face, s: float, offset=(0.0, 0.0), size=None) -> Face:
    lm = face.landmarks.copy()
    lm[:, :2] -= offset
    w, h = size or face.image_size
    return replace(face, landmarks=lm * s, image_size=(max(1, round(w * s)), max(1, round(h * s))))


def _scaled_rt(rt: Retargeted, s: float, offset=(0.0, 0.0)) -> Retargeted:
    lm = rt.landmarks.copy()
    lm[:, :2] -= offset
    return replace(rt, landmarks=lm * s)


def _face_region(img: np.ndarray, face: Face, s: float):
    """The face and a wide margin (the warp's ring, the hair line), scaled by ``s``: (image,
    offset, scale actually applied, size of the region)."""
    xy = face.xy
    c, r = xy.mean(0), 0.8 * float(np.ptp(xy, 0).max())  # the warp's ring reaches ~0.73
    H, W = img.shape[:2]
    x0, y0 = int(max(c[0] - r, 0)), int(max(c[1] - r, 0))
    x1, y1 = int(min(c[0] + r, W)), int(min(c[1] + r, H))
    crop = img[y0:y1, x0:x1]
    size = (max(1, round(crop.shape[1] * s)), max(1, round(crop.shape[0] * s)))
    half = crop
    while half.shape[1] >= 2 * size[0] and half.shape[0] >= 2 * size[1]:
        half = cv2.pyrDown(half)  # antialiased halving: fast, unlike INTER_AREA at odd factors
    out = cv2.resize(half, size, interpolation=cv2.INTER_LINEAR)
    return out, np.array([x0, y0], np.float64), out.shape[1] / max(crop.shape[1], 1), (crop.shape[1], crop.shape[0])


def _scaled_job(job: RenderJob, s: float) -> tuple[RenderJob, float, np.ndarray]:
    """``job`` cut to the face region and scaled by ``s`` (not above 1): (job, scale, offset)."""
    if s >= 0.8:
        return job, 1.0, np.zeros(2)
    source = None if job.source is job.target else on_helper(
        _face_region, job.source, job.source_face, s * job.target_face.size / max(job.source_face.size, 1.0))
    t, off, s_t, size = _face_region(job.target, job.target_face, s)
    if source is None:
        src, s_off, s_s, s_size = t, off, s_t, size
    else:
        src, s_off, s_s, s_size = source.result()
    small = replace(job, target=t, target_face=_scaled_face(job.target_face, s_t, off, size), source=src,
                    source_face=_scaled_face(job.source_face, s_s, s_off, s_size),
                    retargeted=_scaled_rt(job.retargeted, s_t, off))
    return small, s_t, off


MAX_GAIN = 2.0
# Edits and relative transfers correct only MediaPipe-scored blendshapes: MediaPipe reads them on
# the output, and a warp moves landmarks but cannot add the bulges that tell a reader how strong
# they are. The fitted ones move by ICT's measured geometry, and their re-measurement is shrunk
# by the fit's priors, so "correcting" them would double them. (A doubled lip press or roll used
# to fold the lips over each other; the warp now keeps lids and lips from crossing,
# :func:`facexpr.faces.mesh.meet_not_cross`.) An absolute transfer also corrects the shapes only the
# learned reader reads, measured with the reader (:func:`_read_measured`): the scale they were asked on.
_GAIN = np.isin(NAMES, FROM_MEDIAPIPE)


READ_MIN = 0.1  # a transfer's reader-measured shape is corrected from this change up (below it
# the reading is within the reader's doubt about a face at rest: its dead zone reads it ~0 on any render)


def _read_measured(intent: Intent) -> np.ndarray:
    """(52,) bool: the shapes an absolute transfer's closed loop measures with the learned reader:
    those it answers and MediaPipe does not score (brows, eyes wide, cheek raise, nose wrinkle,
    frown), which no closed loop corrected before.

    A transfer asks for the source's *code*: on those shapes the reader's reading of the source
    less its reading of the target. Measured on held-out people's renders, the reader reads a
    shape drawn at 0.6-0.8 as ~0.4 (its rest-level dead zone, its doubt about a person's own
    face), so an open-loop transfer of a 0.7 frown drew 0.7 and could read back ~0.15: a sad
    source's frown arrived at a fraction of its strength while its smile, corrected, arrived whole.
    Measuring the output on the scale the shape was asked on makes it read as the source does.
    The shapes MediaPipe scores keep MediaPipe's measure, reader-answered or not (press, squint,
    stretch…): measured with the reader instead, they read back weaker (docs/results/full_strength.md).
    Edits ask for render-space amounts, not readings, and a relative transfer (a source's own
    neutral photo, a video) carries measured geometry: both keep MediaPipe-only correction."""
    reader = load_default_reader()
    if reader is None or intent.kind != TRANSFER or intent.relative:
        return np.zeros(len(NAMES), bool)
    return reader.use & ~_GAIN


def _gain_mask(want: np.ndarray, read: np.ndarray, no_gain: np.ndarray | None = None) -> np.ndarray:
    """The requested shapes a closed-loop pass corrects: MediaPipe-scored ones from a change of
    0.05, reader-measured ones (``read``) from :data:`READ_MIN`."""
    big = np.where(read, np.abs(want) >= READ_MIN, (np.abs(want) > 0.05) & _GAIN)
    return big if no_gain is None else big & ~no_gain


def _gainable(want: np.ndarray, no_gain: np.ndarray | None = None, intent: Intent | None = None) -> bool:
    """Whether a closed-loop pass could change anything (it costs a re-analysis and a re-render)."""
    read = _read_measured(intent) if intent is not None else np.zeros(len(NAMES), bool)
    return bool(_gain_mask(want, read, no_gain).any())


def _corrected(out: np.ndarray, t_face: Face, rt: Retargeted,
               no_gain: np.ndarray | None = None, own_read: np.ndarray | None = None) -> np.ndarray | None:
    """One closed-loop step: measure the expression the output shows, and return the blendshape
    change with each requested blendshape that fell short amplified (never beyond ``MAX_GAIN`` x
    the request, never a new one); None when the face is not found on the output. Each shape is
    measured on the scale it was asked on: MediaPipe's scores, or for an absolute transfer the
    learned reader's code on the shapes only it reads (:func:`_read_measured`), against
    ``own_read``, the target read the same way (one pass; read here when not given).

    A mesh warp moves landmarks but cannot add the cheek bulge or skin folds that tell a face
    reader how strong an expression is, and the linear model predicts ~0.9 of the real motion;
    so a warped expression reads weaker than requested. Measuring and correcting per image keeps
    ``intensity=1`` meaning "the source's expression" on every face.
    """
    seen = reread(out, t_face)
    if seen is None:
        return None
    want = rt.requested
    achieved = mediapipe_scores(seen) - mediapipe_scores(t_face)  # like with like: the gated smile is not MediaPipe's
    read = _read_measured(rt.intent)
    big = _gain_mask(want, read, no_gain)
    if (big & read).any():  # the reader's shapes on the reader's scale, both read in one pass
        if own_read is None:
            own_read = describe(t_face.detection).blendshapes if t_face.detection is not None else t_face.blendshapes
        achieved = np.where(read, describe(seen).blendshapes - own_read, achieved)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(big, achieved / np.where(big, want, 1.0), 1.0)
    gain = np.where(big, np.clip(rt.delta / np.where(big, want, 1.0) * (1.0 + (1.0 - ratio)), 1.0, MAX_GAIN), 1.0)
    out = np.where(big, want * gain, rt.delta)
    # A reader-measured shape is made up to the full shape (code 1) at most, or to its absence:
    # past them the linear model extrapolates and the face drifts from the person (the shared
    # angry probe, made up to 2x, moved one target past dlib's same-person threshold).
    room = np.where(want > 0, 1.0 - np.asarray(t_face.blendshapes, np.float64), np.asarray(t_face.blendshapes, np.float64))
    capped = np.sign(want) * np.maximum(np.abs(want), np.minimum(np.abs(out), room))
    return np.where(big & read, capped, out)


# ----------------------------------------------------------------------------- edit

@dataclass(frozen=True)
class EditConfig:
    """An AU edit: ``aus`` are ``(AU number, change)`` pairs, ``emotion`` a name of
    :data:`facexpr.expression.emotions.EMOTIONS`; ``intensity`` (0-MAX_INTENSITY) scales their sum.
    The default method is ``warp``: it measured the most controllable (docs/RESULTS.md, AU editing).

    Validated once, on construction (every AU, change, the emotion and the intensity: the user's
    error before any slow stage); :meth:`parse` builds one from what a user types."""

    method: str = "warp"
    aus: tuple[tuple[int | str, float], ...] = ()  # (AU or one-sided unit such as "R12", change)
    emotion: str | None = None
    intensity: float = 1.0
    face: int | None = None  # index into faces sorted largest first; None = largest
    feedback: int = 1        # closed-loop corrections for landmark-driven methods (0 = open loop)

    def __post_init__(self):
        object.__setattr__(self, "intensity", check_intensity(self.intensity))
        seen = set()
        for au, change in self.aus:
            pos = au_index(au)
            if pos in seen:
                raise MalformedAUSpec(f"{unit_name(pos)} is given more than once; give each AU once")
            seen.add(pos)
            check_delta(pos, change)
        if self.emotion:
            emotion_prototype(self.emotion)

    @classmethod
    def parse(cls, aus=None, emotion: str | None = None, intensity: float = 1.0, method: str = "warp",
              face: int | None = None, feedback: int = 1) -> "EditConfig":
        """From user input: ``aus`` as ``{"AU12": +0.8, 4: -0.5}``, ``"AU12=+0.8"`` or a list of such
        strings (:func:`facexpr.expression.emotions.au_deltas`)."""
        d = au_deltas(aus)
        pairs = tuple((UNITS[k], float(d[k])) for k in range(len(UNITS)) if d[k] != 0)
        return cls(method, pairs, emotion or None, intensity, face, feedback)

    @property
    def deltas(self) -> np.ndarray:
        """The requested changes (:data:`~facexpr.expression.emotions.UNITS` order: the AUs, then
        one-sided units), before the emotion and intensity."""
        d = np.zeros(len(UNITS), np.float64)
        for au, change in self.aus:
            d[au_index(au)] = float(change)
        return d


@dataclass
class EditResult:
    image: np.ndarray        # the target photo, same size, with the edited expression
    face: Face               # the edited face, as found in the input
    current_aus: np.ndarray  # its action units before the edit (emotions.UNITS order: AUS, then sides)
    requested: np.ndarray    # the change asked for (× intensity), same order
    want_aus: np.ndarray     # clip(current + requested, 0, 1): what the output should show
    retargeted: Retargeted | None  # the geometry for landmark-driven methods (None: unchanged)
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def condition(self) -> np.ndarray:
        """The relative AU vector a relative-AU generator is conditioned on: want − current."""
        return self.want_aus - self.current_aus


# Blendshapes an edit never amplifies in the closed loop: a warped eyelid closing "too little" for
# MediaPipe is already near the other lid, and twice the motion folds the lids over each other.
_EDIT_NO_GAIN = np.isin(NAMES, ("eyeBlinkLeft", "eyeBlinkRight"))


@one_blas_thread()
def run_edit(target: ImageLike, cfg: EditConfig = EditConfig(), cache: AnalysisCache | None = None) -> EditResult:
    """Change action units of the face in ``target`` by relative amounts.

    ``desired = clip(current + Δ, 0, 1)`` per AU, Δ = ``intensity · (AU changes + the emotion's
    deltas)``. When nothing changes (intensity 0, no change requested, or every change clipped
    away, e.g. lowering an AU that is already 0) the result is a bit-identical copy of the input.

    Every method that can edit renders the same job, whose intent is an edit: AU-conditioned
    methods (``relative-au``/``ganimation`` and exported AU-conditioned generators) read its
    ``want_aus``; landmark-driven methods (``warp``) render the target retargeted to a synthetic
    source, the target itself with its blendshapes edited through the AU table
    (:func:`facexpr.expression.emotions.edited_blendshapes`). Any other method is refused.
    """
    timer = StageTimer()
    method = load_method(cfg.method, EDIT)
    ((img, found),) = _load_and_analyze([(target, _name(target, "target"), cfg.face is not None)], timer, cache)
    with timer("analyze"):
        face = select_face(found, cfg.face, "target " + _name(target, "image"))
    with timer("retarget"):
        current = current_units(face.blendshapes)
        emotion = emotion_delta(cfg.emotion, 1.0, current) if cfg.emotion else 0.0
        requested = cfg.intensity * (cfg.deltas + emotion)
        want = desired_aus(current, requested)
        if not np.any(want != current):
            return EditResult(img.copy(), face, current, requested, want, None, timer.ms)
        effective = np.where(want != current, requested, 0.0)
        edited = Face(face.landmarks, edited_blendshapes(face.blendshapes, effective).astype(np.float32),
                      face.pose, face.image_size)
        model = load_default_model(edit=True)
        rt = retarget(edited, face, model, RetargetConfig(gate=False))
        rt.intent = Intent(EDIT, want[:len(AUS)].astype(np.float32), cfg.intensity)
    out, rt = render(method, RenderJob(img, face, img, edited, rt), model, cfg.feedback, timer,
                     no_gain=_EDIT_NO_GAIN)
    return EditResult(out, face, current, requested, want, rt, timer.ms)


MAX_TURN_DEG = 20.0  # a mesh warp turns a head this far before what it would uncover is missing


def render_turned(img: np.ndarray, face: Face, pitch_deg: float, yaw_deg: float,
                  rt: Retargeted | None = None) -> np.ndarray:
    """``img`` with the head of ``face`` turned by small angles (degrees about the image's x and
    y axes through the face's centre; pitch > 0 turns the face down), drawn by ``warp`` as
    ``animate --pose`` draws a driver's head rotation; ``rt``: an expression (an edit's or a
    transfer's geometry) drawn in the same render, else the face as it is.

    Why: no photo set here shows one expression at several head poses, and a reading must not
    change when the head turns. The reader's training data turns its renders with this, and
    ``evaluate --task read`` measures the reading's stability under it. A warp cannot show what
    the turn would uncover, hence the limit."""
    if max(abs(pitch_deg), abs(yaw_deg)) > MAX_TURN_DEG:
        raise ValueError(f"head turn of {max(abs(pitch_deg), abs(yaw_deg))}°: at most {MAX_TURN_DEG}° can be drawn")
    model = load_default_model(edit=True)
    rt = rt if rt is not None else retargeted(face, np.zeros(len(NAMES)), model)
    R = cv2.Rodrigues(np.radians([pitch_deg, yaw_deg, 0.0]).reshape(3, 1))[0]
    xyz = np.asarray(rt.landmarks, np.float64)
    centre = np.asarray(face.landmarks, np.float64).mean(0)
    turned = replace(rt, landmarks=((xyz - centre) @ R.T + centre).astype(np.asarray(rt.landmarks).dtype))
    out, _ = render(load_method("warp", EDIT), RenderJob(img, face, img, face, turned), model)
    return out
