"""Controllability of AU edits (``facexpr edit``): does asking for more of an action unit give more
of it, and only of it, on the same person?

    .venv/bin/python benchmarks/au_edit.py [--method warp] [--n 10] [--aus 12,4] \\
        [--deltas 0,0.2,0.4,0.6,0.8,1] [--out reports/au_edit-warp.json] [--no-identity]

For the first ``--n`` *unseen* London neutral photos (outside the expression model's fitting
split, :func:`facexpr.datasets.london.split`), for each AU and each requested change Δ ≥ 0, the
photo is edited with ``--method`` and the AUs are measured again (MediaPipe on a crop around the
face, :func:`facexpr.faces.landmarks.reanalyze`, then :func:`facexpr.expression.action_units.estimate`;
the baseline is measured the same way on the input). Δ = 0 is not run: the pipeline returns the
input bit-for-bit, so its measured change is 0 by construction (checked separately below). The
target's current value limits what is possible: *achievable* = min(Δ, 1 − current).

Per AU: Spearman ρ between requested Δ and the measured change of that AU (all targets pooled),
mean achievable and measured change at the largest Δ, leakage = mean |change| of the 16 other AUs
at the largest Δ, identity kept = share of largest-Δ outputs whose dlib distance to the input is
< 0.6 (:mod:`facexpr.evaluate.judges.identity_dlib`). Overall: median ms per edit (whole pipeline,
image in memory), model-only ms at 128 and 256 px crops for generator methods, and the zero check:
``intensity=0`` must give the input exactly, and a forced render with Δ = 0 (what a generator does
to a face asked to stay as it is) is reported as max / mean |pixel difference| on the aligned
256-px face crop.

Prints a markdown table; ``--out`` also writes everything as JSON.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path
from statistics import median

import numpy as np

import facexpr
from facexpr.datasets import data_root, london
from facexpr.evaluate.judges.identity_dlib import MATCH_THRESHOLD
from facexpr.expression import action_units
from facexpr.expression.action_units import AU_NAMES, AUS, AUS_V1
from facexpr.expression.analysis import analyze_faces, reanalyze
from facexpr.io import load_image

DELTAS = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)


def _measure(image: np.ndarray, near) -> np.ndarray | None:
    face = reanalyze(image, near)
    return None if face is None else action_units.estimate(face.blendshapes)


def _generator(method):
    """(ExportedMethod) behind a method, or None for methods without a generator."""
    from facexpr.train.method import ExportedMethod

    if isinstance(method, ExportedMethod):
        return method
    return getattr(method, "exported", None)


def model_ms(exported, sizes=(128, 256), repeats: int = 10) -> dict[str, float | str]:
    """Median ms of one generator forward pass (batch 1) on a crop of each size."""
    import torch

    out: dict[str, float | str] = {}
    g = torch.Generator().manual_seed(0)
    for s in sizes:
        batch = {"target": torch.rand(1, 3, s, s, generator=g) * 2 - 1,
                 "target_aus": torch.rand(1, len(AUS_V1), generator=g), "want_aus": torch.rand(1, len(AUS_V1), generator=g)}
        try:
            with torch.no_grad():
                exported.task.generate(exported.G, batch)  # warm-up
                ts = []
                for _ in range(repeats):
                    t = time.perf_counter()
                    exported.task.generate(exported.G, batch)
                    ts.append((time.perf_counter() - t) * 1000)
            out[str(s)] = median(ts)
        except (KeyError, RuntimeError) as e:  # a task that needs more than target + AUs
            out[str(s)] = f"n/a ({type(e).__name__}: {str(e).splitlines()[0][:80]})"
    return out


def zero_check(method_name: str, img: np.ndarray, face) -> dict:
    """intensity 0 through the pipeline (must be exact), and a forced Δ = 0 render on the crop."""
    from facexpr.evaluate.crops import aligned_crop
    from facexpr.expression.model import load_default_model
    from facexpr.expression.retarget import retargeted
    from facexpr.faces.paste import paste_back
    from facexpr.methods import RenderJob, get_method

    res = facexpr.edit(img, aus={"AU12": 1.0}, intensity=0.0, method=method_name)
    pipeline_max = int(np.abs(res.image.astype(int) - img).max())
    cur = action_units.estimate(face.blendshapes).astype(np.float32)
    rt = retargeted(face, np.zeros(len(face.blendshapes)), load_default_model())
    job = RenderJob(img, face, img, face, rt, {"intensity": 1.0, "want_aus": cur})
    out = paste_back(img, get_method(method_name).render(job))
    a = aligned_crop(img, face.landmarks).astype(int)
    b = aligned_crop(out, face.landmarks).astype(int)
    d = np.abs(a - b)
    return {"pipeline_intensity0_max_abs": pipeline_max, "forced_zero_crop_max_abs": int(d.max()),
            "forced_zero_crop_mean_abs": float(d.mean())}


def run(method: str, n: int, aus: list[int], deltas: list[float], identity: bool = True,
        root: Path | None = None, log=print) -> dict:
    from facexpr.methods import get_method

    root = Path(root or data_root())
    people = london.split(root, "unseen")[:n]
    m = get_method(method)  # load once (and fail early on missing weights)
    ident = None
    if identity:
        from facexpr.evaluate.judges.identity_dlib import get_dlib_identity

        ident = get_dlib_identity()
    pos = {au: AUS.index(au) for au in aus}
    top = max(deltas)
    records, zero, ms = [], [], []
    for p in people:
        img = load_image(p.neutral)
        face = analyze_faces(img)[0]
        base = _measure(img, face)
        if base is None:
            log(f"{p.id}: no face on re-measuring the input, skipped")
            continue
        emb0 = ident.embed(img, face.bbox) if ident else None
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
                res = facexpr.edit(img, aus={au: d}, method=method)
                ms.append(sum(res.timings.values()))
                after = _measure(res.image, face)
                if after is None:
                    rec.update(measured=None, leakage=None, face_lost=True)
                else:
                    change = after - base
                    rec.update(measured=float(change[k]),
                               leakage=float(np.abs(np.delete(change, k)).mean()))
                if d == top and ident is not None and emb0 is not None:
                    e = ident.embed(res.image, face.bbox)
                    rec["identity_distance"] = None if e is None else ident.distance(emb0, e)
                records.append(rec)
        log(f"{p.id}: done ({len(records)} edits so far)")
    return {"method": method, "targets": [p.id for p in people], "aus": aus, "deltas": deltas,
            "per_au": summarise(records, aus, top),
            "records": records, "zero_check": zero,
            "median_ms_per_edit": median(ms) if ms else None,
            "model_ms": model_ms(_generator(m)) if _generator(m) is not None else None,
            "machine": {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count()}}


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


def _f(x, fmt="{:.2f}") -> str:
    return "–" if x is None or (isinstance(x, float) and np.isnan(x)) else fmt.format(x)


def markdown(report: dict) -> str:
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
    """One table for several methods' reports (the AU-editing section of docs/RESULTS.md)."""
    top = max(reports[0]["deltas"])
    names = [r["method"] for r in reports]
    lines = ["## AU editing (`facexpr edit`): controllability", "",
             f"{len(reports[0]['targets'])} unseen London neutral photos as targets; for each AU a sweep of requested "
             f"changes Δ ∈ {{{', '.join(f'{d:g}' for d in reports[0]['deltas'])}}}; the AUs re-measured on the output "
             "(MediaPipe blendshapes → `facexpr.expression.action_units`). ρ: Spearman correlation of requested vs "
             f"measured change of that AU, all targets pooled (bar ≥ 0.6); Δ@{top:g}: mean measured change at the "
             f"largest request (achievable: min(Δ, 1 − current)); leak: mean |change| of the 16 other AUs at Δ={top:g}.",
             ""]
    if commands:
        lines += ["Commands: " + "; ".join(f"`{c}`" for c in commands) + "; then `python benchmarks/au_edit.py "
                  "--compare <their JSON> --results-md docs/results/au_edit.md`.", ""]
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
    lines += ["", f"Machine: {reports[0]['machine']['cpu']}, {reports[0]['machine']['cores']} cores. Edits of "
              "AUs the generator barely moves score a low ρ: MediaPipe's noise dominates a tiny change.", ""]
    return "\n".join(lines)


def _parse_aus(text: str | None) -> list[int]:
    if not text:
        return list(AUS)
    from facexpr.expression.emotions import au_index

    return [AUS[au_index(t)] for t in text.split(",") if t.strip()]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--method", default="warp", help="relative-au, ganimation, warp or an exported .safetensors")
    ap.add_argument("--n", type=int, default=10, help="number of unseen London neutral targets")
    ap.add_argument("--aus", help="comma-separated subset, e.g. 12,4 or AU12,AU4 (default: all 17)")
    ap.add_argument("--deltas", default=",".join(f"{d:g}" for d in DELTAS), help="requested changes, >= 0")
    ap.add_argument("--out", type=Path, help="also write the report as JSON here")
    ap.add_argument("--no-identity", action="store_true", help="skip the dlib identity judge")
    ap.add_argument("--data", type=Path, help="shared data folder (default: FACEXPR_DATA or ../shared/data)")
    ap.add_argument("--compare", type=Path, nargs="+", metavar="JSON",
                    help="no run: put earlier --out reports side by side (markdown; with --results-md, into a file "
                         "that `facexpr evaluate --results-md` appends to docs/RESULTS.md)")
    ap.add_argument("--results-md", type=Path, help="with --compare: write the table here (e.g. docs/results/au_edit.md)")
    args = ap.parse_args(argv)
    if args.compare:
        from facexpr.io import atomic_write_text

        reports = [json.loads(p.read_text(encoding="utf-8")) for p in args.compare]
        text = side_by_side(reports, [r["command"] for r in reports if r.get("command")])
        print(text)
        if args.results_md:
            args.results_md.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_text(args.results_md, text)
        return 0
    deltas = sorted({float(x) for x in args.deltas.split(",") if x.strip()})
    if not deltas or min(deltas) < 0 or max(deltas) > 1:
        ap.error("--deltas must be values in [0, 1]")
    report = run(args.method, args.n, _parse_aus(args.aus), deltas, identity=not args.no_identity,
                 root=args.data, log=lambda m: print(m, flush=True, file=sys.stderr))
    report["command"] = "python benchmarks/au_edit.py " + " ".join(argv if argv is not None else sys.argv[1:])
    print(markdown(report))
    if args.out:
        from facexpr.io import atomic_write_text

        args.out.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(args.out, json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
