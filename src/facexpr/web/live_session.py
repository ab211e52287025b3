"""A photo driven live by a camera: one :class:`LiveSession` per viewer, fed frame by frame.

Per frame::

    camera frame ─► track the face (MediaPipe VIDEO mode) ─► expression code − reference
    ─► One-Euro ─► lost-face hold / ease back ─► retarget onto the photo ─► render (warp)

This is :mod:`facexpr.animation` with a live source instead of a file: the same tracker, filters,
retargeting and rendering (the render methods are borrowed from :class:`~facexpr.animation.Animation`),
but time comes from the wall clock (frames arrive irregularly and some are dropped), and the
reference is not known in advance:

* until the user takes a **neutral snapshot** (:meth:`LiveSession.snapshot`), the reference is
  the most neutral stretch seen so far (:func:`facexpr.animation.neutrality`, the rule ``animate``
  uses on a whole clip), so the first frames need not be neutral;
* after a snapshot, the mean code of the next few frames with a face is the reference.

The photo is analysed once per session. A session that goes idle can :meth:`release` its tracker
and renderer (they are rebuilt on the next frame); :meth:`close` frees everything.

Frames carry a **frame stamp** for latency measurement: the page draws a 16-bit number as 8-px
black/white blocks into the top-left corner of each captured frame (:func:`read_stamp`), and the
server returns it under the rendered photo as an 8-px strip (:func:`add_stamp`), so the page can
match what it shows to when it was captured, through JPEG both ways.
"""
from __future__ import annotations

import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from ..animation import (AnimateConfig, Animation, FaceTracker, VideoTracker, _ease, _method, _resize_long,
                        _rotation, _rotvec, neutrality)
from ..expression.analysis import analyze_faces, describe
from ..expression.model import load_default_model
from ..expression.retarget import TRANSFER, Intent, RetargetConfig, region_point_weights
from ..faces.landmarks import select_face
from ..one_euro import OneEuroConfig, OneEuroFilter

STAMP_BLOCK = 8   # px per bit: JPEG codes 8x8 blocks, so aligned blocks survive its quantisation
STAMP_BITS = 16
STAMP_HEIGHT = STAMP_BLOCK
STAMP_WIDTH = STAMP_BLOCK * (STAMP_BITS + 2)  # a white start block, the bits, a black end block


def _stamp_levels(n: int) -> list[int]:
    return [255] + [255 if (n >> (STAMP_BITS - 1 - b)) & 1 else 0 for b in range(STAMP_BITS)] + [0]


def draw_stamp(img: np.ndarray, n: int, y0: int = 0) -> None:
    """Draw frame number ``n`` (mod 2^16) as blocks at the left of rows ``y0 .. y0+8`` (in place)."""
    for i, v in enumerate(_stamp_levels(n & 0xFFFF)):
        img[y0:y0 + STAMP_BLOCK, i * STAMP_BLOCK:(i + 1) * STAMP_BLOCK] = v


def read_stamp(img: np.ndarray, y0: int = 0) -> int | None:
    """The frame number drawn by :func:`draw_stamp` (or the page) at rows ``y0 ..``, None if absent."""
    if img.shape[0] < y0 + STAMP_BLOCK or img.shape[1] < STAMP_WIDTH:
        return None
    c = STAMP_BLOCK // 2
    row = img[y0 + c - 2:y0 + c + 2, :STAMP_WIDTH]
    gray = row.reshape(4, STAMP_BITS + 2, STAMP_BLOCK, -1)[:, :, c - 2:c + 2].mean(axis=(0, 2, 3))
    bits = gray > 127
    if not bits[0] or bits[-1]:
        return None
    lo, hi = gray[bits].min(initial=255), gray[~bits].max(initial=0)
    if lo - hi < 60:  # not a clean black/white code: a real picture there
        return None
    n = 0
    for b in bits[1:-1]:
        n = (n << 1) | int(b)
    return n


def add_stamp(img: np.ndarray, n: int | None) -> np.ndarray:
    """``img`` with an 8-px strip under it carrying ``n`` (grey when None): the photo is never drawn on."""
    h, w = img.shape[:2]
    out = np.empty((h + STAMP_HEIGHT, w, 3), np.uint8)
    out[:h] = img
    out[h:] = 128
    if n is not None and w >= STAMP_WIDTH:
        draw_stamp(out, n, h)
    return out


class SessionClosed(RuntimeError):
    """A frame for a session that was closed (its photo replaced, its viewer gone)."""


@dataclass(frozen=True)
class LiveConfig:
    size: int = 512                  # output long side, px
    intensity: float = 1.0
    pose: bool = False               # follow the head's rotation (small, clamped)
    max_pose_deg: float = 15.0
    smooth: bool = True
    filter: OneEuroConfig = OneEuroConfig()
    hold: float = 1.0                # seconds a lost face's expression is held unchanged
    ease: float = 0.4                # seconds to ease back in when the face returns
    neutral_window: float = 0.5      # seconds: the stretch the automatic reference averages
    snapshot_frames: int = 5         # frames averaged by a neutral snapshot
    warp_grid: int = 160
    stamp: bool = True               # add the frame-stamp strip under the output

    def animate_config(self) -> AnimateConfig:
        return AnimateConfig(intensity=self.intensity, pose=self.pose, max_pose_deg=self.max_pose_deg,
                             smooth=self.smooth, filter=self.filter, size=self.size, hold=self.hold,
                             ease=self.ease, warp_grid=self.warp_grid)


class _Rig(Animation):
    """The photo side of an animation (analysed photo, retargeting, rendering) without a driving
    file: reuses :class:`Animation`'s ``_delta``/``_geometry``/``_render`` so live and ``animate``
    render the same way."""

    def __init__(self, photo: np.ndarray, cfg: AnimateConfig):  # no driving video to probe: not super()
        self.cfg = cfg
        self.photo = _resize_long(np.ascontiguousarray(photo[..., :3]), cfg.size)
        self.height, self.width = self.photo.shape[:2]
        self.method = _method(cfg.method, cfg.warp_grid)
        self.model = load_default_model()
        self.rcfg = RetargetConfig(cfg.intensity, tuple(cfg.regions), gate=False)
        self.intent = Intent(TRANSFER, None, cfg.intensity, tuple(cfg.regions), relative=cfg.relative)
        self.point_weights = region_point_weights(self.model.mean_shape, cfg.regions)
        self.face = select_face(analyze_faces(self.photo), None, "photo")
        self.response = self._measure_response()


class Reference:
    """The driver's neutral code: the most neutral ``window``-second stretch seen so far, until a
    snapshot fixes it (the mean of the next ``snapshot_frames`` frames with a face)."""

    def __init__(self, window: float, snapshot_frames: int):
        self.window = window
        self.snapshot_frames = snapshot_frames
        self.recent: deque = deque()        # (t, code, rotation) of consecutive found frames
        self.code: np.ndarray | None = None
        self.rot: np.ndarray | None = None
        self.score = np.inf
        self.fixed = False
        self._snap: list | None = None

    def snapshot(self) -> None:
        self._snap = []

    def lost(self) -> None:
        self.recent.clear()                 # a stretch is consecutive frames with a face

    def update(self, t: float, code: np.ndarray, rot: np.ndarray) -> bool:
        """Feed a found frame; True when the reference changed (the filters should restart)."""
        if self._snap is not None:
            self._snap.append((code, rot))
            if len(self._snap) >= self.snapshot_frames:
                self.code = np.mean([c for c, _ in self._snap], axis=0)
                self.rot = self._snap[len(self._snap) // 2][1]
                self.fixed, self._snap = True, None
                return True
            return False
        if self.fixed:
            return False
        if self.code is None:               # before any stretch: the first frame, so motion starts at 0
            self.code, self.rot = code, rot
        self.recent.append((t, code, rot))
        while self.recent and self.recent[0][0] < t - self.window:
            self.recent.popleft()
        if len(self.recent) >= 3 and t - self.recent[0][0] >= self.window * 0.8:
            codes = np.stack([c for _, c, _ in self.recent])
            score = float(neutrality(codes).mean())
            if score < self.score - 0.05:  # clearly more neutral: each change restarts the filters
                self.score = score
                self.code = codes.mean(0)
                self.rot = self.recent[len(self.recent) // 2][2]
                return True
        return False


@dataclass
class FrameLog:
    """One processed frame's times (epoch ms; the page's capture and shown times are added by it)."""
    stamp: int | None
    received: float
    analysed: float
    rendered: float
    found: bool


@dataclass
class _Job:
    """An analysed frame, waiting to be rendered (:meth:`LiveSession.render`)."""
    delta: np.ndarray
    rot: np.ndarray
    rt: object
    d_img: np.ndarray
    d_face: object
    stamp: int | None
    received: float
    analysed: float
    found: bool


class LiveSession:
    """One viewer's live animation. ``process(frame)`` is called from one thread at a time (a lock
    makes sure); ``snapshot``/``release``/``close`` may come from others."""

    def __init__(self, photo: np.ndarray, cfg: LiveConfig = LiveConfig()):
        self.cfg = cfg
        self.acfg = cfg.animate_config()
        self._photo_src = photo
        self._lock = threading.RLock()          # tracking and following (frame order)
        self._render_lock = threading.Lock()    # rendering (may overlap the next frame's analysis)
        self.rig = _Rig(photo, self.acfg)   # the photo is analysed here, once
        self.photo = self.rig.photo
        self.created = self.last_used = time.monotonic()
        self.log: deque[FrameLog] = deque(maxlen=8192)
        self.frames = 0
        self.closed = False
        self.owner: str | None = None   # the page it serves (see Registry.add)
        self.token: str | None = None   # what the page's camera connection presents (Registry.add)
        self._tracker = None
        self._t0: float | None = None
        self._reset_motion()

    # ------------------------------------------------------------------ state

    def _reset_motion(self) -> None:
        cfg = self.cfg
        self.reference = Reference(cfg.neutral_window, cfg.snapshot_frames)
        self._f_code = OneEuroFilter(cfg.filter)
        self._f_rot = OneEuroFilter(cfg.filter)
        self._f_geo = OneEuroFilter(OneEuroConfig(cfg.filter.min_cutoff * 2, cfg.filter.beta, cfg.filter.d_cutoff))
        self._held_code = np.zeros(52)
        self._held_rot = np.zeros(3)
        self._lost_since: float | None = None
        self._back_since: float | None = None
        self._last_t: float | None = None
        self._last_good = None
        self.last_image = self.photo

    def _track(self, rgb: np.ndarray, t: float):
        if self._tracker is None:
            try:
                self._tracker = VideoTracker()
            except Exception:  # MediaPipe without VIDEO mode: crop tracking in IMAGE mode
                self._tracker = FaceTracker()
        if isinstance(self._tracker, VideoTracker):
            return self._tracker(rgb, round(t * 1000))
        face = self._tracker(rgb)
        return None if face is None else describe(face)  # the fused code, as VideoTracker gives

    def snapshot(self) -> None:
        """Take the next frames with a face as the driver's neutral face."""
        with self._lock:
            self.reference.snapshot()

    def release(self) -> None:
        """Free the tracker (MediaPipe's graph and buffers); the next frame rebuilds it."""
        with self._lock:
            tr, self._tracker = self._tracker, None
            if isinstance(tr, VideoTracker):
                tr.close()
            self._t0 = None  # VIDEO mode needs increasing timestamps: a new tracker starts again

    def close(self) -> None:
        with self._lock:
            self.release()
            self.closed = True
            self._last_good = None

    # ------------------------------------------------------------------ per frame

    def _follow(self, t: float, face) -> tuple[np.ndarray, np.ndarray]:
        """The filtered code and rotation for this frame, holding and easing as ``animate`` does
        (in seconds of wall clock rather than frames, since live frames come irregularly)."""
        cfg = self.cfg
        dt = 0.0 if self._last_t is None else max(t - self._last_t, 0.0)
        self._last_t = t
        if face is not None:
            bs = face.blendshapes.astype(np.float64)
            rot_abs = _rotation(face)
            if self.reference.update(t, bs, rot_abs):
                self._f_code.reset()
                self._f_rot.reset()
            raw = bs - self.reference.code
            rot = _rotvec(rot_abs @ self.reference.rot.T) if cfg.pose else np.zeros(3)
            code = self._f_code(raw, t) if cfg.smooth else raw
            rot_f = self._f_rot(rot, t) if cfg.smooth else rot
            if self._lost_since is not None:
                self._lost_since, self._back_since = None, t
            if self._back_since is not None:  # coming back from a loss: blend from the held expression
                w = _ease((t - self._back_since) / cfg.ease) if cfg.ease > 0 else 1.0
                code = self._held_code + (code - self._held_code) * w
                rot_f = self._held_rot + (rot_f - self._held_rot) * w
                if w >= 1.0:
                    self._back_since = None
            self._held_code, self._held_rot = code, rot_f
            return code, rot_f
        self.reference.lost()
        if self._lost_since is None:
            self._lost_since = t
            self._back_since = None
        elif t - self._lost_since > cfg.hold:  # decay towards the photo's own expression (1/e per second)
            decay = np.exp(-dt)
            self._held_code = self._held_code * decay
            self._held_rot = self._held_rot * decay
        self._f_code.reset()
        self._f_rot.reset()
        return self._held_code, self._held_rot

    def analyse(self, frame: np.ndarray, received: float | None = None, now: float | None = None) -> _Job:
        """The first half of :meth:`process`: track ``frame``'s face, follow it (reference,
        filters, hold/ease) and retarget the photo's geometry. Frames must come in order (one
        thread at a time: a lock makes sure); the result goes to :meth:`render`, which may run in
        another thread while the next frame is analysed, as ``animate`` overlaps its stages."""
        received = time.time() * 1000 if received is None else received
        with self._lock:
            if self.closed:
                raise SessionClosed("live session closed")
            self.last_used = time.monotonic()
            stamp = read_stamp(frame) if self.cfg.stamp else None
            rgb = np.ascontiguousarray(frame[..., :3])
            if stamp is not None:  # the code is not part of the picture
                rgb[:STAMP_HEIGHT, :STAMP_WIDTH] = rgb[STAMP_HEIGHT:2 * STAMP_HEIGHT, :STAMP_WIDTH]
            now = time.monotonic() if now is None else now
            if self._t0 is None:
                self._t0 = now - (self._last_t or 0.0)
            t = now - self._t0
            face = self._track(rgb, t)
            code, rot = self._follow(t, face)
            if face is not None:
                self._last_good = (rgb, face)
            rig = self.rig
            delta = rig._delta(code)
            rt = rig._geometry(delta, rot, self._f_geo if self.cfg.smooth else None, t)
            d_img, d_face = self._last_good if self._last_good is not None else (rig.photo, rig.face)
            return _Job(delta, rot, rt, d_img, d_face, stamp, received, time.time() * 1000, face is not None)

    def render(self, job: _Job) -> tuple[np.ndarray, FrameLog]:
        """The second half of :meth:`process`: render the analysed frame onto the photo (RGB, with
        the stamp strip when configured; its log entry). Jobs are rendered in the order given."""
        with self._render_lock:
            img, _, _ = self.rig._render(job.delta, job.rot, job.rt, job.d_img, job.d_face)
            self.last_image = img
            out = add_stamp(img, job.stamp) if self.cfg.stamp else img
            entry = FrameLog(job.stamp, job.received, job.analysed, time.time() * 1000, job.found)
            self.log.append(entry)
            self.frames += 1
            return out, entry

    def process(self, frame: np.ndarray, received: float | None = None,
                now: float | None = None) -> tuple[np.ndarray, FrameLog]:
        """Render the photo with ``frame``'s expression: (RGB image, with the stamp strip when
        configured; its log entry). ``now`` (seconds, monotonic) replaces the clock in tests."""
        return self.render(self.analyse(frame, received, now))

    def stats(self, seconds: float = 2.0) -> dict:
        """Frames/s and server milliseconds per frame over the last ``seconds``."""
        now = time.time() * 1000
        recent = [e for e in list(self.log) if e.rendered >= now - seconds * 1000]
        if not recent:
            return {"fps": 0.0, "server_ms": None, "face": False, "reference": self.reference_kind}
        span = max(now - recent[0].rendered, 1.0) if len(recent) > 1 else seconds * 1000
        return {"fps": round(len(recent) * 1000 / max(span, seconds * 1000 * 0.25), 1),
                "server_ms": round(float(np.median([e.rendered - e.received for e in recent])), 1),
                "face": recent[-1].found, "reference": self.reference_kind}

    @property
    def reference_kind(self) -> str:
        if self.reference._snap is not None:
            return "taking snapshot"
        return "snapshot" if self.reference.fixed else "automatic (most neutral so far)"


@dataclass
class Registry:
    """Every open session, so idle ones can be released (a viewer who stopped the camera or left
    the page) and closed ones forgotten."""
    idle_release: float = 30.0      # seconds without a frame before the tracker is freed
    idle_close: float = 900.0       # seconds without a frame before the session is closed
    sessions: list = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _thread: threading.Thread | None = None

    def add(self, s: LiveSession, owner: str | None = None) -> LiveSession:
        """Register ``s`` and give it a fresh unguessable ``token`` (the page's camera connection
        presents it: :meth:`by_token`); with ``owner`` (a page's id), close the owner's earlier
        sessions: a page has one live photo, and two quick changes of it must not leave an orphan."""
        with self._lock:
            s.owner = owner
            s.token = secrets.token_urlsafe(18)
            if owner is not None:
                for old in self.sessions:
                    if old.owner == owner and old is not s:
                        old.close()
            self.sessions.append(s)
            if self._thread is None:
                self._thread = threading.Thread(target=self._reap, daemon=True, name="facexpr-live-reaper")
                self._thread.start()
        return s

    def sweep(self) -> None:
        now = time.monotonic()
        with self._lock:
            keep = []
            for s in self.sessions:
                idle = now - s.last_used
                if s.closed or idle > self.idle_close:
                    s.close()
                    continue
                if idle > self.idle_release and s._tracker is not None:
                    s.release()
                keep.append(s)
            self.sessions = keep

    def current(self, owner: str) -> LiveSession | None:
        """The owner's open session, if any."""
        with self._lock:
            return next((s for s in reversed(self.sessions) if s.owner == owner and not s.closed), None)

    def by_token(self, token: str | None) -> LiveSession | None:
        """The open session whose token this is (compared in constant time), if any."""
        if not token:
            return None
        with self._lock:
            return next((s for s in self.sessions if not s.closed and s.token is not None
                         and secrets.compare_digest(s.token.encode(), token.encode())), None)

    def open_sessions(self) -> list[LiveSession]:
        with self._lock:
            return [s for s in self.sessions if not s.closed]

    def _reap(self) -> None:
        while True:
            time.sleep(min(5.0, self.idle_release / 2))
            try:
                self.sweep()
            except Exception:  # never let the reaper die
                pass


REGISTRY = Registry()
