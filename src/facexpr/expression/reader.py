"""The learned expression reader: MediaPipe's landmarks and scores of one photo → the 52-value code.

Why a learned reader beside the fit (:mod:`facexpr.expression.analysis`): from a single photo of a
stranger, a low brow or a narrow eye may be the person's own face or an expression. A per-shape
fit against a generic prior cannot tell them apart, and reads real neutral faces as frowning or
wide-eyed. The reader is trained (:mod:`facexpr.research.reader_train`) on real neutral faces of many people
edited by the product's own renderer to known codes and read by MediaPipe exactly as a photo
would be, so it learns which landmark differences people have at rest and which an expression
makes, and which action units go together.

It is symmetric by construction: the features are the landmarks in a frame aligned to a
left-right symmetric mean face, and the answer is the average of the reading of the face and the
mirrored reading of its mirror image (:class:`~facexpr.expression.prior.MirrorPlane`), so a
mirrored photo reads as the mirrored code up to MediaPipe's own differences.

The smile is MediaPipe's score; :attr:`ExpressionReader.smile_gate` can make it depend on the
reader seeing one too (off in the shipped reader: it cost real smiles). The pucker is MediaPipe's
score gated by the reader's (:attr:`ExpressionReader.gates`): MediaPipe reads full lips at rest as
a pucker.

Inference is numpy only (five small MLPs averaged, stored as one block-diagonal network, fp16
weights in ``data/expression_reader.safetensors``); about 0.5 ms per reading.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from ..faces.align import to_canonical
from ..faces.topology import N_MESH
from ..tensorfile import load_tensors, save_tensors
from .blendshapes import MIRRORED, NAMES
from .prior import MirrorPlane

DEFAULT_PATH = Path(__file__).resolve().parent.parent / "data" / "expression_reader.safetensors"
Z_WEIGHT = 0.3  # MediaPipe's depth is noisier than x, y: it enters the features scaled down
SMILE = np.isin(NAMES, ("mouthSmileLeft", "mouthSmileRight"))


@dataclass
class ExpressionReader:
    mean: np.ndarray                 # (478, 3) symmetric reference face (canonical frame)
    x_mean: np.ndarray               # (F,) feature standardisation
    x_std: np.ndarray
    layers: list[tuple[np.ndarray, np.ndarray]]  # (W (out, in), b) per layer; ReLU between
    use: np.ndarray                  # (52,) bool: shapes the reader answers (else MediaPipe's score)
    meta: dict = field(default_factory=dict)
    # (52,) what the network reads, per shape, on faces at rest it never saw (the 95th percentile
    # on held-out people's renders where that shape was not asked for). A single photo cannot tell
    # a person's own low brow or downturned mouth from a little expression; below this level a
    # reading is that doubt, so it is taken off and the rest rescaled: a neutral face reads
    # neutral, and a full expression still reads full (the transfer then needs no gate of its own).
    rest: np.ndarray | None = None
    # With a gate > 0 the smile is MediaPipe's score times min(1, the reader's own smile / gate):
    # MediaPipe reads a crying or frightened mouth as a smile (0.79 on the shared clip's crying
    # frames, 0.45 on CREMA-D's fear clip) where the reader reads ~0.1. Off (0) in the shipped
    # reader: the reader also misses some real smiles, so any gate that cuts those frames cuts
    # real smiles too (measured: docs/models/expression_reader.md, "Smile gate").
    smile_gate: float = 0.0
    # (52,) per shape the reader does not answer: 0, or a level τ > 0 at which MediaPipe's score
    # is kept whole — below it, the score times the reader's own reading / τ (a Left/Right pair
    # gated by the mean of both sides, so the gate is mirror-symmetric). Set by the training for
    # the MediaPipe shapes whose level on faces at rest is not neutral: MediaPipe scores full lips
    # as a pucker (0.56 at the 95th percentile on the London train split's neutral photos, 0.87
    # on one of them), where the reader, trained on what an edit changes, reads ~0.
    # ``smile_gate`` is the smile's entry.
    gates: np.ndarray | None = None

    def __post_init__(self):
        self._plane = MirrorPlane.of(self.mean)
        self._sw = list(MIRRORED)
        if self.rest is None:
            self.rest = np.zeros(len(NAMES))
        self.rest = (np.asarray(self.rest, np.float64) + np.asarray(self.rest, np.float64)[self._sw]) / 2.0  # mirror-symmetric
        gates = np.zeros(len(NAMES)) if self.gates is None else np.asarray(self.gates, np.float64).copy()
        if self.smile_gate > 0:
            gates[SMILE] = self.smile_gate
        self.smile_gate = float(gates[SMILE].max())
        self.gates = np.maximum(gates, gates[self._sw])  # mirror-symmetric

    def features(self, canon: np.ndarray, scores: np.ndarray, fitted: np.ndarray) -> np.ndarray:
        """Landmarks relative to the symmetric mean (x, y, z scaled down), MediaPipe's scores and
        the symmetric prior fit's coefficients: the fit brings the 3D prior's knowledge of how
        each shape moves the face, the network learns how people differ at rest."""
        geo = (canon - self.mean)[:N_MESH] * np.array([1.0, 1.0, Z_WEIGHT])
        return np.concatenate([geo.ravel(), np.asarray(scores, np.float64), np.asarray(fitted, np.float64)])


    def _net(self, x: np.ndarray) -> np.ndarray:
        h = (x - self.x_mean) / self.x_std
        for i, (W, b) in enumerate(self.layers):
            h = h @ W.T + b
            if i < len(self.layers) - 1:
                h = np.maximum(h, 0.0)
        return 0.5 * (1.0 + np.tanh(0.5 * h))  # the sigmoid, without overflow for large logits

    def canonical(self, landmarks: np.ndarray) -> np.ndarray:
        return to_canonical(np.asarray(landmarks, np.float64), self.mean)[0]

    def read_features(self, canon: np.ndarray, scores: np.ndarray, fitted: np.ndarray) -> np.ndarray:
        """(52,) code from a face in the reader's canonical frame, mirror-averaged."""
        return self.combined(self.seen(canon, scores, fitted), scores)

    def seen(self, canon: np.ndarray, scores: np.ndarray, fitted: np.ndarray) -> np.ndarray:
        """(52,) the network's own reading of a face in the canonical frame, averaged with the
        Left↔Right-swapped reading of its mirrored features (before rest levels and gates)."""
        scores = np.asarray(scores, np.float64)
        x = np.stack([self.features(canon, scores, fitted),
                      self.features(self._plane.points(canon), scores[self._sw], fitted[self._sw])])
        y = self._net(x)
        return (y[0] + y[1][self._sw]) / 2.0

    def combined(self, seen: np.ndarray, scores: np.ndarray) -> np.ndarray:
        """The code from the network's mirror-averaged reading ``seen`` and MediaPipe's ``scores``:
        the reader's shapes past their rest level, MediaPipe's elsewhere, gated (:attr:`gates`)."""
        code = np.where(self.use, self.beyond_rest(seen), scores)
        on = self.gates > 0
        if on.any():
            both = (seen + seen[self._sw]) / 2.0
            code[on] = np.asarray(scores, np.float64)[on] * np.minimum(1.0, both[on] / self.gates[on])
        return code

    def beyond_rest(self, code: np.ndarray) -> np.ndarray:
        """The network's reading past :attr:`rest`: a soft dead zone ``y² (1 + r) / (y + r)`` —
        near zero below ``r``, unchanged at 1, and strictly increasing, so it never merges two
        different readings into one (a hard ``max(y − r, 0)`` would read every subtle expression
        as none)."""
        y = np.clip(code, 0.0, 1.0)
        r = self.rest
        return np.where(r > 0, y * y * (1.0 + r) / np.maximum(y + r, 1e-9), y)

    def read(self, landmarks: np.ndarray, scores: np.ndarray, fitted: np.ndarray) -> np.ndarray:
        """(52,) code of one face from MediaPipe's (478, 3) landmarks and 52 scores, and the
        symmetric prior fit's raw coefficients (:func:`facexpr.expression.analysis.symmetric_fitter`):
        the fit brings the 3D prior's knowledge of how each shape moves the face. Because that
        prior is mirror-symmetric, the fit of the mirror image is exactly the same coefficients
        swapped, so it runs once per face."""
        return self.read_features(self.canonical(landmarks), scores, np.asarray(fitted, np.float64))

    def save(self, path: Path) -> None:
        t = {"mean": self.mean.astype(np.float32), "x_mean": self.x_mean.astype(np.float32),
             "x_std": self.x_std.astype(np.float32), "use": self.use.astype(np.uint8),
             "rest": self.rest.astype(np.float32), "smile_gate": np.array([self.smile_gate], np.float32),
             "gates": self.gates.astype(np.float32)}
        for i, (W, b) in enumerate(self.layers):
            t[f"w{i}"], t[f"b{i}"] = W.astype(np.float16), b.astype(np.float32)
        save_tensors(path, t, self.meta)

    @classmethod
    def load(cls, path: Path) -> "ExpressionReader":
        t, meta = load_tensors(path, "expression reader", "retrain it with `facexpr research train-reader`")
        layers, i = [], 0
        while f"w{i}" in t:
            layers.append((t[f"w{i}"].astype(np.float64), t[f"b{i}"].astype(np.float64)))
            i += 1
        return cls(t["mean"].astype(np.float64), t["x_mean"].astype(np.float64), t["x_std"].astype(np.float64),
                   layers, t["use"].astype(bool), meta,
                   t["rest"].astype(np.float64) if "rest" in t else None,
                   float(t["smile_gate"][0]) if "smile_gate" in t else 0.0,
                   t["gates"].astype(np.float64) if "gates" in t else None)


@lru_cache(maxsize=2)
def load_default_reader(path: str | None = None) -> ExpressionReader | None:
    """The shipped reader, or None when the package carries none (the fit alone is used)."""
    p = Path(path) if path else DEFAULT_PATH
    return ExpressionReader.load(p) if p.exists() or path else None


__all__ = ["ExpressionReader", "load_default_reader", "NAMES"]
