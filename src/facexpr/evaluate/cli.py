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

from ..errors import InputError
from . import benchmarks, report, runner

EPILOG = """Examples:\n
  facexpr evaluate --benchmark london --method warp\n
  facexpr evaluate --benchmark london --method all --results-md docs/RESULTS.md\n
  facexpr evaluate --benchmark rafd --data ~/datasets/RaFD --method warp --limit 50\n
  facexpr evaluate --pairs pairs.csv --out reports/mine   (CSV: id,source,target[,gt,label,source_neutral])"""


def evaluate(
    benchmark: Optional[str] = typer.Option(
        None, "--benchmark", "-b",
        help="london, or a dataset adapter: rafd, ckplus, mmi, cfd, jaffe, kdef, folders (<person>/<expression>.jpg)."),
    pairs: Optional[Path] = typer.Option(
        None, "--pairs", help="CSV with columns id,source,target and optionally gt,label,source_neutral "
                              "(paths relative to the CSV)."),
    method: str = typer.Option(
        "warp", "--method", "-m", help="A method (see `facexpr methods`), 'all', a comma-separated list, "
                                       "or a checkpoint path."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Report folder (default: reports/<benchmark>)."),
    limit: Optional[int] = typer.Option(None, "--limit", min=1, help="Evaluate only this many pairs, spread evenly."),
    data: Optional[Path] = typer.Option(
        None, "--data", help="Dataset folder for --benchmark (default: <FACEXPR_DATA or ../shared/data>/<benchmark>)."),
    judges: str = typer.Option("all", "--judges", help="Judge groups: all, or a comma-separated subset of "
                                                       "expression, emotion, identity, realism."),
    seed: int = typer.Option(0, "--seed", help="Seed for pair building (datasets) and KID subsets."),
    sheet_rows: int = typer.Option(6, "--sheet-rows", min=0, help="Pairs shown in the contact sheet."),
    results_md: Optional[Path] = typer.Option(None, "--results-md", help="Also write this RESULTS.md "
                                                                         "(numbers and plots only, no face images)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar, no table."),
) -> None:
    """Score methods with independent judges (expression, emotion, identity, realism, speed) against
    three reference rows; print the table and write results.json, report.md, a contact sheet and plots."""
    if (benchmark is None) == (pairs is None):
        raise InputError("give exactly one of --benchmark NAME or --pairs CSV")
    if pairs is not None and data is not None:
        raise InputError("--data goes with --benchmark, not with --pairs")
    groups = runner.JUDGE_GROUPS if judges.strip().lower() == "all" else tuple(
        g.strip() for g in judges.split(",") if g.strip())
    if pairs is not None:
        pair_list, name = benchmarks.read_pairs_csv(pairs), str(pairs)
        default_out = Path("reports") / Path(pairs).stem
    else:
        pair_list, name = benchmarks.benchmark_pairs(benchmark, data, seed), benchmark.lower()
        default_out = Path("reports") / name
    pair_list = benchmarks.subset(pair_list, limit)
    out = Path(out) if out is not None else default_out
    if out.exists() and not out.is_dir():
        raise InputError(f"{out}: exists and is not a folder")
    methods = runner.resolve_methods(method)
    loaded = runner.Judges(groups)  # loads every judge now: a bad model file stops us here
    command = _command()

    t0 = time.perf_counter()
    result = _run(pair_list, methods, loaded, seed, sheet_rows, quiet)
    result.meta["seconds"] = time.perf_counter() - t0
    results = report.write_report(result, out, name, command, sheet_rows)
    if not quiet:
        for sub, data_ in results["subsets"].items():
            report.print_table(data_["rows"], f"{name}: {report._subset_title(sub, data_['pairs'])}")
        typer.echo(f"{len(pair_list)} pairs, {result.wall_seconds:.0f} s; machine: "
                   f"{report.machine_line(results['machine'])}")
    if results_md is not None:
        report.write_results_md(results, out, results_md)
        typer.echo(f"results: {results_md}", err=True)
    typer.echo(f"report: {out}", err=True)


def _command() -> str:
    """The command line that produced this report (for report.md / RESULTS.md)."""
    argv = sys.argv[1:]
    if argv and argv[0] == "evaluate":
        argv = argv[1:]
    prog = "facexpr evaluate"
    return " ".join([prog] + [shlex.quote(a) for a in argv])


def _run(pair_list, methods, loaded, seed, sheet_rows, quiet):
    if quiet or not sys.stderr.isatty():
        return runner.evaluate_pairs(pair_list, methods, loaded, seed=seed, keep_crops=sheet_rows)
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(TextColumn("evaluate {task.fields[pid]}"), BarColumn(), MofNCompleteColumn(),
                  TimeRemainingColumn(), transient=True) as bar:
        task = bar.add_task("evaluate", total=len(pair_list), pid="")
        return runner.evaluate_pairs(pair_list, methods, loaded, seed=seed, keep_crops=sheet_rows,
                                     progress=lambda done, total, pid: bar.update(task, completed=done, pid=pid))

