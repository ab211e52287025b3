"""The evaluation's outputs: ``results.json``, ``report.md`` and ``docs/RESULTS.md`` (tables:
:mod:`.tables`; figures: :mod:`.plots`).

Nothing here computes a metric; it only assembles what :mod:`facexpr.evaluate.runner` measured.
"""
from __future__ import annotations

import json
import math
import os
import platform
import shutil
from pathlib import Path

import numpy as np

from .. import __version__, assets
from ..io import atomic_write_text
from .benchmarks import ADAPTERS
from .plots import contact_sheet, plot_action_units, plot_metrics, plot_per_pair
from .runner import REFERENCE_ROWS, ROW_LABELS, RunResult, aggregate
from .tables import DEFINITIONS, _mean, markdown_table, row_label, speed_table

def machine() -> dict:
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info = {"cpu": cpu or platform.machine(), "cpu_count": os.cpu_count(), "os": platform.platform(),
            "python": platform.python_version()}
    try:
        info["cpus_usable"] = len(os.sched_getaffinity(0))
    except AttributeError:
        pass
    try:
        import torch

        info["torch"] = torch.__version__
        info["torch_threads"] = torch.get_num_threads()
        info["gpu"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    except ImportError:
        info["gpu"] = None
    return info


def machine_line(m: dict) -> str:
    gpu = m.get("gpu") or "no GPU used"
    return (f"{m['cpu']}, {m.get('cpus_usable', m['cpu_count'])} CPU threads available, "
            f"torch {m.get('torch', '-')} with {m.get('torch_threads', '-')} threads, {gpu}; "
            f"Python {m['python']}")


JUDGE_ASSETS = {
    "expression": ("face_landmarker",),
    "emotion": ("faceapi_expression_manifest", "faceapi_expression_weights", "fer_emotion"),
    "identity": ("dlib_shape_predictor_5", "dlib_face_recognition"),
    "realism": ("fid_inception", "stlpips_vgg"),
}


def judge_files(groups) -> dict:
    out = {}
    for g in ("expression",) + tuple(x for x in groups if x != "expression"):
        for name in JUDGE_ASSETS[g]:
            a = assets.ASSETS[name]
            out[name] = {"group": g, "file": a.filename, "sha256": a.sha256, "licence": a.licence,
                         "used_for": a.used_for}
    return out


# ----------------------------------------------------------------------------- json

def _clean(x):
    if isinstance(x, dict):
        return {str(k): _clean(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_clean(v) for v in x]
    if isinstance(x, (np.floating, float)):
        x = float(x)
        return round(x, 6) if math.isfinite(x) else None
    if isinstance(x, np.integer):
        return int(x)
    if isinstance(x, np.bool_):
        return bool(x)
    if isinstance(x, Path):
        return str(x)
    return x


def subsets(result: RunResult) -> dict[str, list[str]]:
    out = {"all": [p.id for p in result.pairs]}
    unseen = [p.id for p in result.pairs if p.unseen]
    if any(p.unseen is not None for p in result.pairs):
        out["unseen"] = unseen
    return out


def by_label(result: RunResult) -> dict:
    labels = sorted({p.label for p in result.pairs if p.label})
    if "emotion" not in result.groups or len(labels) < 2:
        return {}
    out = {}
    for lab in labels:
        ids = [p.id for p in result.pairs if p.label == lab]
        out[lab] = {row: {k: _mean(a.get(k)) for k in ("emo_faceapi", "emo_fer")} | {"pairs": a["pairs"]}
                    for row, a in aggregate(result, ids).items()}
    return out


def build_results(result: RunResult, benchmark: str, command: str) -> dict:
    subs = subsets(result)
    aggs = {name: {"pairs": len(ids), "rows": aggregate(result, None if name == "all" else ids)}
            for name, ids in subs.items()}

    return _clean({
        "facexpr_version": __version__,
        "benchmark": benchmark,
        "command": command,
        "seed": result.seed,
        "methods": [r for r in result.rows if r not in REFERENCE_ROWS],
        "reference_rows": {r: ROW_LABELS[r] for r in result.rows if r in REFERENCE_ROWS},
        "realism_reference_set": result.reference_set,
        "downscale": result.meta.get("downscale"),
        "judges": judge_files(result.groups),
        "judge_groups": list(result.groups),
        "machine": machine(),
        "wall_seconds": result.wall_seconds,
        "judge_ms_total": result.judge_ms,
        "images_judged": result.n_judged,
        "subsets": aggs,
        "by_label": by_label(result),
        "failures": result.failures,
        "skipped_pairs": result.skipped,
        "definitions": DEFINITIONS,
        "per_pair": [{"id": p.id, "label": p.label, "unseen": p.unseen, "source": str(p.source),
                      "target": str(p.target), "gt": str(p.gt) if p.gt else None,
                      "rows": {r: {k: v for k, v in m.items()} for r, m in result.per_pair.get(p.id, {}).items()}}
                     for p in result.pairs],
    })


# ----------------------------------------------------------------------------- figures


def _subset_title(name: str, n: int) -> str:
    return {"all": f"All pairs ({n})", "unseen": f"Unseen part ({n} pairs: targets outside the fitting split)"}.get(
        name, f"{name} ({n} pairs)")


PROBES_NOTE = ("Probes: real photos and video frames (labelled by a person; `probes-judge`: by face-api's own "
               "reading of the source) onto unseen London neutral photos, no ground truth. Independence: the "
               "expression judge reads MediaPipe, which the methods' own analysis also uses; face-api, FER and "
               "dlib are separate networks no method uses, so the emotion and identity columns are the "
               "independent ones.")


def markdown_report(results: dict, figures: dict[str, str], title: str, with_images: bool = True) -> str:
    lines = [f"# {title}", ""]
    lines += [f"Command: `{results['command']}`", "",
              f"Machine: {machine_line(results['machine'])}.", "",
              f"Evaluation wall time: {results['wall_seconds']:.0f} s for {results['subsets']['all']['pairs']} pairs "
              f"({results['images_judged']} images judged). Seed {results['seed']}.", ""]
    if results.get("downscale"):
        lines += [f"**Small faces:** {results['downscale']['note']}.", ""]
    for name, sub in results["subsets"].items():
        lines += [f"## {_subset_title(name, sub['pairs'])}", "", markdown_table(sub["rows"]), ""]
    lines += ["Reference rows (italics) give each number its scale: *identity* leaves the target unchanged, "
              "*source* returns the source photo (another person), *ground truth* is the target person really "
              "making the expression (its errors to itself are 0 by construction; its emotion accuracy is the "
              "ceiling). FID/KID compare each row's set of aligned face crops with the "
              f"{results['realism_reference_set']} images of the same pairs; they measure whether outputs look like "
              "real photos as a set, not whether each output matches its pair (LPIPS, SSIM and PSNR do that; SSIM "
              "and PSNR can even reward blur, since blurring removes detail that differs from the ground truth). "
              "When the sources are themselves ground-truth photos of other pairs (London), the *source* row's "
              "FID/KID are ~0 or slightly negative by construction.", ""]
    if str(results.get("benchmark", "")).startswith("probes"):
        lines += [PROBES_NOTE, ""]
    jm = results.get("judge_ms_total") or {}
    if jm:
        lines += ["Judge time (whole run): " + ", ".join(f"{k} {v / 1000:.0f} s" for k, v in jm.items() if v) +
                  " (realism includes Inception, ST-LPIPS, SSIM and PSNR).", ""]
    speed = speed_table(results["subsets"]["all"]["rows"])
    if speed:
        lines += ["## Speed", "", speed, "",
                  "Per-stage milliseconds are means over the pairs a method completed (its own `timings`, "
                  "including reading the two photos); pairs/s is over the whole run including failures.", ""]
    if results.get("by_label"):
        lines += ["## Emotion accuracy by label", "", "| label | row | face-api | FER | pairs |",
                  "|---|---|---:|---:|---:|"]
        for lab, rows in results["by_label"].items():
            for r, v in rows.items():
                fa = "–" if v["emo_faceapi"] is None else f"{v['emo_faceapi']:.3f}"
                fe = "–" if v["emo_fer"] is None else f"{v['emo_fer']:.3f}"
                lines.append(f"| {lab} | {row_label(r)} | {fa} | {fe} | {v['pairs']} |")
        lines.append("")
    fails = {m: f for m, f in results["failures"].items() if f}
    if results.get("skipped_pairs"):
        fails = {"(inputs unreadable: pair skipped for every row)": results["skipped_pairs"], **fails}
    if fails:
        lines += ["## Failures", ""]
        for m, f in fails.items():
            lines.append(f"- {m}: {len(f)} pair(s): " + "; ".join(f"{k}: {v}" for k, v in list(f.items())[:10]))
        lines.append("")
    if figures:
        lines += ["## Figures", ""]
        for name, rel in figures.items():
            if name == "contact_sheet" and not with_images:
                continue
            lines += [f"![{name}]({rel})", ""]
    lines += ["## Metrics", ""] + [f"- **{k}**: {v}" for k, v in results["definitions"].items()] + [""]
    lines += ["## Judges (none trained by this project; all resolved offline, SHA-256 verified)", "",
              "| file | used for | licence | sha256 |", "|---|---|---|---|"]
    for j in results["judges"].values():
        lines.append(f"| {j['file']} | {j['used_for']} | {j['licence']} | `{j['sha256'][:16]}…` |")
    lines.append("")
    return "\n".join(lines)


def write_report(result: RunResult, out: Path, benchmark: str, command: str, sheet_rows: int = 6) -> dict:
    """Write results.json, report.md, contact_sheet.png and plots into ``out``; returns the results."""
    out.mkdir(parents=True, exist_ok=True)
    results = build_results(result, benchmark, command)
    atomic_write_text(out / "results.json", json.dumps(results, indent=1, allow_nan=False))
    figures = {}
    aggs = results["subsets"]["all"]["rows"]
    for name, fn in (("metrics", lambda p: plot_metrics(aggs, p)),
                     ("action_units", lambda p: plot_action_units(aggs, p)),
                     ("per_pair", lambda p: plot_per_pair(result, p)),
                     ("contact_sheet", lambda p: contact_sheet(result, p, sheet_rows))):
        if fn(out / f"{name}.png"):
            figures[name] = f"{name}.png"
    atomic_write_text(out / "report.md", markdown_report(results, figures, f"Evaluation: {benchmark}"))
    results["_figures"] = figures
    return results


def write_results_md(results: dict, report_dir: Path, path: Path) -> Path:
    """docs/RESULTS.md: numbers and plots only (no face images), plots copied beside it."""
    path = Path(path)
    fig_dir = path.parent / "results"
    fig_dir.mkdir(parents=True, exist_ok=True)
    figures = {}
    for name in ("metrics", "action_units", "per_pair"):
        src = Path(report_dir) / f"{name}.png"
        if src.exists():
            shutil.copyfile(src, fig_dir / src.name)
            figures[name] = f"results/{src.name}"
    text = markdown_report(results, figures, f"Results: {results['benchmark']}", with_images=False)
    # au_edit.md: written by `facexpr evaluate --task edit --results-md` (evaluate/edit.py);
    # all_methods.md: the cross-benchmark table of every method (several commands, kept by hand)
    # read.md: written by `facexpr evaluate --task read --results-md` (evaluate/read.py)
    for extra in (fig_dir / "au_edit.md", fig_dir / "read.md", fig_dir / "all_methods.md"):
        if extra.is_file():
            text += "\n" + extra.read_text(encoding="utf-8").rstrip() + "\n"
    text += "\n" + datasets_section()
    title = f"# Results: {results['benchmark']}\n"
    text = text.replace(title, title + "\nGenerated by `facexpr evaluate` (numbers and plots only; no face images "
                        "of dataset people are committed). Regenerate with the command below.\n", 1)
    atomic_write_text(path, text)
    return path


def datasets_section() -> str:
    """How to run the other benchmarks: each adapter's expected layout (from its docstring)."""
    import importlib


    lines = ["## Other benchmarks", "",
             "`facexpr evaluate --benchmark NAME --data FOLDER` builds cross-identity pairs with ground truth "
             "(source: person A with expression X; target: person B neutral; ground truth: B with X; sources "
             "assigned by a seeded rotation, `--seed`). `--pairs PAIRS.csv` takes any list "
             "(`id,source,target[,gt,label,source_neutral]`). Expected layouts:", ""]
    for name, (title, _) in ADAPTERS.items():
        doc = importlib.import_module(f"facexpr.datasets.{name}").__doc__ or ""
        block = [ln[4:] for ln in doc.splitlines() if ln.startswith("    ")]
        lines += [f"- `{name}`: {title} (details: `facexpr.datasets.{name}`)", ""]
        if block:
            lines += ["  ```"] + [f"  {ln}" for ln in block] + ["  ```", ""]
    return "\n".join(lines) + "\n"
