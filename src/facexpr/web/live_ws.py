"""The Live tab's camera transport: one WebSocket per viewer, served by the web app itself.

Why not Gradio's streaming webcam input (what the tab used first): with it, one 12-frames/s
session kept the server's Python at 100 % of a core, of which only a third was the session's own
work. The rest was the stream's machinery: every frame a base64 ``data:`` URL up, a queue event,
an SSE message and a base64 ``data:`` URL down, and the page re-rendering Gradio's image
component per frame (Chromium's renderer at ~70 % of the other core). Here a frame is one binary
WebSocket message each way, the JPEG's own bytes; the page draws the reply onto a canvas.

Protocol (``/facexpr/live/ws?token=…``, the token of a session the page's photo handler made):

* page → server: binary messages, each a JPEG of one camera frame (the frame number stamped into
  its top-left corner, :func:`~facexpr.web.live_session.read_stamp`).
* server → page: binary, the rendered photo as a JPEG (the stamp in a strip under it) — one per
  processed frame; text, JSON: ``{"drop": n}`` when ``n`` frames were replaced by newer ones
  unprocessed, ``{"status": "…"}`` twice a second, ``{"wait": "…"}`` while every slot is taken,
  ``{"drop": 1, "error": "…"}`` for a frame that is not a readable JPEG, or that failed.

Every frame the page sends is answered exactly once (a picture or a drop), so the page knows how
many are in flight and sends a new one only while fewer than three are (drop at the source). The
server keeps only the newest unprocessed frame per connection (drop at the sink): a busy CPU
lowers the frame rate, never lengthens a queue. Frames are processed in worker threads, in two
overlapping stages per session (a frame is analysed while the one before it is rendered, as
``animate`` does), so the event loop only moves bytes.
"""
from __future__ import annotations

import asyncio
import json
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from urllib.parse import urlsplit

import numpy as np
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from ..threads import one_blas_thread_for_good
from .live_session import REGISTRY, LiveSession, Registry, SessionClosed

log = logging.getLogger("facexpr.web.live")
PATH = "/facexpr/live/ws"
MAX_FRAME_BYTES = 8_000_000  # a camera frame's JPEG; larger ones are dropped unread
MAX_FRAME_SIDE = 1280        # px: larger frames are shrunk before tracking
CLOSE_NO_SESSION = 4404      # the token names no open session (photo replaced, page gone)


@dataclass(frozen=True)
class TransportConfig:
    max_sessions: int = 4         # sessions processed at once; more connections wait for a slot
    jpeg_quality: int = 85        # of the frames sent back
    status_every: float = 0.5     # seconds between status messages


def decode_frame(data: bytes) -> np.ndarray | None:
    """The camera frame (RGB) from a JPEG's bytes; None when it is not one (or far too large)."""
    import cv2

    if not data or len(data) > MAX_FRAME_BYTES:
        return None
    try:
        img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    except cv2.error:
        return None
    if img is None or img.ndim != 3:
        return None
    h, w = img.shape[:2]
    if max(h, w) > MAX_FRAME_SIDE:  # a camera in 4K: tracking needs far less, and costs more
        s = MAX_FRAME_SIDE / max(h, w)
        img = cv2.resize(img, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA)
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def encode_frame(img: np.ndarray, quality: int) -> bytes:
    """An RGB image as JPEG bytes."""
    import cv2

    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(img, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    return buf.tobytes()


def status_line(s: LiveSession) -> str:
    """The server's figures for the page: frames/s, milliseconds per frame, face, reference."""
    st = s.stats()
    if not s.frames:
        return "server: waiting for the first frame"
    ms = "–" if st["server_ms"] is None else f"{st['server_ms']:.0f} ms"
    face = "face tracked" if st["face"] else "no face in view: holding the last expression"
    return (f"server: {st['fps']:.1f} frames/s, {ms} per frame (analyse + render) · {face} · "
            f"neutral reference: {st['reference']}")


def _same_origin(ws: WebSocket) -> bool:
    """Browsers send Origin with a WebSocket handshake but apply no same-origin rule to it: refuse
    pages served by other sites (a script elsewhere must not reach this server through a viewer's
    browser). Clients that send no Origin (not a browser) need the token all the same."""
    origin = ws.headers.get("origin")
    return origin is None or urlsplit(origin).netloc == ws.headers.get("host")


class LiveTransport:
    """The WebSocket endpoint (:meth:`routes` to mount it on the app that serves the page)."""

    def __init__(self, cfg: TransportConfig = TransportConfig(), registry: Registry = REGISTRY):
        self.cfg = cfg
        self.registry = registry
        # two stages per session: a frame's analysis overlaps the previous frame's render
        self.pool = ThreadPoolExecutor(max_workers=2 * cfg.max_sessions, thread_name_prefix="facexpr-live")
        self._slots: asyncio.Semaphore | None = None  # made on the server's event loop, at first use
        self.active = 0

    def routes(self) -> list[WebSocketRoute]:
        return [WebSocketRoute(PATH, self.endpoint)]

    def _analyse(self, s: LiveSession, data: bytes, received: float):
        """A frame's first stage, in a worker thread: decode, track, follow (None: not a JPEG)."""
        img = decode_frame(data)
        if img is None:
            return None
        if not s.frames:
            one_blas_thread_for_good()
        return s.analyse(img, received)

    def _render(self, s: LiveSession, job) -> bytes:
        """A frame's second stage, in another worker thread: render and encode."""
        rendered, _ = s.render(job)
        return encode_frame(rendered, self.cfg.jpeg_quality)

    async def endpoint(self, ws: WebSocket) -> None:
        s = self.registry.by_token(ws.query_params.get("token"))
        if not _same_origin(ws) or s is None:
            await ws.close(code=CLOSE_NO_SESSION)  # before accept: the handshake is refused
            return
        await ws.accept()
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.cfg.max_sessions)
        send_lock = asyncio.Lock()
        pending: list = []             # at most one (bytes, received ms): the newest frame
        wake = asyncio.Event()
        gone = asyncio.Event()

        async def send(msg: bytes | dict) -> None:
            async with send_lock:
                if isinstance(msg, bytes):
                    await ws.send_bytes(msg)
                else:
                    await ws.send_text(json.dumps(msg))

        async def receive() -> None:
            try:
                while True:
                    msg = await ws.receive()
                    if msg["type"] == "websocket.disconnect":
                        break
                    data = msg.get("bytes")
                    if data is None:
                        continue  # the page sends no text; ignore it
                    received = time.time() * 1000
                    if pending:  # a newer frame replaces the unprocessed one: answer it as dropped
                        pending.clear()
                        await send({"drop": 1})
                    pending.append((data, received))
                    wake.set()
            except (WebSocketDisconnect, RuntimeError):
                pass
            finally:
                gone.set()
                wake.set()

        receiver = asyncio.create_task(receive())
        try:
            if self._slots.locked():
                await send({"wait": f"every live slot is taken ({self.cfg.max_sessions} viewers): waiting"})
            async with self._slots:
                self.active += 1
                try:
                    await self._serve(s, send, pending, wake, gone)
                finally:
                    self.active -= 1
        except (WebSocketDisconnect, RuntimeError):
            pass  # the page went away mid-send
        finally:
            receiver.cancel()
            if not gone.is_set():
                try:
                    await ws.close()
                except RuntimeError:
                    pass

    async def _serve(self, s: LiveSession, send, pending: list, wake: asyncio.Event, gone: asyncio.Event) -> None:
        """Frames through two overlapping stages, as ``animate`` runs them: while frame N is
        rendered, frame N+1 (the newest that arrived) is analysed. Replies keep the frames' order."""
        loop = asyncio.get_running_loop()
        state = {"status": 0.0}
        rendering: asyncio.Future | None = None

        async def finish(fut) -> None:
            try:
                out = await fut
            except Exception:  # a bug on one frame: logged, the frame answered as dropped
                log.exception("live frame failed")
                out = {"drop": 1, "error": "frame not rendered"}
            await send(out)
            now = time.monotonic()
            if now - state["status"] >= self.cfg.status_every:
                state["status"] = now
                await send({"status": status_line(s)})

        try:
            while True:
                await wake.wait()
                wake.clear()
                if gone.is_set():
                    return
                if not pending:
                    continue
                data, received = pending.pop()
                try:
                    job = await loop.run_in_executor(self.pool, self._analyse, s, data, received)
                except SessionClosed:
                    raise
                except Exception:  # a bug on one frame: logged, the frame dropped, the stream goes on
                    log.exception("live frame failed")
                    job = None
                if rendering is not None:  # the previous frame's picture goes first
                    await rendering
                    rendering = None
                if job is None:
                    await send({"drop": 1, "error": "frame not processed (not a readable JPEG?)"})
                    continue
                rendering = asyncio.ensure_future(finish(loop.run_in_executor(self.pool, self._render, s, job)))
        except SessionClosed:  # the page chose another photo: its new session has a new token
            await send({"error": "session closed"})
        finally:
            if rendering is not None:
                rendering.cancel()
