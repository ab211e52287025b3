"""Train the expression reader (:mod:`facexpr.expression.reader`) on the renders of
:mod:`facexpr.research.reader_data`.

    facexpr research train-reader --data ../shared/data --cache runs/reader/data.npz \\
        --out src/facexpr/data/expression_reader.safetensors

A small MLP (features → 52 sigmoid outputs), five of them averaged, trained with Adam on CPU
(about 15 minutes: seven person folds for the rest levels). Faces are split by person: every 7th
neutral face (and all its renders) is held out, and the held-out error decides, shape by shape,
whether the reader or MediaPipe's own score answers (``use``) — the reader only takes over a
shape where it is closer to the known code on people it has not seen (:func:`balanced_error`:
as close where the shape is shown as where it is not).
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
from ..expression.reader import SMILE, ExpressionReader

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
    ensemble: int = 5        # networks averaged (their logits): a steadier reading of a stranger
    rest_folds: bool = True  # rest levels from every fold's held-out people, not the first fold's only
    real_share: float = 0.1  # of every batch: real smiles (partly labelled), when the data has them
    smile_gate: float = 0.0   # ExpressionReader.smile_gate: off (it cost real smiles; docs/models/expression_reader.md)


# The shapes whose *level* in one photo MediaPipe's classifier reads reliably: those it reads
# reliably as a change (:data:`~facexpr.expression.analysis.CHANGE_FROM_MEDIAPIPE`) but the chin
# raiser. MediaPipe's chin raiser follows an edit (ρ .80 as a change) but its level is the
# person's own chin: 0.62 at the 95th percentile on unseen neutral London faces, so a single photo
# of a stranger read by it shows a chin raise that is not there (single-photo AU17 ρ 0.51).
MEDIAPIPE_LEVELS = tuple(n for n in CHANGE_FROM_MEDIAPIPE if n != "mouthShrugLower")


def answers(err_reader: np.ndarray, err_mp: np.ndarray) -> np.ndarray:
    """The shapes the reader answers: where it is closer to the known code than MediaPipe on
    held-out people, except gaze and the shapes MediaPipe's classifier reads reliably on real
    photos (:data:`MEDIAPIPE_LEVELS`: smile, jaw, blinks, the lip-opening and protrusion shapes).
    Renders are not real expressions: on real London smiles the reader reads 0.38 where MediaPipe
    reads 0.56, so those shapes keep MediaPipe's score."""
    return (err_reader < err_mp) & ~GAZE & ~np.isin(NAMES, MEDIAPIPE_LEVELS)


GATE_LEVELS = (0.05, 0.1, 0.15, 0.2)  # the gates tried, smallest first
NEUTRAL_LEVEL = 0.25  # a shape reads neutral at rest when its 95th percentile there is within this


def level_gates(rest_seen: np.ndarray, rest_scores: np.ndarray, seen: np.ndarray, scores: np.ndarray,
                truth: np.ndarray, use: np.ndarray, quantile: float) -> np.ndarray:
    """(52,) :attr:`~facexpr.expression.reader.ExpressionReader.gates`: for each shape left to
    MediaPipe (not gaze) whose score on held-out faces at rest (``rest_*``: the network's reading
    and MediaPipe's scores of unedited samples) exceeds :data:`NEUTRAL_LEVEL` at ``quantile``, the
    smallest gate of :data:`GATE_LEVELS` that brings it within the level *and* whose balanced
    error on held-out samples (``seen``, ``scores``, ``truth``) is no worse than MediaPipe's own;
    0 for every other shape (MediaPipe's score kept as it is) and for the smile: on renders a
    gate passes this test, but the reader also misses some *real* smiles (London 061 shows his
    teeth and reads 0.008), which renders cannot show (:attr:`ReaderTrainConfig.smile_gate`)."""
    sw = list(MIRRORED)
    gates = np.zeros(len(NAMES))
    both_rest, both = (rest_seen + rest_seen[:, sw]) / 2.0, (seen + seen[:, sw]) / 2.0
    for j in np.flatnonzero(~use & ~GAZE & ~SMILE):
        if np.quantile(rest_scores[:, j], quantile) <= NEUTRAL_LEVEL:
            continue
        plain = balanced_error(scores[:, [j]], truth[:, [j]])[0]
        for tau in GATE_LEVELS:
            at_rest = rest_scores[:, j] * np.minimum(1.0, both_rest[:, j] / tau)
            gated = scores[:, j] * np.minimum(1.0, both[:, j] / tau)
            if (np.quantile(at_rest, quantile) <= NEUTRAL_LEVEL
                    and balanced_error(gated[:, None], truth[:, [j]])[0] <= plain):
                gates[j] = tau
                break
    return np.maximum(gates, gates[sw])


def balanced_error(pred: np.ndarray, truth: np.ndarray, asked: float = 0.1, unasked: float = 0.02) -> np.ndarray:
    """Per shape, the mean absolute error on the samples that show it (known value > ``asked``)
    and on those that do not (≤ ``unasked``), averaged. A shape most samples leave at zero
    (a cheek raise: one sample in ten) has a plain mean error that rewards never reading it —
    MediaPipe's cheek squint, flat on every edit (single-photo ρ −0.15), beat the reader by it.
    A shape no sample shows keeps the plain mean error."""
    err = np.abs(np.asarray(pred, np.float64) - truth)
    out = err.mean(0)
    for j in range(truth.shape[1]):
        on, off = truth[:, j] > asked, truth[:, j] <= unasked
        if on.any() and off.any():
            out[j] = 0.5 * (err[on, j].mean() + err[off, j].mean())
    return out


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
    scores (gaze aside): a posed neutral face reads 0. A shape a sample does not know (a real
    smile's brows) stays NaN."""
    keep = np.isin(NAMES, FITTED) | GAZE
    return np.clip(z["label"] - np.where(keep, 0.0, z["base"]), 0.0, 1.0).astype(np.float64)


def masked_bce(logits, target, known):
    """Binary cross-entropy over the known labels only (``known`` 1/0, same shape)."""
    from torch import nn

    loss = nn.functional.binary_cross_entropy_with_logits(logits, target, reduction="none") * known
    return loss.sum() / known.sum().clamp(min=1.0)


def _fit_net(Xt, Yt, rows: np.ndarray, cfg: ReaderTrainConfig, seed: int, Kt=None,
             real_rows: np.ndarray | None = None) -> list[tuple[np.ndarray, np.ndarray]]:
    """One MLP (``cfg.hidden``, ReLU, dropout; sigmoid outputs, binary cross-entropy over the
    known labels ``Kt``) fitted on ``rows``, ``cfg.real_share`` of every batch drawn from
    ``real_rows`` (the real smiles: few, so drawn more often than their number); its layers as (W, b)."""
    import torch
    from torch import nn

    torch.manual_seed(seed)
    dims = (Xt.shape[1],) + cfg.hidden + (Yt.shape[1],)
    mods: list = []
    for i in range(len(dims) - 1):
        mods.append(nn.Linear(dims[i], dims[i + 1]))
        if i < len(dims) - 2:
            mods += [nn.ReLU(), nn.Dropout(cfg.dropout)]
    net = nn.Sequential(*mods)
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, cfg.steps)
    rng = np.random.default_rng(seed)
    n_real = int(round(cfg.batch * cfg.real_share)) if real_rows is not None and len(real_rows) else 0
    Kt = torch.ones_like(Yt) if Kt is None else Kt
    for _ in range(cfg.steps):
        idx = rng.choice(rows, cfg.batch - n_real)
        if n_real:
            idx = np.concatenate([idx, rng.choice(real_rows, n_real)])
        b = torch.tensor(idx)
        loss = masked_bce(net(Xt[b]), Yt[b], Kt[b])
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
    return [(m.weight.detach().double().numpy(), m.bias.detach().double().numpy())
            for m in net if isinstance(m, nn.Linear)]


def ensembled(members: list[list[tuple[np.ndarray, np.ndarray]]]) -> list[tuple[np.ndarray, np.ndarray]]:
    """Several MLPs of one shape as one wider MLP whose output is the mean of their logits: the
    first layers side by side, the hidden ones block-diagonal, the last averaged. The reader's file
    format and inference stay those of a single network."""
    from scipy.linalg import block_diag

    k = len(members)
    layers = [(np.concatenate([m[0][0] for m in members]), np.concatenate([m[0][1] for m in members]))]
    for i in range(1, len(members[0]) - 1):
        layers.append((block_diag(*[m[i][0] for m in members]), np.concatenate([m[i][1] for m in members])))
    layers.append((np.concatenate([m[-1][0] for m in members], axis=1) / k, np.mean([m[-1][1] for m in members], 0)))
    return layers


def train(data: Path, out: Path, cfg: ReaderTrainConfig = ReaderTrainConfig(), log=print) -> dict:
    """Fit the reader on ``data`` and write it to ``out``; its metrics.

    Faces (people) are split into ``holdout_every`` folds (every ``holdout_every``-th face by name).
    For each fold an ensemble of ``cfg.ensemble`` networks (seeds ``seed``…) is fitted on the other
    folds and reads the fold's unedited samples: the rest level is the ``rest_quantile`` of those
    readings over *every* training person (what the reader reads on strangers at rest; ~100 people,
    not one fold's 16). The shipped reader is the ensemble that held out the first fold, which also
    decides which shapes the reader answers (``use``)."""
    import torch

    torch.set_num_threads(1)  # a small net: one thread is as fast, and never stalls on a busy machine
    with np.load(data) as npz:  # read each array once (an NpzFile re-reads it from the zip on every access)
        z = {k: npz[k] for k in npz.files}
    faces = _faces(z["face"])
    fold_of = {f: i % cfg.holdout_every for i, f in enumerate(faces)}
    fold = np.array([fold_of[str(n)] for n in z["face"]])
    val = fold == 0  # faces[::holdout_every]
    mean = symmetric_fitter().prior.mean
    probe = ExpressionReader(mean, np.zeros(1), np.ones(1), [], np.ones(len(NAMES), bool))
    X, fitted = features(probe, z["landmarks"], z["scores"])
    Y = labels(z)
    known = ~np.isnan(Y)
    Y = np.where(known, Y, 0.0)
    real = z["real"].astype(bool) if "real" in z else np.zeros(len(Y), bool)
    x_mean, x_std = X[~val & ~real].mean(0), X[~val & ~real].std(0) + 1e-6  # the renders' scale
    Xt = torch.tensor((X - x_mean) / x_std, dtype=torch.float32)
    Yt = torch.tensor(Y, dtype=torch.float32)
    Kt = torch.tensor(known, dtype=torch.float32)
    unedited = (np.abs(Y[:, ~GAZE]).max(1) <= UNASKED) & ~real
    t0 = time.perf_counter()
    rest_reads, rest_rows, reader = [], [], None
    for k in range(cfg.holdout_every if cfg.rest_folds else 1):
        # every fold's ensemble standardises with the shipped one's statistics: one feature scale
        members = [_fit_net(Xt, Yt, np.flatnonzero((fold != k) & ~real), cfg, cfg.seed + m, Kt,
                            np.flatnonzero((fold != k) & real)) for m in range(cfg.ensemble)]
        r = ExpressionReader(mean, x_mean, x_std, ensembled(members), ~GAZE)
        if k == 0:
            reader = r
        idx = np.flatnonzero((fold == k) & unedited)
        rest_reads += [r.seen(r.canonical(z["landmarks"][i]), z["scores"][i], fitted[i]) for i in idx]
        rest_rows += list(idx)
        log(f"fold {k}: {cfg.ensemble} networks, {len(idx)} unedited held-out samples read")
    rest_reads = np.clip(np.array(rest_reads), 0.0, 1.0)  # what ``read`` gave with no rest level
    reader.rest = rest_levels(rest_reads, Y[rest_rows], cfg.rest_quantile)
    # held-out people's real smiles (the first fold): the reader's own smile output (what a smile gate reads)
    vr = np.flatnonzero(val & real)
    real_smile = [float(reader._net(reader.features(reader.canonical(z["landmarks"][i]), z["scores"][i].astype(np.float64),
                                                     fitted[i]))[SMILE].mean()) for i in vr]
    # held-out people (the first fold): per shape, the reader (mirror-averaged, as at inference) against MediaPipe
    val = val & ~real
    seen = np.stack([reader.seen(reader.canonical(l), s, f) for l, s, f in zip(z["landmarks"][val], z["scores"][val], fitted[val])])
    pred = np.stack([reader.combined(y, s) for y, s in zip(seen, z["scores"][val])])
    err_reader = np.abs(pred - Y[val]).mean(0)
    err_mp = np.abs(z["scores"][val] - Y[val]).mean(0)
    use = answers(balanced_error(pred, Y[val]), balanced_error(z["scores"][val], Y[val]))
    reader.use = use
    gates = level_gates(rest_reads, z["scores"][rest_rows], seen, z["scores"][val], Y[val], use, cfg.rest_quantile)
    if cfg.smile_gate > 0:
        gates[SMILE] = cfg.smile_gate
    reader.gates, reader.smile_gate = gates, float(gates[SMILE].max())
    held = faces[::cfg.holdout_every]
    metrics = {
        "heldout_faces": len(held), "train_faces": len(faces) - len(held),
        "samples": {"train": int((~val).sum()), "heldout": int(val.sum())},
        "rest_from": {"people": len(faces), "unedited_samples": len(rest_reads)},
        "heldout_mae": {"reader": float(np.where(use, err_reader, err_mp)[~GAZE].mean()),
                        "mediapipe": float(err_mp[~GAZE].mean())},
        "per_shape_mae": {n: [round(float(a), 4), round(float(b), 4)] for n, a, b in zip(NAMES, err_reader, err_mp)},
        "reader_answers": [n for n, u in zip(NAMES, use) if u],
        "rest": {n: round(float(r), 3) for n, r, u in zip(NAMES, reader.rest, use) if u},
        "gates": {n: round(float(g), 3) for n, g in zip(NAMES, gates) if g > 0},
        "heldout_real_smiles": {"samples": len(vr), "label_mean": round(float(Y[vr][:, SMILE].mean()), 3) if len(vr) else None,
                                "reader_smile_mean": round(float(np.mean(real_smile)), 3) if len(vr) else None},
        "real_smile_samples": int(real.sum()),
        "seconds": round(time.perf_counter() - t0, 1),
    }
    reader.meta = {"config": asdict(cfg), "metrics": metrics, "data_sha256": _sha(data),
                   "data": "renders of real neutral faces (London train split ids 001-060 and Canada, CC-BY 4.0; "
                           "lisa/zoom, CC0) edited by facexpr's warp to known codes, and the London train split's "
                           "real smiling photos labelled with their smile alone, read by MediaPipe "
                           "(facexpr.research.reader_data)"}
    reader.save(out)
    log(f"saved {out}: held-out MAE reader {metrics['heldout_mae']['reader']:.4f} vs MediaPipe "
        f"{metrics['heldout_mae']['mediapipe']:.4f}; reader answers {len(metrics['reader_answers'])} shapes")
    return metrics


UNASKED = 0.02  # a sample whose every known shape (gaze aside) is at most this is a face at rest


def rest_levels(pred: np.ndarray, truth: np.ndarray, quantile: float, unasked: float = UNASKED) -> np.ndarray:
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
