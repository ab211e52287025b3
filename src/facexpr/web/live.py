"""The Live tab: the webcam drives the chosen photo in real time (:mod:`facexpr.web.live_session`).

Transport: **a WebSocket served by the web app itself** (:mod:`facexpr.web.live_ws`, mounted on
Gradio's FastAPI app by :func:`facexpr.web.app.launch`), binary JPEG frames both ways. The photo,
the buttons and the options stay Gradio components; only the camera frames bypass Gradio.

Why this transport (measured on the 2-core development machine, one session, fake camera at 30
frames/s, 512-px output): Gradio's streaming webcam input (``gr.Image(streaming=True)``, what this
tab used first) delivered 11.5–14.9 frames/s with the server's Python at 100 % of a core, of
which only a third was the session's work (track, follow, render): the rest was the stream's
machinery (base64 ``data:`` URLs both ways, a queue event and an SSE message per frame, the page
re-rendering Gradio's image component). A WebSocket carries each frame as one binary message and
the page draws it onto a canvas, so the server's Python does little beyond the session's own work:
back to back on the same (busy) machine, the Gradio stream showed 7.4 frames/s at a 198-ms median
latency (8.9 frames/s with one OpenBLAS thread, :func:`~facexpr.threads.one_blas_thread_for_good`),
this transport 22.8 frames/s at 85 ms, and ~26 frames/s at ~72 ms once a frame's analysis
overlapped the previous frame's render (all figures in docs/LIVE.md). WebRTC through ``fastrtc`` is out (its release needs ``gradio<6``); WebRTC
through ``aiortc`` would add a video codec per direction (VP8/H.264 encode and decode on the same
two cores, for frames that never leave the machine) and ICE setup, where a WebSocket needs
nothing beyond the web server that is already running, works wherever the page loads (proxies,
HTTPS), and keeps each frame whole, so the frame-number stamp survives.

Frames are dropped, never queued, at both ends: the page sends a frame only while fewer than three
of its frames are unanswered (one analysed, one rendered, one waiting; the server answers every
frame: a picture or a drop notice), and the server keeps only the newest unprocessed frame per
viewer. Each viewer has its own
:class:`~facexpr.web.live_session.LiveSession`, made (the photo analysed once) when the photo is
chosen; its token passes from that Gradio handler to the page's script, which presents it when it
connects. ``max_sessions`` viewers are processed at once (more wait for a slot); sessions idle for
``idle_release`` seconds free their tracker (:data:`~facexpr.web.live_session.REGISTRY`).

Latency: :data:`HEAD` is the page's script; it stamps a frame number into each captured frame,
reads it back from the strip under each output frame when that frame is drawn, and shows
frames/s and capture → shown latency beside the server's own figures (``window.__facexprLive``
holds every frame's times for the browser tests).
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import gradio as gr

from ..errors import FacexprError
from .handlers import Limits, UserError, _load
from .live_session import REGISTRY, LiveConfig, LiveSession
from .live_ws import PATH, TransportConfig


@dataclass(frozen=True)
class LiveTabConfig:
    session: LiveConfig = LiveConfig()
    max_sessions: int = 4         # viewers processed at once; more wait for a free slot
    jpeg_quality: int = 85        # of the frames sent back
    capture_quality: float = 0.8  # of the camera frames the page sends
    capture_side: int = 640       # px: the page shrinks camera frames to this long side before sending
    # camera frames sent and not yet answered (more are skipped): one being analysed, one being
    # rendered, one waiting (the server keeps one); measured 21-25 frames/s with 2, 26 with 3
    max_in_flight: int = 3

    def transport(self) -> TransportConfig:
        return TransportConfig(max_sessions=self.max_sessions, jpeg_quality=self.jpeg_quality)


# The page's side: camera capture, the WebSocket, drawing, and the latency measurement. Loaded
# once in the page's <head>; it acts on the Live tab's elements (LIVE_HTML) by their ids.
HEAD = """
<script>
(() => {
  if (window.__facexprLive) return;
  const B = 8, BITS = 16;
  const L = window.__facexprLive = {seq: 0, captured: new Map(), frames: [], token: null, ws: null,
    stream: null, running: false, inFlight: 0, sent: 0, answered: 0, dropped: 0, skipped: 0,
    lastDrawn: -1, lastJpeg: null, quality: 0.8, side: 640, maxInFlight: 3, path: "__PATH__"};
  const now = () => performance.timeOrigin + performance.now();
  const $ = id => document.getElementById(id);
  const say = (id, text) => { const el = $(id); if (el) el.textContent = text; };
  const capture = document.createElement("canvas");
  const cctx = capture.getContext("2d");
  const strip = document.createElement("canvas");
  strip.width = B * (BITS + 2); strip.height = B;
  const sctx = strip.getContext("2d", {willReadFrequently: true});

  function stamp(ctx, n) {
    const levels = [1]; for (let b = BITS - 1; b >= 0; b--) levels.push((n >> b) & 1); levels.push(0);
    levels.forEach((v, i) => { ctx.fillStyle = v ? "#fff" : "#000"; ctx.fillRect(i * B, 0, B, B); });
  }
  function readStamp(bmp) {  // the number in the strip under an output frame
    if (bmp.width < strip.width || bmp.height < B) return null;
    sctx.drawImage(bmp, 0, bmp.height - B, strip.width, B, 0, 0, strip.width, B);
    const px = sctx.getImageData(0, 0, strip.width, B).data;
    const bit = i => { const o = ((B / 2) * strip.width + i * B + B / 2) * 4; return (px[o] + px[o + 1] + px[o + 2]) / 3 > 127; };
    if (!bit(0) || bit(BITS + 1)) return null;
    let n = 0; for (let i = 1; i <= BITS; i++) n = (n << 1) | (bit(i) ? 1 : 0);
    return n;
  }

  // Drop at the source: a camera frame is sent only while fewer than maxInFlight are unanswered.
  function grab() {
    const v = $("live-video");
    if (!L.running || !v || v.readyState < 2 || !v.videoWidth) return;
    const ws = L.ws;
    if (!ws || ws.readyState !== 1) return;
    if (L.inFlight >= L.maxInFlight) { if (!L.waiting) { L.waiting = true; L.skipped++; } return; }
    L.waiting = false;
    const s = Math.min(1, L.side / Math.max(v.videoWidth, v.videoHeight));
    const w = Math.round(v.videoWidth * s), h = Math.round(v.videoHeight * s);
    if (capture.width !== w || capture.height !== h) { capture.width = w; capture.height = h; }
    cctx.drawImage(v, 0, 0, w, h);
    const n = L.seq = (L.seq + 1) & 0xffff;
    stamp(cctx, n);
    L.captured.set(n, now());
    if (L.captured.size > 2048) L.captured.delete(L.captured.keys().next().value);
    L.inFlight++; L.sent++;
    capture.toBlob(b => { if (b && ws.readyState === 1) ws.send(b); else L.inFlight--; }, "image/jpeg", L.quality);
  }
  // A camera frame that arrived while the pipe was full is sent as soon as an answer frees a
  // place (drawImage takes the video's newest frame), not at the next camera frame: that wait (up
  // to a frame interval) left the server idle between frames.
  function answered(n) {
    L.inFlight = Math.max(0, L.inFlight - n);
    if (L.waiting && L.inFlight < L.maxInFlight) grab();
  }
  function onVideoFrame() {  // once per new camera frame where the browser can say so
    const v = $("live-video");
    if (!L.running || !v) return;
    grab();
    v.requestVideoFrameCallback(onVideoFrame);
  }

  async function show(buf) {
    const bmp = await createImageBitmap(new Blob([buf], {type: "image/jpeg"}));
    const n = readStamp(bmp);
    const c = $("live-canvas");
    if (!c) { bmp.close(); return; }
    if (n !== null) {
      if (L.lastDrawn >= 0 && ((n - L.lastDrawn) & 0xffff) >= 0x8000) { bmp.close(); return; }  // older than shown
      L.lastDrawn = n;
    }
    const h = bmp.height - B;
    if (c.width !== bmp.width || c.height !== h) { c.width = bmp.width; c.height = h; }
    c.getContext("2d").drawImage(bmp, 0, 0, bmp.width, h, 0, 0, bmp.width, h);
    bmp.close();
    L.lastJpeg = buf;
    await new Promise(r => requestAnimationFrame(() => r()));
    const t = now();
    if (n === null || !L.captured.has(n)) return;
    L.frames.push({stamp: n, capture: L.captured.get(n), shown: t});
    if (L.frames.length > 20000) L.frames.splice(0, 10000);
  }

  function disconnect() {
    const ws = L.ws; L.ws = null; L.inFlight = 0; L.waiting = false;
    if (ws) { ws.onclose = null; ws.close(); }
  }
  function connect() {
    disconnect();
    if (!L.token || !L.running) return;
    const url = new URL(L.path.replace(/^\\//, ""), location.href);
    url.protocol = location.protocol === "https:" ? "wss:" : "ws:";
    url.search = "?token=" + encodeURIComponent(L.token);
    url.hash = "";
    const ws = L.ws = new WebSocket(url);
    ws.binaryType = "arraybuffer";
    ws.onmessage = ev => {
      if (typeof ev.data !== "string") {
        L.answered++;
        answered(1);
        show(ev.data).catch(() => {});
        return;
      }
      const m = JSON.parse(ev.data);
      if (m.drop) { L.dropped += m.drop; answered(m.drop); }
      if (m.status) say("live-server-stats", m.status);
      if (m.wait) say("live-server-stats", "server: " + m.wait);
      if (m.error === "session closed") say("live-server-stats", "server: this photo's session ended; choose the photo again");
    };
    ws.onclose = () => { if (L.ws === ws) { L.ws = null; say("live-server-stats", "server: disconnected; choose the photo again"); } };
  }

  L.setToken = token => { L.token = token || null; connect(); };
  L.lastOutput = () => {  // the last drawn frame as base64 JPEG (for tests)
    if (!L.lastJpeg) return null;
    const u8 = new Uint8Array(L.lastJpeg); let s = "";
    for (let i = 0; i < u8.length; i += 0x8000) s += String.fromCharCode.apply(null, u8.subarray(i, i + 0x8000));
    return btoa(s);
  };
  async function start() {
    if (L.running) return;
    const v = $("live-video");
    if (!v) return;
    if (!navigator.mediaDevices) { say("live-browser-stats", "browser: no camera access here (the page must be on localhost or HTTPS)"); return; }
    try {
      L.stream = await navigator.mediaDevices.getUserMedia({audio: false,
        video: {width: {ideal: 640}, height: {ideal: 480}, frameRate: {ideal: 30}}});
    } catch (e) { say("live-browser-stats", "browser: camera refused (" + e.name + ")"); return; }
    v.srcObject = L.stream; v.muted = true; v.playsInline = true;
    await v.play();
    L.running = true;
    if (!L.token) say("live-server-stats", "server: choose a photo to animate");
    connect();
    if ("requestVideoFrameCallback" in HTMLVideoElement.prototype) v.requestVideoFrameCallback(onVideoFrame);
    else L.timer = setInterval(grab, 1000 / 30);
  }
  function stop() {
    L.running = false;
    disconnect();
    if (L.timer) { clearInterval(L.timer); L.timer = null; }
    if (L.stream) { L.stream.getTracks().forEach(t => t.stop()); L.stream = null; }
    const v = $("live-video"); if (v) v.srcObject = null;
  }
  L.start = start; L.stop = stop;
  document.addEventListener("click", ev => {
    const b = ev.target.closest && ev.target.closest("#live-start, #live-stop");
    if (!b) return;
    if (b.id === "live-start") start(); else stop();
  });
  setInterval(() => {
    if (!$("live-browser-stats") || !L.running) return;
    const t = now(), recent = L.frames.filter(f => f.shown > t - 2000);
    if (!recent.length) { say("live-browser-stats", "browser: no frames yet"); return; }
    const lat = recent.map(f => f.shown - f.capture).sort((a, b) => a - b);
    const q = p => lat[Math.min(lat.length - 1, Math.floor(p * lat.length))];
    say("live-browser-stats", `browser: ${(recent.length / 2).toFixed(1)} frames/s shown, capture→shown latency median ${q(0.5).toFixed(0)} ms, p95 ${q(0.95).toFixed(0)} ms`);
  }, 500);
})();
</script>
""".replace("__PATH__", PATH)

LIVE_HTML = """
<div id="live-stage" style="display:flex;gap:12px;align-items:flex-start;flex-wrap:wrap">
  <div style="flex:1 1 240px;max-width:320px">
    <div style="font-size:var(--text-sm);opacity:.75;margin-bottom:4px">Camera</div>
    <video id="live-video" autoplay muted playsinline style="width:100%;background:#222;border-radius:6px;aspect-ratio:4/3;object-fit:contain"></video>
    <div style="display:flex;gap:6px;margin-top:6px">
      <button id="live-start" class="lg primary" style="flex:1;padding:6px 10px;border-radius:6px;background:var(--button-primary-background-fill);color:var(--button-primary-text-color)">Start camera</button>
      <button id="live-stop" class="lg secondary" style="flex:1;padding:6px 10px;border-radius:6px;background:var(--button-secondary-background-fill);color:var(--button-secondary-text-color)">Stop</button>
    </div>
  </div>
  <div id="live-output" style="flex:2 1 360px">
    <div style="font-size:var(--text-sm);opacity:.75;margin-bottom:4px">Animated photo</div>
    <canvas id="live-canvas" width="512" height="512" style="max-width:100%;max-height:70vh;background:#222;border-radius:6px"></canvas>
  </div>
</div>
<div id="live-server-stats" style="margin-top:8px;font-family:var(--font-mono);font-size:var(--text-sm)">server: choose a photo, then start the camera</div>
<div id="live-browser-stats" style="font-family:var(--font-mono);font-size:var(--text-sm)">browser: no frames yet</div>
"""


def _status(s: LiveSession | None) -> str:
    if s is None:
        return "Choose a photo, then start the camera."
    if s.reference.fixed or s.reference._snap is not None:
        return f"Photo analysed. Neutral reference: {s.reference_kind}."
    return "Photo analysed. Press **Start camera** and allow the webcam."


def build_tab(cfg: LiveTabConfig, limits: Limits, examples: list[str] | None = None) -> None:
    """The tab's layout and events (call inside a ``gr.Blocks`` / ``gr.Tab`` context). The camera
    frames go over :mod:`facexpr.web.live_ws`, which :func:`facexpr.web.app.launch` mounts."""
    gr.Markdown("Your webcam moves the photo: pick or upload a photo, press **Start camera** and allow "
                "the camera. Look neutral and press **This is my neutral face** for the most faithful "
                "motion; until then the most neutral moment so far is the reference.")
    with gr.Row():
        with gr.Column(scale=1, min_width=220):
            photo = gr.Image(label="Photo", type="filepath", sources=["upload", "clipboard"], elem_id="live-photo",
                             height=260)
            neutral = gr.Button("This is my neutral face", elem_id="live-neutral")
            pose = gr.Checkbox(cfg.session.pose, label="Head rotation (small)", elem_id="live-pose")
            intensity = gr.Slider(0, 1.5, value=cfg.session.intensity, step=0.05, label="Intensity",
                                  elem_id="live-intensity")
            status = gr.Markdown(_status(None), elem_id="live-status")
        with gr.Column(scale=3):
            gr.HTML(LIVE_HTML, elem_id="live-panel", padding=False)
    if examples:
        gr.Examples([[e] for e in examples], [photo], label="Example photos")
    session = gr.State(None, delete_callback=lambda s: s.close() if s is not None else None)
    token = gr.Textbox(visible=False, elem_id="live-token")
    options = f"window.__facexprLive && Object.assign(window.__facexprLive, {{quality: {cfg.capture_quality}, side: {cfg.capture_side}, maxInFlight: {cfg.max_in_flight}}})"

    def make_session(path, pose_on, amount, old, request: gr.Request):
        owner = getattr(request, "session_hash", None)
        if old is not None:
            old.close()
        if not path:
            if owner is not None and (cur := REGISTRY.current(owner)) is not None:
                cur.close()
            return None, _status(None), ""
        try:
            img = _load(path, limits, "photo")
            s = REGISTRY.add(LiveSession(img, replace(cfg.session, pose=bool(pose_on), intensity=float(amount))),
                             owner)
        except (UserError, FacexprError) as e:  # no face in the photo, …: a message, not a traceback
            raise gr.Error(str(e)) from None
        return s, _status(s), s.token

    for trigger in (photo.change, pose.change, intensity.release):
        # its own small pool: a photo analysis (about a second) never waits behind a long animation;
        # then the page's script connects the camera to the new session
        trigger(make_session, [photo, pose, intensity, session], [session, status, token], api_name=False,
                concurrency_limit=2, concurrency_id="live-setup").then(
            None, token, None, js=f"(t) => {{ {options}; window.__facexprLive && window.__facexprLive.setToken(t); }}")

    def take_neutral(s: LiveSession | None, request: gr.Request):
        owner = getattr(request, "session_hash", None)
        s = (REGISTRY.current(owner) if owner is not None else None) or s
        if s is not None:
            s.snapshot()
        return _status(s)

    neutral.click(take_neutral, session, status, api_name=False, concurrency_limit=None, show_progress="hidden")
