"""The ``relative-au`` generator (Ling et al. 2020): a U-Net whose skip connections pass through
Multi-Scale Feature Fusion (MSF) units, conditioned on an AU vector.

* **Condition.** A vector of ``cond_dim`` AU values (the relative change Δ = wanted − current for
  ``relative-au``; the absolute wanted AUs for the GANimation ablation). The papers tile it over
  the image and concatenate it to a convolution's input. A tiled vector is constant over the
  image, so that only adds a per-channel constant, which the next instance normalisation removes
  again (everywhere but at zero-padded borders). Here the condition enters where the papers put it
  — the stem, every MSF unit, the bottleneck — as the equivalent per-channel shift *after* the
  normalisation, plus a per-channel scale (FiLM, :class:`CondNorm`).
* **MSF unit** (our reading of the paper's Fig. 3): the skip features of scale *i* are fused with
  those of the neighbouring scales — *i − 1* (finer, average-pooled) and *i + 1* (coarser,
  bilinearly upsampled) — and the condition: a 1×1 convolution mixes the three scales, a
  conditioned normalisation injects Δ, a 3×3 convolution follows, and the result is added to the
  skip as a residual. So what crosses a skip connection is already edited by the condition, at the
  scale of the facial part it concerns (brows, lids, lips are a few pixels; a jaw drop is many).
* **Output heads** (``output``):

  - ``"relative"`` (default): for each of the ``cond_dim`` AUs the net predicts a flow field
    (2 channels) and a colour residual (3 channels) — a per-AU edit basis — and the edit is their
    sum weighted by the condition: ``out = warp(x, Σ Δ_k F_k) + Σ Δ_k R_k``. The output is
    therefore exactly the input when Δ = 0 (up to bilinear sampling at pixel centres, < 1e-5), and
    an AU with Δ_k = 0 contributes nothing: "only regions with non-zero Δ change" by construction,
    not only by training. Expression is mostly motion, which a flow moves without blurring;
    the residual paints what motion cannot (teeth, wrinkles, shading).
  - ``"attention"``: GANimation's head (Pumarola et al. 2018): a colour map ``C`` and an
    attention mask ``A``; ``out = A · x + (1 − A) · C``.

  - ``"features"``: no head; ``forward`` returns the decoder's last features. The MSF U-Net is
    then the backbone of :class:`RelativeAUWarpGenerator` (the geometry comes from a
    landmark warp driven by the wanted AU change, the net refines it; :mod:`facexpr.methods.residual`).

Any input whose side is a multiple of ``2 ** depth`` (16 with the default depth 4) works: the
net is fully convolutional.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..nets import ConvBlock, ResBlock, act_layer, norm_layer
from ..residual import IN_CHANNELS, WarpResidualGenerator
from ..residual import warp  # noqa: F401  (re-exported: the family's warp is the shared one)


FLOW_UNIT = 1 / 8  # the flow head's unit, as a fraction of the crop side


class CondNorm(nn.Module):
    """Normalise, then scale and shift each channel by an affine function of the condition (FiLM),
    then activate. At zero condition it is the plain normalisation + activation."""

    def __init__(self, ch: int, cond_dim: int, norm: str = "instance", act: str = "lrelu"):
        super().__init__()
        self.norm, self.act = norm_layer(norm, ch), act_layer(act)
        self.film = nn.Linear(cond_dim, 2 * ch, bias=False)
        nn.init.zeros_(self.film.weight)

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        gamma, beta = self.film(cond).to(x.dtype)[:, :, None, None].chunk(2, 1)
        return self.act(self.norm(x) * (1 + gamma) + beta)


class CondConv(nn.Module):
    """conv -> conditioned norm -> activation."""

    def __init__(self, cin: int, cout: int, k: int, cond_dim: int, norm: str = "instance", act: str = "lrelu"):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, k, padding=k // 2, bias=False, padding_mode="reflect" if k > 1 else "zeros")
        self.post = CondNorm(cout, cond_dim, norm, act)

    def forward(self, x, cond):
        return self.post(self.conv(x), cond)


class MSFUnit(nn.Module):
    """Fuses a skip connection with its neighbouring scales and the condition (residual)."""

    def __init__(self, ch: int, ch_finer: int, ch_coarser: int, cond_dim: int, norm: str = "instance"):
        super().__init__()
        self.mix = CondConv(ch + ch_finer + ch_coarser, ch, 1, cond_dim, norm)
        self.out = nn.Conv2d(ch, ch, 3, padding=1, padding_mode="reflect")

    def forward(self, cur: torch.Tensor, finer: torch.Tensor | None, coarser: torch.Tensor | None,
                cond: torch.Tensor) -> torch.Tensor:
        parts = [cur]
        if finer is not None:
            parts.append(F.adaptive_avg_pool2d(finer, cur.shape[-2:]))
        if coarser is not None:
            parts.append(F.interpolate(coarser, size=cur.shape[-2:], mode="bilinear", align_corners=False))
        return cur + self.out(self.mix(torch.cat(parts, 1), cond))


class RelativeAUGenerator(nn.Module):
    """U-Net with MSF skip connections. ``forward(image, cond)`` returns ``(output, aux)``:
    ``output`` (N, 3, H, W) in [-1, 1]; ``aux`` the attention mask (``"attention"``) or the flow
    field in pixels (N, 2, H, W) (``"relative"``). ``msf=False`` gives plain concatenated skips
    (the ablation without multi-scale fusion). ``in_ch``: input channels (3, an image; more for a
    backbone that also reads a flow)."""

    def __init__(self, cond_dim: int = 17, base: int = 32, depth: int = 4, max_ch: int = 256, res_blocks: int = 1,
                 norm: str = "instance", output: str = "relative", msf: bool = True, in_ch: int = 3):
        super().__init__()
        if output not in ("relative", "attention", "features"):
            raise ValueError(f"unknown output head {output!r} (relative | attention | features)")
        self.spec = dict(cond_dim=cond_dim, base=base, depth=depth, max_ch=max_ch, res_blocks=res_blocks, norm=norm,
                         output=output, msf=msf)
        if in_ch != 3:  # exported files of 3-channel generators keep their spec
            self.spec["in_ch"] = in_ch
        self.cond_dim, self.depth, self.output, self.msf = cond_dim, depth, output, msf
        chs = [min(base * 2 ** i, max_ch) for i in range(depth + 1)]
        self.chs = chs
        self.stem = CondConv(in_ch, chs[0], 7, cond_dim, norm, act="relu")
        self.down = nn.ModuleList(ConvBlock(chs[i], chs[i + 1], 4, stride=2, norm=norm, act="lrelu")
                                  for i in range(depth))
        self.mid_in = CondConv(chs[-1], chs[-1], 3, cond_dim, norm, act="relu")
        self.mid = nn.Sequential(*(ResBlock(chs[-1], norm) for _ in range(res_blocks)))
        if msf:  # one unit per skip (levels 0..depth-1)
            self.fusion = nn.ModuleList(
                MSFUnit(chs[i], chs[i - 1] if i > 0 else 0, chs[i + 1], cond_dim, norm) for i in range(depth))
        self.up = nn.ModuleList(ConvBlock(chs[i + 1] * (1 if i == depth - 1 else 2), chs[i], norm=norm, act="relu",
                                          transpose=True) for i in reversed(range(depth)))
        head_in = self.feat_ch = chs[0] * 2
        if output == "relative":
            self.flow = nn.Conv2d(head_in, 2 * cond_dim, 1)  # 1x1: the layers before it see the context
            self.residual = nn.Conv2d(head_in, 3 * cond_dim, 1)
            for conv in (self.flow, self.residual):  # start as "no edit": a small basis
                nn.init.normal_(conv.weight, std=1e-3)
                nn.init.zeros_(conv.bias)
        elif output == "attention":
            self.head = nn.Conv2d(head_in, 4, 7, padding=3, padding_mode="reflect")

    def check_size(self, h: int, w: int) -> None:
        m = 2 ** self.depth
        if h % m or w % m:
            raise ValueError(f"input size {h}x{w} is not a multiple of {m}")

    def forward(self, image: torch.Tensor, cond: torch.Tensor):
        self.check_size(*image.shape[-2:])
        feat = self._features(image, cond.to(image.dtype))
        if self.output == "features":
            return feat
        if self.output == "attention":
            out = self.head(feat)
            color, mask = torch.tanh(out[:, :3]), torch.sigmoid(out[:, 3:])
            return mask * image + (1 - mask) * color, mask
        flow, residual = self._field(feat, cond.to(image.dtype), *image.shape[-2:])
        return apply_field(image, flow, residual), flow

    def _features(self, image: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """The decoder's last features (with the stem's skip), at the input's size."""
        skips = [self.stem(image, cond)]
        for d in self.down:
            skips.append(d(skips[-1]))
        h = self.mid(self.mid_in(skips[-1], cond))
        fused = ([self.fusion[i](skips[i], skips[i - 1] if i > 0 else None, skips[i + 1], cond)
                  for i in range(self.depth)] if self.msf else skips[:self.depth])
        for k, u in enumerate(self.up):
            if k:
                h = torch.cat([h, fused[self.depth - k]], 1)
            h = u(h)
        return torch.cat([h, fused[0]], 1)

    def _field(self, feat: torch.Tensor, cond: torch.Tensor, hh: int, ww: int):
        n, k = feat.shape[0], self.cond_dim
        # the flow basis is in units of FLOW_UNIT of the crop side: the same motion at any input size,
        # and a unit the optimiser reaches in a few hundred steps
        flow = torch.einsum("nk,nkchw->nchw", cond, self.flow(feat).view(n, k, 2, hh, ww))
        flow = flow * flow.new_tensor([ww * FLOW_UNIT, hh * FLOW_UNIT])[None, :, None, None]  # -> pixels
        residual = torch.einsum("nk,nkchw->nchw", cond, self.residual(feat).view(n, k, 3, hh, ww))
        return flow, residual

    def edit_field(self, image: torch.Tensor, cond: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The relative head's edit of ``image``: flow (N, 2, H, W) in pixels and colour residual
        (N, 3, H, W). :func:`apply_field` of them is ``forward``'s output; upsampled, they edit a
        sharper, larger crop of the same face (what inference does)."""
        if self.output != "relative":
            raise ValueError("edit_field needs the relative head")
        self.check_size(*image.shape[-2:])
        cond = cond.to(image.dtype)
        return self._field(self._features(image, cond), cond, *image.shape[-2:])


def apply_field(image: torch.Tensor, flow: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
    """Warp ``image`` by ``flow`` and add ``residual``; a field of another size is resized first
    (the flow's pixel values scaled with it)."""
    h, w = image.shape[-2:]
    if flow.shape[-2:] != (h, w):
        sy, sx = h / flow.shape[-2], w / flow.shape[-1]
        flow = F.interpolate(flow, size=(h, w), mode="bilinear", align_corners=False)
        flow = flow * flow.new_tensor([sx, sy])[None, :, None, None]
        residual = F.interpolate(residual, size=(h, w), mode="bilinear", align_corners=False)
    return (warp(image, flow) + residual).clamp(-1.0, 1.0)


class RelativeAUWarpGenerator(WarpResidualGenerator):
    """relative-au on the shared "warp + learned residual" shape: the MSF U-Net, conditioned on the
    relative AUs, reads the warped crop and the base flow and predicts the flow correction,
    residual and mask (:mod:`facexpr.methods.residual`). ``forward(image, base_flow, cond)``;
    the output equals the warp at initialisation."""

    def __init__(self, cond_dim: int = 22, base: int = 32, depth: int = 4, max_ch: int = 256, res_blocks: int = 1,
                 norm: str = "instance", msf: bool = True):
        net = RelativeAUGenerator(cond_dim, base, depth, max_ch, res_blocks, norm, "features", msf, IN_CHANNELS)
        super().__init__(net, net.feat_ch)
        self.spec = dict(cond_dim=cond_dim, base=base, depth=depth, max_ch=max_ch, res_blocks=res_blocks, norm=norm,
                         msf=msf)
        self.cond_dim, self.depth = cond_dim, depth

    def check_size(self, h: int, w: int) -> None:
        self.backbone.check_size(h, w)
