"""Training data for the expression reader: real neutral faces edited by the product's own
renderer to *known* codes, then read by MediaPipe exactly as a real photo would be.

No licence-clean photo set of many people showing every expression is reachable, so the honest
substitute is the one the renderer gives: each sample starts from a real neutral face (London
*train* split, Canada, the one-person sets; never a London *unseen* id), asks ``warp`` for an
emotion prototype at a random intensity or for a few random action units, and records

* the code the renderer was asked to draw — the change it rendered (``edited − current`` in
  blendshape space, exactly what :func:`facexpr.pipeline.run_edit` renders) on top of the neutral
  face's own code (``label``), taken as 0 for the fitted shapes (a posed neutral face) and as
  MediaPipe's score for the shapes MediaPipe reads, whose score on the unedited face is kept as
  ``base``: the trainer takes ``label − base`` for every shape but gaze, so a posed neutral face
  reads 0 everywhere (MediaPipe's zero is not a neutral face: it reads some squint and blink on
  everyone);
* what MediaPipe reports on the rendered photo, its head turned a little in half of them
  (:func:`facexpr.pipeline.render_turned`), after a random roll, down-scaling, blur, JPEG and
  light change, and on its mirror image (the code Left↔Right swapped) — each read as a photo is
  and again on a nudged crop (:attr:`ReaderDataConfig.jitter`).

A neutral sample (no edit) is kept in every batch so that "a neutral face reads neutral" is
learned from real people's own variety, not assumed.

Renders are not real expressions, so the data also holds the one real expression it may: the
London *train* split's own smiling photos (augmented the same way, and mirrored), labelled with
the smile alone — MediaPipe's score on the unaugmented photo, which it reads well on real smiles —
and every other shape left unknown (NaN: the trainer masks it). Trained on renders alone, the
reader's smile missed 6 of 27 real smiles of unseen London people (≤ 0.1 where MediaPipe read
≥ 0.3); with them, 3.
"""
from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from ..datasets import london
from ..expression.action_units import AUS
from ..expression.blendshapes import FITTED, MIRRORED, NAMES
from ..expression.analysis import describe
from ..expression.emotions import EMOTIONS, edited_blendshapes
from ..expression.reader import SMILE
from ..faces import landmarks
from ..io import load_image
from ..pipeline import EditConfig, render_turned, run_edit

FITTED_MASK = np.isin(NAMES, FITTED)


@dataclass(frozen=True)
class ReaderDataConfig:
    per_face: int = 60            # samples per neutral face
    neutral_share: float = 0.15   # samples left unedited
    # an emotion prototype; the rest (60 %): 1-3 random AUs. With 45 % prototypes the reader
    # learnt which AUs go together so well that it missed an AU shown alone (held-out renders:
    # eyes widened alone read 0.06 for a known 0.70, with a surprise's other AUs 0.61)
    emotion_share: float = 0.25
    intensity: tuple[float, float] = (0.3, 1.2)
    au_delta: tuple[float, float] = (0.15, 1.0)
    base_side: int = 800          # neutral photos are scaled to this long side before editing
    face_px: tuple[float, float] = (110.0, 700.0)  # face sizes after augmentation
    roll_deg: float = 12.0
    # a head turned up/down or sideways (uniform in ± this, degrees, each axis), drawn by the warp
    # (pipeline.render_turned) in this share of the renders: strangers' photos are rarely frontal,
    # and a face tilted 15° down read without them as brows lowered (some shape off by > 0.3 in 31 %
    # of unseen London photos turned so, browDown +0.13 on average; docs/models/expression_reader.md)
    turn_deg: float = 15.0
    turn_share: float = 0.5
    seed: int = 0
    real_smiles: int = 6          # views of each train-split smiling photo (the photo + augmented), each also mirrored
    # every view is also read on this many crops a detector might as well have cut: the region
    # moved by up to ± shift of its width, scaled by up to ± scale, turned by up to ± turn degrees
    # (faces.landmarks.reread's nudge). The sixth reader read unseen London 136's brow inner up
    # 0.06-0.33 across crops 2 px or 2 % apart; the reading should not depend on the crop.
    jitter_reads: int = 1
    jitter: tuple[float, float, float] = (0.015, 0.03, 3.0)



def neutral_faces(root: Path) -> list[tuple[str, Path]]:
    """(name, path) of every neutral photo the reader may learn from: London's *train* split,
    Canada and the one-person sets; London's unseen ids stay out (they are the benchmark)."""
    root = Path(root)
    out = [(f"london/{p.id}", p.neutral) for p in london.split(root / "london", "train")]
    for folder in ("canada", "lisa", "zoom"):
        out += [(f"{folder}/{p.stem}", p) for p in sorted((root / folder).glob("*.jpg"))]
    return out


def _scaled(rgb: np.ndarray, side: int) -> np.ndarray:
    h, w = rgb.shape[:2]
    s = side / max(h, w)
    return rgb if s >= 1 else cv2.resize(rgb, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA)


def augment(rgb: np.ndarray, face_size: float, rng: np.random.Generator, cfg: ReaderDataConfig) -> np.ndarray:
    """A random roll, scale (face size), blur, light and JPEG round trip: the ways real photos of
    strangers differ from a studio portrait."""
    h, w = rgb.shape[:2]
    target = rng.uniform(*cfg.face_px)
    s = target / max(face_size, 1.0)
    M = cv2.getRotationMatrix2D((w / 2, h / 2), rng.uniform(-cfg.roll_deg, cfg.roll_deg), s)
    W, H = max(32, round(w * s)), max(32, round(h * s))
    M[:, 2] += (W - w) / 2, (H - h) / 2
    img = cv2.warpAffine(rgb, M, (W, H), flags=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR,
                         borderMode=cv2.BORDER_REFLECT)
    if rng.random() < 0.5:
        img = cv2.GaussianBlur(img, (0, 0), rng.uniform(0.3, 1.5))
    f = img.astype(np.float32) / 255.0
    f = np.clip((f ** rng.uniform(0.7, 1.4)) * rng.uniform(0.75, 1.2) + rng.uniform(-0.06, 0.06), 0, 1)
    if rng.random() < 0.1:
        f = np.repeat(f.mean(2, keepdims=True), 3, axis=2)
    img = (f * 255 + 0.5).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, "JPEG", quality=int(rng.integers(35, 96)))
    return np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))


def _request(rng: np.random.Generator, cfg: ReaderDataConfig) -> EditConfig | None:
    u = rng.random()
    if u < cfg.neutral_share:
        return None
    if u < cfg.neutral_share + cfg.emotion_share:
        name = str(rng.choice(list(EMOTIONS)))
        return EditConfig("warp", (), name, float(rng.uniform(*cfg.intensity)))
    k = int(rng.integers(1, 4))
    aus = rng.choice(AUS, size=k, replace=False)
    return EditConfig("warp", tuple((int(a), float(rng.uniform(*cfg.au_delta))) for a in aus))


def _reads(rgb: np.ndarray, rng: np.random.Generator, cfg: ReaderDataConfig) -> list:
    """(landmarks, scores) of the largest face as a photo is read, then on ``cfg.jitter_reads``
    nudged crops (own graph only: MediaPipe's cannot be told a region); [] without a face."""
    faces = landmarks.analyze_faces(rgb)
    if not faces:
        return []
    f = faces[0]
    out = [(f.landmarks.astype(np.float32), np.asarray(f.blendshapes, np.float32))]
    shift, scale, turn = cfg.jitter
    for _ in range(cfg.jitter_reads):
        nudge = (rng.uniform(-shift, shift), rng.uniform(-shift, shift), 1.0 + rng.uniform(-scale, scale),
                 float(np.radians(rng.uniform(-turn, turn))))
        g = landmarks.reread(rgb, f, nudge)
        if g is not None:
            out.append((g.landmarks.astype(np.float32), np.asarray(g.blendshapes, np.float32)))
    return out


def generate(root: Path, out: Path, cfg: ReaderDataConfig = ReaderDataConfig(), limit: int | None = None,
             log=print) -> Path:
    """Write ``out`` (.npz: landmarks, scores, label, face, mirrored), resuming from a partial
    file of the same config: every face's samples are drawn from its own seed."""
    out = Path(out)
    faces = neutral_faces(root)[:limit]
    done: dict[str, list] = {}
    if out.exists():
        z = np.load(out, allow_pickle=False)
        keys = ("landmarks", "scores", "label", "face", "mirrored", "base")
        cols = {k: list(z[k]) for k in keys}
        real = list(z["real"]) if "real" in z.files else [False] * len(cols["face"])
        for i, name in enumerate(cols["face"]):
            key = f"real:{name}" if real[i] else str(name)
            done.setdefault(key, []).append(tuple(cols[k][i] for k in keys) + (bool(real[i]),))
    rows = [r for v in done.values() for r in v]
    for fi, (name, path) in enumerate(faces):
        if name in done:
            continue
        rng = np.random.default_rng([cfg.seed, fi])
        jitter = np.random.default_rng([cfg.seed, 2, fi])  # its own stream: the renders stay those of rng
        base = _scaled(load_image(path), cfg.base_side)
        first = landmarks.analyze_faces(base)
        if not first:
            log(f"{name}: no face, skipped")
            continue
        base_scores = np.asarray(first[0].blendshapes, np.float64)
        base_mirror = base_scores[list(MIRRORED)]
        for _ in range(cfg.per_face):
            req = _request(rng, cfg)
            label = np.where(FITTED_MASK, 0.0, base_scores)
            img = base
            if req is not None:
                res = run_edit(base, req)
                img = res.image
                if res.retargeted is not None:
                    effective = np.where(res.want_aus != res.current_aus, res.requested, 0.0)
                    shown = res.face.blendshapes
                    label = np.clip(label + edited_blendshapes(shown, effective) - shown, 0.0, 1.0)
            if cfg.turn_share > 0 and rng.random() < cfg.turn_share:
                pitch, yaw = rng.uniform(-cfg.turn_deg, cfg.turn_deg, 2)
                edited = req is not None and res.retargeted is not None
                img = render_turned(base, res.face if edited else describe(first[0]), float(pitch), float(yaw),
                                    res.retargeted if edited else None)
            aug = augment(img, first[0].size, rng, cfg)
            views = ((False, aug, label, base_scores),
                     (True, np.ascontiguousarray(aug[:, ::-1]), label[list(MIRRORED)], base_mirror))
            for mirrored, view, lab, base_view in views:
                for got in _reads(view, jitter, cfg):
                    rows.append((got[0], got[1], lab.astype(np.float32), name, mirrored, base_view.astype(np.float32), False))
        log(f"{name}: {len(rows)} samples")
        _save(out, rows)
    for pi, p in enumerate(london.split(Path(root) / "london", "train")[:limit] if cfg.real_smiles else []):
        name = f"london/{p.id}"
        if f"real:{name}" in done:
            continue
        rows += _real_smile(p, name, np.random.default_rng([cfg.seed, 1, pi]), cfg,
                            np.random.default_rng([cfg.seed, 3, pi]))
        log(f"{name} (real smile): {len(rows)} samples")
        _save(out, rows)
    return out


def _real_smile(person, name: str, rng: np.random.Generator, cfg: ReaderDataConfig,
                jitter: np.random.Generator) -> list:
    """Samples of one train-split person's real smiling photo: the photo and ``cfg.real_smiles - 1``
    augmented views, each also mirrored, labelled with the smile alone (MediaPipe's score on the
    photo as it is; NaN for every other shape), ``base`` their neutral photo's scores."""
    neutral = landmarks.analyze_faces(_scaled(load_image(person.neutral), cfg.base_side))
    smiling = _scaled(load_image(person.smiling), cfg.base_side)
    seen = landmarks.analyze_faces(smiling)
    if not neutral or not seen:
        return []
    base = np.asarray(neutral[0].blendshapes, np.float64)
    label = np.where(SMILE, np.asarray(seen[0].blendshapes, np.float64), np.nan)
    rows = []
    for k in range(cfg.real_smiles):
        view = smiling if k == 0 else augment(smiling, seen[0].size, rng, cfg)
        for mirrored, img, lab, b in ((False, view, label, base),
                                      (True, np.ascontiguousarray(view[:, ::-1]), label[list(MIRRORED)], base[list(MIRRORED)])):
            for got in _reads(img, jitter, cfg):
                rows.append((got[0], got[1], lab.astype(np.float32), name, mirrored, b.astype(np.float32), True))
    return rows


def _save(out: Path, rows: list) -> None:
    tmp = out.with_suffix(".tmp.npz")
    np.savez(tmp, landmarks=np.stack([r[0] for r in rows]), scores=np.stack([r[1] for r in rows]),
             label=np.stack([r[2] for r in rows]), face=np.array([r[3] for r in rows]),
             mirrored=np.array([r[4] for r in rows]), base=np.stack([r[5] for r in rows]),
             real=np.array([r[6] for r in rows], bool))
    tmp.replace(out)
