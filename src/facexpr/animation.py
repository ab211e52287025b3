"""Animate a photo from a driving video: every driver frame's expression (and optionally a small
head rotation) rendered onto the photo's face.

Per frame::

    driver frame ─► track its face (a crop around the last one) ─► expression code ─► One-Euro
    ─► retarget onto the photo's face ─► render + paste back (:func:`facexpr.pipeline.render`,
    any method that can transfer; default ``warp``)

* **Relative motion** (default): the driver's blendshape change since a reference (its most
  neutral half second, ``reference_frame`` or a ``driving_neutral`` photo) is added to the photo's
  own expression, so a driver who does not start neutral, or has another face shape, does not
  deform the photo. The reference and every frame are read the same way (the fitted expression
  code, :func:`facexpr.expression.analysis.describe`), so a driver that holds its reference
  expression moves nothing. ``relative=False`` copies the driver's expression as ``transfer`` does.
* **Stability**: the expression code (52 blendshapes), the head rotation and the rendered
  geometry are One-Euro filtered (:mod:`facexpr.one_euro`); :func:`jitter` measures the result.
* **Lost face** (occlusion, a hand): the last good expression is held, decays towards the
  photo's own expression after ``hold`` seconds, and the live expression is eased back in over
  ``ease`` seconds when the face returns. A driver with no face at all is a :class:`FaceNotFound`.
* **Speed**: the photo is analysed once; driver decoding + tracking run in a thread ahead of
  rendering, rendering runs on a small thread pool (frames are independent once their code is
  filtered), and :func:`write_animation` encodes in another thread. No closed-loop correction per
  frame (``transfer`` measures its render once more); instead the photo's response to a smile and
  an open jaw is measured once, at set-up (:mod:`facexpr.response`), and every frame's request is
  rendered at the strength the photo needs to show it.
"""
from __future__ import annotations

import queue
import threading
import time
import weakref
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np

from .errors import FaceNotFound, InputError
from .expression import action_units
from .expression.analysis import analyze_faces, describe, load_default_reader, symmetric_fitter
from .expression.blendshapes import REGIONS
from .expression.model import load_default_model
from .expression.retarget import (TRANSFER, Intent, RetargetConfig, apply_delta, expression_delta, relative_delta,
                                  region_point_weights, retargeted)
from .faces.landmarks import (Detection, Face, box_iou, close_quietly, get_landmarker, quiet_native_stderr,
                              select_face)
from .io import ImageLike, load_image
from .io_video import VideoInfo, VideoWriter, frame_window, probe, read_frames, write_image_sequence
from .limits import check_intensity, check_regions
from .methods import RenderJob
from .methods.warp.method import Warp
from .one_euro import OneEuroConfig, OneEuroFilter
from .pipeline import StageTimer, load_method, render
from .response import ResponseCurves, measure_response
from .threads import one_blas_thread
from . import assets

MAX_POSE_DEG = 15.0
SETTLE_READS = 8  # tracked reads of a first frame: the landmarks move < 0.1 px a read after ~5
NEUTRAL_STRETCH_S = 0.5   # the reference stretch's length, seconds
NEUTRAL_SAMPLES = 64      # frames tracked to find it, at most (set-up time: ~64 trackings)
KEEP_BYTES = 64 << 20     # sampled frames kept in memory while searching (a 640x360 clip: all)


@dataclass(frozen=True)
class AnimateConfig:
    method: str = "warp"
    relative: bool = True             # False: copy the driver's expression (as transfer does)
    reference_frame: int | None = None  # driver frame (file index) taken as its neutral (default:
                                        # the most neutral stretch of the window)
    driving_neutral: ImageLike | None = None  # or a photo of the driver taken as neutral
    intensity: float = 1.0
    regions: tuple[str, ...] = REGIONS
    pose: bool = False                # follow the driver's head rotation (clamped)
    max_pose_deg: float = MAX_POSE_DEG
    smooth: bool = True               # One-Euro filtering
    filter: OneEuroConfig = OneEuroConfig()
    size: int | None = 512            # output long side in px (None: the photo's own size)
    start: float | None = None        # seconds
    end: float | None = None
    max_frames: int | None = None
    photo_face: int | None = None     # which face of the photo (default the largest)
    hold: float = 1.0                 # seconds a lost face's expression is held unchanged
    ease: float = 0.4                 # seconds to ease back in when the face returns
    workers: int = 2                  # render threads
    warp_grid: int = 160              # warp: mesh-map grid (px on the long side; transfer uses 320)
    calibrate: bool = True            # measure once how strongly the photo shows each MediaPipe-read
                                      # shape, and render each frame's request at that strength
                                      # (facexpr.response: the closed loop's correction, per photo)

    def __post_init__(self):  # validated once, here, with the limits transfer and edit use
        object.__setattr__(self, "intensity", check_intensity(self.intensity))
        object.__setattr__(self, "regions", check_regions(self.regions))
        if self.size is not None and not 64 <= self.size <= 4096:
            raise InputError(f"size must be between 64 and 4096 px, got {self.size}")
        if not 0.0 <= self.max_pose_deg <= 45.0:
            raise InputError(f"max pose must be between 0 and 45 degrees, got {self.max_pose_deg}")
        if self.max_frames is not None and self.max_frames < 1:
            raise InputError(f"max frames must be at least 1, got {self.max_frames}")


@dataclass
class AnimatedFrame:
    index: int                 # driver frame number (in the file)
    time: float                # seconds from the start of the output
    image: np.ndarray          # RGB uint8, the photo with this frame's expression
    found: bool                # the driver's face was found in this frame
    landmarks: np.ndarray | None = None      # (478, 2) rendered geometry (filtered)
    raw_landmarks: np.ndarray | None = None  # (478, 2) the same without filtering
    driver_landmarks: np.ndarray | None = None  # (478, 2) the driver's face (None when lost)
    timings: dict = field(default_factory=dict)


def _method(name: str, grid: int):
    """The pipeline's method for a transfer (refused when it cannot transfer); ``warp`` with a
    coarser mesh-map grid than a single transfer's (the displacement field is smooth: a 160-px
    grid over a 512-px face changes it by well under a pixel, and is ~4x cheaper to evaluate per
    frame)."""
    method = load_method(name, TRANSFER)
    if isinstance(method, Warp):
        return Warp(replace(method.config, grid=int(grid)), spec=method.spec)
    return method


def _resize_long(img: np.ndarray, size: int | None) -> np.ndarray:
    h, w = img.shape[:2]
    s = 1.0 if size is None else size / max(h, w)
    nw, nh = max(2, int(round(w * s / 2)) * 2), max(2, int(round(h * s / 2)) * 2)
    if (nw, nh) == (w, h):
        return img
    return cv2.resize(img, (nw, nh), interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_CUBIC)


class FaceTracker:
    """The driver's face frame after frame: MediaPipe on a square crop around the last face (one
    inference), the whole frame when that fails or no face is known yet (at most two). Returns
    the analysed face (:func:`~facexpr.expression.analysis.describe`), as :class:`VideoTracker` does."""

    def __init__(self):
        self.lm = get_landmarker()
        self.last: Detection | None = None

    def _whole(self, rgb: np.ndarray) -> Detection | None:
        h, w = rgb.shape[:2]
        s = min(1.0, 1024 / max(h, w))
        small = cv2.resize(rgb, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA) if s < 1 else rgb
        faces = self.lm.detect(small, scale=s, full_size=(w, h))
        return max(faces, key=lambda f: f.size, default=None)

    def __call__(self, rgb: np.ndarray) -> Face | None:
        face = None
        if self.last is not None:
            h, w = rgb.shape[:2]
            x0, y0, x1, y1 = self.last.bbox
            cx, cy, half = (x0 + x1) / 2, (y0 + y1) / 2, 1.5 * max(x1 - x0, y1 - y0)
            X0, Y0 = max(0, int(cx - half)), max(0, int(cy - half))
            X1, Y1 = min(w, int(cx + half)), min(h, int(cy + half))
            if X1 - X0 >= 32 and Y1 - Y0 >= 32:
                crop = rgb[Y0:Y1, X0:X1]
                s = min(1.0, 512 / max(crop.shape[:2]))
                if s < 1:
                    crop = cv2.resize(crop, (round(crop.shape[1] * s), round(crop.shape[0] * s)),
                                      interpolation=cv2.INTER_AREA)
                cands = self.lm.detect(np.ascontiguousarray(crop), offset=(X0, Y0), scale=s, full_size=(w, h))
                face = max(cands, key=lambda g: box_iou(g.bbox, self.last.bbox), default=None)
                if face is not None and box_iou(face.bbox, self.last.bbox) < 0.2:
                    face = None
        if face is None:
            face = self._whole(rgb)
        if face is not None and face.size < 24:
            face = None
        self.last = face
        return None if face is None else describe(face)


class VideoTracker:
    """The driver's face with MediaPipe in VIDEO mode: the face detector runs only when tracking is
    lost, so a tracked frame costs one landmark (+ blendshape) inference. Frames must come in time
    order; one tracker per video. Falls back to :class:`FaceTracker` if MediaPipe refuses."""

    def __init__(self):
        import mediapipe as mp
        from mediapipe.tasks.python import BaseOptions, vision

        self._mp = mp
        opts = vision.FaceLandmarkerOptions(
            base_options=BaseOptions(model_asset_path=str(assets.resolve("face_landmarker"))),
            running_mode=vision.RunningMode.VIDEO, num_faces=1,
            min_face_detection_confidence=0.4, min_face_presence_confidence=0.4, min_tracking_confidence=0.4,
            output_face_blendshapes=True, output_facial_transformation_matrixes=True)
        with quiet_native_stderr():
            self._lm = vision.FaceLandmarker.create_from_options(opts)
        self._t = -1
        self._offset = 0  # ms the clock was advanced by settling (MediaPipe smooths by time)

    def __call__(self, rgb: np.ndarray, t_ms: int) -> Face | None:
        face = self._read(rgb, t_ms)
        return None if face is None else describe(face)  # the fitted expression code, as everywhere

    def _read(self, rgb: np.ndarray, t_ms: int) -> Detection | None:
        h, w = rgb.shape[:2]
        t_ms = max(int(t_ms) + self._offset, self._t + 1)
        first, self._t = self._t < 0, t_ms
        image = self._mp.Image(image_format=self._mp.ImageFormat.SRGB, data=np.ascontiguousarray(rgb))
        if first:  # the first inference prints delegate INFO lines from C++
            with quiet_native_stderr():
                res = self._lm.detect_for_video(image, t_ms)
        else:
            res = self._lm.detect_for_video(image, t_ms)
        if not res.face_landmarks:
            return None
        pts = np.array([(p.x * w, p.y * h, p.z * w) for p in res.face_landmarks[0]], dtype=np.float64)
        bs = np.array([c.score for c in res.face_blendshapes[0]], dtype=np.float32)
        pose = np.asarray(res.facial_transformation_matrixes[0], dtype=np.float64)
        face = Detection(pts, bs, pose, (w, h))
        return face if face.size >= 24 else None

    def settle(self, rgb: np.ndarray, t_ms: int, step_ms: int, reads: int = SETTLE_READS) -> Face | None:
        """The reading of ``rgb`` once tracking has settled on it. A first reading comes from the
        detector's box, every later one from the box of the previous landmarks, and on a still
        face those differ by far more than expression (a code change of up to 0.4 on the same
        frame): so the reference and the first frame of a drive are read this same way, a fixed
        number of times ``step_ms`` (a frame) apart, and a driver that holds its reference
        expression reads as no change. Later frames' times follow on from the last read."""
        face = None
        for k in range(reads):
            if k:
                self._offset += int(step_ms)
            face = self._read(rgb, t_ms)
            if face is None:
                return None
        return describe(face)

    def close(self) -> None:
        lm, self._lm = self._lm, None
        close_quietly(lm)


def _video_tracker() -> VideoTracker | None:
    try:
        return VideoTracker()
    except Exception:  # MediaPipe without VIDEO mode: crop tracking in IMAGE mode
        return None


def _read_reference(rgb: np.ndarray, step_ms: int) -> Face | None:
    """A driver's reference face, read as its frames are (:meth:`VideoTracker.settle`)."""
    video = _video_tracker()
    if video is None:
        return FaceTracker()(rgb)
    try:
        return video.settle(rgb, 0, step_ms)
    finally:
        video.close()


def _rotation(face: Face) -> np.ndarray:
    """The head rotation in image axes (x right, y down, z away from the camera)."""
    F = np.diag([1.0, -1.0, -1.0])
    return F @ np.asarray(face.pose[:3, :3], np.float64) @ F


def _rotvec(R: np.ndarray) -> np.ndarray:
    return cv2.Rodrigues(np.ascontiguousarray(R, np.float64))[0].ravel()


def neutrality(codes: np.ndarray) -> np.ndarray:
    """How far from neutral each expression code (..., 52) reads: the sum of its action-unit
    intensities (:func:`facexpr.expression.action_units.estimate`), 0 for a neutral face. Used to
    find a driver's reference: the clip's (or the camera's) most neutral stretch."""
    return action_units.estimate(np.asarray(codes, np.float64)).sum(-1)


def _ease(x: float) -> float:
    x = min(max(x, 0.0), 1.0)
    return x * x * (3 - 2 * x)


def _track_driver(path: Path, first: int, stop_at: int, frame_ms: int, out: queue.Queue,
                  stop: threading.Event) -> None:
    """Decode and track the driver's frames ``[first, stop_at)`` in order into ``out``
    (``(frame, face or None, tracking ms)``, then None; an exception is handed over instead)."""
    video = _video_tracker()
    fallback = FaceTracker()
    settled = False
    try:
        for fr in read_frames(path, first, stop_at, f"driving video {path}"):
            t = time.perf_counter()
            if video is None:
                face = fallback(fr.image)
            elif not settled:  # the first face is read as the reference was
                face = video.settle(fr.image, round(fr.time * 1000), frame_ms)
                settled = face is not None
            else:
                face = video(fr.image, round(fr.time * 1000))
            dt = (time.perf_counter() - t) * 1000
            while not stop.is_set():
                try:
                    out.put((fr, face, dt), timeout=0.2)
                    break
                except queue.Full:
                    continue
            if stop.is_set():
                return
    except BaseException as e:  # hand it to the consumer
        out.put(e)
        return
    finally:
        if video is not None:
            video.close()
    out.put(None)


AHEAD_BYTES = 64 << 20  # decoded driver frames the tracker may hold ahead of the renderer


class _DriverPipe:
    """The driver tracked on its own thread, started as soon as the window is known: while the
    reference is searched and the photo analysed, it already decodes and tracks the first frames
    (up to ``AHEAD_BYTES`` of them), work the frame loop would otherwise wait for. It holds no
    reference to the animation, so an animation dropped without being iterated stops it."""

    def __init__(self, path: Path, first: int, stop_at: int, frame_ms: int, frame_bytes: int = 0):
        ahead = max(16, min(256, AHEAD_BYTES // max(frame_bytes, 1))) if frame_bytes else 16
        self.queue: queue.Queue = queue.Queue(maxsize=ahead)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=_track_driver, args=(path, first, stop_at, frame_ms, self.queue,
                                                                   self.stop), daemon=True, name="facexpr-driver")
        self.thread.start()


class Animation:
    """An animation being made: set-up (probing the driver, analysing the photo, finding the
    driver's reference expression) happens on construction, so user errors surface before any
    frame; iterating yields :class:`AnimatedFrame` objects in order. ``stats`` fills in as it goes.
    """

    @one_blas_thread()
    def __init__(self, photo: ImageLike, driving, cfg: AnimateConfig = AnimateConfig()):
        self.cfg = cfg
        self.driving = Path(driving)
        t0 = time.perf_counter()
        self.info: VideoInfo = probe(driving, f"driving video {driving}")
        self.first, self.stop = frame_window(self.info, cfg.start, cfg.end, cfg.max_frames)
        self.fps = self.info.fps
        self.stats = {"frames": 0, "found": 0, "lost": 0, "setup_ms": 0.0, "stage_ms": {}}
        self._pipe = _DriverPipe(self.driving, self.first, self.stop, self._frame_ms,
                                 3 * self.info.width * self.info.height)
        weakref.finalize(self, self._pipe.stop.set)  # never iterated: stop tracking when dropped
        # The driver's reference (decoding and tracking up to NEUTRAL_SAMPLES frames: most of the
        # set-up) is searched on a helper thread while this one loads the models and analyses the
        # photo: decoding and MediaPipe run outside the GIL, so the two overlap on two cores.
        # The photo's errors still come first.
        self._cancel = threading.Event()
        ref: dict = {}
        finder = threading.Thread(target=self._find_reference_into, args=(ref,), daemon=True,
                                  name="facexpr-reference")
        finder.start()
        try:
            name = str(photo) if isinstance(photo, (str, Path)) else "photo"
            self.photo = _resize_long(load_image(photo, name), cfg.size)
            self.height, self.width = self.photo.shape[:2]
            self.method = _method(cfg.method, cfg.warp_grid)
            self.model = load_default_model()
            # relative motion is the driver's change from its own reference: no between-people gate
            self.rcfg = RetargetConfig(cfg.intensity, tuple(cfg.regions), gate=not cfg.relative)
            self.intent = Intent(TRANSFER, None, cfg.intensity, tuple(cfg.regions), relative=cfg.relative)
            self.point_weights = region_point_weights(self.model.mean_shape, cfg.regions)
            # the expression reader, built here while the other threads import MediaPipe: else
            # the first reads on two threads would each build it
            if load_default_reader() is not None:
                symmetric_fitter()
            self.face = select_face(analyze_faces(self.photo, thorough=cfg.photo_face is not None),
                                    cfg.photo_face, f"photo {name}")
            self.response = self._measure_response()  # while the reference search runs
        except BaseException:
            self._cancel.set()
            self._pipe.stop.set()
            finder.join()
            raise
        finder.join()
        if "error" in ref:
            self._pipe.stop.set()
            raise ref["error"]
        self.reference, self.reference_rot = ref["found"]
        self.stats["setup_ms"] = (time.perf_counter() - t0) * 1000

    def _find_reference_into(self, out: dict) -> None:
        try:
            out["found"] = self._find_reference()
        except BaseException as e:  # raised by the constructor, after the photo's own errors
            out["error"] = e

    @property
    def frame_count(self) -> int:
        return self.stop - self.first

    @property
    def _frame_ms(self) -> int:
        return max(1, round(1000 / float(self.fps)))

    def _find_reference(self) -> tuple[np.ndarray, np.ndarray]:
        cfg = self.cfg
        what = f"driving video {self.driving}"
        if cfg.driving_neutral is not None:
            img = load_image(cfg.driving_neutral, f"driving neutral {cfg.driving_neutral}")
            f = select_face(analyze_faces(img), None, f"driving neutral {cfg.driving_neutral}")
            f = _read_reference(img, self._frame_ms) or f  # read as the frames are
            return f.blendshapes.astype(np.float64), _rotation(f)
        if cfg.reference_frame is not None:
            if not 0 <= cfg.reference_frame < self.info.frames:
                raise InputError(f"{what}: reference frame {cfg.reference_frame} out of range "
                                 f"(0-{self.info.frames - 1})")
            fr = next(read_frames(self.driving, cfg.reference_frame, cfg.reference_frame + 1, what), None)
            f = _read_reference(fr.image, self._frame_ms) if fr is not None else None
            if f is None:
                raise FaceNotFound(f"{what}: no face found in reference frame {cfg.reference_frame}")
            return f.blendshapes.astype(np.float64), _rotation(f)
        for lo, hi in ((self.first, self.stop), (0, self.info.frames)):  # the window, else the file
            found = self._most_neutral_stretch(lo, hi)
            if found is not None:
                return found
        raise FaceNotFound(f"{what}: no face found in any frame of the video")

    def _most_neutral_stretch(self, lo: int, hi: int) -> tuple[np.ndarray, np.ndarray] | None:
        """The driver's reference when none is given: the mean code of its most neutral
        ``NEUTRAL_STRETCH_S`` stretch in frames ``[lo, hi)`` (by :func:`neutrality`, on the same
        fused code the frames get), and the rotation at its middle. Neither the first frame (a
        clip rarely starts neutral: the Pexels clip starts with a half smile, lids down) nor the
        least-moving stretch (a held smile is still) — a relative animation adds the change from
        this reference, so anything but neutral there is subtracted from every frame. At most
        ``NEUTRAL_SAMPLES`` frames are read, evenly spaced, to bound the set-up time."""
        n = hi - lo
        if n <= 0:
            return None
        step = max(1, -(-n // NEUTRAL_SAMPLES))
        try:
            video = VideoTracker()
        except Exception:  # MediaPipe without VIDEO mode
            video = None
        fallback = FaceTracker()
        samples = []  # (code, rotation) or None, one per sampled frame
        indices = []
        kept: dict[int, np.ndarray] = {}  # the sampled frames while they fit KEEP_BYTES: the chosen
        kept_bytes = 0                    # one is read again below, without decoding up to it again
        try:
            for fr in read_frames(self.driving, lo, hi, f"driving video {self.driving}", step=step):
                if self._cancel.is_set():  # the photo failed: nobody waits for the reference
                    return None
                f = video(fr.image, round(fr.time * 1000)) if video is not None else fallback(fr.image)
                if f is not None:
                    f = describe(f)  # as the frames (VideoTracker's faces are described already)
                samples.append(None if f is None else (f.blendshapes.astype(np.float64), _rotation(f)))
                indices.append(fr.index)
                if f is not None and kept_bytes + fr.image.nbytes <= KEEP_BYTES:
                    kept[fr.index] = fr.image
                    kept_bytes += fr.image.nbytes
        finally:
            if video is not None:
                video.close()
        scores = np.array([np.inf if s is None else float(neutrality(s[0])) for s in samples])
        if not np.isfinite(scores).any():
            return None
        w = max(1, min(len(samples), int(round(NEUTRAL_STRETCH_S * float(self.fps) / step))))
        best, where = np.inf, None
        for i in range(len(samples) - w + 1):  # stretches with the face in every sampled frame
            m = float(scores[i:i + w].mean())
            if m < best:
                best, where = m, i
        if where is None:  # no complete stretch: the single most neutral frame
            where, w = int(np.argmin(scores)), 1
        # The stretch's middle frame, read as the frames are read (settled tracking): a driver that
        # holds its reference expression then moves nothing, where a mean over a stretch of
        # tracked reads would differ from every single read by the tracker's drift.
        mid = indices[where + w // 2]
        img = kept.get(mid)
        if img is None:
            fr = next(read_frames(self.driving, mid, mid + 1, f"driving video {self.driving}"), None)
            img = None if fr is None else fr.image
        f = _read_reference(img, self._frame_ms) if img is not None else None
        if f is None:
            part = samples[where:where + w]
            return np.mean([c for c, _ in part], axis=0), part[len(part) // 2][1]
        return f.blendshapes.astype(np.float64), _rotation(f)

    # ------------------------------------------------------------------ the per-frame pipeline


    def _codes(self) -> Iterator[tuple]:
        """Per driver frame: (frame, face, code, rotation) after filtering, hold and ease."""
        cfg = self.cfg
        fps = float(self.fps)
        f_code = OneEuroFilter(cfg.filter)
        f_rot = OneEuroFilter(cfg.filter)
        held_code = np.zeros(52)
        held_rot = np.zeros(3)
        lost_for = 0
        ease_left = 0
        ease_n = max(1, int(round(cfg.ease * fps)))
        last_good = None  # (frame image, face)
        pipe, self._pipe = self._pipe, None
        if pipe is None:  # iterated again: track the driver again
            pipe = _DriverPipe(self.driving, self.first, self.stop, self._frame_ms)
        q, stop, th = pipe.queue, pipe.stop, pipe.thread
        try:
            k = 0
            while True:
                item = q.get()
                if item is None:
                    return
                if isinstance(item, BaseException):
                    raise item
                fr, face, track_ms = item
                t = k / fps
                k += 1
                if face is not None:
                    bs = face.blendshapes.astype(np.float64)
                    raw = bs - self.reference if cfg.relative else bs
                    rot = _rotvec(_rotation(face) @ self.reference_rot.T) if cfg.pose else np.zeros(3)
                    code = f_code(raw, t) if cfg.smooth else raw
                    rot_f = f_rot(rot, t) if cfg.smooth else rot
                    if ease_left > 0:  # coming back from a loss: blend from the held expression
                        w = _ease(1 - (ease_left - 1) / ease_n)
                        code = held_code + (code - held_code) * w
                        rot_f = held_rot + (rot_f - held_rot) * w
                        ease_left -= 1
                    held_code, held_rot, lost_for = code, rot_f, 0
                    last_good = (fr.image, face)
                    self.stats["found"] += 1
                else:
                    raw = None
                    lost_for += 1
                    if lost_for > cfg.hold * fps:  # decay towards the photo's own expression
                        decay = np.exp(-1.0 / max(fps, 1.0))
                        held_code = held_code * decay if cfg.relative else held_code
                        held_rot = held_rot * decay
                    code, rot_f = held_code, held_rot
                    ease_left = ease_n
                    f_code.reset()
                    f_rot.reset()
                    self.stats["lost"] += 1
                yield fr, face, code, raw, rot_f, last_good, track_ms
        finally:
            stop.set()
            while th.is_alive():
                try:
                    q.get(timeout=0.1)
                except queue.Empty:
                    pass
            th.join()

    def _measure_response(self) -> ResponseCurves | None:
        """The photo's response curves (:mod:`facexpr.response`), or None when switched off or
        the method does not move landmarks (nothing to calibrate)."""
        if not self.cfg.calibrate or not self.method.spec.landmark_driven:
            return None
        t = time.perf_counter()
        curves = measure_response(self.method, self.photo, self.face, self.model,
                                  point_weights=self.point_weights, intent=self.intent)
        self.calibration_ms = (time.perf_counter() - t) * 1000
        return curves

    def _delta(self, code: np.ndarray) -> np.ndarray:
        p_bs = self.face.blendshapes.astype(np.float64)
        if self.cfg.relative:
            d = relative_delta(code, p_bs, self.rcfg)
        else:
            d = expression_delta(code, p_bs, self.rcfg)
        return d if self.response is None else self.response.amplified(d)

    def _posed(self, xyz: np.ndarray, rot: np.ndarray) -> np.ndarray:
        ang = float(np.linalg.norm(rot))
        lim = np.radians(self.cfg.max_pose_deg)
        if ang < 1e-6:
            return xyz
        if ang > lim:
            rot = rot * (lim / ang)
        R = cv2.Rodrigues(rot.reshape(3, 1))[0]
        c = self.face.landmarks.mean(0)
        return (xyz - c) @ R.T + c

    def _geometry(self, delta, rot, geo_filter, t: float):
        """The retargeted photo face for ``delta`` (posed, its landmarks lightly filtered)."""
        rt = retargeted(self.face, delta, self.model, point_weights=self.point_weights, intent=self.intent)
        lm = rt.landmarks
        if self.cfg.pose:
            lm = self._posed(lm, rot)
        if geo_filter is not None:
            size = self.face.size
            lm = geo_filter(lm / size, t) * size
        return replace(rt, landmarks=lm) if lm is not rt.landmarks else rt

    def _render(self, delta, rot, rt, driver_img, driver_face) -> tuple[np.ndarray, np.ndarray, dict]:
        if not np.any(delta) and not np.any(rot):
            return self.photo.copy(), rt.xy.copy(), {}
        timer = StageTimer()
        out, _ = render(self.method, RenderJob(self.photo, self.face, driver_img, driver_face, rt), self.model,
                        timer=timer)
        return out, rt.xy.copy(), timer.ms

    def __iter__(self) -> Iterator[AnimatedFrame]:
        with one_blas_thread():  # small matrices on busy threads (facexpr.threads)
            yield from self._frames()

    def _frames(self) -> Iterator[AnimatedFrame]:
        cfg = self.cfg
        pending: deque = deque()
        geo_filter = OneEuroFilter(OneEuroConfig(cfg.filter.min_cutoff * 2, cfg.filter.beta,
                                                 cfg.filter.d_cutoff)) if cfg.smooth else None
        stage = self.stats["stage_ms"]

        def finish(item) -> AnimatedFrame:
            fut, fr, face, raw_xy, k = item
            img, xy, ms = fut.result()
            for key, v in ms.items():
                stage[key] = stage.get(key, 0.0) + v
            self.stats["frames"] += 1
            return AnimatedFrame(fr.index, k / float(self.fps), img, face is not None, xy, raw_xy,
                                 None if face is None else face.xy.copy(), ms)

        with ThreadPoolExecutor(max(1, cfg.workers), thread_name_prefix="facexpr-render") as pool:
            k = 0
            for fr, face, code, raw, rot, last_good, track_ms in self._codes():
                stage["track"] = stage.get("track", 0.0) + track_ms
                t = time.perf_counter()
                delta = self._delta(code)
                rt = self._geometry(delta, rot, geo_filter, k / float(self.fps))
                # the unfiltered geometry, for the jitter report (landmarks only: cheap)
                raw_xy = (apply_delta(self.face, self._delta(raw), self.model, self.point_weights)[:, :2]
                          if raw is not None and not cfg.pose else rt.xy.copy())
                stage["retarget"] = stage.get("retarget", 0.0) + (time.perf_counter() - t) * 1000
                d_img, d_face = last_good if last_good is not None else (self.photo, self.face)
                fut = pool.submit(self._render, delta, rot, rt, d_img, d_face)
                pending.append((fut, fr, face, raw_xy, k))
                k += 1
                while len(pending) > max(1, cfg.workers) + 1 or (pending and pending[0][0].done()):
                    yield finish(pending.popleft())
            while pending:
                yield finish(pending.popleft())


def animate(photo: ImageLike, driving, cfg: AnimateConfig = AnimateConfig()) -> Animation:
    return Animation(photo, driving, cfg)


# ----------------------------------------------------------------------------- writing


def write_animation(anim: Animation, out, audio: bool = True, progress=None) -> dict:
    """Encode ``anim`` to ``out``: an ``.mp4`` (H.264, the driver's frame rate, its audio copied in
    sync over the same window; atomic) or, for any other path, a folder of numbered PNGs.

    ``progress(done, total, fps)`` is called after each frame. Returns a summary dict (frames,
    seconds, frames/s, lost frames, per-stage ms, jitter)."""
    out = Path(out)
    t0 = time.perf_counter()
    frames: list = []  # (found, rendered xy, raw xy, driver xy) for the jitter report
    total = anim.frame_count

    def record(f: AnimatedFrame, done: int):
        frames.append((f.found, f.landmarks, f.raw_landmarks, f.driver_landmarks))
        if progress is not None:
            progress(done, total, done / max(time.perf_counter() - t0, 1e-6))

    if out.suffix.lower() == ".mp4":
        window = (anim.first / float(anim.fps), anim.stop / float(anim.fps))
        writer = VideoWriter(out, anim.fps, anim.width, anim.height,
                             audio_from=anim.driving if audio and anim.info.has_audio else None,
                             audio_window=window)
        q: queue.Queue = queue.Queue(maxsize=8)
        err: list = []
        enc_ms = [0.0]

        def encode():
            try:
                while True:
                    img = q.get()
                    if img is None:
                        return
                    t = time.perf_counter()
                    writer.write(img)
                    enc_ms[0] += (time.perf_counter() - t) * 1000
            except BaseException as e:
                err.append(e)
                while q.get() is not None:
                    pass

        th = threading.Thread(target=encode, daemon=True, name="facexpr-encode")
        th.start()
        try:
            for i, f in enumerate(anim, 1):
                if err:
                    break
                q.put(f.image)
                record(f, i)
        except BaseException:
            q.put(None)
            th.join()
            writer.abort()
            raise
        q.put(None)
        th.join()
        if err:
            writer.abort()
            raise err[0]
        writer.close()
        anim.stats["stage_ms"]["encode"] = enc_ms[0]
    else:
        def images():
            for i, f in enumerate(anim, 1):
                record(f, i)
                yield f.image
        write_image_sequence(images(), out)
    dt = time.perf_counter() - t0
    n = len(frames)
    summary = {"output": str(out), "frames": n, "fps_video": float(anim.fps), "seconds": round(dt, 2),
               "frames_per_s": round(n / dt, 2) if dt > 0 else None,
               "lost_frames": sum(1 for f in frames if not f[0]),
               "stage_ms_per_frame": {k: round(v / max(n, 1), 2) for k, v in anim.stats["stage_ms"].items()},
               "jitter": jitter_report(frames, anim.face.size, float(anim.fps))}
    if anim.response is not None:  # what the photo needed to show the driver's smile and jaw
        summary["calibration"] = {"ms": round(anim.calibration_ms, 1), "gain_at_half": anim.response.gains()}
    return summary


# ----------------------------------------------------------------------------- jitter


def motion(seq: list[np.ndarray], size: float) -> np.ndarray:
    """Frame-to-frame landmark motion, mean over landmarks, in units of the face size (per frame)."""
    a = np.stack(seq)
    return np.linalg.norm(np.diff(a, axis=0), axis=2).mean(1) / size


def stillest_window(driver_xy: list, found: list, fps: float, seconds: float = 1.0) -> tuple[int, int] | None:
    """``[i, i + n)``: the stretch of ``seconds`` where the driver's face moves least (all found)."""
    n = max(3, int(round(seconds * fps)))
    best, where = None, None
    # each frame-to-frame motion once (a window's is their mean over it, in its first frame's size)
    steps = [None] * max(len(driver_xy) - 1, 0)
    for k in range(len(steps)):
        if found[k] and found[k + 1]:
            steps[k] = float(np.linalg.norm(driver_xy[k + 1] - driver_xy[k], axis=1).mean())
    lost = np.cumsum([0] + [0 if f else 1 for f in found])
    for i in range(0, len(driver_xy) - n + 1):
        if lost[i + n] - lost[i]:
            continue
        size = float(np.ptp(driver_xy[i][:, 1])) or 1.0
        m = float((np.array(steps[i:i + n - 1]) / size).mean())
        if best is None or m < best:
            best, where = m, (i, i + n)
    return where


def jitter_report(frames: list, photo_face_size: float, fps: float) -> dict | None:
    """Mean frame-to-frame landmark motion (face-size units) on the driver's stillest second: the
    driver's own, the rendered geometry filtered and unfiltered."""
    found = [f[0] for f in frames]
    drv = [f[3] for f in frames]
    w = stillest_window(drv, found, fps)
    if w is None:
        return None
    i, j = w
    dsize = float(np.ptp(drv[i][:, 1])) or 1.0
    return {"window": [i, j],
            "driver": round(float(motion(drv[i:j], dsize).mean()), 6),
            "output_filtered": round(float(motion([f[1] for f in frames[i:j]], photo_face_size).mean()), 6),
            "output_unfiltered": round(float(motion([f[2] for f in frames[i:j]], photo_face_size).mean()), 6)}
