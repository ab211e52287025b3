"""``facexpr research build-prior | fit-expression | fit-fusion``: the offline builders of shipped
model files. Each command loads its (heavy) implementation only when it runs, so the command line's
help stays fast and the product never imports them."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from ..datasets import data_root
from ..errors import FacexprError

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Offline tools that rebuild the model files facexpr ships (need the shared data).")


def _fail(msg: str, code: int = 2) -> None:
    typer.echo(f"facexpr: error: {msg}", err=True)
    raise typer.Exit(code)


def _root(data: Optional[Path]) -> Path:
    root = data or data_root()
    if root is None or not Path(root).is_dir():
        _fail("shared data not found: pass --data or set FACEXPR_DATA")
    return Path(root)


def build_prior(
    ict: Optional[Path] = typer.Option(None, help="ict_facekit.npz (default: <data>/ict-facekit/ict_facekit.npz)."),
    data: Optional[Path] = typer.Option(None, help="Shared data folder with London/Canada neutral photos "
                                        "(default: FACEXPR_DATA or ../shared/data)."),
    out: Path = typer.Option(Path("src/facexpr/data/expression_prior.safetensors"), help="Where to write the prior."),
):
    """Rebuild the 3D expression prior from ICT-FaceKit (about 3 minutes: 55 renders read by MediaPipe)."""
    from ..expression.ict import load_ict
    from .prior_build import build

    root = _root(data)
    path = ict or root / "ict-facekit" / "ict_facekit.npz"
    try:
        prior = build(load_ict(path), root, log=lambda m: typer.echo(m, err=True))
        prior.save(out)
        out.chmod(0o644)
    except FacexprError as e:
        _fail(str(e), e.exit_code)
    typer.echo(str(out))


def fit_expression(
    data: Optional[Path] = typer.Option(None, help="Shared data folder (default: FACEXPR_DATA or ../shared/data)."),
    out: Path = typer.Option(Path("src/facexpr/data/expression_linear.safetensors"), help="Where to write the model."),
    ridge: float = typer.Option(0.05, help="Ridge penalty."),
):
    """Fit the linear expression model (London train split + video frames) and report its error."""
    from ..expression.analysis import analyze_faces
    from ..expression.fit import fit_default

    root = _root(data)

    def first_face(rgb):
        faces = analyze_faces(rgb)
        return faces[0] if faces else None

    report = fit_default(root, out, first_face, ridge=ridge, log=lambda m: typer.echo(m, err=True))
    typer.echo(json.dumps(report, indent=1))


def fit_fusion(ctx: typer.Context):
    """Train and evaluate landmark-fusion's key-point module on prepared caches (needs torch); its
    options: --london CACHE --out FILE [--video CACHE] [--ae-out FILE] [--steps N] [--prior] ...
    (`facexpr research fit-fusion -- --help` lists them)."""
    from ..extras import require

    try:
        require("facexpr research fit-fusion", "torch", extra="train")
    except FacexprError as e:
        _fail(str(e), e.exit_code)
    from .fusion_fit import main

    main(list(ctx.args))


def train_reader(
    data: Optional[Path] = typer.Option(None, help="Shared data folder (default: FACEXPR_DATA or ../shared/data)."),
    cache: Path = typer.Option(Path("runs/reader/data.npz"), help="The rendered training samples (made, or resumed, here)."),
    out: Path = typer.Option(Path("src/facexpr/data/expression_reader.safetensors"), help="Where to write the reader."),
    per_face: int = typer.Option(60, min=1, help="Rendered samples per neutral face (each also read mirrored)."),
    steps: int = typer.Option(3000, min=1, help="Training steps."),
):
    """Train the expression reader: render real neutral faces (London train split, Canada, lisa,
    zoom) to known codes with warp, add the train split's real smiling photos (labelled with their
    smile alone), read them with MediaPipe's models (each view also on a nudged crop), fit small
    MLPs (needs torch; about 25 minutes on 2 CPU cores: ~15 rendering and reading 25 920 samples,
    under a minute reading 1 440 real ones, ~10 training 35 networks; resumable)."""
    from ..extras import require

    try:
        require("facexpr research train-reader", "torch", extra="train")
        from .reader_data import ReaderDataConfig, generate
        from .reader_train import ReaderTrainConfig, train

        root = _root(data)
        cache.parent.mkdir(parents=True, exist_ok=True)
        log = lambda m: typer.echo(m, err=True)  # noqa: E731
        generate(root, cache, ReaderDataConfig(per_face=per_face), log=log)
        metrics = train(cache, out, ReaderTrainConfig(steps=steps), log=log)
    except FacexprError as e:
        _fail(str(e), e.exit_code)
    typer.echo(json.dumps({k: v for k, v in metrics.items() if k != "per_shape_mae"}, indent=1))


app.command("build-prior")(build_prior)
app.command("train-reader")(train_reader)
app.command("fit-expression")(fit_expression)
app.command("fit-fusion", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})(fit_fusion)

__all__ = ["app", "build_prior", "fit_expression", "fit_fusion"]
