"""The evaluation's figures: metric bars, action-unit errors, per-pair scatter and the contact sheet
(matplotlib, Agg backend: no display needed)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..expression.action_units import AUS
from .runner import REFERENCE_ROWS, RunResult
from .tables import ARROWS, COLUMNS, _mean, row_label

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
