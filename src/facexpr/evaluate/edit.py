"""``facexpr evaluate --task edit``: how controllable are AU edits (``facexpr edit``), and do
emotion edits read as that emotion to an independent judge?

    facexpr evaluate --task edit --method warp,relative-au,ganimation --n 10 \\
        [--aus 12,4] [--deltas 0,0.25,0.5,0.75,1] [--no-emotions] [--judges expression] \\
        [--out reports/edit] [--results-md docs/RESULTS.md]

Targets: the first ``--n`` *unseen* London neutral photos (outside the expression model's fitting
split, :func:`facexpr.datasets.london.split`). An input's current AUs (and so what is
achievable) are :func:`facexpr.evaluate.judges.expression.measure_aus`; the *change* an edit makes
is one paired reading of input and output, :func:`facexpr.evaluate.judges.expression.measure_au_change`
(MediaPipe's landmarks of both photos; their difference fitted with the 3D prior, so the person's
identity cancels; MediaPipe's scores for the smile, jaw, blinks, gaze and the mouth-opening and
protrusion shapes it reads reliably).

* **Controllability**, for each AU of :data:`facexpr.expression.action_units.AUS` (or ``--aus``) and
  each requested change Δ > 0: the photo is edited and its AUs measured again. Δ = 0 is not run (the
  pipeline returns the input bit-for-bit; checked separately). *achievable* = min(Δ, 1 − current).
  Per AU: Spearman ρ between requested Δ and the measured change of that AU (targets pooled), mean
  achievable and measured change at the largest Δ, leakage = mean |change| of the other AUs there,
  identity kept = share of largest-Δ outputs whose dlib distance to the input is < 0.6.
* **Emotions**, for every emotion of :data:`facexpr.expression.emotions.EMOTIONS` (read at run
  time: emotions added there are evaluated without a change here), ``--emotion NAME`` at intensity
  1: face-api's top class on the output equals the emotion (names mapped by
  :func:`facexpr.datasets.expressions.canonical_emotion`, e.g. angry/anger; an emotion face-api has
  no class for is reported without an accuracy); the share of *inputs* face-api already reads so
  is shown beside it; identity kept (dlib < 0.6). A contact sheet of the outputs goes in the report
  folder (face images never go into docs/).
* Overall: median ms per edit (whole pipeline), model-only ms at 128 and 256 px crops for generator
  methods, and the zero check: ``intensity=0`` must give the input exactly; a forced Δ = 0 render
  (what a generator does to a face asked to stay as it is) is reported as max / mean |pixel
  difference| on the aligned 256-px face crop.

MediaPipe both drives the analysis and measures the AUs here; face-api (emotion) and dlib
(identity) are independent networks.
"""
from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path
from statistics import median

import cv2
import numpy as np
import torch

from ..datasets import data_root, london
from ..datasets.expressions import canonical_emotion
from ..errors import InputError
from ..expression import action_units
from ..expression.action_units import AU_NAMES, AUS, AUS_V1
from ..expression.emotions import EMOTIONS, au_index
from ..expression.model import load_default_model
from ..expression.retarget import EDIT, Intent, retargeted
from ..faces.crops import aligned_crop
from ..faces.identity import MATCH_THRESHOLD, get_dlib_identity
from ..expression.analysis import analyze_faces, reanalyze
from ..io import atomic_write_text, load_image
from ..methods import RenderJob, get_method, require, specs
from ..methods.exported import ExportedMethod
from ..pipeline import EditConfig, render, run_edit
from .judges.emotion_faceapi import EMOTIONS as JUDGE_CLASSES
from .judges.emotion_faceapi import get_faceapi_emotion
from .judges.expression import measure_au_change, measure_aus
from .sections import write_section

DELTAS = (0.0, 0.25, 0.5, 0.75, 1.0)
SECTION = "## AU editing (`facexpr edit`): controllability"
SHEET_CROP = 128  # px per face in the contact sheet


def edit_methods(spec: str) -> list[str]:
    """``all`` (every registered method that can edit), one name or a comma-separated list; a method
    that cannot edit is refused here (:class:`~facexpr.errors.MethodCannot`)."""
    if spec.strip().lower() == "all":
        return [s.name for s in specs() if EDIT in s.capabilities]
    names = [s.strip() for s in spec.split(",") if s.strip()]
    if not names:
        raise InputError("no method given")
    for n in names:
        require(get_method(n).spec, EDIT)
    return list(dict.fromkeys(names))


def parse_aus(text: str | None) -> list[int]:
    """``"12,AU4"`` -> [12, 4]; None or empty: every AU of :data:`AUS`."""
    if not text:
        return list(AUS)
    return [AUS[au_index(t)] for t in text.split(",") if t.strip()]


def parse_deltas(text: str | None) -> list[float]:
    if not text:
        return list(DELTAS)
    try:
        deltas = sorted({float(x) for x in text.split(",") if x.strip()})
    except ValueError:
        raise InputError(f"--deltas: expected comma-separated numbers in [0, 1], got '{text}'") from None
    if not deltas or min(deltas) < 0 or max(deltas) > 1:
        raise InputError(f"--deltas: values must lie in [0, 1], got '{text}'")
    return deltas


def _generator(method) -> ExportedMethod | None:
    """The exported generator behind a method, or None for methods without one."""
    if isinstance(method, ExportedMethod):
        return method
    return getattr(method, "exported", None)


def model_ms(exported: ExportedMethod, sizes=(128, 256), repeats: int = 10) -> dict[str, float | str]:
    """Median ms of one generator forward pass (batch 1) on a crop of each size."""
    out: dict[str, float | str] = {}
    g = torch.Generator().manual_seed(0)
    for s in sizes:
        batch = {"target": torch.rand(1, 3, s, s, generator=g) * 2 - 1,
                 "target_aus": torch.rand(1, len(AUS_V1), generator=g), "want_aus": torch.rand(1, len(AUS_V1), generator=g)}
        try:
            with torch.no_grad():
                exported.adapter.generate(exported.G, batch)  # warm-up
                ts = []
                for _ in range(repeats):
                    t = time.perf_counter()
                    exported.adapter.generate(exported.G, batch)
                    ts.append((time.perf_counter() - t) * 1000)
            out[str(s)] = median(ts)
        except (KeyError, RuntimeError) as e:  # a family that needs more than target + AUs
            out[str(s)] = f"n/a ({type(e).__name__}: {str(e).splitlines()[0][:80]})"
    return out


def zero_check(method_name: str, img: np.ndarray, face) -> dict:
    """intensity 0 through the pipeline (must be exact), and a forced Δ = 0 render on the crop."""
    res = run_edit(img, EditConfig(method_name, ((12, 1.0),), None, 0.0))
    pipeline_max = int(np.abs(res.image.astype(int) - img).max())
    cur = action_units.estimate(face.blendshapes).astype(np.float32)
    rt = retargeted(face, np.zeros(len(face.blendshapes)), load_default_model(), intent=Intent(EDIT, cur))
    out, _ = render(get_method(method_name), RenderJob(img, face, img, face, rt))
    d = np.abs(aligned_crop(img, face.landmarks).astype(int) - aligned_crop(out, face.landmarks).astype(int))
    return {"pipeline_intensity0_max_abs": pipeline_max, "forced_zero_crop_max_abs": int(d.max()),
            "forced_zero_crop_mean_abs": float(d.mean())}


def _faceapi_class(faceapi, image: np.ndarray, near) -> str | None:
    """face-api's top class for the face near ``near`` in ``image`` (None: no face found)."""
    face = reanalyze(image, near)
    if face is None:
        return None
    return JUDGE_CLASSES[int(np.argmax(faceapi.classify_face(image, face.landmarks[:, :2])))]


def run(method: str, n: int, aus: list[int], deltas: list[float], identity: bool = True, emotions: bool = True,
        root: Path | None = None, log=print) -> dict:
    """One method's report (a dict; see the module doc)."""
    root = Path(root or data_root() or "")
    try:
        people = london.split(root, "unseen")[:n]
    except FileNotFoundError as e:
        raise InputError(f"{e} (pass --data or set FACEXPR_DATA)") from None
    m = get_method(method)  # load once (and fail early on missing weights)
    require(m.spec, EDIT)
    ident = get_dlib_identity() if identity else None
    faceapi = get_faceapi_emotion() if emotions else None
    names = list(EMOTIONS) if emotions else []
    pos = {au: AUS.index(au) for au in aus}
    top = max(deltas)
    records, emo_records, zero, ms, sheet = [], [], [], [], []
    for p in people:
        img = load_image(p.neutral)
        face = analyze_faces(img)[0]
        base = measure_aus(img, face)
        before = reanalyze(img, face)
        if base is None or before is None:
            log(f"{p.id}: no face on re-measuring the input, skipped")
            continue
        emb0 = ident.embed(img, face.bbox) if ident else None

        def kept(out: np.ndarray) -> float | None:
            if ident is None or emb0 is None:
                return None
            e = ident.embed(out, face.bbox)
            return None if e is None else ident.distance(emb0, e)

        zero.append({"id": p.id, **zero_check(method, img, face)})
        for au in aus:
            k = pos[au]
            for d in deltas:
                rec = {"id": p.id, "au": au, "requested": d, "current": float(base[k]),
                       "achievable": float(min(d, 1.0 - base[k]))}
                if d == 0:
                    rec.update(measured=0.0, leakage=0.0)
                    records.append(rec)
                    continue
                res = run_edit(img, EditConfig(method, ((au, d),)))
                ms.append(sum(res.timings.values()))
                change = measure_au_change(before, res.image)
                if change is None:
                    rec.update(measured=None, leakage=None, face_lost=True)
                else:
                    rec.update(measured=float(change[k]), leakage=float(np.abs(np.delete(change, k)).mean()))
                if d == top:
                    rec["identity_distance"] = kept(res.image)
                records.append(rec)
        row = [aligned_crop(img, face.landmarks, SHEET_CROP)]
        input_class = _faceapi_class(faceapi, img, face) if faceapi else None
        for name in names:
            res = run_edit(img, EditConfig(method, (), name, 1.0))
            ms.append(sum(res.timings.values()))
            emo_records.append({"id": p.id, "emotion": name, "judge_class": canonical_emotion(name),
                                "input_read": input_class, "output_read": _faceapi_class(faceapi, res.image, face),
                                "identity_distance": kept(res.image)})
            row.append(aligned_crop(res.image, face.landmarks, SHEET_CROP))
        sheet.append(row)
        log(f"{method} {p.id}: done ({len(records)} AU edits, {len(emo_records)} emotion edits so far)")
    g = _generator(m)
    return {"method": method, "targets": [p.id for p in people], "aus": aus, "deltas": deltas,
            "emotions": names, "per_au": summarise(records, aus, top), "per_emotion": summarise_emotions(emo_records, names),
            "records": records, "emotion_records": emo_records, "zero_check": zero,
            "median_ms_per_edit": median(ms) if ms else None, "model_ms": model_ms(g) if g is not None else None,
            "machine": {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count()},
            "_sheet": sheet}


def summarise(records: list[dict], aus: list[int], top: float, threshold: float = MATCH_THRESHOLD) -> list[dict]:
    from scipy.stats import spearmanr

    rows = []
    for au in aus:
        rs = [r for r in records if r["au"] == au and r.get("measured") is not None]
        at_top = [r for r in rs if r["requested"] == top]
        req = np.array([r["requested"] for r in rs])
        got = np.array([r["measured"] for r in rs])
        rho = float(spearmanr(req, got).statistic) if len(rs) > 2 and np.ptp(req) > 0 and np.ptp(got) > 0 else None
        dists = [r["identity_distance"] for r in at_top if r.get("identity_distance") is not None]
        rows.append({
            "au": au, "name": AU_NAMES[au], "n": len(rs), "spearman": rho,
            "achievable_at_max": float(np.mean([r["achievable"] for r in at_top])) if at_top else None,
            "measured_at_max": float(np.mean([r["measured"] for r in at_top])) if at_top else None,
            "leakage_at_max": float(np.mean([r["leakage"] for r in at_top])) if at_top else None,
            "identity_kept": float(np.mean([x < threshold for x in dists])) if dists else None,
            "identity_distance": float(np.mean(dists)) if dists else None,
            "faces_lost": sum(1 for r in records if r["au"] == au and r.get("face_lost")),
        })
    return rows


def summarise_emotions(records: list[dict], names: list[str], threshold: float = MATCH_THRESHOLD) -> list[dict]:
    """Per emotion: face-api accuracy on the outputs (and the rate it already reads the inputs so)."""
    rows = []
    for name in names:
        rs = [r for r in records if r["emotion"] == name]
        cls = canonical_emotion(name)
        judged = [r for r in rs if r["output_read"] is not None]
        dists = [r["identity_distance"] for r in rs if r.get("identity_distance") is not None]
        rows.append({
            "emotion": name, "judge_class": cls, "n": len(rs), "faces_lost": len(rs) - len(judged),
            "accuracy": float(np.mean([r["output_read"] == cls for r in judged])) if cls and judged else None,
            "input_rate": float(np.mean([r["input_read"] == cls for r in rs])) if cls and rs else None,
            "identity_kept": float(np.mean([x < threshold for x in dists])) if dists else None,
            "identity_distance": float(np.mean(dists)) if dists else None,
        })
    return rows


def _f(x, fmt="{:.2f}") -> str:
    return "–" if x is None or (isinstance(x, float) and np.isnan(x)) else fmt.format(x)


def markdown(report: dict) -> str:
    """One method's tables."""
    top = max(report["deltas"])
    title = (f"AU edit controllability — method `{report['method']}`, {len(report['targets'])} unseen London "
             f"neutral targets, Δ ∈ {{{', '.join(f'{d:g}' for d in report['deltas'])}}}")
    header = (f"| AU | name | Spearman ρ | achievable @Δ={top:g} | measured @Δ={top:g} | leakage @Δ={top:g} "
              "| identity kept | dlib dist |")
    lines = [title, "", header, "|---|---|---|---|---|---|---|---|"]
    for r in report["per_au"]:
        lines.append(f"| AU{r['au']} | {r['name']} | {_f(r['spearman'])} | {_f(r['achievable_at_max'])} | "
                     f"{_f(r['measured_at_max'], '{:+.2f}')} | {_f(r['leakage_at_max'], '{:.3f}')} | "
                     f"{_f(r['identity_kept'], '{:.0%}')} | {_f(r['identity_distance'])} |")
    if report.get("per_emotion"):
        lines += ["", "| emotion | face-api class | face-api accuracy | inputs already read so | identity kept | "
                  "dlib dist | faces lost |", "|---|---|---:|---:|---:|---:|---:|"]
        for r in report["per_emotion"]:
            lines.append(f"| {r['emotion']} | {r['judge_class'] or '(none)'} | {_f(r['accuracy'], '{:.0%}')} | "
                         f"{_f(r['input_rate'], '{:.0%}')} | {_f(r['identity_kept'], '{:.0%}')} | "
                         f"{_f(r['identity_distance'])} | {r['faces_lost']} |")
    z = report["zero_check"]
    lines += ["", f"median per edit (whole pipeline): {_f(report['median_ms_per_edit'], '{:.0f}')} ms"]
    if report["model_ms"]:
        lines.append("model only: " + ", ".join(
            f"{s} px {v:.1f} ms" if isinstance(v, float) else f"{s} px {v}" for s, v in report["model_ms"].items()))
    if z:
        lines.append(f"intensity 0: max |pixel difference| {max(r['pipeline_intensity0_max_abs'] for r in z)} "
                     f"(bit-identical when 0); forced Δ=0 render on the face crop: max "
                     f"{max(r['forced_zero_crop_max_abs'] for r in z)}, mean "
                     f"{np.mean([r['forced_zero_crop_mean_abs'] for r in z]):.2f}")
    return "\n".join(lines)


def side_by_side(reports: list[dict], commands: list[str] = ()) -> str:
    """One section for several methods' reports (the AU-editing section of docs/RESULTS.md)."""
    top = max(reports[0]["deltas"])
    names = [r["method"] for r in reports]
    lines = [SECTION, "",
             f"{len(reports[0]['targets'])} unseen London neutral photos as targets; for each AU a sweep of requested "
             f"changes Δ ∈ {{{', '.join(f'{d:g}' for d in reports[0]['deltas'])}}}; the AU change read from the input "
             "and output together (MediaPipe's landmarks of both, their difference fitted with the 3D prior so the "
             "person's identity cancels; MediaPipe's own scores for smile, jaw, blinks, gaze and the mouth-opening "
             "shapes; `facexpr.evaluate.judges.expression.measure_au_change`). ρ: Spearman correlation of requested vs "
             f"measured change of that AU, all targets pooled (bar ≥ 0.6); Δ@{top:g}: mean measured change at the "
             f"largest request (achievable: min(Δ, 1 − current)); leak: mean |change| of the {len(AUS) - 1} other AUs at Δ={top:g}.",
             ""]
    if commands:
        lines += ["Command: " + "; ".join(f"`{c}`" for c in commands) + ".", ""]
    lines += ["| AU | name | achievable | " + " | ".join(f"{n} ρ | {n} Δ@{top:g} | {n} leak" for n in names) + " |",
              "|---|---|---:|" + "---:|---:|---:|" * len(names)]
    by = [{r["au"]: r for r in rep["per_au"]} for rep in reports]
    for row in reports[0]["per_au"]:
        au = row["au"]
        cells = []
        for b in by:
            r = b.get(au, {})
            cells += [_f(r.get("spearman")), _f(r.get("measured_at_max"), "{:+.2f}"), _f(r.get("leakage_at_max"), "{:.3f}")]
        lines.append(f"| AU{au} | {row['name']} | {_f(row['achievable_at_max'])} | " + " | ".join(cells) + " |")
    lines += ["", "| method | AUs with ρ ≥ 0.6 | median ρ | identity kept @Δ=max | dlib dist | ms per edit | "
              "model ms 128 / 256 px | intensity 0 max diff |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for rep in reports:
        rhos = [r["spearman"] for r in rep["per_au"] if r["spearman"] is not None]
        kept = [r["identity_kept"] for r in rep["per_au"] if r["identity_kept"] is not None]
        dist = [r["identity_distance"] for r in rep["per_au"] if r["identity_distance"] is not None]
        mm = rep.get("model_ms") or {}
        model = " / ".join(_f(mm.get(s), "{:.0f}") if isinstance(mm.get(s), float) else "–" for s in ("128", "256"))
        z = rep["zero_check"]
        lines.append(f"| {rep['method']} | {sum(x >= 0.6 for x in rhos)} / {len(rep['per_au'])} | "
                     f"{_f(float(np.median(rhos)) if rhos else None)} | {_f(float(np.mean(kept)) if kept else None, '{:.0%}')} | "
                     f"{_f(float(np.mean(dist)) if dist else None)} | {_f(rep['median_ms_per_edit'], '{:.0f}')} | "
                     f"{model} | {max(r['pipeline_intensity0_max_abs'] for r in z) if z else '–'} |")
    if any(rep.get("per_emotion") for rep in reports):
        lines += ["", "Emotion edits (`--emotion NAME`, intensity 1): the share of outputs whose face-api top class is "
                  "the emotion (in brackets: the share of the neutral inputs face-api already reads so), and identity "
                  "kept (dlib distance to the input < 0.6). MediaPipe measures the AUs above and drives the analysis; "
                  "face-api and dlib are independent of both.", "",
                  "| emotion | face-api class | " + " | ".join(f"{n} accuracy | {n} identity" for n in names) + " |",
                  "|---|---|" + "---:|---:|" * len(names)]
        emo_by = [{r["emotion"]: r for r in rep.get("per_emotion") or []} for rep in reports]
        for name in dict.fromkeys(r["emotion"] for rep in reports for r in rep.get("per_emotion") or []):
            cls = canonical_emotion(name)
            cells = []
            for b in emo_by:
                r = b.get(name, {})
                acc = _f(r.get("accuracy"), "{:.0%}")
                cells += [f"{acc} ({_f(r.get('input_rate'), '{:.0%}')})" if r.get("accuracy") is not None else acc,
                          _f(r.get("identity_kept"), "{:.0%}")]
            lines.append(f"| {name} | {cls or '(no class)'} | " + " | ".join(cells) + " |")
    lines += ["", f"Machine: {reports[0]['machine']['cpu']}, {reports[0]['machine']['cores']} cores. Edits of "
              "AUs the generator barely moves score a low ρ: MediaPipe's noise dominates a tiny change.", ""]
    return "\n".join(lines)


def contact_sheet(report: dict, path: Path) -> bool:
    """Rows: targets; columns: the input, then one output per emotion (aligned face crops)."""
    rows = report.get("_sheet") or []
    if not rows or len(rows[0]) < 2:
        return False
    labels = ["input"] + list(report["emotions"])
    head = np.full((18, SHEET_CROP * len(labels), 3), 255, np.uint8)
    for k, text in enumerate(labels):
        cv2.putText(head, text[:14], (k * SHEET_CROP + 4, 13), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1, cv2.LINE_AA)
    grid = np.concatenate([head] + [np.concatenate(r, 1) for r in rows], 0)
    ok, buf = cv2.imencode(".png", grid[..., ::-1])
    if ok:
        path.write_bytes(buf.tobytes())
    return bool(ok)


def write_report(reports: list[dict], out: Path, command: str) -> str:
    """``out/edit.json``, ``out/edit.md`` and one contact sheet per method; returns the section."""
    out.mkdir(parents=True, exist_ok=True)
    section = side_by_side(reports, [command])
    parts = [section, ""]
    for rep in reports:
        sheet = f"edit_sheet_{rep['method'].replace('/', '_')}.png"
        parts += [f"### {rep['method']}", "", markdown(rep), ""]
        if contact_sheet(rep, out / sheet):
            parts += [f"![{rep['method']} emotion edits]({sheet})", ""]
    clean = [{k: v for k, v in r.items() if not k.startswith("_")} | {"command": command} for r in reports]
    atomic_write_text(out / "edit.json", json.dumps(clean, indent=1))
    atomic_write_text(out / "edit.md", "# Evaluation: AU and emotion editing\n\n" + "\n".join(parts))
    return section


def write_results_md(section: str, results_md: Path) -> Path:
    """The section into ``docs/results/au_edit.md`` and, when RESULTS.md has it already, in place."""
    return write_section(section, SECTION, "au_edit.md", results_md)


__all__ = ["run", "edit_methods", "parse_aus", "parse_deltas", "summarise", "summarise_emotions", "markdown",
           "side_by_side", "write_report", "write_results_md", "DELTAS"]
