"""The Live tab: the webcam drives the chosen photo in real time (:mod:`facexpr.web.live_session`).

Transport: **Gradio's streaming webcam input** (``gr.Image(sources=["webcam"], streaming=True)``
with ``.stream(stream_every=…, time_limit=…)``), not WebRTC through ``fastrtc``. ``fastrtc`` 0.0.34
(the current release) requires ``gradio<6`` — installing it would downgrade this project's Gradio
6 — and WebRTC brings ICE/STUN configuration that a loopback-only server must strip. Gradio's
stream needs nothing beyond ``facexpr[web]``. Frames are dropped, never queued, at both ends: the
page captures a frame every ``stream_every`` seconds only while fewer than two are on their way
(:data:`HEAD`; without that, a busy server's event loop fell behind the uploads and the latency
grew by seconds a minute with two viewers), and the server keeps only the newest frame a session
sent while it was busy (``/stream/{event}`` overwrites the event's data). A saturated CPU lowers
the frame rate, not the latency. Each viewer's stream is one long-running event with its
own :class:`~facexpr.web.live_session.LiveSession` in a ``gr.State``; ``max_sessions`` streams run
at once (more viewers wait for a slot), each ends after ``time_limit`` seconds, and sessions idle
for ``idle_release`` seconds free their tracker (:data:`~facexpr.web.live_session.REGISTRY`).

Latency: :data:`HEAD` is a script the page loads; it stamps a frame number into each captured
frame, and when the output image with that number under it is shown, it records capture → shown
and shows frames/s and latency beside the server's own figures (``window.__facexprLive`` holds
every frame's times for the browser tests).
"""
from __future__ import annotations

import base64
import io
import time
from dataclasses import dataclass, replace

import gradio as gr
import numpy as np

from ..errors import FacexprError
from .handlers import Limits, UserError, _load
from .live_session import REGISTRY, LiveConfig, LiveSession, SessionClosed


@dataclass(frozen=True)
class LiveTabConfig:
    session: LiveConfig = LiveConfig()
    max_sessions: int = 4         # streams served at once; more viewers wait for a free slot
    time_limit: int = 600         # seconds a stream runs before the viewer restarts it
    stream_every: float = 1 / 30  # seconds between captured frames (the camera's rate)
    jpeg_quality: int = 85        # of the frames sent back


# The page's side of the latency measurement. Gradio's webcam stream draws the video into a
# canvas and calls toDataURL("image/jpeg"); the wrapper stamps a frame number into that canvas
# first (the blocks read by live_session.read_stamp). Output images carry the number in an 8-px
# strip under the photo, read back once the image has loaded and decoded.
HEAD = """
<script>
(() => {
  if (window.__facexprLive) return;
  const B = 8, BITS = 16, MAX_IN_FLIGHT = 2, STALL_MS = 4000;
  const L = window.__facexprLive = {seq: 0, captured: new Map(), frames: [], seen: new WeakMap(),
                                    lastShown: 0, skipped: 0};
  const now = () => performance.timeOrigin + performance.now();
  // Flow control: a frame is captured only while fewer than MAX_IN_FLIGHT are on their way, so a
  // busy server makes the page skip frames instead of piling requests up in front of it. Gradio
  // captures on a timer; a skipped capture throws SKIP, which the wrapped timer swallows.
  const SKIP = new Error("facexpr: frame skipped (server busy)");
  const origSetInterval = window.setInterval;
  window.setInterval = function (fn, ms, ...rest) {
    if (typeof fn !== "function") return origSetInterval.call(window, fn, ms, ...rest);
    return origSetInterval.call(window, function (...a) {
      try { return fn.apply(this, a); } catch (e) { if (e !== SKIP) throw e; }
    }, ms, ...rest);
  };
  const orig = HTMLCanvasElement.prototype.toDataURL;
  HTMLCanvasElement.prototype.toDataURL = function (type, q) {
    if (type === "image/jpeg" && !this.isConnected && this.width >= B * (BITS + 2) && document.getElementById("live-camera")) {
      const inFlight = (L.seq - L.lastShown) & 0xffff;
      const oldest = L.captured.get((L.lastShown + 1) & 0xffff);
      if (inFlight >= MAX_IN_FLIGHT && oldest !== undefined && now() - oldest < STALL_MS) { L.skipped++; throw SKIP; }
      const ctx = this.getContext("2d");
      const n = L.seq = (L.seq + 1) & 0xffff;
      ctx.save(); ctx.setTransform(1, 0, 0, 1, 0, 0);
      const levels = [1]; for (let b = BITS - 1; b >= 0; b--) levels.push((n >> b) & 1); levels.push(0);
      levels.forEach((v, i) => { ctx.fillStyle = v ? "#fff" : "#000"; ctx.fillRect(i * B, 0, B, B); });
      ctx.restore();
      L.captured.set(n, now());
      if (L.captured.size > 2048) L.captured.delete(L.captured.keys().next().value);
    }
    return orig.call(this, type, q);
  };
  const canvas = document.createElement("canvas");
  function readStamp(img) {
    const w = img.naturalWidth, h = img.naturalHeight;
    if (!w || h < B) return null;
    canvas.width = B * (BITS + 2); canvas.height = B;
    const ctx = canvas.getContext("2d", {willReadFrequently: true});
    ctx.drawImage(img, 0, h - B, canvas.width, B, 0, 0, canvas.width, B);
    const px = ctx.getImageData(0, 0, canvas.width, B).data;
    const bit = i => { const o = ((B / 2) * canvas.width + i * B + B / 2) * 4; return (px[o] + px[o + 1] + px[o + 2]) / 3 > 127; };
    if (!bit(0) || bit(BITS + 1)) return null;
    let n = 0; for (let i = 1; i <= BITS; i++) n = (n << 1) | (bit(i) ? 1 : 0);
    return n;
  }
  async function shown(img) {
    const src = img.currentSrc || img.src;
    if (!src || L.seen.get(img) === src) return;
    L.seen.set(img, src);
    try { await img.decode(); } catch (e) { return; }
    await new Promise(r => requestAnimationFrame(() => r()));
    const t = now();
    const n = readStamp(img);
    if (n === null || !L.captured.has(n)) return;
    if (((n - L.lastShown) & 0xffff) < 0x8000) L.lastShown = n;  // every frame up to n is done (or dropped)
    L.frames.push({stamp: n, capture: L.captured.get(n), shown: t});
    if (L.frames.length > 20000) L.frames.splice(0, 10000);
  }
  function scan() {
    const root = document.getElementById("live-output");
    if (root) root.querySelectorAll("img").forEach(shown);
  }
  new MutationObserver(scan).observe(document.documentElement, {subtree: true, childList: true, attributes: true, attributeFilter: ["src"]});
  setInterval(() => {
    const el = document.getElementById("live-browser-stats");
    if (!el) return;
    const t = now(), recent = L.frames.filter(f => f.shown > t - 2000);
    if (!recent.length) { el.textContent = "browser: no frames yet"; return; }
    const lat = recent.map(f => f.shown - f.capture).sort((a, b) => a - b);
    const q = p => lat[Math.min(lat.length - 1, Math.floor(p * lat.length))];
    el.textContent = `browser: ${(recent.length / 2).toFixed(1)} frames/s shown, capture→shown latency median ${q(0.5).toFixed(0)} ms, p95 ${q(0.95).toFixed(0)} ms`;
  }, 500);
})();
</script>
"""


MAX_FRAME_BYTES = 8_000_000  # a camera frame's data URL; larger ones are dropped unread
MAX_FRAME_SIDE = 1280        # px: larger frames are shrunk before tracking


def _jpeg_data_url(img: np.ndarray, quality: int) -> str:
    """The frame as a ``data:`` URL: sent inline with the stream message, so the page shows it
    without writing it to Gradio's cache and fetching it back (one disk write and one request per
    frame saved)."""
    import cv2

    ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(img[..., ::-1]), [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    return "data:image/jpeg;base64," + base64.b64encode(buf.tobytes()).decode("ascii")


def _decode_frame(payload) -> np.ndarray | None:
    """The camera frame (RGB) from the stream's raw payload (a ``data:`` URL of a JPEG)."""
    import cv2

    url = payload.get("url") if isinstance(payload, dict) else payload
    if not isinstance(url, str) or not url.startswith("data:") or len(url) > MAX_FRAME_BYTES:
        return None
    try:
        raw = base64.b64decode(url.split(",", 1)[1])
        img = cv2.imdecode(np.frombuffer(raw, np.uint8), cv2.IMREAD_COLOR) if raw else None
    except (ValueError, IndexError, cv2.error):
        return None
    if img is None or img.ndim != 3:
        return None
    h, w = img.shape[:2]
    if max(h, w) > MAX_FRAME_SIDE:  # a camera in 4K: tracking needs far less, and costs more
        s = MAX_FRAME_SIDE / max(h, w)
        img = cv2.resize(img, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA)
    return img[..., ::-1]


def _status(s: LiveSession | None) -> str:
    if s is None:
        return "Choose a photo, then start the camera."
    st = s.stats()
    if not s.frames:
        return "Photo analysed. Allow the camera and press its record button."
    ms = "–" if st["server_ms"] is None else f"{st['server_ms']:.0f} ms"
    face = "face tracked" if st["face"] else "no face in view: holding the last expression"
    return (f"server: {st['fps']:.1f} frames/s, {ms} per frame (analyse + render) · {face} · "
            f"neutral reference: {st['reference']}")


def build_tab(cfg: LiveTabConfig, limits: Limits, examples: list[str] | None = None) -> None:
    """The tab's layout and events (call inside a ``gr.Blocks`` / ``gr.Tab`` context)."""
    gr.Markdown("Your webcam moves the photo: pick or upload a photo, allow the camera, and press the "
                "camera's record button. Look neutral and press **This is my neutral face** for the "
                "most faithful motion; until then the most neutral moment so far is the reference.")
    with gr.Row():
        photo = gr.Image(label="Photo", type="filepath", sources=["upload", "clipboard"], elem_id="live-photo")
        cam = gr.Image(label="Camera", sources=["webcam"], streaming=True, type="numpy",
                       webcam_options=gr.WebcamOptions(mirror=False), elem_id="live-camera")
        out = gr.Image(label="Animated photo", interactive=False, elem_id="live-output", show_label=True)
    with gr.Row():
        neutral = gr.Button("This is my neutral face", elem_id="live-neutral")
        pose = gr.Checkbox(cfg.session.pose, label="Head rotation (small)", elem_id="live-pose")
        intensity = gr.Slider(0, 1.5, value=cfg.session.intensity, step=0.05, label="Intensity",
                              elem_id="live-intensity")
    status = gr.Markdown(_status(None), elem_id="live-server-stats")
    gr.HTML('<div id="live-browser-stats">browser: no frames yet</div>')
    if examples:
        gr.Examples([[e] for e in examples], [photo], label="Example photos")
    session = gr.State(None, delete_callback=lambda s: s.close() if s is not None else None)

    def make_session(path, pose_on, amount, old, request: gr.Request):
        owner = getattr(request, "session_hash", None)
        if old is not None:
            old.close()
        if not path:
            if owner is not None and (cur := REGISTRY.current(owner)) is not None:
                cur.close()
            return None, _status(None)
        try:
            img = _load(path, limits, "photo")
            s = REGISTRY.add(LiveSession(img, replace(cfg.session, pose=bool(pose_on), intensity=float(amount))),
                             owner)
        except UserError as e:
            raise gr.Error(str(e)) from None
        except FacexprError as e:  # no face in the photo, …: a message, not a traceback
            raise gr.Error(str(e)) from None
        return s, _status(s)

    for trigger in (photo.change, pose.change, intensity.release):
        # its own small pool: a photo analysis (about a second) never waits behind a long animation
        trigger(make_session, [photo, pose, intensity, session], [session, status], api_name=False,
                concurrency_limit=2, concurrency_id="live-setup")

    def frame(payload, s: LiveSession | None, request: gr.Request):
        received = time.time() * 1000
        owner = getattr(request, "session_hash", None)
        if owner is not None:  # the page's newest session (its state may lag a quick photo change)
            s = REGISTRY.current(owner) or s
        if s is None:
            raise gr.Error("choose a photo first, then start the camera")
        img = _decode_frame(payload)
        if img is None or s.closed:  # a photo changed mid-stream: its new session takes the next frame
            return gr.skip(), gr.skip()
        try:
            rendered, _ = s.process(img, received)
        except SessionClosed:
            return gr.skip(), gr.skip()
        now = time.monotonic()
        msg = gr.skip()
        if now - getattr(s, "status_shown", 0.0) > 0.5:  # the status line twice a second, not every frame
            s.status_shown = now
            msg = _status(s)
        image = {"url": _jpeg_data_url(rendered, cfg.jpeg_quality), "path": None, "meta": {"_type": "gradio.FileData"}}
        return image, msg

    # trigger_mode "multiple": a stream is one long submission, and "always_last"/"once" make the
    # page hold back (or drop) every chunk after the first while it runs
    cam.stream(frame, [cam, session], [out, status], stream_every=cfg.stream_every, time_limit=cfg.time_limit,
               concurrency_limit=cfg.max_sessions, concurrency_id="live", trigger_mode="multiple",
               show_progress="hidden", preprocess=False, postprocess=False, api_name=False)

    def take_neutral(s: LiveSession | None, request: gr.Request):
        owner = getattr(request, "session_hash", None)
        s = (REGISTRY.current(owner) if owner is not None else None) or s
        if s is not None:
            s.snapshot()
        return _status(s)

    neutral.click(take_neutral, session, status, api_name=False, concurrency_limit=None, show_progress="hidden")
