"""Train the expression reader (:mod:`facexpr.expression.reader`) on the renders of
:mod:`facexpr.research.reader_data`.

    facexpr research train-reader --data ../shared/data --cache runs/reader/data.npz \\
        --out src/facexpr/data/expression_reader.safetensors

A small MLP (features → 52 sigmoid outputs) trained with Adam on CPU in about a minute. Faces are
split by person: every 7th neutral face (and all its renders) is held out, and the held-out error
decides, shape by shape, whether the reader or MediaPipe's own score answers (``use``) — the
reader only takes over a shape where it is closer to the known code on people it has not seen.
No emotion or identity judge is involved anywhere.
"""
from __future__ import annotations

import hashlib
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..expression.analysis import CHANGE_FROM_MEDIAPIPE, symmetric_fitter
from ..expression.blendshapes import FITTED, MIRRORED, NAMES
from ..expression.reader import ExpressionReader

GAZE = np.array([n.startswith("eyeLook") or n == "_neutral" for n in NAMES])


@dataclass(frozen=True)
class ReaderTrainConfig:
    hidden: tuple[int, ...] = (128, 64)
    steps: int = 4000
    batch: int = 256
    lr: float = 2e-3
    weight_decay: float = 1e-3
    dropout: float = 0.2
    holdout_every: int = 7   # every 7th face (sorted by name) is held out
    rest_quantile: float = 0.95  # ExpressionReader.rest: this quantile of held-out unasked readings
    seed: int = 0


def answers(err_reader: np.ndarray, err_mp: np.ndarray) -> np.ndarray:
    """The shapes the reader answers: where it is closer to the known code than MediaPipe on
    held-out people, except gaze and the shapes MediaPipe's classifier reads reliably on real
    photos (:data:`~facexpr.expression.analysis.CHANGE_FROM_MEDIAPIPE`: smile, jaw, blinks, the
    lip-opening and protrusion shapes). Renders are not real expressions: on real London smiles the
    reader reads 0.38 where MediaPipe reads 0.56, so those shapes keep MediaPipe's score."""
    return (err_reader < err_mp) & ~GAZE & ~np.isin(NAMES, CHANGE_FROM_MEDIAPIPE)


def _faces(names: np.ndarray) -> list[str]:
    return sorted(set(str(n) for n in names))


def features(reader: ExpressionReader, lms: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(features, fitted coefficients) of every sample, as the reader computes them at inference."""
    fit = symmetric_fitter()
    fitted = np.stack([fit.fit(l.astype(np.float64), s.astype(np.float64)).raw for l, s in zip(lms, scores)])
    X = np.stack([reader.features(reader.canonical(l), s, f) for l, s, f in zip(lms, scores, fitted)])
    return X, fitted


def labels(z) -> np.ndarray:
    """The known codes, with MediaPipe's reading of the unedited face taken off every shape it
    scores (gaze aside): a posed neutral face reads 0."""
    keep = np.isin(NAMES, FITTED) | GAZE
    return np.clip(z["label"] - np.where(keep, 0.0, z["base"]), 0.0, 1.0).astype(np.float64)


def train(data: Path, out: Path, cfg: ReaderTrainConfig = ReaderTrainConfig(), log=print) -> dict:
    import torch
    from torch import nn

    torch.manual_seed(cfg.seed)
    torch.set_num_threads(1)  # a small net: one thread is as fast, and never stalls on a busy machine
    z = np.load(data)
    faces = _faces(z["face"])
    held = set(faces[::cfg.holdout_every])
    val = np.array([str(n) in held for n in z["face"]])
    mean = symmetric_fitter().prior.mean
    probe = ExpressionReader(mean, np.zeros(1), np.ones(1), [], np.ones(len(NAMES), bool))
    X, fitted = features(probe, z["landmarks"], z["scores"])
    Y = labels(z)
    x_mean, x_std = X[~val].mean(0), X[~val].std(0) + 1e-6
    Xt = torch.tensor((X - x_mean) / x_std, dtype=torch.float32)
    Yt = torch.tensor(Y, dtype=torch.float32)
    tr_idx = np.flatnonzero(~val)
    dims = (X.shape[1],) + cfg.hidden + (len(NAMES),)
    mods: list = []
    for i in range(len(dims) - 1):
        mods.append(nn.Linear(dims[i], dims[i + 1]))
        if i < len(dims) - 2:
            mods += [nn.ReLU(), nn.Dropout(cfg.dropout)]
    net = nn.Sequential(*mods)
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, cfg.steps)
    rng = np.random.default_rng(cfg.seed)
    t0 = time.perf_counter()
    for step in range(cfg.steps):
        b = torch.tensor(rng.choice(tr_idx, cfg.batch))
        loss = nn.functional.binary_cross_entropy_with_logits(net(Xt[b]), Yt[b])
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if step % 1000 == 0 or step == cfg.steps - 1:
            log(f"step {step}: loss {loss.item():.4f}")
    linears = [m for m in net if isinstance(m, nn.Linear)]
    layers = [(m.weight.detach().double().numpy(), m.bias.detach().double().numpy()) for m in linears]
    reader = ExpressionReader(mean, x_mean, x_std, layers, ~GAZE)
    # held-out people: per shape, the reader (mirror-averaged, as at inference) against MediaPipe
    pred = np.stack([reader.read(l, s, f) for l, s, f in zip(z["landmarks"][val], z["scores"][val], fitted[val])])
    reader.rest = rest_levels(pred, Y[val], cfg.rest_quantile)
    pred = np.stack([reader.beyond_rest(p) for p in pred])
    err_reader = np.abs(pred - Y[val]).mean(0)
    err_mp = np.abs(z["scores"][val] - Y[val]).mean(0)
    use = answers(err_reader, err_mp)
    reader.use = use
    metrics = {
        "heldout_faces": len(held), "train_faces": len(faces) - len(held),
        "samples": {"train": int((~val).sum()), "heldout": int(val.sum())},
        "heldout_mae": {"reader": float(np.where(use, err_reader, err_mp)[~GAZE].mean()),
                        "mediapipe": float(err_mp[~GAZE].mean())},
        "per_shape_mae": {n: [round(float(a), 4), round(float(b), 4)] for n, a, b in zip(NAMES, err_reader, err_mp)},
        "reader_answers": [n for n, u in zip(NAMES, use) if u],
        "rest": {n: round(float(r), 3) for n, r, u in zip(NAMES, reader.rest, use) if u},
        "seconds": round(time.perf_counter() - t0, 1),
    }
    reader.meta = {"config": asdict(cfg), "metrics": metrics, "data_sha256": _sha(data),
                   "data": "renders of real neutral faces (London train split ids 001-060 and Canada, CC-BY 4.0; "
                           "lisa/zoom, CC0) edited by facexpr's warp to known codes, read by MediaPipe "
                           "(facexpr.research.reader_data)"}
    reader.save(out)
    log(f"saved {out}: held-out MAE reader {metrics['heldout_mae']['reader']:.4f} vs MediaPipe "
        f"{metrics['heldout_mae']['mediapipe']:.4f}; reader answers {len(metrics['reader_answers'])} shapes")
    return metrics


def rest_levels(pred: np.ndarray, truth: np.ndarray, quantile: float, unasked: float = 0.02) -> np.ndarray:
    """Per shape, the ``quantile`` of the readings ``pred`` on the samples left unedited (their
    known code is zero but for gaze): what the network reads on real neutral photos of people it
    never saw (with the augmentations: light, blur, JPEG, scale, roll)."""
    rest = np.abs(truth[:, ~GAZE]).max(1) <= unasked
    if not rest.any():
        return np.zeros(pred.shape[1])
    level = np.quantile(pred[rest], quantile, axis=0)
    return np.clip((level + level[list(MIRRORED)]) / 2.0, 0.0, 0.9)  # as symmetric as the reader


def _sha(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()
