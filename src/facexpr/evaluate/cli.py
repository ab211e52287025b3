"""``facexpr evaluate``: score methods on a benchmark or a pairs CSV and write a report folder.

Written as a plain function with typer defaults so the main CLI registers it with
``app.command("evaluate")(evaluate)`` (:mod:`facexpr.cli`, the only place commands are assembled).
User errors raise :class:`facexpr.errors.FacexprError` subclasses (one-line messages).
"""
from __future__ import annotations

import shlex
import sys
import time
from pathlib import Path
from typing import Optional

import typer

from ..datasets import data_root
from ..errors import InputError
from ..extras import require


EPILOG = """Examples:\n
  facexpr evaluate --benchmark london --method warp\n
  facexpr evaluate --benchmark london --method all --results-md docs/RESULTS.md\n
  facexpr evaluate --benchmark london --method warp,pix2pix-warp --downscale 256   (small faces)\n
  facexpr evaluate --benchmark rafd --data ~/datasets/RaFD --method warp --limit 50\n
  facexpr evaluate --pairs pairs.csv --out reports/mine   (CSV: id,source,target[,gt,label,source_neutral])\n
  facexpr evaluate --benchmark probes --method all   (real photos + video frames onto unseen London neutrals)\n
  facexpr evaluate --task edit --method warp,relative-au --n 2 --aus 12,4   (AU and emotion editing)\n
  facexpr evaluate --task read --n 10   (the expression reading: mirror, neutral faces, AU recovery, stability)"""


def evaluate(
    task: str = typer.Option("transfer", "--task", help="transfer (default: source expression onto target), edit "
                                                       "(AU and emotion edits of unseen London neutrals) or read "
                                                       "(the expression reading: mirror consistency, neutral faces, "
                                                       "AU recovery from one photo)."),
    benchmark: Optional[str] = typer.Option(
        None, "--benchmark", "-b",
        help="london; probes or probes-judge (real photos and video frames onto unseen London neutrals); "
             "roundtrip (unseen London neutrals edited to each emotion, onto other unseen people); or a "
             "dataset adapter: rafd, ckplus, mmi, cfd, jaffe, kdef, folders (<person>/<expression>.jpg)."),
    pairs: Optional[Path] = typer.Option(
        None, "--pairs", help="CSV with columns id,source,target and optionally gt,label,source_neutral "
                              "(paths relative to the CSV)."),
    method: str = typer.Option(
        "warp", "--method", "-m", help="A method (see `facexpr methods`), 'all', a comma-separated list, "
                                       "or a checkpoint path."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Report folder (default: reports/<benchmark>)."),
    limit: Optional[int] = typer.Option(None, "--limit", min=1, help="Evaluate only this many pairs, spread evenly."),
    data: Optional[Path] = typer.Option(
        None, "--data", help="Dataset folder for --benchmark (default: <FACEXPR_DATA or ../shared/data>/<benchmark>; "
                             "probes and --task edit: the shared data folder itself)."),
    judges: str = typer.Option("all", "--judges", help="Judge groups: all, or a comma-separated subset of "
                                                       "expression, emotion, identity, realism."),
    seed: int = typer.Option(0, "--seed", help="Seed for pair building (datasets) and KID subsets."),
    sheet_rows: int = typer.Option(6, "--sheet-rows", min=0, help="Pairs shown in the contact sheet."),
    results_md: Optional[Path] = typer.Option(None, "--results-md", help="Also write this RESULTS.md "
                                                                         "(numbers and plots only, no face images)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar, no table."),
    n: int = typer.Option(10, "--n", min=1, help="--task edit: how many unseen London neutral targets."),
    aus: Optional[str] = typer.Option(None, "--aus", help="--task edit: AUs to sweep, e.g. 12,4 (default: all)."),
    deltas: Optional[str] = typer.Option(None, "--deltas", help="--task edit: requested changes in [0, 1] "
                                                                "(default 0,0.25,0.5,0.75,1)."),
    source_neutral: bool = typer.Option(False, "--source-neutral", help="Transfer: give each method the "
                                        "pair's neutral photo of the source (transfer its change from it), "
                                        "where the pairs have one (london, roundtrip, datasets, the probes' video frames: the "
                                        "clip's reference frame, a CSV column)."),
    emotions: bool = typer.Option(True, "--emotions/--no-emotions", help="--task edit: also edit with every "
                                                                         "emotion and score it with face-api."),
    engine: Optional[str] = typer.Option(None, "--engine", help="Run the transfers first as a batch job: local "
                                         "(a process pool) or ray (same outputs and scores; default: one by one)."),
    workers: Optional[int] = typer.Option(None, "--workers", min=1, help="With --engine: processes or Ray actors."),
    downscale: Optional[int] = typer.Option(None, "--downscale", help="Transfer: shrink every source, target and "
                                            "ground-truth image to this many pixels on its long side (INTER_AREA) "
                                            "first, e.g. 256: the methods and every metric then see small faces."),
) -> None:
    """Score methods with independent judges (expression, emotion, identity, realism, speed) against
    three reference rows; print the table and write results.json, report.md, a contact sheet and plots.
    With --task edit: AU controllability and emotion edits (edit.json, edit.md, contact sheets)."""
    if task not in ("transfer", "edit", "read"):
        raise InputError(f"--task must be transfer, edit or read, got '{task}'")
    if downscale is not None and task != "transfer":
        raise InputError("--downscale goes with --task transfer")
    if task == "read":  # MediaPipe and warp only: no judge, no torch
        return _evaluate_read(n, data, out, quiet, benchmark, pairs, method, results_md)
    # The judges and metrics run on torch (and dlib, h5py): loaded only now, so the rest of the
    # command line never imports them.
    require("facexpr evaluate", "torch", "kornia", "dlib", "h5py", extra="eval")
    from . import benchmarks, report, runner, tables
    from .downscale import Downscale

    if task == "edit":
        return _evaluate_edit(method, n, aus, deltas, emotions, judges, data, out, results_md, quiet,
                              benchmark, pairs)
    if (benchmark is None) == (pairs is None):
        raise InputError("give exactly one of --benchmark NAME or --pairs CSV")
    if pairs is not None and data is not None:
        raise InputError("--data goes with --benchmark, not with --pairs")
    groups = runner.JUDGE_GROUPS if judges.strip().lower() == "all" else tuple(
        g.strip() for g in judges.split(",") if g.strip())
    name = str(pairs) if pairs is not None else benchmark.lower()
    out = Path(out) if out is not None else Path("reports") / (Path(pairs).stem if pairs is not None else name)
    if out.exists() and not out.is_dir():
        raise InputError(f"{out}: exists and is not a folder")
    small = None if downscale is None else Downscale(downscale)  # a bad size stops us before any work
    methods = runner.resolve_methods(method, source_neutral)
    if pairs is not None:
        pair_list = benchmarks.read_pairs_csv(pairs)
    else:
        pair_list = benchmarks.benchmark_pairs(benchmark, data, seed, work=out)
    pair_list = benchmarks.subset(pair_list, limit)
    loaded = runner.Judges(groups)  # loads every judge now: a bad model file stops us here
    command = _command()

    t0 = time.perf_counter()
    if engine not in (None, "local", "ray"):
        raise InputError(f"--engine must be local or ray, got '{engine}'")
    opts = runner.EngineOptions(engine or "local", workers) if engine or workers else None
    result = _run(pair_list, methods, loaded, seed, sheet_rows, quiet, opts, small)
    result.meta["seconds"] = time.perf_counter() - t0
    results = report.write_report(result, out, name, command, sheet_rows)
    if not quiet:
        for sub, data_ in results["subsets"].items():
            tables.print_table(data_["rows"], f"{name}: {report._subset_title(sub, data_['pairs'])}")
        typer.echo(f"{len(pair_list)} pairs, {result.wall_seconds:.0f} s; machine: "
                   f"{report.machine_line(results['machine'])}")
    if results_md is not None:
        report.write_results_md(results, out, results_md)
        typer.echo(f"results: {results_md}", err=True)
    typer.echo(f"report: {out}", err=True)


def _evaluate_edit(method, n, aus, deltas, emotions, judges, data, out, results_md, quiet, benchmark, pairs):
    from . import edit, runner

    if pairs is not None or (benchmark or "london").lower() != "london":
        raise InputError("--task edit runs on the unseen London neutrals (no --pairs; --benchmark london at most)")
    groups = runner.JUDGE_GROUPS if judges.strip().lower() == "all" else tuple(
        g.strip() for g in judges.split(",") if g.strip())
    bad = set(groups) - set(runner.JUDGE_GROUPS)
    if bad:
        raise InputError(f"unknown judge group(s) {sorted(bad)} (choose from {', '.join(runner.JUDGE_GROUPS)})")
    names, au_list, delta_list = edit.edit_methods(method), edit.parse_aus(aus), edit.parse_deltas(deltas)
    root = data or data_root()  # the shared data folder, or its london/ folder
    out = Path(out) if out is not None else Path("reports") / "edit"
    log = (lambda m: None) if quiet else (lambda m: typer.echo(m, err=True))
    reports = [edit.run(name, n, au_list, delta_list, identity="identity" in groups,
                        emotions=emotions and "emotion" in groups, root=root, log=log) for name in names]
    section = edit.write_report(reports, out, _command())
    if not quiet:
        typer.echo(section)
    if results_md is not None:
        typer.echo(f"results: {edit.write_results_md(section, results_md)}", err=True)
    typer.echo(f"report: {out}", err=True)


def _evaluate_read(n, data, out, quiet, benchmark, pairs, method, results_md):
    from . import read

    if pairs is not None or benchmark is not None:
        raise InputError("--task read runs on the shared data (no --pairs or --benchmark; --data to point at it)")
    if method != "warp":
        raise InputError("--task read measures the analysis, not a method: leave out --method")
    out = Path(out) if out is not None else Path("reports") / "read"
    log = (lambda m: None) if quiet else (lambda m: typer.echo(m, err=True))
    rep = read.run(data, n, out, _command(), log)
    if not quiet:
        typer.echo(read.markdown(rep))
    if results_md is not None:
        typer.echo(f"results: {read.write_results_md(read.markdown(rep), results_md)}", err=True)
    typer.echo(f"report: {out}", err=True)


def _command() -> str:
    """The command line that produced this report (for report.md / RESULTS.md)."""
    argv = sys.argv[1:]
    if argv and argv[0] == "evaluate":
        argv = argv[1:]
    prog = "facexpr evaluate"
    return " ".join([prog] + [shlex.quote(a) for a in argv])


def _run(pair_list, methods, loaded, seed, sheet_rows, quiet, engine=None, downscale=None):
    from . import runner

    if quiet or not sys.stderr.isatty():
        return runner.evaluate_pairs(pair_list, methods, loaded, seed=seed, keep_crops=sheet_rows, engine=engine,
                                     downscale=downscale)
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(TextColumn("evaluate {task.fields[pid]}"), BarColumn(), MofNCompleteColumn(),
                  TimeRemainingColumn(), transient=True) as bar:
        task = bar.add_task("evaluate", total=len(pair_list), pid="")
        return runner.evaluate_pairs(pair_list, methods, loaded, seed=seed, keep_crops=sheet_rows, engine=engine,
                                     downscale=downscale,
                                     progress=lambda done, total, pid: bar.update(task, completed=done, pid=pid))

