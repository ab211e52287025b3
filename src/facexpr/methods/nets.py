"""Small building blocks and a reference generator/discriminator pair.

The reference nets (:class:`UNetGenerator`, :class:`PatchDiscriminator`) drive the smoke and
``pix2pix`` configs; method issues bring their own networks and may reuse the blocks. Every
network here is built from plain keyword arguments (its ``spec``), so an exported file can rebuild
it without the training config.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


NORMS = ("instance", "batch", "group", "none")


def norm_layer(kind: str, ch: int) -> nn.Module:
    if kind == "instance":
        return nn.InstanceNorm2d(ch, affine=True)
    if kind == "batch":
        return nn.BatchNorm2d(ch)
    if kind == "group":
        return nn.GroupNorm(min(32, ch // 4) or 1, ch)
    if kind == "none":
        return nn.Identity()
    raise ValueError(f"unknown norm {kind!r}")


def act_layer(kind: str) -> nn.Module:
    return {"relu": nn.ReLU(inplace=False), "lrelu": nn.LeakyReLU(0.2, inplace=False), "silu": nn.SiLU(),
            "none": nn.Identity()}[kind]


class ConvBlock(nn.Sequential):
    """conv (or transposed conv) -> norm -> activation; optional spectral norm on the conv."""

    def __init__(self, cin: int, cout: int, k: int = 3, stride: int = 1, norm: str = "instance",
                 act: str = "lrelu", spectral: bool = False, transpose: bool = False):
        if transpose:
            conv = nn.ConvTranspose2d(cin, cout, 4, stride=2, padding=1, bias=norm == "none")
        else:
            conv = nn.Conv2d(cin, cout, k, stride=stride, padding=k // 2 if stride == 1 else (k - 1) // 2,
                             bias=norm == "none", padding_mode="reflect" if k > 1 and stride == 1 else "zeros")
        if spectral:
            conv = nn.utils.parametrizations.spectral_norm(conv)
        super().__init__(conv, norm_layer(norm, cout), act_layer(act))


class ResBlock(nn.Module):
    def __init__(self, ch: int, norm: str = "instance", act: str = "relu"):
        super().__init__()
        self.body = nn.Sequential(ConvBlock(ch, ch, 3, norm=norm, act=act), ConvBlock(ch, ch, 3, norm=norm, act="none"))

    def forward(self, x):
        return x + self.body(x)


class UNetGenerator(nn.Module):
    """U-Net image-to-image generator (pix2pix style), optionally with an attention mask.

    ``forward(x)`` returns ``(image, mask)``: ``image`` in [-1, 1]; with ``attention`` the net
    predicts a colour image ``C`` and a mask ``A`` in [0, 1] and returns ``A * input + (1 - A) * C``
    (GANimation), the first ``image_channels`` channels of ``x`` being the input image; ``mask`` is
    ``A`` (None without attention).
    """

    def __init__(self, in_ch: int, out_ch: int = 3, base: int = 32, depth: int = 4, max_ch: int = 256,
                 res_blocks: int = 1, norm: str = "instance", attention: bool = False, image_channels: int = 3):
        super().__init__()
        self.spec = dict(in_ch=in_ch, out_ch=out_ch, base=base, depth=depth, max_ch=max_ch, res_blocks=res_blocks,
                         norm=norm, attention=attention, image_channels=image_channels)
        self.attention, self.image_channels = attention, image_channels
        chs = [min(base * 2 ** i, max_ch) for i in range(depth + 1)]
        self.stem = ConvBlock(in_ch, chs[0], 7, norm=norm, act="relu")
        self.down = nn.ModuleList(ConvBlock(chs[i], chs[i + 1], 4, stride=2, norm=norm, act="lrelu")
                                  for i in range(depth))
        self.mid = nn.Sequential(*(ResBlock(chs[-1], norm) for _ in range(res_blocks)))
        self.up = nn.ModuleList(ConvBlock(chs[i + 1] * (1 if i == depth - 1 else 2), chs[i], norm=norm, act="relu",
                                          transpose=True) for i in reversed(range(depth)))
        self.head = nn.Conv2d(chs[0] * 2, out_ch + (1 if attention else 0), 7, padding=3, padding_mode="reflect")

    def forward(self, x: torch.Tensor):
        skips = [self.stem(x)]
        h = skips[0]
        for d in self.down:
            h = d(h)
            skips.append(h)
        h = self.mid(h)
        for k, u in enumerate(self.up):
            if k:
                h = torch.cat([h, skips[-1 - k]], 1)
            h = u(h)
        out = self.head(torch.cat([h, skips[0]], 1))
        if not self.attention:
            return torch.tanh(out), None
        color, mask = torch.tanh(out[:, :-1]), torch.sigmoid(out[:, -1:])
        inp = x[:, :self.image_channels]
        return mask * inp + (1 - mask) * color, mask


class PatchDiscriminator(nn.Module):
    """PatchGAN (pix2pix): a grid of real/fake logits; with ``aux_out`` also a global vector
    (e.g. AU intensities in [0, 1] through a sigmoid, as GANimation's critic predicts).

    ``forward(x)`` returns ``(logits (N, 1, h, w), aux (N, aux_out) or None)``. No batch norm
    (gradient penalties are per sample); spectral norm optional.
    """

    def __init__(self, in_ch: int, base: int = 32, n_layers: int = 3, max_ch: int = 256, aux_out: int = 0,
                 norm: str = "none", spectral: bool = False):
        super().__init__()
        self.spec = dict(in_ch=in_ch, base=base, n_layers=n_layers, max_ch=max_ch, aux_out=aux_out, norm=norm,
                         spectral=spectral)
        layers = [ConvBlock(in_ch, base, 4, stride=2, norm="none", act="lrelu", spectral=spectral)]
        ch = base
        for i in range(1, n_layers):
            nxt = min(base * 2 ** i, max_ch)
            layers.append(ConvBlock(ch, nxt, 4, stride=2, norm=norm, act="lrelu", spectral=spectral))
            ch = nxt
        self.body = nn.Sequential(*layers)
        conv = nn.Conv2d(ch, 1, 3, padding=1)
        self.logits = nn.utils.parametrizations.spectral_norm(conv) if spectral else conv
        self.aux = nn.Linear(ch, aux_out) if aux_out else None

    def forward(self, x: torch.Tensor):
        h = self.body(x)
        aux = torch.sigmoid(self.aux(F.adaptive_avg_pool2d(h, 1).flatten(1))) if self.aux is not None else None
        return self.logits(h), aux


def count_parameters(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


def unwrap(net: nn.Module) -> nn.Module:
    """The module inside a DistributedDataParallel / compiled wrapper."""
    while hasattr(net, "module") and isinstance(net.module, nn.Module):
        net = net.module
    return getattr(net, "_orig_mod", net)
