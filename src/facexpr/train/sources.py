"""What ``facexpr prepare`` reads: every dataset as a flat list of :class:`Item` s.

The posed-expression datasets go through their readers in :mod:`facexpr.datasets` (one reader per
dataset; nothing here re-parses their layouts); this module only flattens their samples into
images to annotate, and adds the two sources no reader covers yet:

* ``openface``: AU-labelled image folders in the GANimation / EmotioNet / AffectNet convention
  (OpenFace 2 ``AUxx_r`` intensities, 0-5), see :func:`openface_items`;
* ``images``: any folder of photos, recursively (person = the sub-folder, if any).

Each item has a ``group``: the photos that show one person in one setting, from which
same-person pairs are drawn (a person in photo sets, one clip of a video, one CK+ subject).
"""
from __future__ import annotations

import csv
import pickle
import re
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from ..expression.action_units import AUS_V1 as AUS  # OpenFace 2 has exactly these 17
from ..datasets.ckplus import IMAGE_EXTS as CK_EXTS
from ..datasets.expressions import canonical_emotion, load_ref, ref_path
from .. import datasets as ds
from ..datasets import ckplus, london, mmi, video
from ..datasets.video import frames
from ..errors import NotAnImage

DATASETS = ("london", "rafd", "ckplus", "mmi", "cfd", "jaffe", "kdef", "folders", "images", "video", "openface")
IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff")
OPENFACE_COLUMNS = tuple(f"AU{au:02d}_r" for au in AUS)  # OpenFace 2's 17 intensity AUs = AUS


@dataclass
class Item:
    key: str                       # unique in a cache, file-system safe
    ref: str                       # an image path, or "<video>#frame=<n>|middle"
    person: str
    group: str
    expression: str | None = None  # the dataset's expression name (None: unknown)
    frame: int | None = None
    au_labels: np.ndarray | None = None  # (17,) in [0, 1] in AUS order (OpenFace AUxx_r / 5)
    loader: Callable[[], np.ndarray] | None = field(default=None, repr=False, compare=False)

    def load(self) -> np.ndarray:
        if self.loader is not None:
            return self.loader()

        return load_ref(self.ref)

    def meta(self) -> dict:
        return {"key": self.key, "ref": self.ref, "person": self.person, "group": self.group,
                "expression": self.expression, "label": canonical_emotion(self.expression),
                "frame": self.frame,
                "au_labels": None if self.au_labels is None else [round(float(v), 4) for v in self.au_labels]}


def make_key(text: str) -> str:
    """A short, unique, file-system safe key for a reference."""
    slug = re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_")[-60:]
    return f"{slug}-{zlib.crc32(text.encode('utf-8')):08x}"


def _rel(path, root: Path) -> str:
    p = Path(str(path))
    try:
        return p.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return p.as_posix()


def _items_from_samples(samples, root: Path) -> list[Item]:
    """Each sample's image, and its neutral frame when it has one (sequence datasets)."""
    out: dict[str, Item] = {}
    for s in samples:
        for ref, expr in ((s.neutral, "neutral"), (s.image, s.expression)):
            if ref is None:
                continue
            ref = str(ref)
            if ref not in out:
                out[ref] = Item(make_key(_rel(ref, root)), ref, s.person, s.person, expr)
    return list(out.values())


# ----------------------------------------------------------------------------------- video

class _SequentialFrames:
    """Frames of one video read front to back, decoding each frame once, whatever is skipped."""

    def __init__(self, path: Path, every: int):
        self.path, self.every = path, every
        self._it: Iterator | None = None
        self._last = -1

    def get(self, index: int) -> np.ndarray:
        if self._it is None or index <= self._last:
            self._it, self._last = frames(self.path, every=self.every), -1
        for i, rgb in self._it:
            self._last = i
            if i == index:
                return rgb
            if i > index:
                break
        self._it = None
        raise NotAnImage(f"{self.path}: no frame {index}")


def video_frame_count(path: Path) -> int:
    import av

    with av.open(str(path)) as c:
        stream = c.streams.video[0]
        if stream.frames:
            return int(stream.frames)
        return sum(1 for p in c.demux(stream) if p.size)  # no header count: count packets


def video_items(path: Path, every: int, root: Path, person: str | None = None,
                max_frames: int | None = None) -> list[Item]:
    """Every ``every``-th frame of one clip; the clip is one person and one group."""
    every = max(1, every)
    reader = _SequentialFrames(Path(path), every)
    n = video_frame_count(Path(path))
    person = person or Path(path).stem
    out = []
    for i in range(0, n, every):
        if max_frames and len(out) >= max_frames:
            break
        ref = f"{path}#frame={i}"
        out.append(Item(make_key(f"{_rel(path, root)}#{i}"), ref, person, f"{person}/{Path(path).stem}",
                        None, i, loader=(lambda i=i: reader.get(i))))
    return out


# ----------------------------------------------------------------------------------- OpenFace

def read_openface_csv(path: Path) -> list[dict[str, str]]:
    """Rows of an OpenFace CSV with header names stripped (OpenFace writes ``" AU01_r"``)."""
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f, skipinitialspace=True))
    if not rows:
        return []
    header = [h.strip() for h in rows[0]]
    return [dict(zip(header, (c.strip() for c in r))) for r in rows[1:] if r]


def au_vector(row: dict[str, str]) -> np.ndarray | None:
    """(17,) AU intensities in [0, 1] (``AUxx_r / 5``) in :data:`AUS` order, None if incomplete."""
    try:
        v = np.array([float(row[c]) for c in OPENFACE_COLUMNS], np.float64)
    except (KeyError, ValueError):
        return None
    return np.clip(v / 5.0, 0.0, 1.0)


def _best_row(rows: list[dict]) -> dict | None:
    ok = [r for r in rows if r.get("success", "1").strip() in ("1", "1.0")]
    if not ok:
        return None
    return max(ok, key=lambda r: float(r.get("confidence", 1) or 0))


class _SafeUnpickler(pickle.Unpickler):
    """GANimation's ``aus_openface.pkl`` is a dict of numpy arrays: allow exactly that."""

    ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
               ("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "scalar"),
               ("numpy._core.multiarray", "scalar"), ("collections", "OrderedDict")}

    def find_class(self, module, name):
        if (module, name) in self.ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} from an AU pickle")


def openface_labels(root: Path) -> dict[str, np.ndarray]:
    """Image stem (or relative path without extension) -> (17,) AU labels in [0, 1].

    Read from, in this order: ``aus_openface.pkl`` (GANimation: name -> 17 intensities 0-5 in
    OpenFace order), per-image CSVs (``<stem>.csv`` anywhere under the root, as OpenFace's
    ``FaceLandmarkImg``/``FeatureExtraction -f`` write them), and combined CSVs with a file-name
    column (``file``, ``filename``, ``image``, ``name``, ``input`` or ``path``).
    """
    root = Path(root)
    labels: dict[str, np.ndarray] = {}
    for pkl in sorted(root.rglob("aus_openface.pkl")):
        with open(pkl, "rb") as f:
            data = _SafeUnpickler(f).load()
        for name, v in dict(data).items():
            v = np.asarray(v, np.float64).ravel()
            if len(v) >= len(AUS):
                labels[Path(str(name)).stem] = np.clip(v[:len(AUS)] / 5.0, 0.0, 1.0)
    for path in sorted(root.rglob("*.csv")):
        rows = read_openface_csv(path)
        if not rows or not any(c in rows[0] for c in OPENFACE_COLUMNS):
            continue
        name_col = next((c for c in ("file", "filename", "image", "name", "input", "path") if c in rows[0]), None)
        if name_col is None:  # one CSV per image
            row = _best_row(rows)
            v = au_vector(row) if row else None
            if v is not None:
                labels[path.stem] = v
            continue
        for r in rows:
            v = au_vector(r) if r.get("success", "1").strip() in ("1", "1.0") else None
            if v is not None:
                labels[Path(r[name_col]).stem] = v
    return labels


def openface_items(root: Path) -> list[Item]:
    """Images with OpenFace AU labels. Layouts: GANimation's ``imgs/`` + ``aus_openface.pkl``, or
    images with ``<stem>.csv`` beside them or in any sub-folder, or one CSV with a file column.
    The person is the image's sub-folder under the image root (unknown identities: the stem)."""
    root = Path(root)
    labels = openface_labels(root)
    if not labels:
        raise FileNotFoundError(f"{root}: no OpenFace AU labels (aus_openface.pkl or CSVs with AU01_r ... AU45_r)")
    out = []
    for img in sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_EXTS and not p.name.startswith(".")):
        v = labels.get(img.stem)
        if v is None:
            continue
        parent = img.parent.relative_to(root)
        person = parent.as_posix() if parent.parts and parent.name not in ("imgs", "images") else img.stem
        out.append(Item(make_key(_rel(img, root)), str(img), person, person, None, None, v))
    return out


# ----------------------------------------------------------------------------------- plain folders

def image_items(root: Path) -> list[Item]:
    root = Path(root)
    out = []
    for img in sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_EXTS and not p.name.startswith(".")):
        parent = img.parent.relative_to(root)
        person = parent.as_posix() if parent.parts else img.stem
        out.append(Item(make_key(_rel(img, root)), str(img), person, person))
    return out


def _ckplus_sequence_items(samples, every: int, root: Path) -> list[Item]:
    """CK+ with ``every``: every n-th frame of each labelled sequence, plus its first and peak."""
    out = []
    for s in samples:
        frames = sorted(p for p in Path(s.image).parent.iterdir() if p.suffix.lower() in CK_EXTS)
        keep = {0, frames.index(Path(s.image)) if Path(s.image) in frames else len(frames) - 1}
        keep |= set(range(0, len(frames), every))
        for i in sorted(keep):
            expr = "neutral" if i == 0 else (s.expression if Path(frames[i]) == Path(s.image) else None)
            out.append(Item(make_key(_rel(frames[i], root)), str(frames[i]), s.person,
                            f"{s.person}/{Path(s.image).parent.name}", expr, i))
    return out


def _mmi_sequence_items(samples, every: int, root: Path) -> list[Item]:
    out = []
    for s in samples:
        video = ref_path(s.image)
        for it in video_items(video, every, root, person=s.person):
            it.expression = "neutral" if it.frame == 0 else None
            out.append(it)
    return out


def list_items(dataset: str, root: Path, every: int = 0, max_per_clip: int | None = None) -> list[Item]:
    """All images of ``dataset`` under ``root`` as :class:`Item` s (keys unique, order stable).

    ``every``: frame step for videos (default 10) and, when given, for CK+ sequences and MMI
    videos (default there: only the neutral first frame and the peak/middle frame).
    """
    root = Path(root)
    if not root.exists():
        raise FileNotFoundError(f"{root}: no such folder")
    dataset = dataset.lower().replace("-", "").replace("+", "plus")
    if dataset == "london":
        items = []
        for p in london.people(root):
            for ref, expr in ((p.neutral, "neutral"), (p.smiling, "happy")):
                items.append(Item(make_key(_rel(ref, root)), str(ref), p.id, p.id, expr))
    elif dataset == "ckplus":
        samples = ckplus.samples(root)
        items = _ckplus_sequence_items(samples, every, root) if every else _items_from_samples(samples, root)
    elif dataset == "mmi":
        samples = mmi.samples(root)
        items = _mmi_sequence_items(samples, every, root) if every else _items_from_samples(samples, root)
    elif dataset in ("rafd", "cfd", "jaffe", "kdef", "folders"):
        import importlib

        mod = importlib.import_module(f"{ds.__name__}.{dataset}")
        items = _items_from_samples(mod.samples(root), root)
    elif dataset == "images":
        items = image_items(root)
    elif dataset == "video":
        clips = [root] if root.is_file() else video.clips(root)
        items = [it for c in clips for it in video_items(c, every or 10, root.parent if root.is_file() else root,
                                                          max_frames=max_per_clip)]
    elif dataset in ("openface", "aufolder", "aufolders", "ganimation", "emotionet", "affectnet"):
        items = openface_items(root)
    else:
        raise ValueError(f"unknown dataset '{dataset}' (choose from {', '.join(DATASETS)})")
    keys = [it.key for it in items]
    if len(set(keys)) != len(keys):
        raise ValueError(f"{root}: duplicate item keys (two images map to one key)")
    return items
