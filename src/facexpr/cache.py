"""The annotation cache's format (``facexpr prepare`` writes it; training and the fusion module's
fit read it). Layout (one folder per dataset and crop size)::

    CACHE/meta.json                 version, crop size, dataset, root, AU list, identity model
    CACHE/index.jsonl               one JSON line per finished image (or per failure, ok=false)
    CACHE/items/<xx>/<key>.npz      the crop (PNG bytes) and its annotations
    CACHE/prepare.json              the last run's report (counts, images/s, AU agreement)

Each ``.npz``: ``image_png`` (the ``size`` x ``size`` aligned RGB crop, lossless), ``landmarks``
(478, 3) in crop pixels (z scaled like x, y), ``blendshapes`` (52,), ``pose`` (4, 4), ``aus`` (17,),
``identity`` (128,) dlib descriptor (zeros when off), ``align`` (2, 3) the image->crop affine.
It sits below both ``train/`` and the methods that read caches, so neither imports the other.
"""
from __future__ import annotations

import io
import json
import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from .errors import CacheError

CACHE_VERSION = 1
# dlib's HOG box on a template-aligned crop (measured: (35, 36, 221, 222) at 256 px on every London
# and Canada face tried), as fractions of the crop side: the identity descriptor reads this box.
ID_BOX = (35 / 256, 36 / 256, 221 / 256, 222 / 256)


@dataclass
class Annotation:
    image: np.ndarray        # (S, S, 3) uint8 aligned crop
    landmarks: np.ndarray    # (478, 3) float32, crop px
    blendshapes: np.ndarray  # (52,) float32
    pose: np.ndarray         # (4, 4) float32
    aus: np.ndarray          # (17,) float32
    identity: np.ndarray     # (128,) float32 (zeros: not computed)
    align: np.ndarray        # (2, 3) float64 image -> crop
    face_px: float
    yaw_pitch_roll: tuple[float, float, float] = (0.0, 0.0, 0.0)  # degrees


def identity_box(M: np.ndarray, size: int) -> tuple[int, int, int, int]:
    """:data:`ID_BOX` of the crop, mapped back into the photo (its bounding box)."""
    x0, y0, x1, y1 = (np.array(ID_BOX) * size).tolist()
    corners = np.array([[x0, y0, 1], [x1, y0, 1], [x0, y1, 1], [x1, y1, 1]], np.float64)
    pts = corners @ cv2.invertAffineTransform(M).T
    (a, b), (c, d) = pts.min(0), pts.max(0)
    return int(round(a)), int(round(b)), int(round(c)), int(round(d))


def _encode_png(img: np.ndarray) -> np.ndarray:
    ok, buf = cv2.imencode(".png", np.ascontiguousarray(img[..., ::-1]), [cv2.IMWRITE_PNG_COMPRESSION, 3])
    if not ok:
        raise RuntimeError("PNG encoding failed")
    return np.frombuffer(buf.tobytes(), np.uint8)


def decode_png(buf: np.ndarray) -> np.ndarray:
    img = cv2.imdecode(np.asarray(buf, np.uint8), cv2.IMREAD_COLOR)
    if img is None:
        raise ValueError("corrupt PNG in cache")
    return np.ascontiguousarray(img[..., ::-1])


def item_path(key: str) -> str:
    return f"items/{key[-2:]}/{key}.npz"


def write_item(root: Path, key: str, ann: Annotation) -> str:
    rel = item_path(key)
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    np.savez(buf, image_png=_encode_png(ann.image), landmarks=ann.landmarks, blendshapes=ann.blendshapes,
             pose=ann.pose, aus=ann.aus, identity=ann.identity, align=ann.align)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.part")
    tmp.write_bytes(buf.getvalue())
    os.replace(tmp, path)
    return rel


def read_item(root: Path, rel: str) -> dict[str, np.ndarray]:
    with np.load(Path(root) / rel) as z:
        d = {k: z[k] for k in z.files}
    d["image"] = decode_png(d.pop("image_png"))
    return d


def read_index(root: Path) -> dict[str, dict]:
    """key -> its last index record (a torn last line, from a crash, is ignored)."""
    out: dict[str, dict] = {}
    path = Path(root) / "index.jsonl"
    if not path.is_file():
        return out
    with open(path, encoding="utf-8") as f:
        for line in f:
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(rec, dict) and "key" in rec:
                out[rec["key"]] = rec
    return out


def read_meta(root: Path) -> dict:
    path = Path(root) / "meta.json"
    if not path.is_file():
        raise CacheError(f"{root}: not a prepared cache (no meta.json; run `facexpr prepare` first)")
    return json.loads(path.read_text(encoding="utf-8"))



__all__ = ["CACHE_VERSION", "ID_BOX", "CacheError", "Annotation", "identity_box", "decode_png", "item_path",
           "write_item", "read_item", "read_index", "read_meta"]
