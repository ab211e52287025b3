""""Warp + learned residual": the rendering shape every generator shares.

The geometry is done by a warp, the network only adds what a warp cannot. For a crop of side S
(128–256 px) the family's condition gives the wanted landmarks, and the *base flow* is the dense
backward motion from the target's landmarks to them (:func:`facexpr.methods.flow.landmark_flow`).
The network sees the warped crop (and the base flow) and predicts, at S:

* a **flow correction** added to the base flow (what the landmark mesh gets wrong: lid and lip
  details, a jaw that rotates rather than stretches);
* a **colour / shading residual** added to the warped pixels (folds, wrinkles, shading);
* a **synthesised colour** and a **blend mask** that replaces the warped pixels where a warp has
  nothing to show (the mouth interior, teeth, sclera).

``out = (1 − m) · (warp(x, F_base + ΔF) + R) + m · C``, in [-1, 1]. These low-resolution fields
(:class:`Fields`) are upsampled and applied to the photo at its own resolution (:func:`compose`),
so the face stays as sharp as the photo. The last layer is zero-initialised and the mask is
``sigmoid(z − 6) − sigmoid(−6)`` (exactly 0 at z = 0, never saturated there, so it and the colour
it blends in get gradients from the first step; a mask gated by a zero-initialised scalar died in a
real run: the mask penalty pushed the gate below 0, where a clamp stops every gradient), so
**at initialisation the output is exactly the warp**: training can only start from the warp's
quality. The warp is ``torch.grid_sample``, so every loss sees the final image.

A family plugs its own network in as the *backbone* (``backbone(x, *cond) -> features at S``,
``x`` = warped crop + normalised base flow, :data:`IN_CHANNELS` channels): relative-au's MSF U-Net
(:class:`facexpr.methods.relative_au.nets.RelativeAUWarpGenerator`), and so on for the others.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

FLOW_UNIT = 1 / 8          # the base flow enters the backbone in units of this fraction of the crop side
CORRECTION_UNIT = 1 / 32   # the flow correction's unit (4 px at 128): reached in a few hundred steps
IN_CHANNELS = 5            # warped RGB + base flow (x, y)
FIELD_CHANNELS = 9         # flow correction 2, residual 3, colour 3, mask logit 1
MASK_OFFSET = 6.0          # mask = sigmoid(z - 6) - sigmoid(-6): 0 at z = 0, in [-0.0025, 0.9975]
SUPPORT_FULL = CORRECTION_UNIT  # on the warp: the fields act in full where it moves the face this far (crop sides)
SUPPORT_REACH = 0.04       # ... and reach this far beyond (Gaussian sigma, crop sides): folds beside a moving part


def warp(image: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """Backward warp: output pixel p reads the input at p + flow(p) (flow in pixels, (N, 2, H, W))."""
    n, _, h, w = image.shape
    ys, xs = torch.meshgrid(torch.arange(h, device=image.device, dtype=flow.dtype),
                            torch.arange(w, device=image.device, dtype=flow.dtype), indexing="ij")
    gx = (xs + flow[:, 0] + 0.5) * (2.0 / w) - 1.0
    gy = (ys + flow[:, 1] + 0.5) * (2.0 / h) - 1.0
    grid = torch.stack([gx, gy], -1)
    return F.grid_sample(image, grid.to(image.dtype), mode="bilinear", padding_mode="border", align_corners=False)


def resize_flow(flow: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """A pixel flow field at another size (bilinear; its values scaled with the size)."""
    h, w = size
    if flow.shape[-2:] == (h, w):
        return flow
    sy, sx = h / flow.shape[-2], w / flow.shape[-1]
    flow = F.interpolate(flow, size=(h, w), mode="bilinear", align_corners=False)
    return flow * flow.new_tensor([sx, sy])[None, :, None, None]


@dataclass
class Fields:
    """A generator's edit at its own resolution: ``flow`` (N, 2, h, w) pixels (base + correction),
    ``correction`` (its learned part), ``residual`` and ``color`` (N, 3, h, w), ``mask`` (N, 1, h, w)."""

    flow: torch.Tensor
    correction: torch.Tensor
    residual: torch.Tensor
    color: torch.Tensor
    mask: torch.Tensor

    def resized(self, size: tuple[int, int]) -> "Fields":
        up = lambda t: t if t.shape[-2:] == tuple(size) else F.interpolate(  # noqa: E731
            t, size=size, mode="bilinear", align_corners=False)
        return Fields(resize_flow(self.flow, size), resize_flow(self.correction, size), up(self.residual),
                      up(self.color), up(self.mask))


def compose(image: torch.Tensor, fields: Fields) -> torch.Tensor:
    """Apply ``fields`` (any resolution; upsampled to ``image``'s) to ``image`` (N, 3, H, W)."""
    f = fields.resized(tuple(image.shape[-2:]))
    out = warp(image, f.flow) + f.residual
    return (out + f.mask * (f.color - out)).clamp(-1.0, 1.0)


class ResidualHead(nn.Module):
    """Backbone features -> :class:`Fields`. Zero-initialised: the fields add nothing until
    training moves them."""

    def __init__(self, feat_ch: int):
        super().__init__()
        self.conv = nn.Conv2d(feat_ch, FIELD_CHANNELS, 3, padding=1, padding_mode="reflect")
        nn.init.zeros_(self.conv.weight)
        nn.init.zeros_(self.conv.bias)

    def forward(self, feat: torch.Tensor, base_flow: torch.Tensor) -> Fields:
        o = self.conv(feat).float()
        h, w = o.shape[-2:]
        corr = o[:, :2] * o.new_tensor([w * CORRECTION_UNIT, h * CORRECTION_UNIT])[None, :, None, None]
        off = o.new_tensor(MASK_OFFSET)
        mask = torch.sigmoid(o[:, 8:9] - off) - torch.sigmoid(-off)
        return Fields(base_flow.float() + corr, corr, o[:, 2:5], torch.tanh(o[:, 5:8]), mask)


def gaussian_blur(t: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of (N, C, H, W), edges replicated."""
    r = max(1, int(3 * sigma + 0.5))
    x = torch.arange(-r, r + 1, dtype=t.dtype, device=t.device)
    k = torch.exp(-x ** 2 / (2 * sigma * sigma))
    k = k / k.sum()
    c = t.shape[1]
    t = F.pad(t, (r, r, r, r), mode="replicate")
    t = F.conv2d(t, k.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    return F.conv2d(t, k.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)


def motion_support(base_flow: torch.Tensor, full: float = SUPPORT_FULL, reach: float = SUPPORT_REACH) -> torch.Tensor:
    """Where a refinement of the warp may act, (N, 1, H, W) in [0, 1]: the warp's motion
    ``|base_flow|``, spread by a Gaussian of ``reach`` · side, over ``full`` · side, clipped.
    Exactly 0 where the warp moves nothing (a zero flow gives a zero support).

    Why: what a warp misses — a mouth interior, lid and lip detail, the folds a moving cheek or
    brow makes — is where the expression moves the face. Where the warp leaves the face in place
    the photo already shows it, and what a generator adds there is not expression: the refiners
    trained on real photo pairs (a person's neutral and smiling photos, video frames) learned a
    low-contrast mottling of the skin (±3–5 grey levels, cells of 4–10 px at 128) from the
    differences between two photos, which makes outputs look less real
    (docs/results/small_faces.md). In crop units, so a face of any size gets the same region."""
    side = float(base_flow.shape[-1])
    mag = base_flow.float().norm(dim=1, keepdim=True)
    return (gaussian_blur(mag, reach * side) / (full * side)).clamp(0.0, 1.0)


def within(fields: "Fields", support: torch.Tensor) -> "Fields":
    """``fields`` faded to nothing outside ``support`` (flow, residual and blend mask alike: the
    motion is faded, not the pixels, so no edge is doubled where the support falls off)."""
    s = support.to(fields.flow.dtype)
    return Fields(fields.flow * s, fields.correction * s, fields.residual * s, fields.color, fields.mask * s)


def backbone_input(image: torch.Tensor, base_flow: torch.Tensor,
                   base: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(the warped crop, the backbone's input: warped crop + base flow in :data:`FLOW_UNIT`).
    ``base``: the crop already warped by the product's warp (:mod:`facexpr.methods.warp_base`)."""
    h, w = image.shape[-2:]
    warped = warp(image, base_flow.to(image.dtype)) if base is None else base
    scale = base_flow.new_tensor([1.0 / (w * FLOW_UNIT), 1.0 / (h * FLOW_UNIT)])[None, :, None, None]
    return warped, torch.cat([warped, (base_flow * scale).to(image.dtype)], 1)


class WarpResidualGenerator(nn.Module):
    """A family's backbone on top of the warp. ``forward(image, base_flow, *inputs)`` returns
    ``(output, fields)`` at the input's size; :meth:`fields` alone is the edit to apply at another
    resolution (:func:`compose`, what inference does with a sharp crop).

    ``inputs`` are what the family is told (AUs, key-point images, the source photo…);
    :meth:`encode` turns them into the backbone's condition (default: as they are; a family with
    encoders — au-swap, aip-gan — overrides it), and :meth:`render` renders from a condition
    already encoded (what their swap and losses need).

    With ``base=`` (the product's warp of ``image``, :mod:`facexpr.methods.warp_base`) the fields
    apply to the base instead: their flow is the correction alone (the base is warped already),
    ``base_flow`` tells the backbone where the warp moved things, and the fields act only there
    (:func:`motion_support`), in training and at inference alike."""

    def __init__(self, backbone: nn.Module, feat_ch: int):
        super().__init__()
        self.backbone = backbone
        self.head = ResidualHead(feat_ch)

    def encode(self, image: torch.Tensor, *inputs) -> tuple:
        return inputs

    def condition_fields(self, image: torch.Tensor, base_flow: torch.Tensor, *cond,
                         base: torch.Tensor | None = None) -> Fields:
        _, x = backbone_input(image, base_flow, base)
        if base is None:
            return self.head(self.backbone(x, *cond), base_flow)
        return within(self.head(self.backbone(x, *cond), torch.zeros_like(base_flow)), motion_support(base_flow))

    def fields(self, image: torch.Tensor, base_flow: torch.Tensor, *inputs, base: torch.Tensor | None = None) -> Fields:
        return self.condition_fields(image, base_flow, *self.encode(image, *inputs), base=base)

    def render(self, image: torch.Tensor, base_flow: torch.Tensor, *cond, base: torch.Tensor | None = None):
        """(output, fields) from an encoded condition."""
        f = self.condition_fields(image, base_flow, *cond, base=base)
        return compose(image if base is None else base, f).to(image.dtype), f

    def forward(self, image: torch.Tensor, base_flow: torch.Tensor, *inputs, base: torch.Tensor | None = None):
        return self.render(image, base_flow, *self.encode(image, *inputs), base=base)


__all__ = ["warp", "resize_flow", "Fields", "compose", "ResidualHead", "backbone_input", "WarpResidualGenerator",
           "motion_support", "within", "gaussian_blur", "FLOW_UNIT", "CORRECTION_UNIT", "IN_CHANNELS", "SUPPORT_FULL", "SUPPORT_REACH"]
