"""Command-line functions ``prepare``, ``train`` and ``export``: plain functions with typer
defaults, registered by the main app (``app.command("prepare")(prepare)``...; ``python -m
facexpr.train ...``, handy with ``accelerate launch``, runs that app) and by this package's own
small app (:func:`make_app`, for tests)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer

from ..errors import FacexprError
from ..extras import require


def _fail(msg: str, code: int = 2) -> None:
    typer.echo(f"facexpr: error: {msg}", err=True)
    raise typer.Exit(code)


def _err(m: str) -> None:
    typer.echo(m, err=True)


def prepare(
    dataset: str = typer.Argument(..., help="london, rafd, ckplus, mmi, cfd, jaffe, kdef, folders, images, video, "
                                            "openface (AU-labelled folders)."),
    root: Path = typer.Option(..., "--root", help="The dataset's folder (its published layout)."),
    out: Path = typer.Option(..., "--out", help="Cache folder (created; a second run resumes it)."),
    size: int = typer.Option(256, "--size", help="Crop side in pixels (128 or 256)."),
    every: int = typer.Option(0, "--every", help="Frame step: videos (default 10); CK+ sequences and MMI videos "
                                                 "(default: neutral + peak only)."),
    identity: bool = typer.Option(True, "--identity/--no-identity", help="Compute dlib identity embeddings."),
    limit: Optional[int] = typer.Option(None, "--limit", help="Only the first N images (a quick look)."),
    retry_failed: bool = typer.Option(False, "--retry-failed", help="Try again the images that failed before."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Progress bar with ETA."),
):
    """Detect, align, crop and annotate every image of DATASET once, into a resumable cache."""
    if size not in (64, 128, 256, 512):
        _fail(f"--size must be 128 or 256 (64 and 512 are allowed for experiments), got {size}")
    from .prepare import prepare as run_prepare  # MediaPipe, dlib: loaded only by this command

    try:
        if identity:
            require("facexpr prepare --identity", "dlib", extra="eval")
        report = run_prepare(dataset, root, out, size=size, every=every, identity=identity, limit=limit,
                     retry_failed=retry_failed, progress=progress, log=_err)
    except FacexprError as e:
        _fail(str(e), e.exit_code)
    summary = {k: v for k, v in report.items() if k not in ("failures", "au_agreement")}
    typer.echo(json.dumps(summary, indent=1))


def train(
    config: Path = typer.Option(..., "--config", "-c", help="YAML config (configs/*.yaml)."),
    overrides: Optional[List[str]] = typer.Argument(
        None, help="key=value overrides, e.g. train.steps=100 optim.G.lr=1e-4"),
    resume: bool = typer.Option(False, "--resume", help="Continue from the newest checkpoint of train.out_dir."),
    from_checkpoint: Optional[Path] = typer.Option(None, "--from", help="Resume from this checkpoint folder."),
):
    """Train a method from a config (CPU, one GPU, or many through `accelerate launch`)."""
    try:
        require("facexpr train", "torch", "yaml", "accelerate", extra="train")
    except FacexprError as e:
        _fail(str(e), e.exit_code)
    from .config import load_config
    from .trainer import NonFiniteLoss, train as run_training  # torch: loaded only by this command
    try:
        cfg = load_config(config, overrides or [])
        summary = run_training(cfg, resume=from_checkpoint or resume, log=_err)
    except FacexprError as e:
        _fail(str(e), e.exit_code)
    except NonFiniteLoss as e:
        _fail(f"training diverged: {e}", 1)
    if summary.get("process_index", 0) == 0:
        typer.echo(json.dumps(summary, indent=1))


def export(
    run: Path = typer.Argument(..., help="The run folder (train.out_dir)."),
    out: Path = typer.Option(..., "-o", "--out", help="Output .safetensors (a .json and .md card go beside it)."),
    weights: str = typer.Option("ema", "--weights", help="ema (default) or raw generator weights."),
    checkpoint: Optional[Path] = typer.Option(None, "--checkpoint", help="A checkpoint folder (default: the newest)."),
    metrics: Optional[Path] = typer.Option(None, "--metrics", help="JSON of evaluation metrics for the model card."),
):
    """Export a run's generator as a small fp16 safetensors file plus a model card."""
    try:
        require("facexpr export", "torch", "yaml", extra="train")
    except FacexprError as e:
        _fail(str(e), e.exit_code)
    from .export import export as run_export  # torch: loaded only by this command
    if weights not in ("ema", "raw"):
        _fail(f"--weights must be ema or raw, got {weights}")
    try:
        card = run_export(run, out, weights=weights, checkpoint=checkpoint, metrics=metrics)
    except FacexprError as e:
        _fail(str(e), e.exit_code)
    typer.echo(json.dumps({k: card[k] for k in ("name", "task", "size", "weights", "parameters", "file_bytes",
                                                "sha256", "steps")}, indent=1))


def make_app() -> typer.Typer:
    app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                      help="facexpr training: prepare caches, train, export.")
    app.command("prepare")(prepare)
    app.command("train")(train)
    app.command("export")(export)
    return app

