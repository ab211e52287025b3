"""au-swap's networks (Shao et al. 2019): per-AU local feature branches, an AU-free encoder, the
multi-class adversarial classifier, and a decoder on the shared "warp + learned residual" shape.

* :class:`AUBranches` — the source image's **AU-related features**: one branch per action unit
  (the 22 of :data:`facexpr.expression.action_units.AUS`). Each branch pools a shared feature map
  with its own spatial attention, whose logits are a learned map *plus* the log of a prior around
  that AU's landmarks (:data:`AU_POINTS`, :func:`au_prior_maps`) — so at initialisation every
  branch looks where its AU happens (the authors' JAA-Net learns per-AU attention around
  landmarks the same way). Each branch's vector also predicts its AU's intensity (supervised by
  the project's AU code, never a judge).
* :class:`AUFreeEncoder` — the target's **AU-free features** (identity, pose, appearance): a
  spatial map at 1/8 of the crop.
* :class:`ExpressionClassifier` — the adversary: it tries to tell the expression class
  (:func:`expression_class`: neutral or one of six EMFACS emotions) from the AU-free features; the
  encoder is trained to push its prediction to uniform.
* :class:`AUSwapGenerator` — one image's AU-free features + the other's AU-related features →
  the fields that refine the warp (:class:`~facexpr.methods.residual.WarpResidualGenerator`): the
  AU-free map is concatenated at the decoder's bottleneck, the AU code modulates it (FiLM).
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from ...expression.action_units import AUS
from ...expression.emotions import EMOTIONS
from ..nets import ConvBlock, ResBlock
from ..residual import IN_CHANNELS, WarpResidualGenerator

# MediaPipe landmarks where each AU shows (its local region's centres)
AU_POINTS: dict[int, tuple[int, ...]] = {
    1: (107, 336, 9, 66, 296), 2: (70, 300, 63, 293, 105, 334), 4: (55, 285, 8, 65, 295, 107, 336),
    5: (159, 386, 158, 385), 6: (117, 346, 118, 347, 101, 330), 7: (145, 374, 153, 380),
    9: (6, 197, 195, 129, 358, 48, 278), 10: (0, 37, 267, 203, 423, 206, 426), 12: (61, 291, 57, 287),
    14: (57, 287, 61, 291), 15: (61, 291, 146, 375, 43, 273), 17: (152, 199, 175, 18, 200),
    20: (61, 291, 146, 375), 23: (0, 17, 37, 267, 84, 314), 25: (13, 14, 82, 312, 87, 317),
    26: (152, 14, 17, 175), 45: (159, 145, 386, 374), 16: (17, 84, 314, 181, 405), 18: (0, 17, 61, 291),
    22: (13, 14, 0, 17), 24: (0, 17, 13, 14), 28: (13, 14, 0, 17),
}
CLASSES = ("neutral", "happy", "sad", "surprise", "fear", "angry", "disgust")
NEUTRAL_BELOW = 0.15  # an AU vector whose largest entry is below this is "neutral"
PRIOR_SIGMA = 0.06    # of the crop side: the width of each AU's attention prior


def au_prior_maps(landmarks: np.ndarray, size: int, res: int, aus=AUS) -> np.ndarray:
    """(len(aus), res, res) float32: for each AU the sum of Gaussians at its landmarks (crop
    pixels, crop side ``size``), scaled to max 1 — where that AU's branch looks first."""
    xy = np.asarray(landmarks, np.float64)[:, :2] * (res / size)
    g = (np.arange(res) + 0.5)
    sigma = PRIOR_SIGMA * res
    out = np.zeros((len(aus), res, res), np.float32)
    for k, au in enumerate(aus):
        pts = xy[list(AU_POINTS[au])]
        gx = np.exp(-0.5 * ((g[None, :] - pts[:, :1]) / sigma) ** 2)   # (n, res)
        gy = np.exp(-0.5 * ((g[None, :] - pts[:, 1:2]) / sigma) ** 2)
        m = np.einsum("ny,nx->yx", gy, gx)
        out[k] = m / max(float(m.max()), 1e-6)
    return out


def _prototypes(aus=AUS) -> np.ndarray:
    pos = {a: k for k, a in enumerate(aus)}
    P = np.zeros((len(CLASSES) - 1, len(aus)), np.float64)
    for c, name in enumerate(CLASSES[1:]):
        for au, v in EMOTIONS[name].items():
            if isinstance(au, int) and au in pos:
                P[c, pos[au]] = v
    return P / np.linalg.norm(P, axis=1, keepdims=True)


_PROTO = torch.as_tensor(_prototypes(), dtype=torch.float32)


def expression_class(aus: torch.Tensor) -> torch.Tensor:
    """(N,) class index into :data:`CLASSES` from AU vectors (N, 22): neutral when no AU reaches
    :data:`NEUTRAL_BELOW`, else the EMFACS prototype most similar (cosine)."""
    a = aus.float()
    sim = F.normalize(a, dim=1) @ _PROTO.to(a.device).T
    cls = sim.argmax(1) + 1
    return torch.where(a.max(1).values < NEUTRAL_BELOW, torch.zeros_like(cls), cls)


class AUBranches(nn.Module):
    """Source crop (N, 3, S, S) + AU priors (N, K, S/4, S/4) -> (code (N, K·d), AU intensities
    (N, K) in [0, 1], attention (N, K, S/4, S/4), each map summing to 1)."""

    def __init__(self, n_aus: int = len(AUS), dim: int = 8, ch: int = 48, norm: str = "instance"):
        super().__init__()
        self.n, self.dim = n_aus, dim
        self.trunk = nn.Sequential(ConvBlock(3, ch // 2, 4, stride=2, norm=norm), ConvBlock(ch // 2, ch, 4, stride=2, norm=norm),
                                   ConvBlock(ch, ch, 3, norm=norm))
        self.att = nn.Conv2d(ch, n_aus, 1)
        nn.init.zeros_(self.att.weight)
        nn.init.zeros_(self.att.bias)
        self.proj = nn.Parameter(torch.randn(n_aus, ch, dim) * (1.0 / ch) ** 0.5)
        self.proj_b = nn.Parameter(torch.zeros(n_aus, dim))
        self.au_w = nn.Parameter(torch.randn(n_aus, dim) * (1.0 / dim) ** 0.5)
        self.au_b = nn.Parameter(torch.zeros(n_aus))

    def forward(self, source: torch.Tensor, prior: torch.Tensor):
        f = self.trunk(source)
        n, c, h, w = f.shape
        logits = self.att(f) + torch.log(prior.to(f.dtype) + 1e-3)
        att = torch.softmax(logits.flatten(2), -1)                       # (N, K, h·w)
        pooled = torch.einsum("nkp,ncp->nkc", att, f.flatten(2))         # (N, K, C)
        v = F.leaky_relu(torch.einsum("nkc,kcd->nkd", pooled, self.proj) + self.proj_b, 0.2)
        aus = torch.sigmoid((v * self.au_w).sum(-1) + self.au_b)
        return v.flatten(1), aus, att.view(n, self.n, h, w)


class AUFreeEncoder(nn.Module):
    """Target crop -> its AU-free feature map (N, ch, S/8, S/8)."""

    def __init__(self, ch: int = 64, norm: str = "instance"):
        super().__init__()
        self.body = nn.Sequential(ConvBlock(3, ch // 4, 4, stride=2, norm=norm), ConvBlock(ch // 4, ch // 2, 4, stride=2, norm=norm),
                                  ConvBlock(ch // 2, ch, 4, stride=2, norm=norm), ResBlock(ch, norm))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class ExpressionClassifier(nn.Module):
    """The adversary: AU-free features -> logits over :data:`CLASSES`."""

    def __init__(self, ch: int = 64, hidden: int = 64):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(2 * ch, hidden), nn.LeakyReLU(0.2), nn.Linear(hidden, len(CLASSES)))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([z.mean((2, 3)), z.amax((2, 3))], 1))


class SwapDecoder(nn.Module):
    """The backbone: a U-Net over the warped crop + base flow whose bottleneck (1/8) gets the
    AU-free map concatenated and is modulated by the AU code (FiLM), features at the crop size."""

    def __init__(self, code_dim: int, free_ch: int, feat_ch: int = 16, base: int = 16, max_ch: int = 128,
                 norm: str = "instance"):
        super().__init__()
        chs = [min(base * 2 ** i, max_ch) for i in range(4)]
        self.stem = ConvBlock(IN_CHANNELS, chs[0], 5, norm=norm, act="relu")
        self.down = nn.ModuleList(ConvBlock(chs[i], chs[i + 1], 4, stride=2, norm=norm) for i in range(3))
        self.merge = ConvBlock(chs[3] + free_ch, chs[3], 3, norm=norm)
        self.film = nn.Linear(code_dim, 2 * chs[3])
        nn.init.zeros_(self.film.weight)
        nn.init.zeros_(self.film.bias)
        self.mid = ResBlock(chs[3], norm)
        self.up = nn.ModuleList(ConvBlock(chs[i + 1] * (1 if i == 2 else 2), chs[i], norm=norm, act="relu", transpose=True)
                                for i in reversed(range(3)))
        self.out = ConvBlock(2 * chs[0], feat_ch, 3, norm="none", act="lrelu")

    def forward(self, x: torch.Tensor, z_free: torch.Tensor, code: torch.Tensor) -> torch.Tensor:
        skips = [self.stem(x)]
        h = skips[0]
        for d in self.down:
            h = d(h)
            skips.append(h)
        z = F.interpolate(z_free, size=h.shape[-2:], mode="bilinear", align_corners=False) if z_free.shape[-2:] != h.shape[-2:] else z_free
        h = self.merge(torch.cat([h, z.to(h.dtype)], 1))
        g, b = self.film(code.to(h.dtype)).chunk(2, 1)
        h = self.mid(h * (1 + g[:, :, None, None]) + b[:, :, None, None])
        for k, u in enumerate(self.up):
            if k:
                h = torch.cat([h, skips[-1 - k]], 1)
            h = u(h)
        return self.out(torch.cat([h, skips[0]], 1))


class AUSwapGenerator(WarpResidualGenerator):
    """``G(target, base_flow, source, source_prior, base=warp)`` -> (output, fields). The pieces
    are reachable for the swap and the losses: :meth:`encode_free`, :meth:`encode_au`, and
    :meth:`render` (``render(image, base_flow, au_free_map, au_code, base=)``)."""

    def __init__(self, n_aus: int = len(AUS), au_dim: int = 8, au_ch: int = 48, free_ch: int = 64, feat_ch: int = 16,
                 base: int = 16, max_ch: int = 128, norm: str = "instance"):
        super().__init__(SwapDecoder(n_aus * au_dim, free_ch, feat_ch, base, max_ch, norm), feat_ch)
        self.spec = dict(n_aus=n_aus, au_dim=au_dim, au_ch=au_ch, free_ch=free_ch, feat_ch=feat_ch, base=base,
                         max_ch=max_ch, norm=norm)
        self.au = AUBranches(n_aus, au_dim, au_ch, norm)
        self.free = AUFreeEncoder(free_ch, norm)

    def encode_free(self, target: torch.Tensor) -> torch.Tensor:
        return self.free(target)

    def encode_au(self, source: torch.Tensor, prior: torch.Tensor):
        return self.au(source, prior)

    def encode(self, image, source, prior):
        """The condition of a swap: the target's AU-free map and the source's AU code."""
        return self.free(image), self.au(source, prior)[0]


__all__ = ["AU_POINTS", "CLASSES", "au_prior_maps", "expression_class", "AUBranches", "AUFreeEncoder",
           "ExpressionClassifier", "SwapDecoder", "AUSwapGenerator"]
