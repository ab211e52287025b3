"""Run methods over benchmark pairs and score every output with the judges.

Models load once (each judge's cached getter), before the first pair, so a missing or corrupt
model file stops the run at once with a :class:`~facexpr.errors.ModelError` instead of scoring
zeros. Judgements of input images (source, target, ground truth, the source's neutral) are cached
by reference, so the three reference rows cost nothing extra and a photo used by several pairs
(London's sources are other pairs' ground truths) is judged once:

* ``ref:identity`` - the output is the unchanged target (what doing nothing scores);
* ``ref:source``   - the output is the source photo (a different person with the right expression);
* ``ref:gt``       - the output is the ground truth (the ceiling; errors to it are 0 by construction).

A method is a name from :func:`facexpr.methods.available` or a checkpoint path (passed on as the
method name), run through :func:`facexpr.pipeline.run_transfer`; tests may also pass a :class:`MethodSpec` with
any function.
"""
from __future__ import annotations

import json
import math
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from ..batch import BatchConfig, run_items
from ..batch import Item as BatchItem
from ..batch.config import checked_job
from ..batch.results import read_results
from ..datasets.expressions import EMOTIONS, Pair, load_ref, ref_path
from ..errors import FacexprError, InputError, MethodNotFound, ModelError
from ..faces import identity as identity_dlib
from ..faces.crops import aligned_crop
from ..faces.identity import MATCH_THRESHOLD
from ..faces.landmarks import get_landmarker
from ..methods import available
from ..io import load_image
from ..perceptual import get_lpips
from ..pipeline import TransferConfig, run_transfer
from . import metrics
from .downscale import Downscale
from .judges.emotion_faceapi import EMOTIONS as FACEAPI
from .judges.emotion_faceapi import get_faceapi_emotion
from .judges.emotion_fer import CANONICAL, FER_CLASSES, get_fer_emotion
from .judges.expression import EXPRESSION_MASK, read
from .judges.inception import get_inception

JUDGE_GROUPS = ("expression", "emotion", "identity", "realism")
REFERENCE_ROWS = ("ref:identity", "ref:source", "ref:gt")
ROW_LABELS = {"ref:identity": "identity (output = target)", "ref:source": "source (output = source)",
              "ref:gt": "ground truth (output = GT)"}
LPIPS_SIZE = 160  # ST-LPIPS looks at the aligned crop downscaled to this (CPU time: ~0.1 s a crop)


# ----------------------------------------------------------------------------- methods

@dataclass
class MethodSpec:
    """``fn(source, target) -> (rgb image, per-stage ms)``; source/target are paths or arrays.
    ``neutral``: ``fn`` also takes ``source_neutral=`` (the pair's, or None where it has none).
    ``pipeline``: the pipeline method ``fn`` runs with default options, if it is one (then a batch
    engine can run it instead, :class:`EngineOptions`)."""
    name: str
    fn: Callable
    neutral: bool = False
    pipeline: str | None = None


@dataclass(frozen=True)
class EngineOptions:
    """Run the pipeline methods' transfers as a batch job (:mod:`facexpr.batch`: a local process
    pool or Ray) before judging, instead of one by one in this process. The outputs are the same
    bytes, so the scores are unchanged; the speed columns then report the batch job (its wall
    time, and the workers' per-stage milliseconds)."""
    engine: str = "local"
    workers: int | None = None
    address: str | None = None


def transfer_method(name: str, source_neutral: bool = False) -> MethodSpec:
    """Method ``name`` through the pipeline; with ``source_neutral`` it transfers the source's
    change from the pair's neutral photo of the source (``--source-neutral``) where there is one."""
    def run(source, target, source_neutral=None):
        res = run_transfer(source, target, TransferConfig(method=name, source_neutral=source_neutral))
        return res.image, dict(res.timings)
    return MethodSpec(f"{name} +neutral" if source_neutral else name, run, neutral=source_neutral, pipeline=name)


class _Precomputed:
    """One method's outputs from a batch job: ``get(pair) -> (image, stage ms)``, or the item's
    failure raised as the :class:`FacexprError` it was; None for a pair the job did not run."""

    def __init__(self, folder: Path, records: dict[str, dict]):
        self.folder, self.records = folder, records

    def get(self, pair: Pair):
        rec = self.records.get(pair.id)
        if rec is None:
            return None
        if rec["status"] != "ok":
            raise FacexprError(rec.get("error") or "failed in the batch job")
        stages = {k: v for k, v in json.loads(rec.get("stage_ms") or "{}").items() if k not in ("save", "checksum")}
        return load_image(self.folder / rec["output"]), stages


def _is_file_ref(ref) -> bool:
    return ref is None or str(ref_path(ref)) == str(ref)


def run_through_engine(pairs: list[Pair], methods: list[MethodSpec], opts: EngineOptions,
                       work: Path) -> tuple[dict[str, _Precomputed], dict[str, float]]:
    """Each pipeline method over the pairs whose inputs are files (frames of a video are left to
    the inline path), as a batch job into ``work/<n>``: (name -> outputs, name -> wall seconds)."""
    done, seconds = {}, {}
    for n, m in enumerate(methods):
        if m.pipeline is None:
            continue
        items = [BatchItem(id=p.id, source=str(p.source), target=str(p.target),
                           source_neutral=str(p.source_neutral) if m.neutral and p.source_neutral else None)
                 for p in pairs if all(_is_file_ref(r) for r in (p.source, p.target, p.source_neutral))]
        if not items:
            continue
        folder = work / str(n)
        cfg = BatchConfig(manifest=None, job=checked_job("transfer", folder, method=m.pipeline), engine=opts.engine,
                          workers=opts.workers, address=opts.address)
        summary = run_items(cfg, items)
        done[m.name] = _Precomputed(folder, {r["id"]: r for r in read_results(cfg.results_path).to_pylist()})
        seconds[m.name] = summary.seconds
    return done, seconds


def resolve_methods(spec: str, source_neutral: bool = False) -> list[MethodSpec]:
    """``"all"``, one name, a comma-separated list, or checkpoint paths."""
    names = available() if spec.strip().lower() == "all" else [s.strip() for s in spec.split(",") if s.strip()]
    if not names:
        raise MethodNotFound("no method given (use a name from `facexpr methods`, 'all', or a checkpoint path)")
    known = set(available())
    for n in names:
        if n not in known and not Path(n).expanduser().exists():
            raise MethodNotFound(f"unknown method '{n}' (available: {', '.join(sorted(known))}; "
                                 "or give an existing checkpoint path)")
        if n in REFERENCE_ROWS:
            raise MethodNotFound(f"'{n}' is a reference row name, not a method")
    return [transfer_method(n, source_neutral) for n in dict.fromkeys(names)]


# ----------------------------------------------------------------------------- judging one image

@dataclass
class Judgement:
    expr: object | None = None           # ExpressionReading (None: MediaPipe found no face)
    faceapi: np.ndarray | None = None    # (7,) probabilities, EMOTIONS order
    fer: np.ndarray | None = None        # (7,) probabilities, EMOTIONS order
    identity: np.ndarray | None = None   # (128,) dlib descriptor (None: dlib found no face)
    crop: np.ndarray | None = None       # aligned RGB face crop
    inception: np.ndarray | None = None  # (2048,)

    @property
    def face(self) -> bool:
        return self.expr is not None


class Judges:
    """The selected judge groups, loaded now (errors surface before any pair runs)."""

    def __init__(self, groups=JUDGE_GROUPS):
        bad = set(groups) - set(JUDGE_GROUPS)
        if bad:
            raise InputError(f"unknown judge group(s) {sorted(bad)} (choose from {', '.join(JUDGE_GROUPS)})")
        self.groups = tuple(g for g in JUDGE_GROUPS if g in groups)
        get_landmarker()  # every group needs the face's landmarks
        self.timings: dict[str, float] = {g: 0.0 for g in ("analyze",) + self.groups if g != "expression"}
        if "emotion" in self.groups:
            assert tuple(FACEAPI) == EMOTIONS
            self.faceapi, self.fer = get_faceapi_emotion(), get_fer_emotion()
            self._fer_order = [FER_CLASSES.index(next(k for k, v in CANONICAL.items() if v == e)) for e in EMOTIONS]
        if "identity" in self.groups:
            identity_dlib._models()
            self.dlib = identity_dlib.get_dlib_identity()
        if "realism" in self.groups:
            self.lpips = get_lpips()
            self.inception = get_inception()

    def _tick(self, group: str, t0: float) -> float:
        t = time.perf_counter()
        self.timings[group] += (t - t0) * 1000
        return t

    def judge(self, image: np.ndarray) -> Judgement:
        t = time.perf_counter()
        j = Judgement(expr=read(image))
        t = self._tick("analyze", t)
        lm = j.expr.landmarks if j.face else None
        if "emotion" in self.groups and lm is not None:
            j.faceapi = self.faceapi.classify_face(image, lm)
            j.fer = self.fer.classify_face(image, lm)[self._fer_order]
            t = self._tick("emotion", t)
        if "identity" in self.groups:
            j.identity = self._identity(image, lm)
            t = self._tick("identity", t)
        if lm is not None:
            j.crop = aligned_crop(image, lm)  # Inception features: batched later, see fill_features
        return j

    def fill_features(self, judgements: list[Judgement]) -> None:
        """Inception features for every judgement with a crop and none yet (batched: much faster)."""
        todo = [j for j in judgements if j.crop is not None and j.inception is None]
        if "realism" not in self.groups or not todo:
            return
        t = time.perf_counter()
        for j, f in zip(todo, self.inception.features([j.crop for j in todo])):
            j.inception = f
        self._tick("realism", t)

    def _identity(self, image: np.ndarray, landmarks) -> np.ndarray | None:
        """dlib's own HOG detector (searched near MediaPipe's face, for speed) + descriptor."""
        box = None
        if landmarks is not None:
            xy = landmarks[:, :2]
            (x0, y0), (x1, y1) = xy.min(0), xy.max(0)
            m = 0.6 * max(x1 - x0, y1 - y0)
            h, w = image.shape[:2]
            X0, Y0 = int(max(0, x0 - m)), int(max(0, y0 - m))
            X1, Y1 = int(min(w, x1 + m)), int(min(h, y1 + m))
            region = image[Y0:Y1, X0:X1]
            s = min(1.0, 260 / max(region.shape[:2]))  # the detector upsamples x2 itself
            small = cv2.resize(region, (round(region.shape[1] * s), round(region.shape[0] * s)),
                               interpolation=cv2.INTER_AREA) if s < 1 else region
            found = self.dlib.detect(np.ascontiguousarray(small))
            if found is not None:
                box = tuple(int(round(v / s)) + o for v, o in zip(found, (X0, Y0, X0, Y0)))
        if box is None:
            box = self.dlib.detect(image)
        return self.dlib.embed(image, box) if box is not None else None


# ----------------------------------------------------------------------------- scoring

def row_metrics(out: Judgement, pair: Pair, src: Judgement, tgt: Judgement, gt: Judgement | None,
                srcn: Judgement | None, groups) -> dict:
    """Per-pair metrics of one output (NaN where not applicable or not measurable)."""
    nan = math.nan
    r: dict = {"face": bool(out.face)}
    if "expression" in groups:
        if out.face and tgt.face and src.face and srcn is not None and srcn.face:
            dot, norm = metrics.expression_change_terms(out.expr.blendshapes, tgt.expr.blendshapes,
                                                        src.expr.blendshapes, srcn.expr.blendshapes, EXPRESSION_MASK)
            r["expr_change"] = dot / norm if norm > 1e-12 else nan
            r["expr_dot"], r["expr_norm2"] = dot, norm
        else:
            r["expr_change"], r["expr_dot"], r["expr_norm2"] = nan, nan, nan
        has_gt = out.face and gt is not None and gt.face
        r["bs_err"] = (metrics.mean_abs_error(out.expr.blendshapes, gt.expr.blendshapes, EXPRESSION_MASK)
                       if has_gt else nan)
        r["au_err"] = metrics.mean_abs_error(out.expr.aus, gt.expr.aus) if has_gt else nan
        r["au_abs"] = (np.abs(out.expr.aus - gt.expr.aus).tolist() if has_gt else None)
        r["lmk_nme"] = metrics.landmark_nme(out.expr.landmarks, gt.expr.landmarks) if has_gt else nan
    if "emotion" in groups:
        r["emo_faceapi"] = metrics.emotion_correct(out.faceapi, pair.label, EMOTIONS) if out.face else (
            0.0 if pair.label in EMOTIONS else nan)
        r["emo_fer"] = metrics.emotion_correct(out.fer, pair.label, EMOTIONS) if out.face else (
            0.0 if pair.label in EMOTIONS else nan)
    if "identity" in groups:
        def dist(other: Judgement | None):
            if other is None or other.identity is None or out.identity is None:
                return nan
            return float(np.linalg.norm(out.identity.astype(np.float64) - other.identity))
        r["id_target"], r["id_gt"], r["id_source"] = dist(tgt), dist(gt), dist(src)
        # no face for dlib in the output = identity not kept (a target without one is not measurable)
        r["id_kept"] = (nan if tgt.identity is None else
                        float(out.identity is not None and r["id_target"] < MATCH_THRESHOLD))
    return r


def _lpips_rows(lpips, crops: dict[str, np.ndarray | None], gt_crop: np.ndarray) -> dict[str, float]:
    """ST-LPIPS of each crop against the ground truth's, one batched forward pass."""
    same = {k: 0.0 for k, c in crops.items() if c is gt_crop}  # the ground truth itself: 0 by definition
    names = [k for k, c in crops.items() if c is not None and k not in same]
    if not names:
        return same
    small = [cv2.resize(c, (LPIPS_SIZE, LPIPS_SIZE), interpolation=cv2.INTER_AREA)
             for c in [gt_crop] + [crops[k] for k in names]]
    feats = lpips.features(small)
    d = lpips.distance_from_features([f[1:] for f in feats], [f[:1] for f in feats])
    return {**same, **dict(zip(names, d.tolist()))}


# ----------------------------------------------------------------------------- the run

@dataclass
class RunResult:
    pairs: list[Pair]
    rows: list[str]                                   # methods, then the reference rows
    per_pair: dict[str, dict[str, dict]]              # pair id -> row -> metrics
    features: dict[str, dict[str, np.ndarray]]        # row -> pair id -> inception features
    reference_features: dict[str, np.ndarray]         # pair id -> features of the realism reference set
    reference_set: str                                # "ground truth" or "target"
    crops: dict[str, dict[str, np.ndarray]]           # pair id -> row/"source"/"target"/"gt" -> crop
    failures: dict[str, dict[str, str]]               # method -> pair id -> message
    skipped: dict[str, str]                           # pair id -> why its inputs could not be read
    timings: dict[str, dict[str, float]]              # method -> stage -> total ms (ok pairs)
    method_seconds: dict[str, float]                  # method -> wall seconds over all its pairs
    judge_ms: dict[str, float]
    wall_seconds: float
    groups: tuple[str, ...]
    seed: int
    n_judged: int = 0
    meta: dict = field(default_factory=dict)


def evaluate_pairs(pairs: list[Pair], methods: list[MethodSpec], judges: Judges, seed: int = 0,
                   progress: Callable[[int, int, str], None] | None = None, keep_crops: int | None = None,
                   engine: EngineOptions | None = None, downscale: Downscale | None = None) -> RunResult:
    """Run every method on every pair and score outputs and reference rows.

    ``keep_crops``: how many pairs keep their face crops for the contact sheet (evenly spread);
    None keeps all. ``engine``: run the pipeline methods' transfers as a batch job first
    (:class:`EngineOptions`); None runs each in this process, pair by pair. ``downscale``: shrink
    every input image first (:class:`~facexpr.evaluate.downscale.Downscale`); the result keeps the
    original pairs (their paths) and says so in ``meta["downscale"]``.
    """
    if engine is None and downscale is None:
        return _evaluate_pairs(pairs, methods, judges, seed, progress, keep_crops, {}, {})
    with tempfile.TemporaryDirectory(prefix="facexpr-evaluate-") as work:
        run_pairs = pairs if downscale is None else downscale.pairs(pairs, Path(work) / "inputs")
        pre, seconds = run_through_engine(run_pairs, methods, engine, Path(work)) if engine else ({}, {})
        result = _evaluate_pairs(run_pairs, methods, judges, seed, progress, keep_crops, pre, seconds)
    if downscale is not None:
        result.pairs = list(pairs)  # same ids: the report names the original photos
        result.meta["downscale"] = {"long_side": downscale.long_side, "interpolation": "INTER_AREA",
                                    "note": downscale.describe()}
    return result


def _evaluate_pairs(pairs, methods, judges, seed, progress, keep_crops, pre: dict[str, _Precomputed],
                    pre_seconds: dict[str, float]) -> RunResult:
    t_start = time.perf_counter()
    groups = judges.groups
    rows = [m.name for m in methods] + [r for r in REFERENCE_ROWS if r != "ref:gt" or any(p.gt for p in pairs)]
    cache: dict[str, Judgement] = {}
    keep = set(range(len(pairs))) if keep_crops is None else set(
        np.unique(np.round(np.linspace(0, len(pairs) - 1, max(keep_crops, 1))).astype(int)).tolist())
    per_pair, feats, ref_feats, crops = {}, {r: {} for r in rows}, {}, {}
    pending: list[Judgement] = []  # judgements waiting for their (batched) Inception features
    failures = {m.name: {} for m in methods}
    timings = {m.name: {} for m in methods}
    method_seconds = {m.name: pre_seconds.get(m.name, 0.0) for m in methods}
    all_gt = all(p.gt is not None for p in pairs)
    n_judged = 0

    def judged(ref) -> Judgement | None:
        nonlocal n_judged
        if ref is None:
            return None
        key = str(ref)
        if key not in cache:
            cache[key] = judges.judge(load_ref(ref))
            pending.append(cache[key])
            n_judged += 1
        return cache[key]

    skipped: dict[str, str] = {}
    for k, pair in enumerate(pairs):
        try:
            src, tgt, gt, srcn = (judged(pair.source), judged(pair.target), judged(pair.gt),
                                  judged(pair.source_neutral))
        except FacexprError as e:  # an unreadable input photo: the pair is skipped for every row, and listed
            skipped[pair.id] = str(e)
            if progress:
                progress(k + 1, len(pairs), pair.id)
            continue
        outs: dict[str, Judgement] = {"ref:identity": tgt, "ref:source": src}
        if gt is not None:
            outs["ref:gt"] = gt
        for m in methods:
            t0 = time.perf_counter()
            inline = m.name not in pre or pair.id not in pre[m.name].records  # else the batch job ran it
            try:
                if not inline:
                    image, stage_ms = pre[m.name].get(pair)
                else:
                    extra = {"source_neutral": _as_input(pair.source_neutral) if pair.source_neutral else None} \
                        if m.neutral else {}
                    image, stage_ms = m.fn(_as_input(pair.source), _as_input(pair.target), **extra)
            except (MethodNotFound, ModelError):  # the method itself is unusable: stop, do not score 0s
                raise
            except FacexprError as e:
                if inline:
                    method_seconds[m.name] += time.perf_counter() - t0
                failures[m.name][pair.id] = str(e)
                continue
            if inline:  # a batch job's time is its wall time, counted once
                method_seconds[m.name] += time.perf_counter() - t0
            for stage, ms in stage_ms.items():
                timings[m.name][stage] = timings[m.name].get(stage, 0.0) + ms
            outs[m.name] = judges.judge(np.asarray(image))
            pending.append(outs[m.name])
            n_judged += 1
        rec = {}
        for row in rows:
            if row not in outs:
                continue
            out = outs[row]
            rec[row] = row_metrics(out, pair, src, tgt, gt, srcn, groups)
            if out.crop is not None:
                feats[row][pair.id] = out
        if "realism" in groups and gt is not None and gt.crop is not None:
            t_real = time.perf_counter()
            lp = _lpips_rows(judges.lpips, {r: outs[r].crop for r in rows if r in outs}, gt.crop)
            with_crop = [r for r in rows if r in outs and outs[r].crop is not None]
            ss = metrics.ssim([outs[r].crop for r in with_crop], [gt.crop] * len(with_crop))
            ps = metrics.psnr([outs[r].crop for r in with_crop], [gt.crop] * len(with_crop))
            for r, s_, p_ in zip(with_crop, ss, ps):
                rec[r].update(lpips=lp.get(r, math.nan), ssim=float(s_), psnr=float(p_))
            for r in rows:
                if r in rec and r not in with_crop:
                    rec[r].update(lpips=math.nan, ssim=math.nan, psnr=math.nan)
            judges._tick("realism", t_real)
        ref_j = gt if all_gt else tgt
        if ref_j is not None and ref_j.crop is not None:
            ref_feats[pair.id] = ref_j
        if len(pending) >= 16:
            judges.fill_features(pending)
            pending.clear()
        per_pair[pair.id] = rec
        if k in keep:
            crops[pair.id] = {"source": src.crop, "target": tgt.crop, **({"gt": gt.crop} if gt else {}),
                              **{m.name: outs[m.name].crop for m in methods if m.name in outs}}
        if progress:
            progress(k + 1, len(pairs), pair.id)

    judges.fill_features(pending)
    if "realism" in groups:
        feats = {r: {i: j.inception for i, j in d.items()} for r, d in feats.items()}
        ref_feats = {i: j.inception for i, j in ref_feats.items()}
    else:
        feats, ref_feats = {r: {} for r in rows}, {}
    return RunResult(pairs=list(pairs), rows=rows, per_pair=per_pair, features=feats, reference_features=ref_feats,
                     reference_set="ground truth" if all_gt else "target", crops=crops, failures=failures,
                     skipped=skipped,
                     timings=timings, method_seconds=method_seconds, judge_ms=dict(judges.timings),
                     wall_seconds=time.perf_counter() - t_start, groups=groups, seed=seed, n_judged=n_judged)


def _as_input(ref):
    """Paths go to the method as paths (so its 'load' stage is timed honestly); frames as arrays."""
    p = ref_path(ref)
    return p if str(p) == str(ref) else load_ref(ref)


# ----------------------------------------------------------------------------- aggregation

PAIR_METRICS = ("expr_change", "bs_err", "au_err", "lmk_nme", "emo_faceapi", "emo_fer",
                "id_target", "id_gt", "id_source", "id_kept", "lpips", "ssim", "psnr")


def aggregate(result: RunResult, pair_ids: list[str] | None = None) -> dict[str, dict]:
    """Row -> metric -> summary (mean/std/n) over ``pair_ids`` (default all), plus FID/KID."""
    ids = [p.id for p in result.pairs] if pair_ids is None else list(pair_ids)
    out: dict[str, dict] = {}
    for row in result.rows:
        recs = [result.per_pair[i][row] for i in ids if row in result.per_pair.get(i, {})]
        agg: dict = {"pairs": len(recs)}
        if row in result.failures:
            agg["failed"] = sum(1 for i in ids if i in result.failures[row])
        agg["no_face"] = sum(1 for r in recs if not r["face"])
        for m in PAIR_METRICS:
            if any(m in r for r in recs):  # pairs without a ground truth lack the GT metrics
                agg[m] = metrics.summary(r.get(m) for r in recs)
        if any("expr_dot" in r for r in recs):  # the table's number: pooled (std and n stay per pair)
            per_pair_mean = agg["expr_change"]["mean"]
            agg["expr_change"].update(
                mean=metrics.pooled_expression_change([r.get("expr_dot", math.nan) for r in recs],
                                                      [r.get("expr_norm2", math.nan) for r in recs])
                if agg["expr_change"]["n"] else None, per_pair_mean=per_pair_mean)
        au = [r["au_abs"] for r in recs if r.get("au_abs") is not None]
        if au:
            agg["au_abs_each"] = np.mean(au, axis=0).tolist()
        if "realism" in result.groups:
            # the row's outputs against the reference images of the same pairs (paired sets)
            both = [i for i in ids if i in result.features[row] and i in result.reference_features]
            f = np.array([result.features[row][i] for i in both])
            ref = np.array([result.reference_features[i] for i in both])
            if len(f) >= 2:
                agg["fid"] = metrics.fid(f, ref)
                k_mean, k_std = metrics.kid(f, ref, seed=result.seed)
                agg["kid"] = {"mean": k_mean, "std": k_std, "n": int(len(f))}
            else:
                agg["fid"], agg["kid"] = None, {"mean": None, "std": None, "n": int(len(f))}
        if row in result.timings and pair_ids is None:  # speed is measured over the whole run
            ok = agg["pairs"]
            stages = {k: v / ok for k, v in result.timings[row].items()} if ok else {}
            secs = result.method_seconds[row]
            agg["speed"] = {"stage_ms": stages, "total_ms": sum(stages.values()) if ok else None,
                            "pairs_per_s": len(ids) / secs if secs > 0 else None}
        out[row] = agg
    return out
