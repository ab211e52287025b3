"""Find faces: MediaPipe's raw :class:`Detection` of each (478 landmarks, its 52 blendshape scores,
head pose), and the :class:`Face` type an analysed face has (:mod:`facexpr.expression.analysis`).

The FaceLandmarker is created once per process (it costs ~100 ms) and reused. Its models run by
the project's own graph on LiteRT where LiteRT is installed (:mod:`.landmarker_litert`: the same
readings, a third faster, and a closed loop that reads its try where the photo was read), else by
MediaPipe's (``FACEXPR_LANDMARKER`` chooses). Detection runs on the whole image first; when that
finds nothing (small faces in a big photo, where MediaPipe's 128-px detector sees only a few
pixels per face) it retries on overlapping tiles.
"""
from __future__ import annotations

import atexit
import os
import sys
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from .. import assets
from ..errors import FaceIndexError, FaceNotFound, FaceTooSmall
from .topology import face_size

MIN_FACE_PX = 64


class _FaceGeometry:
    """Where a face is and how it is turned: what a raw detection and an analysed face share."""

    landmarks: np.ndarray
    pose: np.ndarray

    @property
    def xy(self) -> np.ndarray:
        return self.landmarks[:, :2]

    @property
    def bbox(self) -> tuple[int, int, int, int]:
        mn, mx = self.xy.min(0), self.xy.max(0)
        return int(mn[0]), int(mn[1]), int(np.ceil(mx[0])), int(np.ceil(mx[1]))

    @property
    def size(self) -> float:
        return face_size(self.xy)

    def yaw_pitch_roll(self) -> tuple[float, float, float]:
        """Head rotation in degrees from the pose matrix (yaw: left/right, pitch: up/down)."""
        r = self.pose[:3, :3]
        yaw = np.degrees(np.arctan2(-r[2, 0], np.hypot(r[2, 1], r[2, 2])))
        pitch = np.degrees(np.arctan2(r[2, 1], r[2, 2]))
        roll = np.degrees(np.arctan2(r[1, 0], r[0, 0]))
        return float(yaw), float(pitch), float(roll)

    def _report(self, key: str, code: np.ndarray, with_landmarks: bool) -> dict:
        from ..expression.blendshapes import NAMES

        yaw, pitch, roll = self.yaw_pitch_roll()
        d = {"bbox": list(self.bbox), "size_px": round(self.size, 1),
             "pose": {"yaw": round(yaw, 2), "pitch": round(pitch, 2), "roll": round(roll, 2),
                      "matrix": np.round(self.pose, 5).tolist()},
             key: {n: round(float(v), 4) for n, v in zip(NAMES, code)}}
        if with_landmarks:
            d["landmarks"] = np.round(self.landmarks, 2).tolist()
        return d


@dataclass
class Detection(_FaceGeometry):
    """MediaPipe's raw reading of one face, in image pixel coordinates: nothing fitted yet.

    ``landmarks`` is (478, 3): x and y in pixels, z in the same pixel scale (MediaPipe's z is
    relative depth normalised like x). ``blendshapes`` is MediaPipe's own 52 classifier scores in
    :data:`facexpr.expression.blendshapes.NAMES` order — reliable for smiles, jaw, blinks and gaze,
    near 0 for frowns and sneers, so never the expression code a renderer is driven by (that is
    :class:`Face`'s, :func:`facexpr.expression.analysis.describe`). ``pose`` is the 4x4 facial
    transformation matrix (canonical face model → camera, centimetres).
    """

    landmarks: np.ndarray
    blendshapes: np.ndarray
    pose: np.ndarray
    image_size: tuple[int, int]  # (width, height)
    # the own graph's network reading behind it (facexpr.faces.landmarker_litert.Reading: the region
    # it read, in the pixels it read, for reread); None from MediaPipe's graph
    reading: object | None = field(default=None, repr=False, compare=False)

    def to_dict(self, with_landmarks: bool = True) -> dict:
        return self._report("mediapipe_blendshapes", self.blendshapes, with_landmarks)


@dataclass
class Face(_FaceGeometry):
    """An analysed face: what retargeting, rendering and the measurements read.

    ``blendshapes`` is the face's expression code (52 coefficients in [0, 1],
    :data:`facexpr.expression.blendshapes.NAMES` order): for a face found in a photo, the 3D fit
    fused with MediaPipe's reliable scores (:func:`facexpr.expression.analysis.describe`); for a
    face made by the program (an edit's wanted expression, a training crop) the code it was given.
    ``detection`` is the raw MediaPipe reading it was analysed from and ``fit`` the fit's result
    (both None for a face made by the program). A :class:`Detection` is never accepted where a
    Face is wanted (:func:`analysed`): its scores are not the code.
    """

    landmarks: np.ndarray
    blendshapes: np.ndarray
    pose: np.ndarray
    image_size: tuple[int, int]  # (width, height)
    detection: Detection | None = None
    fit: object | None = None  # facexpr.expression.analysis.FitResult (this module sits below it)

    @property
    def mediapipe_scores(self) -> np.ndarray | None:
        """MediaPipe's own classifier scores of this face (None for a face made by the program)."""
        return None if self.detection is None else self.detection.blendshapes

    def to_dict(self, with_landmarks: bool = True) -> dict:
        return self._report("blendshapes", self.blendshapes, with_landmarks)


def analysed(face, what: str = "face") -> Face:
    """``face`` if it is an analysed :class:`Face`; a :class:`Detection` (MediaPipe's raw scores,
    not the expression code) is a programming error, caught here rather than rendered."""
    if not isinstance(face, Face):
        raise TypeError(f"{what}: expected an analysed Face (facexpr.expression.analysis.describe), "
                        f"got {type(face).__name__}")
    return face


_QUIET_LOCK = threading.Lock()
_quiet = {"depth": 0, "fd": -1, "saved": -1}


@contextmanager
def quiet_native_stderr():
    """MediaPipe/TFLite print INFO/W lines from C++ straight to fd 2 while starting; hide them.

    fd 2 is the process's, so overlapping uses (landmarkers starting on two threads) share one
    redirection: the first to enter makes it, the last to leave restores fd 2."""
    try:
        fd = sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):
        yield
        return
    with _QUIET_LOCK:
        if _quiet["depth"] == 0:
            sys.stderr.flush()
            saved = os.dup(fd)
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, fd)
            os.close(devnull)
            _quiet.update(fd=fd, saved=saved)
        _quiet["depth"] += 1
    try:
        yield
    finally:
        with _QUIET_LOCK:
            _quiet["depth"] -= 1
            if _quiet["depth"] == 0:
                os.dup2(_quiet["saved"], _quiet["fd"])
                os.close(_quiet["saved"])


def close_quietly(lm) -> None:
    """Close a MediaPipe task once, ignoring errors (at interpreter exit its thread pool may be
    gone already); its ``__del__`` would close it again, so that becomes a no-op."""
    if lm is None:
        return
    try:
        lm.close()
    except Exception:
        pass
    lm.close = lambda: None


ENGINES = ("litert", "mediapipe")


def engine() -> str:
    """Which graph runs the FaceLandmarker's models: ``FACEXPR_LANDMARKER`` when set, else the
    project's own on LiteRT where it is installed, else MediaPipe's."""
    from . import landmarker_litert

    want = os.environ.get("FACEXPR_LANDMARKER", "").strip().lower()
    if want and want not in ENGINES:
        raise ValueError(f"FACEXPR_LANDMARKER={want!r}: expected one of {', '.join(ENGINES)}")
    if want == "litert" and not landmarker_litert.available():
        raise ValueError("FACEXPR_LANDMARKER=litert, but ai-edge-litert is not installed (pip install ai-edge-litert)")
    return want or ("litert" if landmarker_litert.available() else "mediapipe")


class _Landmarker:
    """One landmarker, for one thread at a time (neither graph is re-entrant)."""

    def __init__(self, max_faces: int = 10):
        self.engine = engine()
        self._lock = threading.Lock()
        if self.engine == "litert":
            from .face_geometry import load_metadata
            from .landmarker_litert import LiteRTLandmarker

            path = assets.resolve("face_landmarker")
            with quiet_native_stderr():
                self._own = LiteRTLandmarker(path, min_detection=0.4, min_presence=0.4, max_faces=max_faces)
            self._geometry = load_metadata(path)
            self._lm, self._warm = None, False
            return
        self._own = None
        os.environ.setdefault("GLOG_minloglevel", "2")
        with quiet_native_stderr():
            from mediapipe.tasks.python import BaseOptions, vision

        path = assets.resolve("face_landmarker")
        opts = vision.FaceLandmarkerOptions(
            base_options=BaseOptions(model_asset_path=str(path)),
            running_mode=vision.RunningMode.IMAGE,
            num_faces=max_faces,
            min_face_detection_confidence=0.4,
            min_face_presence_confidence=0.4,
            output_face_blendshapes=True,
            output_facial_transformation_matrixes=True,
        )
        with quiet_native_stderr():
            self._lm = vision.FaceLandmarker.create_from_options(opts)
            self._warm = False
        # MediaPipe closes through a thread pool that Python shuts down *before* atexit handlers
        # run; closing from a threading-atexit hook (run first) avoids a noisy error at exit.
        register = getattr(threading, "_register_atexit", atexit.register)
        register(self.close)

    def close(self) -> None:
        lm, self._lm = self._lm, None
        close_quietly(lm)

    def detect(self, rgb: np.ndarray, offset=(0, 0), scale: float = 1.0,
               full_size: tuple[int, int] | None = None) -> list[Detection]:
        """The faces in ``rgb``, mapped to the coordinates of the image it was cut from: divided
        by ``scale``, then shifted by ``offset``, in an image of ``full_size``."""
        if self._own is not None:
            with self._lock:
                if not self._warm:  # LiteRT's first inference prints the delegate's INFO line
                    with quiet_native_stderr():
                        readings = self._own.detect(rgb)
                    self._warm = True
                else:
                    readings = self._own.detect(rgb)
            return [self._detection(r, rgb.shape[1], rgb.shape[0], offset, scale, full_size) for r in readings]
        import mediapipe as mp

        h, w = rgb.shape[:2]
        image = mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(rgb))
        with self._lock:
            if not self._warm:  # the first inference prints delegate INFO lines
                with quiet_native_stderr():
                    res = self._lm.detect(image)
                self._warm = True
            else:
                res = self._lm.detect(image)
        faces = []
        for i, lms in enumerate(res.face_landmarks):
            pts = np.array([(p.x * w, p.y * h, p.z * w) for p in lms], dtype=np.float64)
            pts = pts / scale
            pts[:, 0] += offset[0]
            pts[:, 1] += offset[1]
            bs = np.array([c.score for c in res.face_blendshapes[i]], dtype=np.float32)
            pose = np.asarray(res.facial_transformation_matrixes[i], dtype=np.float64)
            faces.append(Detection(pts, bs, pose, full_size or (w, h)))
        return faces

    def _detection(self, r, w: int, h: int, offset, scale: float, full_size) -> Detection:
        from .face_geometry import facial_transformation

        try:
            pose = facial_transformation(r.normalized, w, h, self._geometry)
        except ValueError:  # landmarks collapsed to a point: MediaPipe gives no pose either
            pose = np.eye(4)
        pts = r.landmarks / scale
        pts[:, 0] += offset[0]
        pts[:, 1] += offset[1]
        return Detection(pts, r.blendshapes, pose, full_size or (w, h), reading=r)

    def reread(self, rgb: np.ndarray, det: Detection, scale: float, offset, nudge=None) -> Detection | None:
        """``det``'s face read again on ``rgb`` (own graph only), on ``det``'s region mapped by
        ``scale`` and ``offset`` (and ``nudge``d), the landmark network on two threads (see
        :func:`reread`)."""
        region = det.reading.region.mapped(scale, offset)
        if nudge is not None:
            region = region.nudged(*nudge)
        with self._lock:
            r = self._own.read(rgb, region, wide=True)
        h, w = rgb.shape[:2]
        return None if r is None else self._detection(r, w, h, (0, 0), 1.0, (w, h))


class LandmarkerPool:
    """A few FaceLandmarkers behind one ``detect``: each call takes a free one (creating another,
    up to ``size``, when all are busy), so inferences from different threads run at once.

    One MediaPipe inference uses one core (~10 ms whatever the image size) and one graph is not
    re-entrant, so a single locked landmarker serialises a transfer's source and target analysis
    and every extra pass (a crop, a mirrored face) behind each other; two landmarkers on two
    threads run two inferences in little more than the time of one. Instances are created lazily
    (~100 ms and ~30 MB each): a single-threaded caller only ever makes one."""

    def __init__(self, size: int | None = None):
        self.size = max(1, size or min(4, os.cpu_count() or 1))
        self._free: list[_Landmarker] = []
        self._all: list[_Landmarker] = []
        self._made = 0
        self._cv = threading.Condition()

    def _acquire(self) -> _Landmarker:
        with self._cv:
            while not self._free and self._made >= self.size:
                self._cv.wait()
            if self._free:
                return self._free.pop()  # the most recently used: warm
            self._made += 1
        try:
            lm = _Landmarker()
        except BaseException:
            with self._cv:
                self._made -= 1
                self._cv.notify()
            raise
        with self._cv:
            self._all.append(lm)
        return lm

    def _release(self, lm: _Landmarker) -> None:
        with self._cv:
            self._free.append(lm)
            self._cv.notify()

    @contextmanager
    def lease(self):
        """A landmarker of one's own for a few calls (e.g. a tile search)."""
        lm = self._acquire()
        try:
            yield lm
        finally:
            self._release(lm)

    def detect(self, rgb: np.ndarray, offset=(0, 0), scale: float = 1.0,
               full_size: tuple[int, int] | None = None) -> list[Detection]:
        """:meth:`_Landmarker.detect` on whichever landmarker is free."""
        with self.lease() as lm:
            return lm.detect(rgb, offset, scale, full_size)

    def warm(self) -> "LandmarkerPool":
        """Create the first landmarker now (start-up work a caller may overlap with other work)."""
        with self.lease():
            pass
        return self

    def close(self) -> None:
        with self._cv:
            every = list(self._all)
        for lm in every:
            lm.close()


@lru_cache(maxsize=1)
def get_landmarker() -> LandmarkerPool:
    """The process's landmarkers (:class:`LandmarkerPool`), the first one created now (a missing
    or corrupt model is an error here, not at the first face), then reused."""
    return LandmarkerPool().warm()


DETECT_MAX_SIDE = 1920  # MediaPipe works on a downscaled copy anyway; this bounds the copy cost


def box_iou(a, b) -> float:
    """Intersection over union of two (x0, y0, x1, y1) boxes."""
    ax0, ay0, ax1, ay1 = a
    bx0, by0, bx1, by1 = b
    iw, ih = max(0, min(ax1, bx1) - max(ax0, bx0)), max(0, min(ay1, by1) - max(ay0, by0))
    inter = iw * ih
    union = (ax1 - ax0) * (ay1 - ay0) + (bx1 - bx0) * (by1 - by0) - inter
    return inter / union if union > 0 else 0.0


def _resized(rgb: np.ndarray, max_side: int) -> tuple[np.ndarray, float]:
    import cv2

    h, w = rgb.shape[:2]
    s = min(1.0, max_side / max(h, w))
    if s < 1.0:
        rgb = cv2.resize(rgb, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA)
    return rgb, s


def analyze_faces(rgb: np.ndarray, thorough: bool = False) -> list[Detection]:
    """All faces in ``rgb``, largest first.

    Each face is re-detected on a crop around it at up to full resolution: big photos keep
    sub-pixel landmark precision, and a face found only on a tile must be confirmed there (tiles
    cut faces in half and produce false positives). ``thorough`` also searches tiles for small
    faces in group photos; without it tiles are tried only when the whole image shows no face.
    """
    lm = get_landmarker()
    h, w = rgb.shape[:2]
    small, s = _resized(rgb, DETECT_MAX_SIDE)
    faces = [(f, True) for f in lm.detect(small, scale=s, full_size=(w, h))]
    if thorough or not faces:
        found = [f for f, _ in faces]
        faces += [(f, False) for f in _merge(found, _detect_tiles(lm, rgb))[len(found):]]
    out: list[Detection] = []
    for face, trusted in faces:
        refined = _refine(lm, rgb, face)
        if refined is None and not trusted:
            continue
        out = _merge(out, [refined or face])
    out.sort(key=lambda f: -f.size)
    return out


def _detect_tiles(lm: LandmarkerPool, rgb: np.ndarray) -> list[Detection]:
    h, w = rgb.shape[:2]
    found: list[Detection] = []
    for frac in (0.5, 0.3):
        tw, th = int(w * frac) or 1, int(h * frac) or 1
        if min(tw, th) < 128:
            continue
        for y in np.linspace(0, h - th, int(np.ceil(1 / frac)) * 2 - 1).astype(int):
            for x in np.linspace(0, w - tw, int(np.ceil(1 / frac)) * 2 - 1).astype(int):
                tile, s = _resized(rgb[y:y + th, x:x + tw], DETECT_MAX_SIDE)
                found = _merge(found, lm.detect(tile, offset=(x, y), scale=s, full_size=(w, h)))
    return found


def _same_face(a, b) -> bool:
    """Overlapping boxes, or one box's centre inside the other (a half face cut by a tile)."""
    if box_iou(a.bbox, b.bbox) >= 0.3:
        return True
    for p, q in ((a, b), (b, a)):
        cx, cy = (p.bbox[0] + p.bbox[2]) / 2, (p.bbox[1] + p.bbox[3]) / 2
        if q.bbox[0] <= cx <= q.bbox[2] and q.bbox[1] <= cy <= q.bbox[3]:
            return True
    return False


def _merge(faces: list[Detection], more: list[Detection]) -> list[Detection]:
    out = list(faces)
    for f in more:
        if not any(_same_face(f, g) for g in out):
            out.append(f)
    return out


def _refine_region(face, w: int, h: int, force: bool = False) -> tuple[int, int, int, int] | None:
    """The square crop (≈3x the face) :func:`_refine` re-detects a face on, or None when that
    crop would be the whole image (nothing to gain)."""
    x0, y0, x1, y1 = face.bbox
    cx, cy, half = (x0 + x1) / 2, (y0 + y1) / 2, 1.5 * max(x1 - x0, y1 - y0)
    X0, Y0 = max(0, int(cx - half)), max(0, int(cy - half))
    X1, Y1 = min(w, int(cx + half)), min(h, int(cy + half))
    if (X1 - X0) * (Y1 - Y0) >= 0.8 * w * h and max(h, w) <= DETECT_MAX_SIDE and not force:
        return None
    return X0, Y0, X1, Y1


def _refine(lm: LandmarkerPool, rgb: np.ndarray, face, force: bool = False) -> Detection | None:
    """Re-run on a square crop around the face (≈3x its size): precise landmarks, or None when
    the crop does not confirm the face."""
    h, w = rgb.shape[:2]
    region = _refine_region(face, w, h, force)
    if region is None:
        return face
    X0, Y0, X1, Y1 = region
    crop, s = _resized(rgb[Y0:Y1, X0:X1], 1024)
    cands = lm.detect(crop, offset=(X0, Y0), scale=s, full_size=(w, h))
    best = max(cands, key=lambda g: box_iou(g.bbox, face.bbox), default=None)
    return best if best is not None and box_iou(best.bbox, face.bbox) > 0.5 else None


def select_face(faces: list, index: int | None, what: str):
    """The face the user asked for (largest by default), with the errors a user can act on."""
    if not faces:
        raise FaceNotFound(f"{what}: no face found")
    if index is None:
        face = faces[0]
    else:
        if not 0 <= index < len(faces):
            raise FaceIndexError(f"{what}: face index {index} out of range "
                                 f"({len(faces)} face{'s' if len(faces) != 1 else ''} found, indices 0-{len(faces) - 1})")
        face = faces[index]
    if face.size < MIN_FACE_PX:
        raise FaceTooSmall(f"{what}: the face is {face.size:.0f} px across, smaller than the "
                           f"{MIN_FACE_PX} px needed")
    return face


def mirror_pass(rgb: np.ndarray, face) -> Detection | None:
    """The detection of ``face`` in the *mirrored* photo — the same pixels the face was read on
    (:func:`analyze_faces`: the whole photo, or the crop around the face), flipped left to right —
    in that flipped region's coordinates; None when it shows no face there.

    The flipped pixels are detected afresh, as the mirror image itself would be: then the photo
    and its mirror image are read from the same two crops, and their codes are exactly each
    other's mirror. (Reading the face's own crop flipped, with no second detection, saves 1.3 ms
    but breaks that: BlazeFace is not mirror-symmetric — on London 136 it turns the photo's crop
    by 2.9° and the mirror image's by 0° — and the reading moves with the crop: brow inner up
    0.06-0.33 on that face for crops shifted by 2 px or scaled by 2 %. Mirror consistency over
    557 faces went 0.001 → 0.0045, the neutral 95th percentile 0.261 → 0.280.)

    MediaPipe is not mirror-symmetric: on a turned or unevenly lit face its landmarks and scores
    differ between a photo and its mirror image by more than many expressions do. Reading both
    and averaging (:func:`facexpr.expression.analysis.describe`) makes a photo and its mirror image
    read the same expression, mirrored."""
    h, w = rgb.shape[:2]
    X0, Y0, X1, Y1 = _refine_region(face, w, h) or (0, 0, w, h)
    side = 1024 if (X1 - X0, Y1 - Y0) != (w, h) else DETECT_MAX_SIDE
    import cv2

    crop, s = _resized(cv2.flip(rgb[Y0:Y1, X0:X1], 1), side)  # cv2.flip: 0.4 ms at 1350 px, numpy's [:, ::-1] copy 14
    x0, y0, x1, y1 = face.bbox
    want = tuple(v * s for v in (X1 - x1, y0 - Y0, X1 - x0, y1 - Y0))  # the box, mirrored, in the crop
    best = max(get_landmarker().detect(crop), key=lambda g: box_iou(g.bbox, want), default=None)
    return best if best is not None and box_iou(best.bbox, want) > 0.5 else None


def reread(rgb: np.ndarray, near, nudge: tuple[float, float, float, float] | None = None) -> Detection | None:
    """The face at ``near``'s place in ``rgb`` — a render or edit of the photo ``near`` was read
    on, in ``near``'s coordinates (``near.landmarks``, scaled and cut as the caller's copy is) —
    read on the very region ``near`` was read on, with no new detection: a closed loop's
    measurement of its own try, where the change between the two readings must be the pixels'
    alone, not a new crop's (the detector's box moves with an opened mouth). Falls back to
    :func:`reanalyze` where ``near`` was not read by the own graph.

    ``nudge`` = (dx, dy, scale, rotation): the region moved by dx, dy of its width, scaled and
    turned (radians) before the reading — the reader's training data reads faces on crops a
    detector might as well have cut (:mod:`facexpr.research.reader_data`); None where ``near``
    was not read by the own graph."""
    det = getattr(near, "detection", None) or near
    reading = getattr(det, "reading", None)
    if reading is None:
        return None if nudge is not None else reanalyze(rgb, near)
    # the map from the pixels det was read on to near's coordinates: a scale and a shift
    a, b = reading.landmarks[:, :2], np.asarray(near.landmarks, np.float64)[:, :2]
    a0, b0 = a - a.mean(0), b - b.mean(0)
    s = float((a0 * b0).sum() / max((a0 * a0).sum(), 1e-12))
    with get_landmarker().lease() as lm:
        return lm.reread(rgb, det, s, b.mean(0) - s * a.mean(0), nudge)


def reanalyze(rgb: np.ndarray, near) -> Detection | None:
    """The face in ``rgb`` at the place of ``near`` (e.g. after editing it), found on a crop
    around it: cheaper than :func:`analyze_faces` on the whole photo."""
    return _refine(get_landmarker(), rgb, near, force=True) or next(
        (f for f in analyze_faces(rgb) if box_iou(f.bbox, near.bbox) > 0.5), None)
