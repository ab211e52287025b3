"""Facial feature point fusion (Fan et al. 2023): source expression + target geometry -> fused points.

Two variants, both fed the *source* face's key points (what expression) and the *target* face's
key points (whose geometry), both producing the fused key points (the target's geometry wearing the
source's expression):

* :class:`FusionAE` — as in the paper: key points rendered as images (``keypoint_image``: the
  contour drawing of :func:`facexpr.methods.samples.landmark_map`, blurred into a soft heat map, 64 px by
  default), a convolutional auto-encoder from the 2-channel (source, target) image to the fused
  image (1 channel);
* :class:`FusionMLP` — on coordinates: the 478 MediaPipe points of both faces in the pose-free
  canonical frame of the expression model (:func:`facexpr.faces.align.to_canonical`), a small MLP
  predicting the target's displacement. This is what the ``landmark-fusion`` method uses, because
  its output is exact point positions (the generator's condition is drawn from them).

Training pairs (:func:`make_pairs`) come from same-person data, where the true fused geometry is
known: a person's two photos / two video frames ``(T, E)``; the fused output must be ``E``. The
source cannot be ``E`` itself (the net would just copy it), and a photo of *another* person making
exactly ``E``'s expression does not exist, so the source is synthesised: ``S = N_c + (E - R_A)``, the
expression displacement of ``E`` (relative to the person's most neutral sample ``R_A``) carried onto
the neutral geometry ``N_c`` of another random training person (a random blend of two, slightly
rescaled, plus landmark noise). The net thus has to separate expression from identity in ``S`` and
must not copy ``S``'s face shape.
"""
from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from ...cache import read_index, read_meta
from ...errors import ModelError
from ...expression.blendshapes import NAMES
from ...expression.emotions import EMOTIONS, current_units, edited_blendshapes, emotion_delta
from ...faces.align import to_canonical
from ...faces.topology import EYE_LEFT, EYE_RIGHT, IRIS_LEFT, IRIS_RIGHT
from ..samples import landmark_map

N_POINTS = 478
# Canonical frame -> key-point image: canonical units are stable-point RMS radius 1, centred; the
# face (oval, chin, forehead) lies within about +-1.9 of the centre.
CANON_HALF_SPAN = 2.0


# ------------------------------------------------------------------------------- key-point images

def keypoint_image(canon: np.ndarray, size: int = 64, sigma: float = 0.8) -> np.ndarray:
    """(1, size, size) float32 in [0, 1]: the contour drawing of canonical-frame key points
    (face oval, brows, eyes, irises, lips, nose bridge), blurred into a soft heat map."""

    xy = np.asarray(canon, np.float64)[:, :2]
    px = (xy / (2 * CANON_HALF_SPAN) + 0.5) * size
    m = landmark_map(np.concatenate([px, np.zeros((len(px), 1))], 1), size)[0]
    if sigma > 0:
        m = cv2.GaussianBlur(m, (0, 0), sigma)
        m = m / max(float(m.max()), 1e-6)
    return m[None].astype(np.float32)


# ------------------------------------------------------------------------------------- networks

class FusionAE(nn.Module):
    """Convolutional auto-encoder: (source, target) key-point images (N, 2, S, S) -> fused (N, 1, S, S).

    Encoder: ``depth`` stride-2 convolutions to an ``S / 2**depth`` bottleneck; decoder: transposed
    convolutions back, with skip connections from the *target* branch only (so geometry can flow
    through at full resolution while the expression has to pass the bottleneck). The output is the
    target's key-point image plus a predicted change (zero-initialised), clipped to [0, 1]."""

    def __init__(self, size: int = 64, base: int = 16, depth: int = 3):
        super().__init__()
        self.spec = dict(size=size, base=base, depth=depth)
        chs = [base * 2 ** i for i in range(depth + 1)]
        self.t_enc = nn.ModuleList([nn.Conv2d(1, chs[0], 3, padding=1)] + [
            nn.Conv2d(chs[i], chs[i + 1], 4, 2, 1) for i in range(depth)])
        self.enc = nn.ModuleList([nn.Conv2d(2, chs[0], 3, padding=1)] + [
            nn.Conv2d(chs[i], chs[i + 1], 4, 2, 1) for i in range(depth)])
        self.dec = nn.ModuleList(nn.ConvTranspose2d(chs[i + 1] * 2, chs[i], 4, 2, 1) for i in reversed(range(depth)))
        self.head = nn.Conv2d(chs[0] * 2, 1, 3, padding=1)
        nn.init.zeros_(self.head.weight)  # starts as "no change": the target's own key-point image
        nn.init.zeros_(self.head.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t = t_img = x[:, 1:2]
        skips = []
        for conv in self.t_enc:
            t = F.leaky_relu(conv(t), 0.2)
            skips.append(t)
        h = x
        for conv in self.enc:
            h = F.leaky_relu(conv(h), 0.2)
        for k, deconv in enumerate(self.dec):
            h = F.relu(deconv(torch.cat([h, skips[-1 - k]], 1)))
        return (t_img + torch.tanh(self.head(torch.cat([h, skips[0]], 1)))).clamp(0, 1)


class FusionMLP(nn.Module):
    """Coordinates: canonical source and target points (N, 478, 3) each -> fused points (N, 478, 3).

    Inputs are standardised (per-coordinate mean/std of the training shapes, stored as buffers);
    the net predicts the target's displacement (``out_scale`` canonical units per unit output)."""

    def __init__(self, hidden: int = 512, layers: int = 2, out_scale: float = 0.05, dropout: float = 0.1):
        super().__init__()
        self.spec = dict(hidden=hidden, layers=layers, out_scale=out_scale, dropout=dropout)
        d_in, d_out = 2 * N_POINTS * 3, N_POINTS * 3
        mods, d = [], d_in
        for _ in range(layers):
            mods += [nn.Linear(d, hidden), nn.GELU(), nn.Dropout(dropout)]
            d = hidden
        mods.append(nn.Linear(d, d_out))
        nn.init.zeros_(mods[-1].weight)
        nn.init.zeros_(mods[-1].bias)
        self.body = nn.Sequential(*mods)
        self.register_buffer("mean", torch.zeros(N_POINTS, 3))
        self.register_buffer("std", torch.ones(N_POINTS, 3))
        self.out_scale = out_scale

    def forward(self, source: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        s = ((source - self.mean) / self.std).flatten(1)
        t = ((target - self.mean) / self.std).flatten(1)
        d = self.body(torch.cat([s, t], 1)).view(-1, N_POINTS, 3) * self.out_scale
        return target + d


# ------------------------------------------------------------------------------------- data

@dataclass
class ShapeGroup:
    """One person's canonical shapes (n, 478, 3), blendshapes (n, 52) and kind (pair | video)."""

    name: str
    canon: np.ndarray
    blendshapes: np.ndarray
    kind: str

    @property
    def rest(self) -> np.ndarray:
        """The most neutral sample (least total blendshape activity, eye blinks/gaze ignored)."""
        return self.canon[int(np.argmin(_activity(self.blendshapes)))]


def groups_from_cache(root: Path, reference: np.ndarray, persons: set[str] | None = None) -> list[ShapeGroup]:
    """Canonical shapes of every group of a prepared cache (optionally only some persons)."""

    root = Path(root)
    kind = "video" if read_meta(root).get("dataset") == "video" else "pair"
    by: dict[str, list] = defaultdict(list)
    for rec in read_index(root).values():
        if not rec.get("ok") or (persons is not None and rec["person"] not in persons):
            continue
        with np.load(root / rec["file"]) as z:
            lm = z["landmarks"].astype(np.float64)
        by[rec["group"]].append((rec["key"], to_canonical(lm, reference)[0], np.asarray(rec["blendshapes"])))
    out = []
    for g, items in sorted(by.items()):
        items.sort(key=lambda x: x[0])
        if len(items) >= 2:
            out.append(ShapeGroup(g, np.stack([i[1] for i in items]), np.stack([i[2] for i in items]), kind))
    return out


def prior_groups(groups: list[ShapeGroup], model, intensities=(0.5, 1.0)) -> list[ShapeGroup]:
    """Every expression, not only smiles: per person of ``groups``, their most neutral shape plus
    the expression model's motion (the ICT-FaceKit prior behind it) for each EMFACS emotion of
    :data:`facexpr.expression.emotions.EMOTIONS` at ``intensities``, turned into blendshapes as
    ``facexpr edit --emotion`` does. Kind ``prior``: :func:`make_pairs` draws them like video
    groups (another person's neutral + this displacement as the source)."""
    out = []
    for g in groups:
        k = int(np.argmin(_activity(g.blendshapes)))
        rest, bs = g.canon[k], np.asarray(g.blendshapes[k], np.float64)
        canon, scores = [rest], [bs]
        for name in EMOTIONS:
            for a in intensities:
                new = edited_blendshapes(bs, emotion_delta(name, a, current_units(bs)))
                canon.append(rest + model.displacement(new - bs))
                scores.append(new)
        out.append(ShapeGroup(f"prior:{g.name}", np.stack(canon), np.stack(scores), "prior"))
    return out


def _activity(blendshapes: np.ndarray) -> np.ndarray:
    keep = np.array([not (n.startswith("eyeLook") or n.startswith("eyeBlink") or n == "_neutral") for n in NAMES])
    return np.asarray(blendshapes)[:, keep].sum(1)


def make_pairs(groups: list[ShapeGroup], neutrals: np.ndarray, rng: np.random.Generator, n: int,
               noise: float = 0.002) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``n`` training triples (source, target, fused ground truth), canonical (n, 478, 3) each.

    Each kind present (London-style pairs, video groups, the prior's expressions) gives an equal share.
    ``neutrals`` (m, 478, 3): the identity geometries sources are built on."""
    kinds = sorted({g.kind for g in groups})
    by_kind = {k: [g for g in groups if g.kind == k] for k in kinds}
    S, T, G = (np.empty((n, N_POINTS, 3), np.float32) for _ in range(3))
    rests = {id(g): g.rest for g in groups}
    for i in range(n):
        gs = by_kind[kinds[i % len(kinds)]]
        g = gs[int(rng.integers(len(gs)))]
        t, e = (int(x) for x in rng.integers(len(g.canon), size=2))
        a, b = neutrals[rng.integers(len(neutrals), size=2)]
        w = rng.uniform(0, 1)
        ident = w * a + (1 - w) * b
        ident = ident * rng.uniform(0.95, 1.05, size=3)  # a little more shape variety
        S[i] = ident + (g.canon[e] - rests[id(g)]) + rng.normal(0, noise, (N_POINTS, 3))
        T[i] = g.canon[t]
        G[i] = g.canon[e]
    return S, T, G


def mean_point_error(pred: np.ndarray, gt: np.ndarray) -> float:
    """Mean 2D per-point distance (canonical units), as :func:`facexpr.expression.fit.landmark_error`."""
    return float(np.linalg.norm((np.asarray(pred) - gt)[..., :2], axis=-1).mean())


# ------------------------------------------------------------------------------------- training

def train_mlp(groups, neutrals, steps: int = 3000, batch: int = 64, lr: float = 1e-3, seed: int = 0,
              hidden: int = 512, log=print) -> FusionMLP:
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    net = FusionMLP(hidden=hidden)
    allc = np.concatenate([g.canon for g in groups])
    net.mean.copy_(torch.as_tensor(allc.mean(0), dtype=torch.float32))
    net.std.copy_(torch.as_tensor(allc.std(0) + 1e-3, dtype=torch.float32))
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, lr, total_steps=steps, pct_start=0.1)
    net.train()
    for it in range(steps):
        S, T, G = (torch.as_tensor(x) for x in make_pairs(groups, neutrals, rng, batch))
        err = net(S, T) - G  # one forward pass: with dropout, two would disagree
        loss = err[..., :2].norm(dim=-1).mean() + 0.1 * err[..., 2].abs().mean()
        _step(opt, sched, loss, it, steps, 500, "fusion-mlp", log)
    return net.eval()


def _step(opt, sched, loss: torch.Tensor, it: int, steps: int, every: int, name: str, log) -> None:
    """One optimiser and schedule step on ``loss``; logged every ``every`` steps and at the last."""
    opt.zero_grad()
    loss.backward()
    opt.step()
    sched.step()
    if log and (it % every == 0 or it == steps - 1):
        log(f"{name} step {it}: loss {loss.item():.5f}")


def train_ae(groups, neutrals, steps: int = 1500, batch: int = 32, lr: float = 2e-3, size: int = 64,
             seed: int = 0, log=print) -> FusionAE:
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed + 1)
    net = FusionAE(size=size)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, lr, total_steps=steps, pct_start=0.1)
    net.train()
    for it in range(steps):
        S, T, G = make_pairs(groups, neutrals, rng, batch)
        x = torch.as_tensor(np.stack([np.concatenate([keypoint_image(s, size), keypoint_image(t, size)])
                                      for s, t in zip(S, T)]))
        y = torch.as_tensor(np.stack([keypoint_image(g, size) for g in G]))
        out = net(x)
        loss = (F.l1_loss(out, y, reduction="none") * (1 + 4 * y)).mean()
        _step(opt, sched, loss, it, steps, 250, "fusion-ae", log)
    return net.eval()


# ------------------------------------------------------------------------------------- files

def save_net(net: nn.Module, path: Path, kind: str, meta: dict) -> None:
    from safetensors.torch import save_file

    path = Path(path)
    params = {k for k, _ in net.named_parameters()}  # weights in fp16; buffers (input statistics) in fp32
    tensors = {k: (v.detach().half() if k in params else v.detach().float()).contiguous()
               for k, v in net.state_dict().items()}
    tmp = path.with_name(f".{path.name}.part")
    save_file(tensors, str(tmp), metadata={"format": f"facexpr-fusion-{kind}", "spec": json.dumps(net.spec),
                                           "meta": json.dumps(meta)})
    tmp.chmod(0o644)
    tmp.replace(path)


def load_net(path: Path, kind: str = "mlp") -> tuple[nn.Module, dict]:
    """A saved fusion net (eval mode) and its metadata; :class:`ModelError` when missing/unreadable."""
    from safetensors import safe_open


    path = Path(path)
    if not path.is_file():
        raise ModelError(f"landmark-fusion: fusion weights {path} not found "
                         "(train them with `facexpr research fit-fusion`)")
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            state = {k: f.get_tensor(k).float() for k in f.keys()}
        if meta.get("format") != f"facexpr-fusion-{kind}":
            raise ValueError(f"format is {meta.get('format')!r}")
        net = (FusionMLP if kind == "mlp" else FusionAE)(**json.loads(meta["spec"]))
        net.load_state_dict(state)
    except ModelError:
        raise
    except Exception as e:
        raise ModelError(f"landmark-fusion: {path} is not a fusion {kind} file ({e})") from None
    return net.eval(), json.loads(meta.get("meta", "{}"))


# ------------------------------------------------------------------------------------- inference

@torch.no_grad()
def fuse_landmarks(net: FusionMLP, source_lm: np.ndarray, target_lm: np.ndarray, reference: np.ndarray,
                   intensity: float = 1.0, point_weights: np.ndarray | None = None) -> np.ndarray:
    """Fused landmarks in the *target's* coordinates (image or crop, as given): both faces to the
    canonical frame, the MLP, the target displacement (× ``intensity``, × ``point_weights``) back
    through the target's similarity. Irises move rigidly with their eyes (as in retargeting)."""
    cs, _ = to_canonical(np.asarray(source_lm, np.float64), reference)
    ct, sim = to_canonical(np.asarray(target_lm, np.float64), reference)
    fused = net(torch.as_tensor(cs[None], dtype=torch.float32), torch.as_tensor(ct[None], dtype=torch.float32))
    disp = (fused[0].double().numpy() - ct) * intensity
    if point_weights is not None:
        disp = disp * np.asarray(point_weights)[:, None]
    moved = sim.inverse().apply(ct + disp)
    target_lm = np.asarray(target_lm, np.float64)
    for eye, iris in ((EYE_RIGHT, IRIS_RIGHT), (EYE_LEFT, IRIS_LEFT)):
        shift = (moved[list(eye)] - target_lm[list(eye)]).mean(0)
        moved[list(iris)] = target_lm[list(iris)] + shift
    return moved
