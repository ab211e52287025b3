"""MediaPipe's FaceLandmarker models run by the project's own graph on LiteRT.

The ``.task`` bundle holds three TFLite models — a BlazeFace detector (128 px), the 478-point
landmark network (256 px) and the blendshape classifier (146 landmarks in, 52 scores out) — plus
the face-geometry metadata. MediaPipe's own graph runs them in 9.5-13.6 ms per image on one core
of this CPU; the models themselves take 1.3 + 5.6 + 0.7 ms. The rest is the graph's overhead and
the conversion of every landmark into a Python object. A transfer reads five faces (source and
target, each also mirrored, and the closed loop's try), so that overhead was a third of the photo
path (docs/PERFORMANCE.md).

Running the graph ourselves also lets a closed loop read its try on the very region the photo was
read on (:meth:`LiteRTLandmarker.read`; :func:`facexpr.faces.landmarks.reread`), with no new
detection, and on two threads when nothing runs beside it.

Each step reproduces what MediaPipe's FaceLandmarker does in IMAGE mode (its C++ graph is the
specification; measured against it on shared photos: landmarks within 0.02 px median,
blendshape scores within 0.02, ``tests/faces/test_landmarker_litert.py``):

1. letterbox the whole image to 128x128 (zero border), values in [-1, 1];
2. decode the 896 SSD anchors' boxes and six key points, sigmoid scores, keep ≥ the threshold;
3. weighted non-maximum suppression (IoU > 0.3 merged, score-weighted);
4. each face's region: the box centre, the box scaled by 1.5, turned so the eyes are level;
5. that region warped to 256x256 (bilinear, replicated border), values in [0, 1]; the network's
   478 points mapped back, with the face-presence score (≥ the threshold keeps the face);
6. the blendshape network on 146 of the points in pixels;
7. the head pose from the landmarks (:mod:`.face_geometry`).
"""
from __future__ import annotations

import math
import zipfile
from dataclasses import dataclass

import numpy as np

# The 146 landmarks the blendshape network reads, in its input order (the model's contract,
# as MediaPipe's FaceBlendshapesGraph feeds it).
BLENDSHAPE_POINTS = np.array([
    0, 1, 4, 5, 6, 7, 8, 10, 13, 14, 17, 21, 33, 37, 39, 40, 46, 52, 53, 54, 55, 58, 61, 63, 65, 66,
    67, 70, 78, 80, 81, 82, 84, 87, 88, 91, 93, 95, 103, 105, 107, 109, 127, 132, 133, 136, 144, 145,
    146, 148, 149, 150, 152, 153, 154, 155, 157, 158, 159, 160, 161, 162, 163, 168, 172, 173, 176, 178,
    181, 185, 191, 195, 197, 234, 246, 249, 251, 263, 267, 269, 270, 276, 282, 283, 284, 285, 288, 291,
    293, 295, 296, 297, 300, 308, 310, 311, 312, 314, 317, 318, 321, 323, 324, 332, 334, 336, 338, 356,
    361, 362, 365, 373, 374, 375, 377, 378, 379, 380, 381, 382, 384, 385, 386, 387, 388, 389, 390, 397,
    398, 400, 402, 405, 409, 415, 454, 466, 468, 469, 470, 471, 472, 473, 474, 475, 476, 477])

DETECTOR_SIZE = 128
LANDMARK_SIZE = 256
NMS_IOU = 0.3
REGION_SCALE = 1.5


def available() -> bool:
    """Whether LiteRT is installed (it has no wheels for every platform MediaPipe has)."""
    import importlib.util

    return importlib.util.find_spec("ai_edge_litert") is not None


def ssd_anchors(size: int = DETECTOR_SIZE, strides=(8, 16, 16, 16)) -> np.ndarray:
    """(896, 2) anchor centres of the short-range BlazeFace detector: consecutive layers with the
    same stride share one feature map, two anchors per layer and cell (fixed size 1)."""
    out, i = [], 0
    while i < len(strides):
        j = i
        while j < len(strides) and strides[j] == strides[i]:
            j += 1
        fm = math.ceil(size / strides[i])
        ys, xs = np.mgrid[0:fm, 0:fm]
        centres = np.stack([(xs + 0.5) / fm, (ys + 0.5) / fm], -1).reshape(-1, 1, 2)
        out.append(np.repeat(centres, 2 * (j - i), axis=1).reshape(-1, 2))
        i = j
    return np.concatenate(out).astype(np.float32)


@dataclass(frozen=True)
class Region:
    """A rotated square-ish region in pixels of the image read: what the landmark network sees."""

    cx: float
    cy: float
    w: float
    h: float
    rotation: float  # radians, clockwise on screen (image y points down)

    def nudged(self, dx: float, dy: float, scale: float, rotation: float) -> "Region":
        """Moved by ``dx``, ``dy`` of its width (along the image axes), scaled, and turned by
        ``rotation`` radians."""
        return Region(self.cx + dx * self.w, self.cy + dy * self.w, self.w * scale, self.h * scale,
                      self.rotation + rotation)

    def mapped(self, scale: float, offset) -> "Region":
        """The region in an image scaled by ``scale`` and then shifted by ``offset``."""
        return Region(self.cx * scale + offset[0], self.cy * scale + offset[1], self.w * scale,
                      self.h * scale, self.rotation)

    def transform(self, size: int = LANDMARK_SIZE) -> np.ndarray:
        """(3, 3) map from image pixels to the network's input pixels (corners to corners, as
        MediaPipe's ImageToTensor maps the region's box points)."""
        import cv2

        pts = cv2.boxPoints(((self.cx, self.cy), (self.w, self.h), math.degrees(self.rotation)))
        dst = np.float32([[0, size], [0, 0], [size, 0], [size, size]])
        return cv2.getPerspectiveTransform(pts.astype(np.float32), dst)


@dataclass
class Reading:
    """One face read by the networks, in the pixels of the image they read."""

    landmarks: np.ndarray   # (478, 3): x, y in pixels, z in the same pixel scale
    normalized: np.ndarray  # (478, 3): MediaPipe's NormalizedLandmark values (x/W, y/H, z/W)
    blendshapes: np.ndarray  # (52,) float32
    region: Region          # what the network read: the closed loop reads its try there again
    presence: float


class LiteRTLandmarker:
    """The three networks of one ``.task`` bundle on one thread (a LiteRT interpreter is not
    re-entrant; :class:`facexpr.faces.landmarks.LandmarkerPool` gives each thread its own)."""

    def __init__(self, task_path, min_detection: float = 0.4, min_presence: float = 0.4,
                 max_faces: int = 10, threads: int = 1):
        from ai_edge_litert.interpreter import Interpreter

        with zipfile.ZipFile(task_path) as z:
            blobs = {n: z.read(n) for n in ("face_detector.tflite", "face_landmarks_detector.tflite",
                                            "face_blendshapes.tflite")}

        def interpreter(name, n=threads):
            it = Interpreter(model_content=blobs[name], num_threads=n)
            it.allocate_tensors()
            return it

        self.min_detection, self.min_presence, self.max_faces = min_detection, min_presence, max_faces
        self._interpreter = interpreter
        self._wide = None  # the landmark network on two threads, made on first use
        self._det = interpreter("face_detector.tflite")
        self._lmk = interpreter("face_landmarks_detector.tflite")
        self._bs = interpreter("face_blendshapes.tflite")
        self._anchors = ssd_anchors()
        out = {d["name"]: d["index"] for d in self._det.get_output_details()}
        self._det_io = self._det.get_input_details()[0]["index"], out["regressors"], out["classificators"]
        lo = self._lmk.get_output_details()  # landmarks, face presence (logit), …
        self._lmk_io = self._lmk.get_input_details()[0]["index"], lo[0]["index"], lo[1]["index"]
        self._bs_io = self._bs.get_input_details()[0]["index"], self._bs.get_output_details()[0]["index"]

    # ------------------------------------------------------------------ detector
    def regions(self, rgb: np.ndarray) -> list[Region]:
        """The landmark regions of the faces BlazeFace finds in ``rgb``, best first."""
        import cv2

        H, W = rgb.shape[:2]
        side = max(W, H)
        letterbox = Region(W / 2, H / 2, side, side, 0.0)
        x = cv2.warpPerspective(rgb, letterbox.transform(DETECTOR_SIZE), (DETECTOR_SIZE, DETECTOR_SIZE),
                                flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
        inp, reg_i, cls_i = self._det_io
        self._det.set_tensor(inp, (x.astype(np.float32) * (2.0 / 255.0) - 1.0)[None])
        self._det.invoke()
        logits = self._det.get_tensor(cls_i)[0, :, 0]
        score = 1.0 / (1.0 + np.exp(-np.clip(logits, -80.0, 80.0)))
        keep = np.nonzero(score >= self.min_detection)[0]
        if not len(keep):
            return []
        raw = self._det.get_tensor(reg_i)[0][keep] / DETECTOR_SIZE
        a = self._anchors[keep]
        cx, cy, bw, bh = raw[:, 0] + a[:, 0], raw[:, 1] + a[:, 1], raw[:, 2], raw[:, 3]
        boxes = np.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], 1)
        points = raw[:, 4:16].reshape(-1, 6, 2) + a[:, None, :]
        def to_px(p: np.ndarray) -> np.ndarray:  # letterboxed [0, 1] → image pixels
            return np.stack([(p[..., 0] - 0.5) * side + W / 2, (p[..., 1] - 0.5) * side + H / 2], -1)

        out = []
        for box, pts in weighted_nms(boxes, points, score[keep], NMS_IOU)[:self.max_faces]:
            (x0, y0), (x1, y1) = to_px(box.reshape(2, 2))
            (ex0, ey0), (ex1, ey1) = to_px(pts[:2])  # the eyes: the region is turned to level them
            rotation = _normalize_radians(-math.atan2(-(ey1 - ey0), ex1 - ex0))
            out.append(Region((x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0) * REGION_SCALE,
                              (y1 - y0) * REGION_SCALE, rotation))
        return out

    # ------------------------------------------------------------------ landmarks
    def read(self, rgb: np.ndarray, region: Region, wide: bool = False) -> Reading | None:
        """The face in ``region`` of ``rgb``; None when the network says no face is there.

        ``wide``: run the landmark network on two threads (4.8 ms instead of 6-8 on this CPU) —
        for a reading nothing else runs beside (the closed loop's); two of them at once would
        take longer than two one-thread readings (10.6 ms against 8.2 a pair)."""
        import cv2

        crop = cv2.warpPerspective(rgb, region.transform(), (LANDMARK_SIZE, LANDMARK_SIZE),
                                   flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        H, W = rgb.shape[:2]
        if wide and self._wide is None:
            self._wide = self._interpreter("face_landmarks_detector.tflite", 2)
        return self._read_crop(crop, region, W, H, self._wide if wide else self._lmk)

    def _read_crop(self, crop: np.ndarray, region: Region, W: int, H: int, net=None) -> Reading | None:
        net = net or self._lmk  # the same model in every interpreter: the same tensor indices
        inp, lmk_i, pres_i = self._lmk_io
        net.set_tensor(inp, (crop.astype(np.float32) * (1.0 / 255.0))[None])
        net.invoke()
        presence = float(1.0 / (1.0 + np.exp(-float(net.get_tensor(pres_i).ravel()[0]))))
        if presence < self.min_presence:
            return None
        raw = net.get_tensor(lmk_i).reshape(478, 3).astype(np.float64) / LANDMARK_SIZE
        c, s = math.cos(region.rotation), math.sin(region.rotation)
        u, v = (raw[:, 0] - 0.5) * region.w, (raw[:, 1] - 0.5) * region.h
        px = np.stack([c * u - s * v + region.cx, s * u + c * v + region.cy,
                       raw[:, 2] * math.hypot(region.w * c / W, region.w * s / H) * W], 1)
        norm = px / np.array([W, H, W], np.float64)
        bs_in, bs_out = self._bs_io
        self._bs.set_tensor(bs_in, px[BLENDSHAPE_POINTS, :2].astype(np.float32)[None])
        self._bs.invoke()
        return Reading(px, norm, self._bs.get_tensor(bs_out).astype(np.float32).copy(), region, presence)

    def detect(self, rgb: np.ndarray) -> list[Reading]:
        """Every face: regions from the detector, each read by the landmark network."""
        return [r for r in (self.read(rgb, g) for g in self.regions(rgb)) if r is not None]


def _normalize_radians(a: float) -> float:
    return a - 2 * math.pi * math.floor((a + math.pi) / (2 * math.pi))


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def weighted_nms(boxes: np.ndarray, points: np.ndarray, scores: np.ndarray, iou: float):
    """BlazeFace's weighted non-maximum suppression: the best box and every box overlapping it by
    more than ``iou`` are averaged, weighted by score, and removed; repeated. [(box, points)]."""
    order = list(np.argsort(-scores, kind="stable"))
    out = []
    while order:
        top = boxes[order[0]]
        near = [i for i in order if _iou(boxes[i], top) > iou]
        order = [i for i in order if not _iou(boxes[i], top) > iou]
        w = scores[near][:, None]
        out.append(((boxes[near] * w).sum(0) / w.sum(), (points[near] * w[:, :, None]).sum(0) / w.sum()))
    return out
