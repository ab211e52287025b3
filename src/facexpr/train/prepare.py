"""``facexpr prepare``: detect, align, crop and annotate every image of a dataset once, into a cache.

Cache layout (one folder per dataset and crop size)::

    CACHE/meta.json                 version, crop size, dataset, root, AU list, identity model
    CACHE/index.jsonl               one JSON line per finished image (or per failure, ok=false)
    CACHE/items/<xx>/<key>.npz      the crop (PNG bytes) and its annotations, see below
    CACHE/prepare.json              the last run's report (counts, images/s, AU agreement)

Each ``.npz``: ``image_png`` (the ``size`` x ``size`` aligned RGB crop, lossless), ``landmarks``
(478, 3) in crop pixels (z scaled like x, y), ``blendshapes`` (52,), ``pose`` (4, 4, MediaPipe's
facial transformation matrix), ``aus`` (17,) estimated AU intensities in
:data:`~facexpr.expression.action_units.AUS` order, ``identity`` (128,) dlib descriptor (zeros
when off), ``align`` (2, 3) the image->crop affine.

The crop is the evaluation's fixed similarity transform (:func:`facexpr.faces.crops.alignment`:
the expression-stable MediaPipe points onto a fixed template), so a trained network sees the same
framing at inference. Resumable: an item is written to a temp file and renamed, then its index line
is appended and flushed; a crash or Ctrl-C loses at most the image in flight, and a second run
skips every key already in the index (failures too, unless ``retry_failed``).
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Callable

import numpy as np

from ..cache import CACHE_VERSION, Annotation, CacheError, identity_box, read_index, write_item
from ..errors import InputError
from ..expression import action_units
from ..expression.action_units import AUS_V1 as AUS  # the 17-AU labels of the cache format
from ..faces.crops import aligned_crop, alignment, crop_landmarks
from ..faces.identity import get_dlib_identity
from ..faces.landmarks import MIN_FACE_PX, analyze_faces
from ..io import atomic_write_text
from .sources import Item, list_items

def annotate(rgb: np.ndarray, size: int, analyze: Callable | None = None,
             embedder=None) -> Annotation | str:
    """The :class:`Annotation` of the largest face in ``rgb``, or the reason there is none."""
    faces = (analyze or analyze_faces)(rgb)
    if not faces:
        return "no face found"
    face = faces[0]
    if face.size < MIN_FACE_PX:
        return f"face too small ({face.size:.0f} px < {MIN_FACE_PX})"
    M = alignment(face.landmarks, size)
    crop = aligned_crop(rgb, face.landmarks, size)
    ident = np.zeros(128, np.float32)
    if embedder is not None:
        emb = embedder.embed(rgb, identity_box(M, size))
        if emb is not None:
            ident = np.asarray(emb, np.float32)
    bs = np.asarray(face.blendshapes, np.float32)
    return Annotation(crop, crop_landmarks(face.landmarks, M).astype(np.float32), bs,
                      np.asarray(face.pose, np.float32), action_units.estimate(bs, action_units.AUS_V1).astype(np.float32),
                      ident, M, float(face.size), face.yaw_pitch_roll())


def _open_cache(out: Path, meta: dict) -> None:
    out.mkdir(parents=True, exist_ok=True)
    path = out / "meta.json"
    if path.is_file():
        old = json.loads(path.read_text(encoding="utf-8"))
        for k in ("version", "size", "dataset"):
            if old.get(k) != meta[k]:
                raise CacheError(f"{out}: this cache was made with {k}={old.get(k)!r}, not {meta[k]!r}; "
                                 "use another --out folder")
        if bool(old.get("identity")) != bool(meta.get("identity")):
            raise CacheError(f"{out}: this cache was made {'with' if old.get('identity') else 'without'} "
                             "identity embeddings; use the same --identity setting or another --out")
        return
    atomic_write_text(path, json.dumps(meta, indent=1))


def _needs_fix_line(path: Path) -> bool:
    """True when the index does not end with a newline (a line torn by a crash)."""
    if not path.is_file() or path.stat().st_size == 0:
        return False
    with open(path, "rb") as f:
        f.seek(-1, os.SEEK_END)
        return f.read(1) != b"\n"


# ----------------------------------------------------------------------------------- AU agreement

def au_agreement(records: list[dict]) -> dict | None:
    """Per AU: Pearson r, mean absolute error (0-1 scale, = OpenFace intensity / 5), means, between
    the blendshape estimate and the OpenFace labels of ``records`` (index lines); None if no labels."""
    pairs = [(r["aus"], r["au_labels"]) for r in records if r.get("ok") and r.get("au_labels") is not None]
    if not pairs:
        return None
    est = np.array([p[0] for p in pairs], np.float64)
    lab = np.array([p[1] for p in pairs], np.float64)
    per = {}
    for k, au in enumerate(AUS):
        e, y = est[:, k], lab[:, k]
        r = float(np.corrcoef(e, y)[0, 1]) if len(e) > 2 and e.std() > 1e-9 and y.std() > 1e-9 else None
        per[f"AU{au}"] = {"r": None if r is None else round(r, 4), "mae": round(float(np.abs(e - y).mean()), 4),
                          "mean_label": round(float(y.mean()), 4), "mean_estimate": round(float(e.mean()), 4)}
    rs = [v["r"] for v in per.values() if v["r"] is not None]
    return {"n": len(pairs), "mean_r": round(float(np.mean(rs)), 4) if rs else None,
            "mean_mae": round(float(np.mean([v["mae"] for v in per.values()])), 4), "per_au": per}


def format_agreement(ag: dict) -> str:
    lines = [f"AU agreement with OpenFace labels (n={ag['n']}): mean r {ag['mean_r']}, "
             f"mean |error| {ag['mean_mae']} (0-1 scale)",
             "  AU     r      MAE   label  estimate"]
    for name, v in ag["per_au"].items():
        r = "  -   " if v["r"] is None else f"{v['r']:+.3f}"
        lines.append(f"  {name:<5} {r}  {v['mae']:.3f}  {v['mean_label']:.3f}  {v['mean_estimate']:.3f}")
    return "\n".join(lines)


# ----------------------------------------------------------------------------------- the run

def _progress(enabled: bool, total: int):
    from contextlib import nullcontext

    if not enabled:
        return nullcontext(None)
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                               TimeRemainingColumn)

    return Progress(TextColumn("prepare"), BarColumn(), MofNCompleteColumn(),
                    TextColumn("{task.fields[rate]} img/s"), TimeElapsedColumn(), TextColumn("ETA"),
                    TimeRemainingColumn(), TextColumn("{task.fields[failed]} failed"), transient=False)


def prepare(dataset: str, root: Path, out: Path, size: int = 256, every: int = 0, identity: bool = True,
            limit: int | None = None, retry_failed: bool = False, progress: bool = True,
            analyze: Callable | None = None, embedder=None, log: Callable[[str], None] | None = None,
            items: list[Item] | None = None) -> dict:
    """Annotate every image of ``dataset`` at ``root`` into the cache ``out``; returns a report.

    ``analyze`` (rgb -> faces, largest first) and ``embedder`` (``.embed(rgb, box)``) default to
    MediaPipe and dlib; ``items`` overrides the dataset listing (tests, custom sources).
    """
    log = log or (lambda m: None)
    out = Path(out)
    if size < 64 or size % 16:
        raise CacheError(f"--size must be a multiple of 16, at least 64 (128 or 256 for the configs), got {size}")
    if items is None:
        try:
            items = list_items(dataset, Path(root), every=every)
        except (FileNotFoundError, ValueError) as e:
            raise CacheError(str(e)) from None
    if limit:
        items = items[:limit]
    if identity and embedder is None:
        try:
            embedder = get_dlib_identity()
            embedder.detect(np.zeros((64, 64, 3), np.uint8))  # load the models now: fail early
        except ImportError:
            raise CacheError("identity embeddings need dlib (pip install 'facexpr[eval]'); "
                             "or pass --no-identity") from None
    meta = {"version": CACHE_VERSION, "size": size, "dataset": dataset, "root": str(Path(root).resolve()),
            "crop": "facexpr.faces.crops.alignment (STABLE points onto the fixed template)",
            "aus": list(AUS), "identity": "dlib_face_recognition_resnet_model_v1" if identity else None}
    _open_cache(out, meta)
    index_path = out / "index.jsonl"
    existing = read_index(out)
    done = {k for k, r in existing.items() if r.get("ok") or not retry_failed}
    todo = [it for it in items if it.key not in done]
    report = {"dataset": dataset, "items": len(items), "already_done": len(items) - len(todo), "new_ok": 0,
              "new_failed": 0, "failures": {}, "seconds": 0.0, "images_per_s": None, "interrupted": False}
    log(f"prepare {dataset}: {len(items)} images, {len(items) - len(todo)} already in {out}, {len(todo)} to do")
    analyze = analyze or analyze_faces
    t0 = time.perf_counter()
    fix = _needs_fix_line(index_path)
    with open(index_path, "a", encoding="utf-8") as index, _progress(progress and bool(todo), len(todo)) as bar:
        if fix:
            index.write("\n")
        task = bar.add_task("prepare", total=len(todo), rate="-", failed=0) if bar else None
        try:
            for n, it in enumerate(todo, 1):
                rec = it.meta()
                try:
                    ann = annotate(it.load(), size, analyze, embedder)
                except InputError as e:  # unreadable image, missing video frame...
                    ann = str(e)
                if isinstance(ann, str):
                    rec.update(ok=False, reason=ann)
                    report["new_failed"] += 1
                    report["failures"][it.key] = ann
                else:
                    rel = write_item(out, it.key, ann)
                    yaw, pitch, roll = ann.yaw_pitch_roll
                    rec.update(ok=True, file=rel, face_px=round(ann.face_px, 1),
                               blendshapes=[round(float(v), 5) for v in ann.blendshapes],
                               aus=[round(float(v), 5) for v in ann.aus],
                               has_identity=bool(np.any(ann.identity)),
                               yaw=round(yaw, 2), pitch=round(pitch, 2), roll=round(roll, 2))
                    report["new_ok"] += 1
                index.write(json.dumps(rec) + "\n")
                index.flush()
                if bar is not None:
                    dt = time.perf_counter() - t0
                    bar.update(task, advance=1, rate=f"{n / dt:.1f}", failed=report["new_failed"])
        except KeyboardInterrupt:
            report["interrupted"] = True
            log(f"prepare interrupted: {report['new_ok']} new images kept; run the same command again to continue")
            raise
        finally:
            os.fsync(index.fileno())
            report["seconds"] = round(time.perf_counter() - t0, 3)
            done_n = report["new_ok"] + report["new_failed"]
            report["images_per_s"] = round(done_n / report["seconds"], 3) if done_n and report["seconds"] else None
            index.flush()
            records = list(read_index(out).values())
            report["cached_ok"] = sum(1 for r in records if r.get("ok"))
            ag = au_agreement(records)
            if ag:
                report["au_agreement"] = ag
            atomic_write_text(out / "prepare.json", json.dumps(report, indent=1))
    if report.get("au_agreement"):
        log(format_agreement(report["au_agreement"]))
    log(f"prepare {dataset}: {report['new_ok']} new, {report['new_failed']} failed, "
        f"{report['cached_ok']} in the cache ({report['images_per_s'] or 0:.2f} img/s)")
    return report

