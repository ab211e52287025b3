"""The Gradio page: tabs Transfer, Edit, Animate, Analyze (and Live, :mod:`facexpr.web.live`) over :mod:`facexpr.web.handlers`.

Server behaviour: one queue, ``concurrency`` requests rendered at once (the rest wait, up to
``queue_size``), uploads capped in bytes (Gradio refuses them) and pixels (a message), a time limit
per request, output videos in a private temp folder swept as it goes and removed at exit, and
every user error shown in the page as a readable message (``gr.Error``), never a traceback.
"""
from __future__ import annotations

import atexit
import logging
import os
import traceback
from dataclasses import dataclass, field
from functools import wraps
from pathlib import Path

import gradio as gr

from . import handlers
from .handlers import Limits, Runner, Scratch, UserError
from .live import HEAD as LIVE_HEAD, LiveTabConfig, build_tab as build_live_tab
from .live_ws import LiveTransport
from ..errors import FacexprError
from ..expression import action_units, emotions
from ..expression.blendshapes import REGIONS
from ..io import atomic_write_bytes, load_image, save_image
from ..methods import available

log = logging.getLogger("facexpr.web")


@dataclass(frozen=True)
class WebConfig:
    host: str = "127.0.0.1"
    port: int = 7860
    share: bool = False
    concurrency: int = 2
    queue_size: int = 64
    timeout: float = 300.0
    max_file_size: str = "50mb"
    limits: Limits = field(default_factory=Limits)
    examples: bool = True
    start_tab: str = "transfer"       # the tab shown first ("live" for `facexpr live`)
    open_browser: bool = False
    live: LiveTabConfig = field(default_factory=LiveTabConfig)


def _cache_dirs() -> list[Path]:
    import tempfile

    return [Path(os.environ.get("GRADIO_TEMP_DIR") or Path(tempfile.gettempdir()) / "gradio").resolve()]


def _atomic_image_cache() -> None:
    """Gradio writes a returned picture to its cache in place, truncating the file first; when two
    requests return the same picture (the same target photo as "before"), a download of the one
    can read the other's half-written file and the client gets a short body. Write the cache copy
    under a temporary name and rename it into place instead (as Gradio already does for files)."""
    from gradio import processing_utils as pu

    if getattr(pu.save_pil_to_cache, "facexpr_atomic", False):
        return

    def save_pil_to_cache(img, cache_dir: str, name: str = "image", format: str = "webp") -> str:
        data = pu.encode_pil_to_bytes(img, format)
        folder = Path(cache_dir) / pu.hash_bytes(data)
        folder.mkdir(exist_ok=True, parents=True)
        return str(atomic_write_bytes((folder / f"{name}.{format}").resolve(), data))

    save_pil_to_cache.facexpr_atomic = True
    pu.save_pil_to_cache = save_pil_to_cache


def _upload(payload, what: str, limits: Limits) -> str | None:
    """The path of an uploaded file from its raw payload (events run with ``preprocess=False`` so
    that a bad upload gets our message, not a decoder's): it must lie in Gradio's upload cache."""
    if payload is None:
        return None
    path = payload.get("path") if isinstance(payload, dict) else payload
    if isinstance(payload, dict) and isinstance(payload.get("video"), dict):
        path = payload["video"].get("path")
    if not path:
        return None
    p = Path(path).resolve()
    if not any(p.is_relative_to(d) for d in _cache_dirs()):
        raise UserError(f"{what}: not an uploaded file")
    return str(p)


def _image_upload(payload, what: str, limits: Limits) -> str | None:
    path = _upload(payload, what, limits)
    if path is not None:
        handlers.check_image(path, limits, what)
    return path


def _friendly(fn):
    """User errors → ``gr.Error`` (shown in the page); anything else is logged with its traceback
    and shown as a one-line internal error. The server carries on either way."""

    @wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except gr.Error:
            raise
        except UserError as e:
            raise gr.Error(str(e)) from None
        except Exception as e:  # a bug: keep the server up, say so briefly

            if isinstance(e, FacexprError):
                raise gr.Error(str(e)) from None
            log.error("request failed:\n%s", traceback.format_exc())
            raise gr.Error(f"internal error ({type(e).__name__}: {e})") from None

    return wrapper


def _example_images() -> list[list[str]]:
    """Example pairs, made at first start from the London set (CC-BY 4.0) when the shared data
    is present (``FACEXPR_DATA`` or ../shared/data): downscaled copies in a user cache folder, never
    in the package or the repository. Without the data the page has no examples."""
    root = Path(os.environ.get("FACEXPR_DATA") or Path(__file__).resolve().parents[4] / "shared" / "data")
    pairs = (("london/smiling/061_08.jpg", "london/neutral/010_03.jpg"),
             ("london/smiling/041_08.jpg", "london/neutral/001_03.jpg"))
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "facexpr" / "web-examples"
    out = []
    for s, t in pairs:
        row = []
        for rel in (s, t):
            dst = cache / (rel.replace("/", "_").rsplit(".", 1)[0] + ".jpg")
            if not dst.is_file():
                src = root / rel
                if not src.is_file():
                    break
                import cv2

                img = load_image(src)
                img = cv2.resize(img, (512, 512 * img.shape[0] // img.shape[1]), interpolation=cv2.INTER_AREA)
                cache.mkdir(parents=True, exist_ok=True)
                save_image(img, dst)
            row.append(str(dst))
        if len(row) == 2:
            out.append(row)
    return out


CREDIT = ("Example photos: Face Research Lab London Set, DeBruine & Jones (2017), CC-BY 4.0, "
          "doi:10.6084/m9.figshare.5047666.v5")


def build(cfg: WebConfig = WebConfig()) -> tuple[gr.Blocks, Scratch]:
    limits = Limits(cfg.limits.max_pixels, cfg.limits.max_video_frames, cfg.limits.max_video_seconds,
                    cfg.timeout, cfg.limits.max_side_out)
    _atomic_image_cache()
    run = Runner(limits, cfg.concurrency)
    scratch = Scratch()
    methods = available()
    aus = [f"AU{a}" for a in action_units.AUS]      # whatever the table holds today
    emotion_names = list(emotions.EMOTIONS)
    examples = _example_images() if cfg.examples else []

    def image(label, **kw):
        return gr.Image(label=label, type="filepath", sources=["upload", "webcam", "clipboard"], **kw)

    def img(payload, what):
        return _image_upload(payload, what, limits)

    with gr.Blocks(title="facexpr", delete_cache=(600, 1800)) as demo:
        gr.Markdown("# facexpr — facial expression transfer\nPut the expression of one face onto another "
                    "person's photo, edit action units, animate a photo from a video.")
        with gr.Tab("Transfer", id="transfer"):
            with gr.Row():
                src = image("Source (the expression)", elem_id="transfer-source")
                tgt = image("Target (the person)", elem_id="transfer-target")
            with gr.Row():
                method = gr.Dropdown(methods, value="warp" if "warp" in methods else methods[0], label="Method")
                intensity = gr.Slider(0, 1.5, value=1.0, step=0.05, label="Intensity")
                regions = gr.CheckboxGroup(list(REGIONS), value=list(REGIONS), label="Regions")
            with gr.Row():
                sface = gr.Number(value=-1, precision=0, label="Source face index (-1 = largest)")
                tface = gr.Number(value=-1, precision=0, label="Target face index (-1 = largest)")
            go = gr.Button("Transfer", variant="primary", elem_id="transfer-run")
            with gr.Row():
                slider = gr.ImageSlider(label="Before / after", type="numpy", elem_id="transfer-slider")
                both = gr.Image(label="Side by side", type="numpy", elem_id="transfer-output", format="png")
            if examples:
                gr.Examples(examples, [src, tgt], label="Examples")
                gr.Markdown(CREDIT)

            @_friendly
            def do_transfer(s, t, m, i, r, si, ti):
                s, t = img(s, "source"), img(t, "target")
                before, after = run(handlers.transfer, s, t, m, i, list(r or []), si, ti, limits)
                return (before, after), handlers.side_by_side(before, after)

            go.click(do_transfer, [src, tgt, method, intensity, regions, sface, tface], [slider, both],
                     api_name="transfer", preprocess=False)

        with gr.Tab("Edit", id="edit"):
            with gr.Row():
                photo = image("Photo", elem_id="edit-photo")
                edited = gr.Image(label="Edited", type="numpy", elem_id="edit-output", format="png")
            with gr.Row():
                e_method = gr.Dropdown(methods, value="warp" if "warp" in methods else methods[0], label="Method")
                e_int = gr.Slider(0, 1.5, value=1.0, step=0.05, label="Intensity")
                e_face = gr.Number(value=-1, precision=0, label="Face index (-1 = largest)")
            emotion = gr.State(None)
            with gr.Row():
                emo_buttons = [gr.Button(e, size="sm", elem_id=f"emotion-{e}") for e in emotion_names]
                reset = gr.Button("reset", size="sm", elem_id="edit-reset")
            au_sliders = [gr.Slider(-1, 1, value=0, step=0.05, label=a, elem_id=f"au-{a}") for a in aus]

            @_friendly
            def do_edit(p, m, i, f, emo, *vals):
                return run(handlers.edit, img(p, "photo"), dict(zip(aus, vals)), emo, i, m, f, limits)

            inputs = [photo, e_method, e_int, e_face, emotion, *au_sliders]
            for s in au_sliders:
                s.release(do_edit, inputs, edited, api_name=False, preprocess=False)
            e_int.release(do_edit, inputs, edited, api_name=False, preprocess=False)
            for b, name in zip(emo_buttons, emotion_names):
                b.click(lambda n=name: n, None, emotion, api_name=False).then(do_edit, inputs, edited, api_name=False, preprocess=False)
            reset.click(lambda: [None] + [0.0] * len(aus), None, [emotion, *au_sliders], api_name=False).then(
                do_edit, inputs, edited, api_name=False, preprocess=False)

            @_friendly
            def api_edit(p, aus_text, emo, i, m):
                """``aus_text``: e.g. "AU12=+0.8, AU4=-0.5"."""
                specs = [x.strip() for x in (aus_text or "").split(",") if x.strip()]
                return run(handlers.edit, img(p, "photo"), specs, emo or None, i, m, None, limits)

            gr.Button("edit (API)", visible=False).click(
                api_edit, [photo, gr.Textbox(visible=False), gr.Textbox(visible=False), e_int, e_method], edited,
                api_name="edit", preprocess=False)

        with gr.Tab("Animate", id="animate"):
            with gr.Row():
                a_photo = image("Photo", elem_id="animate-photo")
                a_video = gr.Video(label="Driving video", sources=["upload"], elem_id="animate-video")
            with gr.Row():
                a_rel = gr.Radio(["relative", "absolute"], value="relative", label="Motion")
                a_pose = gr.Checkbox(False, label="Head rotation (small)")
                a_smooth = gr.Checkbox(True, label="Temporal smoothing (One-Euro)")
                a_int = gr.Slider(0, 1.5, value=1.0, step=0.05, label="Intensity")
                a_max = gr.Number(value=min(150, limits.max_video_frames), precision=0,
                                  label=f"Max frames (≤ {limits.max_video_frames})")
            a_go = gr.Button("Animate", variant="primary", elem_id="animate-run")
            a_out = gr.Video(label="Animated", elem_id="animate-output")

            @_friendly
            def do_animate(p, v, rel, pose, smooth, i, n, progress=gr.Progress()):
                def tick(done, total, fps):
                    progress(done / max(total, 1), desc=f"frame {done}/{total}, {fps:.1f} frames/s")

                p, v = img(p, "photo"), _upload(v, "driving video", limits)
                return handlers.animate(p, v, rel == "relative", pose, smooth, i, n, limits, scratch, tick)

            a_go.click(do_animate, [a_photo, a_video, a_rel, a_pose, a_smooth, a_int, a_max], a_out,
                       api_name="animate", preprocess=False)

        with gr.Tab("Analyze", id="analyze"):
            with gr.Row():
                z_in = image("Photo", elem_id="analyze-photo")
                z_out = gr.Image(label="Landmarks and action units", type="numpy", elem_id="analyze-output",
                                 format="png")
            z_go = gr.Button("Analyze", variant="primary", elem_id="analyze-run")
            with gr.Row():
                z_aus = gr.Label(label="Action units (largest face)", num_top_classes=len(aus))
                z_json = gr.JSON(label="Faces")

            @_friendly
            def do_analyze(p):
                return run(handlers.analyze, img(p, "photo"), limits)

            z_go.click(do_analyze, z_in, [z_out, z_aus, z_json], api_name="analyze", preprocess=False)

        with gr.Tab("Live", id="live"):
            build_live_tab(cfg.live, limits, [t for _, t in examples])
        if cfg.start_tab != "transfer":  # `facexpr live`: open on that tab
            demo.load(None, None, None, js="() => { const b = [...document.querySelectorAll('button[role=tab]')]"
                      f".find(b => b.textContent.trim().toLowerCase() === {cfg.start_tab.lower()!r}); if (b) b.click(); }}")
        gr.Markdown("facexpr runs on this server's CPU; uploads are deleted after a while. "
                    f"Limits: {limits.max_pixels / 1e6:.0f} MP per image, {cfg.max_file_size} per file, "
                    f"{limits.max_video_frames} frames per animation, {limits.timeout:.0f} s per request.")
    demo.queue(default_concurrency_limit=cfg.concurrency, max_size=cfg.queue_size)
    atexit.register(scratch.close)
    return demo, scratch


def launch(cfg: WebConfig = WebConfig(), block: bool = True):
    """Start the server; returns ``(demo, scratch)`` when ``block`` is False (tests). The Live
    tab's camera WebSocket (:mod:`facexpr.web.live_ws`) is a route of the same app, so it is served
    wherever the page is, on the same host and port."""
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    demo, scratch = build(cfg)
    transport = LiveTransport(cfg.live.transport())
    demo.launch(server_name=cfg.host, server_port=cfg.port, share=cfg.share, max_file_size=cfg.max_file_size,
                prevent_thread_lock=not block, show_error=True, quiet=not block, ssr_mode=False, head=LIVE_HEAD,
                inbrowser=cfg.open_browser, app_kwargs={"routes": transport.routes()})
    return demo, scratch
