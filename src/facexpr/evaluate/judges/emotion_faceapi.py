"""Emotion judge: face-api's FaceExpressionNet (@vladmandic/face-api 1.7.15, MIT), ported to numpy.

We did not train this network, which is the point: it scores our outputs without sharing our
biases. The port follows the TypeScript source line for line so its probabilities match what
face-api users see:

* ``FaceFeatureExtractor.forwardInput``: RGB crop padded to a centred square (zeros), resized to
  112x112, minus mean RGB (122.782, 117.001, 104.298), divided by 255; four ``denseBlock4``
  (stride 2 each: 112 -> 7), a 7x7 average pool, then ``fc`` 256 -> 7 and a softmax.
* ``denseBlock4``: ``out1 = relu(conv0(x))`` (a full 3x3 conv in ``dense0``, a depthwise-separable
  conv elsewhere), then three separable convs, each fed ``relu`` of the sum of all previous outputs.
* TF ``'same'`` padding: when the total is odd the extra pixel goes at the bottom/right.
* Weights: the tfjs manifest lists tensors in byte order; ``uint8`` entries dequantize as
  ``q * scale + min``, others are raw little-endian float32.

No torch: evaluation must run from the ``eval`` extra alone, and 112x112 is cheap in numpy.
"""
from __future__ import annotations

import json
import math
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

from ... import assets
from ...errors import ModelError

EMOTIONS = ("neutral", "happy", "sad", "angry", "fearful", "disgusted", "surprised")  # face-api's order
INPUT_SIZE = 112
MEAN_RGB = np.array([122.782, 117.001, 104.298], np.float32)
BOX_PADDING = 0.2  # face-api's FaceLandmarks.alignMinBbox default (minBoxPadding)

# MediaPipe points that play the part of face-api's 68-point jaw outline (ear to ear via the chin:
# the lower half of facexpr.faces.topology.FACE_OVAL) and eyebrows (BROW_RIGHT + BROW_LEFT); their
# bounding box is the one face-api crops. Copied, not imported: importing facexpr.faces loads
# MediaPipe, which a judge scoring ready-made crops does not need.
_MP_BOX_POINTS = np.array((
    356, 454, 323, 361, 288, 397, 365, 379, 378, 400, 377, 152, 148, 176, 149, 150, 136, 172, 58,
    132, 93, 234, 127,
    46, 53, 52, 65, 55, 70, 63, 105, 66, 107, 276, 283, 282, 295, 285, 300, 293, 334, 296, 336))

_QUANT = {"uint8": np.uint8, "uint16": np.uint16}


def load_weights(manifest_path: Path, weights_path: Path) -> dict[str, np.ndarray]:
    """Decode a tfjs weights manifest + its single .bin into float32 arrays, by name."""
    try:
        groups = json.loads(Path(manifest_path).read_text())
        data = Path(weights_path).read_bytes()
        specs = [w for g in groups for w in g["weights"]]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ModelError(f"face-api expression model {manifest_path}: unreadable manifest ({e})") from e
    out: dict[str, np.ndarray] = {}
    pos = 0
    for w in specs:
        q = w.get("quantization")
        if q and q.get("dtype") not in _QUANT:
            raise ModelError(f"face-api weight {w['name']}: unsupported quantization {q.get('dtype')}")
        if not q and w["dtype"] != "float32":
            raise ModelError(f"face-api weight {w['name']}: unsupported dtype {w['dtype']}")
        dt = np.dtype(_QUANT[q["dtype"]] if q else np.float32).newbyteorder("<")
        n = math.prod(w["shape"])
        if pos + n * dt.itemsize > len(data):
            raise ModelError(f"face-api expression weights {weights_path}: truncated at {w['name']}")
        val = np.frombuffer(data, dt, n, pos).astype(np.float32)
        if q:
            val = val * np.float32(q["scale"]) + np.float32(q["min"])
        out[w["name"]] = val.reshape(w["shape"])
        pos += n * dt.itemsize
    if pos != len(data):
        raise ModelError(f"face-api expression weights {weights_path}: {len(data) - pos} unexpected trailing bytes")
    return out


def _pad_same(x: np.ndarray, k: int, stride: int) -> np.ndarray:
    """TF 'same' padding of an NHWC batch (extra pixel bottom/right)."""
    h, w = x.shape[1:3]
    ph = max((math.ceil(h / stride) - 1) * stride + k - h, 0)
    pw = max((math.ceil(w / stride) - 1) * stride + k - w, 0)
    return np.pad(x, ((0, 0), (ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2), (0, 0)))


def _taps(x: np.ndarray, k: int, stride: int):
    """Yield (i, j, shifted view) for each kernel tap of a 'same' conv: conv = sum of taps."""
    xp = _pad_same(x, k, stride)
    oh, ow = math.ceil(x.shape[1] / stride), math.ceil(x.shape[2] / stride)
    for i in range(k):
        for j in range(k):
            yield i, j, xp[:, i:i + stride * (oh - 1) + 1:stride, j:j + stride * (ow - 1) + 1:stride, :]


def conv2d(x: np.ndarray, filters: np.ndarray, bias: np.ndarray, stride: int) -> np.ndarray:
    """tf.conv2d(x, filters[kh,kw,in,out], stride, 'same') + bias."""
    out = sum(v @ filters[i, j] for i, j, v in _taps(x, filters.shape[0], stride))
    return out + bias


def separable_conv2d(x: np.ndarray, p: dict[str, np.ndarray], stride: int) -> np.ndarray:
    """tf.separableConv2d (depthwise [kh,kw,C,1], then pointwise [1,1,C,out]) + bias."""
    dw = p["depthwise_filter"]
    depth = sum(v * dw[i, j, :, 0] for i, j, v in _taps(x, dw.shape[0], stride))
    return depth @ p["pointwise_filter"][0, 0] + p["bias"]


def _relu(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, 0)


def dense_block4(x: np.ndarray, p: dict[str, dict[str, np.ndarray]], first: bool) -> np.ndarray:
    if first:
        out1 = _relu(conv2d(x, p["conv0"]["filters"], p["conv0"]["bias"], 2))
    else:
        out1 = _relu(separable_conv2d(x, p["conv0"], 2))
    out2 = separable_conv2d(out1, p["conv1"], 1)
    out3 = separable_conv2d(_relu(out1 + out2), p["conv2"], 1)
    out4 = separable_conv2d(_relu(out1 + out2 + out3), p["conv3"], 1)
    return _relu(out1 + out2 + out3 + out4)


def to_net_input(crop: np.ndarray) -> np.ndarray:
    """face-api's toBatchTensor(112, centred) + normalize: a (112,112,3) float32 array.

    The crop is scaled to fit (INTER_AREA: like a canvas drawImage, no aliasing when shrinking
    a big crop) and centred on black, as ``imageToSquare`` does.
    """
    crop = np.asarray(crop)
    if crop.ndim != 3 or crop.shape[2] != 3 or min(crop.shape[:2]) < 1:
        raise ValueError(f"expected an RGB crop (H, W, 3), got shape {crop.shape}")
    h, w = crop.shape[:2]
    s = INPUT_SIZE / max(h, w)
    nw, nh = max(1, round(w * s)), max(1, round(h * s))
    interp = cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR
    small = cv2.resize(np.ascontiguousarray(crop), (nw, nh), interpolation=interp)
    canvas = np.zeros((INPUT_SIZE, INPUT_SIZE, 3), np.float32)
    y0, x0 = (INPUT_SIZE - nh) // 2, (INPUT_SIZE - nw) // 2
    canvas[y0:y0 + nh, x0:x0 + nw] = small
    return (canvas - MEAN_RGB) / 255.0


def landmark_box(landmarks_xy: np.ndarray, image_shape: tuple[int, ...]) -> tuple[int, int, int, int]:
    """face-api's ``alignedRect``: min bbox of the 68 landmarks padded by 20% (w and h), clipped.

    Given MediaPipe's 478 (or 468) points, only the jaw line and brows are used, because that is
    what the 68-point bbox spans (MediaPipe's oval also covers the forehead, which face-api never
    sees). Any other point set is taken whole. Returns (x0, y0, x1, y1).
    """
    xy = np.asarray(landmarks_xy, np.float64)[:, :2]
    if len(xy) >= 468:
        xy = xy[_MP_BOX_POINTS]
    (x0, y0), (x1, y1) = xy.min(0), xy.max(0)
    pw, ph = (x1 - x0) * BOX_PADDING, (y1 - y0) * BOX_PADDING
    x0, y0, x1, y1 = x0 - pw / 2, y0 - ph / 2, x1 + pw / 2, y1 + ph / 2
    H, W = image_shape[:2]
    x0i, y0i = max(int(math.floor(x0)), 0), max(int(math.floor(y0)), 0)
    x1i, y1i = min(int(math.floor(x1)), W), min(int(math.floor(y1)), H)
    if x1i <= x0i or y1i <= y0i:
        raise ValueError("face box lies outside the image")
    return x0i, y0i, x1i, y1i


class FaceApiEmotion:
    """Seven-way expression probabilities in face-api's order (:data:`EMOTIONS`)."""

    def __init__(self) -> None:
        w = load_weights(assets.resolve("faceapi_expression_manifest"),
                         assets.resolve("faceapi_expression_weights"))
        try:
            self._blocks = []
            for b in range(4):
                block: dict[str, dict[str, np.ndarray]] = {}
                for c in range(4):
                    pre = f"dense{b}/conv{c}/"
                    names = ("filters", "bias") if (b, c) == (0, 0) else \
                        ("depthwise_filter", "pointwise_filter", "bias")
                    block[f"conv{c}"] = {n: w[pre + n] for n in names}
                self._blocks.append(block)
            self._fc_w, self._fc_b = w["fc/weights"], w["fc/bias"]
        except KeyError as e:
            raise ModelError(f"face-api expression model: missing tensor {e}") from e
        if self._fc_w.shape != (256, len(EMOTIONS)):
            raise ModelError(f"face-api expression model: fc has shape {self._fc_w.shape}, expected (256, 7)")

    def logits(self, batch: np.ndarray) -> np.ndarray:
        """(N,112,112,3) normalised input -> (N,7) logits."""
        x = batch.astype(np.float32)
        for k, block in enumerate(self._blocks):
            x = dense_block4(x, block, first=k == 0)
        feats = x.mean(axis=(1, 2))  # avgPool 7x7 stride 2 'valid' on a 7x7 map
        return feats @ self._fc_w + self._fc_b

    def predict(self, face_crops: list[np.ndarray]) -> np.ndarray:
        """(N,7) probabilities for RGB uint8 face crops (any size; padded to square)."""
        if len(face_crops) == 0:
            return np.zeros((0, len(EMOTIONS)), np.float32)
        z = self.logits(np.stack([to_net_input(c) for c in face_crops]))
        z = np.exp(z - z.max(1, keepdims=True))
        return z / z.sum(1, keepdims=True)

    def classify_box(self, image: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
        """(7,) probabilities for the face in ``box`` = (x0, y0, x1, y1) of an RGB image."""
        x0, y0, x1, y1 = (int(v) for v in box)
        H, W = image.shape[:2]
        x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, W), min(y1, H)
        if x1 <= x0 or y1 <= y0:
            raise ValueError(f"face box {box} lies outside the {W}x{H} image")
        return self.predict([image[y0:y1, x0:x1]])[0]

    def classify_face(self, image: np.ndarray, landmarks_xy: np.ndarray) -> np.ndarray:
        """(7,) probabilities, cropping as face-api does after landmark detection."""
        return self.classify_box(image, landmark_box(landmarks_xy, image.shape))


@lru_cache(maxsize=1)
def get_faceapi_emotion() -> FaceApiEmotion:
    """The shared judge (weights are decoded once per process)."""
    return FaceApiEmotion()
