"""aip-gan's networks (Ali & Hughes 2020): an expression encoder with supervised attention, an
identity encoder with self-supervised attention, and cross-encoder bilinear pooling into a
decoder on the shared "warp + learned residual" shape.

* :class:`Attention` — CBAM-style (Woo et al. 2018): a channel attention (sigmoid of a shared MLP
  on the average- and max-pooled channels, (N, C, 1, 1)) then a spatial attention (sigmoid of a
  7×7 conv on the channel mean and max, (N, 1, H, W)); both in (0, 1), the features multiplied by
  them. ``attention=False`` (the ablation) makes both exactly 1.
* :class:`ExpressionEncoder` — the source crop, **in grey** (expression, not the source's colours:
  less for the decoder to copy), three stages (1/2, 1/4, 1/8) with attention; at 1/4 a head
  predicts the source's **landmark image** (:func:`facexpr.methods.samples.landmark_map`) — the
  expression is disentangled by predicting the landmarks — and that stage's spatial attention is
  **supervised** by the same landmark image (blurred).
* :class:`IdentityEncoder` — the target crop, three stages with attention whose spatial maps are
  **self-supervised** (flip equivariance: the attention of the mirrored face is the mirrored
  attention); a head infers the target's **intrinsic image** (its own face shape and appearance at
  a neutral expression: the target warped to its landmarks with the expression removed, at 1/2 —
  what is left of a face when the expression is taken away, so these features cannot carry one);
  :meth:`IdentityEncoder.embed` is the identity vector the identity and leakage terms use.
* :class:`BilinearFusion` — the cross-encoder pooling at 1/8, 1/4 and 1/2 of the decoder (the
  expression at the ``expr_scales`` coarsest of them):
  low-rank trilinear (Hadamard) pooling of the decoder's, the expression's and the identity's
  features (MLB, Kim et al. 2017): ``h + P(tanh(U h) ⊙ tanh(V e) ⊙ tanh(W i))``, ``P``
  zero-initialised; ``mode="concat"`` is the ablation ``h + P([h, e, i])``.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..nets import ConvBlock, ResBlock
from ..residual import IN_CHANNELS, WarpResidualGenerator

FUSIONS = ("bilinear", "concat")


class Attention(nn.Module):
    """CBAM: ``forward(x) -> (x · ca · sa, ca (N, C, 1, 1), sa (N, 1, H, W))``."""

    def __init__(self, ch: int, reduction: int = 4, enabled: bool = True):
        super().__init__()
        self.enabled = enabled
        hidden = max(ch // reduction, 4)
        self.mlp = nn.Sequential(nn.Conv2d(ch, hidden, 1), nn.ReLU(), nn.Conv2d(hidden, ch, 1))
        self.spatial = nn.Conv2d(2, 1, 7, padding=3)

    def forward(self, x: torch.Tensor):
        n, c, h, w = x.shape
        if not self.enabled:
            return x, x.new_ones(n, c, 1, 1), x.new_ones(n, 1, h, w)
        ca = torch.sigmoid(self.mlp(x.mean((2, 3), keepdim=True)) + self.mlp(x.amax((2, 3), keepdim=True)))
        y = x * ca
        sa = torch.sigmoid(self.spatial(torch.cat([y.mean(1, keepdim=True), y.amax(1, keepdim=True)], 1)))
        return y * sa, ca, sa


class _Encoder(nn.Module):
    """Three stride-2 stages (1/2, 1/4, 1/8), each followed by :class:`Attention`."""

    def __init__(self, in_ch: int, chs: tuple[int, int, int], norm: str, attention: bool):
        super().__init__()
        cins = (in_ch,) + tuple(chs[:-1])
        self.stages = nn.ModuleList(ConvBlock(a, b, 4, stride=2, norm=norm) for a, b in zip(cins, chs))
        self.att = nn.ModuleList(Attention(c, enabled=attention) for c in chs)

    def forward(self, x):
        feats, cas, sas = [], [], []
        for stage, att in zip(self.stages, self.att):
            x, ca, sa = att(stage(x))
            feats.append(x)
            cas.append(ca)
            sas.append(sa)
        return feats, cas, sas


def grey(image: torch.Tensor) -> torch.Tensor:
    """(N, 3, H, W) in [-1, 1] -> (N, 1, H, W) luma."""
    return (0.299 * image[:, :1] + 0.587 * image[:, 1:2] + 0.114 * image[:, 2:3])


class ExpressionEncoder(nn.Module):
    """Source crop -> (features at 1/2, 1/4, 1/8; the predicted landmark image at 1/4 in (0, 1);
    the spatial attention maps)."""

    def __init__(self, chs=(16, 32, 64), norm: str = "instance", attention: bool = True):
        super().__init__()
        self.enc = _Encoder(1, tuple(chs), norm, attention)
        self.landmarks = nn.Sequential(ConvBlock(chs[1], chs[1], 3, norm=norm), nn.Conv2d(chs[1], 1, 1))

    def forward(self, source: torch.Tensor):
        feats, _, sas = self.enc(grey(source))
        return feats, torch.sigmoid(self.landmarks(feats[1])), sas


class IdentityEncoder(nn.Module):
    """Target crop -> (features at 1/2, 1/4, 1/8; the inferred intrinsic image at 1/2 in [-1, 1];
    the spatial attention maps)."""

    def __init__(self, chs=(16, 32, 64), norm: str = "instance", attention: bool = True):
        super().__init__()
        self.enc = _Encoder(3, tuple(chs), norm, attention)
        self.intrinsic = nn.Sequential(ResBlock(chs[2], norm), ConvBlock(chs[2], chs[1], norm=norm, act="relu", transpose=True),
                                       ConvBlock(chs[1], chs[0], norm=norm, act="relu", transpose=True),
                                       nn.Conv2d(chs[0], 3, 3, padding=1), nn.Tanh())

    def forward(self, target: torch.Tensor):
        feats, _, sas = self.enc(target)
        return feats, self.intrinsic(feats[2]), sas

    def attention(self, target: torch.Tensor) -> list[torch.Tensor]:
        return self.enc(target)[2]

    def embed(self, image: torch.Tensor) -> torch.Tensor:
        """(N, D) unit identity vector: the deepest features' channel means and maxima."""
        f = self.enc(image)[0][2]
        return F.normalize(torch.cat([f.mean((2, 3)), f.amax((2, 3))], 1).float(), dim=1)


class BilinearFusion(nn.Module):
    """Decoder features ``h`` + expression ``e`` + identity ``i`` (same spatial size) -> ``h`` refined.
    ``ch_e=0``: no expression at this scale (``e`` is ignored): ``h`` pooled with ``i`` alone."""

    def __init__(self, ch: int, ch_e: int, ch_i: int, rank: int = 32, mode: str = "bilinear"):
        super().__init__()
        if mode not in FUSIONS:
            raise ValueError(f"unknown fusion {mode!r} (choose from {', '.join(FUSIONS)})")
        self.mode, self.use_e = mode, ch_e > 0
        if mode == "bilinear":
            self.u, self.w = nn.Conv2d(ch, rank, 1), nn.Conv2d(ch_i, rank, 1)
            self.v = nn.Conv2d(ch_e, rank, 1) if self.use_e else None
            self.p = nn.Conv2d(rank, ch, 1)
        else:
            self.p = nn.Conv2d(ch + ch_e + ch_i, ch, 1)
        nn.init.zeros_(self.p.weight)
        nn.init.zeros_(self.p.bias)

    def forward(self, h, e, i):
        if self.mode == "bilinear":
            z = torch.tanh(self.u(h)) * torch.tanh(self.w(i))
            return h + self.p(z * torch.tanh(self.v(e)) if self.use_e else z)
        return h + self.p(torch.cat([h, e, i] if self.use_e else [h, i], 1))


class AIPDecoder(nn.Module):
    """The backbone: a U-Net over the warped crop + base flow; at 1/8, 1/4 and 1/2 its features are
    pooled with both encoders' (:class:`BilinearFusion`); features at the crop size."""

    def __init__(self, chs=(16, 32, 64), enc=(16, 32, 64), feat_ch: int = 16, rank: int = 32,
                 norm: str = "instance", fusion: str = "bilinear", expr_scales: int = 3):
        super().__init__()
        self.stem = ConvBlock(IN_CHANNELS, chs[0], 5, norm=norm, act="relu")
        cins = (chs[0],) + tuple(chs[:-1])
        self.down = nn.ModuleList(ConvBlock(a, b, 4, stride=2, norm=norm) for a, b in zip(cins, chs))
        self.mid = ResBlock(chs[2], norm)
        # the expression reaches the ``expr_scales`` coarsest scales only (finer maps carry the
        # source's own face shape: identity leakage)
        self.fuse = nn.ModuleList(BilinearFusion(c, ce if k >= 3 - expr_scales else 0, ce, rank, fusion)
                                  for k, (c, ce) in enumerate(zip(chs, enc)))
        self.up = nn.ModuleList([ConvBlock(chs[2], chs[1], norm=norm, act="relu", transpose=True),
                                 ConvBlock(2 * chs[1], chs[0], norm=norm, act="relu", transpose=True),
                                 ConvBlock(2 * chs[0], chs[0], norm=norm, act="relu", transpose=True)])
        self.out = ConvBlock(2 * chs[0], feat_ch, 3, norm="none", act="lrelu")

    def forward(self, x, expr: list[torch.Tensor], ident: list[torch.Tensor]):
        s0 = self.stem(x)
        skips, h = [], s0
        for d in self.down:
            h = d(h)
            skips.append(h)                         # 1/2, 1/4, 1/8
        h = self.fuse[2](self.mid(h), expr[2], ident[2])
        h = self.up[0](h)                           # 1/4
        h = self.fuse[1](h, expr[1], ident[1])
        h = self.up[1](torch.cat([h, skips[1]], 1))  # 1/2
        h = self.fuse[0](h, expr[0], ident[0])
        h = self.up[2](torch.cat([h, skips[0]], 1))  # 1
        return self.out(torch.cat([h, s0], 1))


class AIPGenerator(WarpResidualGenerator):
    """``G(target, base_flow, source, base=warp)`` -> (output, fields). The encoders
    (:attr:`expression`, :attr:`identity`) return their heads' outputs too (the losses read them);
    :meth:`render` renders from their features (``render(image, base_flow, expr, ident, base=)``)."""

    def __init__(self, chs=(16, 32, 64), feat_ch: int = 16, rank: int = 32, norm: str = "instance",
                 attention: bool = True, fusion: str = "bilinear", expr_scales: int = 3):
        chs = tuple(int(c) for c in chs)
        super().__init__(AIPDecoder(chs, chs, feat_ch, rank, norm, fusion, expr_scales), feat_ch)
        self.spec = dict(chs=list(chs), feat_ch=feat_ch, rank=rank, norm=norm, attention=attention, fusion=fusion,
                         expr_scales=expr_scales)
        self.expression = ExpressionEncoder(chs, norm, attention)
        self.identity = IdentityEncoder(chs, norm, attention)

    def encode(self, target: torch.Tensor, source: torch.Tensor):
        """((expression features, landmark image, attention), (identity features, intrinsic image, attention))."""
        return self.expression(source), self.identity(target)

    def encode(self, image, source):
        """The decoder's condition: the source's expression features, the target's identity features."""
        return self.expression(source)[0], self.identity(image)[0]


__all__ = ["Attention", "ExpressionEncoder", "IdentityEncoder", "BilinearFusion", "AIPDecoder", "AIPGenerator",
           "FUSIONS", "grey"]
