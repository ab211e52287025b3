"""What the web page's buttons do, without Gradio: plain functions over the public API, so they are
testable on their own and the page (:mod:`facexpr.web.app`) stays a layout.

Every problem a user can fix raises :class:`UserError` with a readable one-line message (the page
shows it in a toast); limits (pixels, frames, seconds) are enforced here.
"""
from __future__ import annotations

import logging
import os
import shutil
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

import facexpr
from ..errors import FacexprError
from ..expression import action_units
from ..io_video import is_video_path, probe

log = logging.getLogger("facexpr.web")


class UserError(Exception):
    """A message for the person using the page."""


@dataclass(frozen=True)
class Limits:
    max_pixels: int = 40_000_000      # per uploaded image
    max_video_frames: int = 300       # frames rendered per animate request
    max_video_seconds: float = 60.0   # driver length accepted
    timeout: float = 300.0            # seconds per request
    max_side_out: int = 2048          # images larger than this are shrunk before processing


def _image_size(path: str) -> tuple[int, int]:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            return im.size
    except (UnidentifiedImageError, OSError, ValueError):
        raise UserError(f"{Path(path).name}: not an image file (supported: JPEG, PNG, WebP, BMP, TIFF)") from None


def check_image(path, limits: Limits, what: str) -> str:
    if path is None or (isinstance(path, str) and not path):
        raise UserError(f"please give the {what} image")
    if isinstance(path, np.ndarray):
        h, w = path.shape[:2]
    else:
        w, h = _image_size(str(path))
    if w * h > limits.max_pixels:
        raise UserError(f"{what} image is {w}x{h} = {w * h / 1e6:.0f} MP, over the "
                        f"{limits.max_pixels / 1e6:.0f} MP limit of this server")
    return path


def _load(path, limits: Limits, what: str) -> np.ndarray:
    check_image(path, limits, what)
    img = facexpr.load_image(path, what)
    h, w = img.shape[:2]
    s = limits.max_side_out / max(h, w)
    if s < 1:
        img = cv2.resize(img, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA)
    return img


class Runner:
    """Runs requests with a time limit; turns facexpr's errors into :class:`UserError`.

    A request that runs past the limit is answered with a message at once; its thread finishes in
    the background (numpy/MediaPipe cannot be interrupted) and its result is dropped."""

    def __init__(self, limits: Limits, workers: int = 2):
        self.limits = limits
        self._pool = ThreadPoolExecutor(max(1, workers), thread_name_prefix="facexpr-web")

    def __call__(self, fn, *args, **kwargs):
        fut = self._pool.submit(fn, *args, **kwargs)
        try:
            return fut.result(timeout=self.limits.timeout)
        except FutureTimeout:
            raise UserError(f"the request took longer than the server's {self.limits.timeout:.0f} s limit") from None
        except FacexprError as e:
            raise UserError(str(e)) from None


class Scratch:
    """A private temp folder for output videos; files older than ``keep`` seconds are deleted on
    each new request, and the whole folder when the server stops."""

    def __init__(self, keep: float = 900.0, root: str | None = None):
        self.dir = Path(tempfile.mkdtemp(prefix="facexpr-web-", dir=root))
        self.keep = keep
        self._lock = threading.Lock()

    def new(self, suffix: str) -> Path:
        self.sweep()
        fd, p = tempfile.mkstemp(suffix=suffix, dir=self.dir)
        os.close(fd)
        return Path(p)

    def sweep(self, older_than: float | None = None) -> None:
        cutoff = time.time() - (self.keep if older_than is None else older_than)
        with self._lock:
            for p in self.dir.iterdir():
                try:
                    if p.stat().st_mtime < cutoff:
                        p.unlink()
                except FileNotFoundError:
                    pass

    def close(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)


def side_by_side(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    h = max(a.shape[0], b.shape[0])

    def fit(x):
        if x.shape[0] == h:
            return x
        return cv2.resize(x, (round(x.shape[1] * h / x.shape[0]), h), interpolation=cv2.INTER_AREA)

    return np.concatenate([fit(a), np.full((h, 8, 3), 255, np.uint8), fit(b)], axis=1)


# --------------------------------------------------------------------------- the four tabs


def transfer(source, target, method: str, intensity: float, regions, source_face, target_face,
             limits: Limits) -> tuple[np.ndarray, np.ndarray]:
    """(target, result)."""
    src = _load(source, limits, "source")
    tgt = _load(target, limits, "target")
    if regions is not None and len(regions) == 0:
        raise UserError("choose at least one region (brows, eyes, mouth)")
    res = facexpr.transfer(src, tgt, method=method, intensity=float(intensity), regions=regions or None,
                           source_face=_index(source_face), target_face=_index(target_face))
    return tgt, res.image


def _index(x):
    if x is None or x == "" or (isinstance(x, float) and np.isnan(x)):
        return None
    i = int(x)
    return None if i < 0 else i


def edit(target, aus: dict, emotion: str | None, intensity: float, method: str, face, limits: Limits):
    img = _load(target, limits, "photo")
    changes = {k: float(v) for k, v in aus.items() if v} if isinstance(aus, dict) else list(aus or [])
    if not changes and not emotion:
        return img
    return facexpr.edit(img, aus=changes, emotion=emotion or None, intensity=float(intensity), method=method,
                        face=_index(face)).image


def analyze(image, limits: Limits) -> tuple[np.ndarray, dict, dict]:
    """(the photo with landmarks and AU bars drawn, AU intensities of the largest face, JSON)."""
    img = _load(image, limits, "photo")
    faces = facexpr.analyze(img)
    if not faces:
        raise UserError("no face found in the photo")
    out = img.copy()
    h, w = out.shape[:2]
    r = max(1, round(max(h, w) / 500))
    for i, f in enumerate(faces):
        for x, y in f.xy.astype(int):
            cv2.circle(out, (int(x), int(y)), r, (0, 255, 0) if i == 0 else (255, 200, 0), -1, cv2.LINE_AA)
        x0, y0, _, _ = f.bbox
        cv2.putText(out, str(i), (x0, max(12, y0 - 4)), cv2.FONT_HERSHEY_SIMPLEX, r * 0.8, (255, 255, 0), max(1, r),
                    cv2.LINE_AA)
    aus = action_units.estimate(faces[0].blendshapes)
    names = [f"AU{a}" for a in action_units.AUS]
    panel = _au_panel(names, aus, out.shape[0])
    doc = {"faces": [f.to_dict(with_landmarks=False) for f in faces],
           "action_units": {n: round(float(v), 3) for n, v in zip(names, aus)}}
    return np.concatenate([out, panel], axis=1), {n: float(v) for n, v in zip(names, aus)}, doc


def _au_panel(names, values, height: int) -> np.ndarray:
    """Horizontal bars, one per AU, as an image as tall as the photo."""
    width = max(220, height // 2)
    panel = np.full((height, width, 3), 255, np.uint8)
    row = height / (len(names) + 1)
    scale = max(0.35, row / 40)
    for i, (n, v) in enumerate(zip(names, values)):
        y = int((i + 0.5) * row)
        cv2.putText(panel, n, (4, y + int(row * 0.3)), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), 1, cv2.LINE_AA)
        x0 = int(width * 0.32)
        x1 = x0 + int((width - x0 - 6) * float(np.clip(v, 0, 1)))
        cv2.rectangle(panel, (x0, y - int(row * 0.1)), (max(x0 + 1, x1), y + int(row * 0.5)), (60, 120, 230), -1)
    return panel


def animate(photo, video, relative: bool, pose: bool, smooth: bool, intensity: float, max_frames,
            limits: Limits, scratch: Scratch, progress=None) -> str:
    check_image(photo, limits, "photo")
    if not video:
        raise UserError("please give a driving video")
    if not is_video_path(video):
        raise UserError(f"{Path(video).name}: not a video file (use MP4, MOV, WebM, MKV or AVI)")
    try:
        info = probe(video, "driving video")
    except FacexprError as e:
        raise UserError(str(e)) from None
    if info.duration > limits.max_video_seconds:
        raise UserError(f"the driving video is {info.duration:.0f} s long; this server accepts up to "
                        f"{limits.max_video_seconds:.0f} s")
    n = min(int(max_frames or limits.max_video_frames), limits.max_video_frames)
    out = scratch.new(".mp4")
    deadline = time.monotonic() + limits.timeout

    def tick(done, total, fps):
        if time.monotonic() > deadline:
            raise UserError(f"the request took longer than the server's {limits.timeout:.0f} s limit")
        if progress is not None:
            progress(done, total, fps)

    try:
        facexpr.animate_to_file(photo, video, out, progress=tick, relative=bool(relative), pose=bool(pose),
                                smooth=bool(smooth), intensity=float(intensity), max_frames=n)
    except FacexprError as e:
        out.unlink(missing_ok=True)
        raise UserError(str(e)) from None
    except BaseException:
        out.unlink(missing_ok=True)
        raise
    return str(out)
