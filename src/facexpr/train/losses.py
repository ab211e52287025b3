"""Losses the four methods share. Images are (N, 3, H, W) in [-1, 1]; logits any shape.

* adversarial: :func:`d_adversarial` / :func:`g_adversarial` for ``hinge``, ``wgan``
  (use with the ``wgan-gp`` penalty), ``lsgan`` (least squares) and ``nonsat`` (the original
  non-saturating GAN);
* penalties: :func:`gradient_penalty` (WGAN-GP on real/fake interpolates) and :func:`r1_penalty`;
* reconstruction: :func:`l1` (optionally per-sample weighted), :func:`pyramid_l1`, :class:`Perceptual` (the VGG16
  trunk of ST-LPIPS, loaded by :mod:`facexpr.perceptual`), :func:`cycle`; :func:`shading_matched`
  (a ground-truth photo given the input's colour and shading before it is compared);
* expression: :func:`au_regression` (predicted vs wanted AU intensities);
* regularisers: :func:`total_variation`, :func:`mask_l1` (keep the edited area small),
  :func:`mask_mean` (GANimation's: keep the mask from saturating to "no edit") and :func:`mask_tv`
  (keep the mask smooth).
"""
from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from ..methods.residual import gaussian_blur
from ..perceptual import get_lpips


def d_adversarial(kind: str, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """Discriminator loss from its logits on real and generated images."""
    real, fake = real.float(), fake.float()
    if kind == "hinge":
        return F.relu(1.0 - real).mean() + F.relu(1.0 + fake).mean()
    if kind == "wgan":
        return fake.mean() - real.mean()
    if kind == "lsgan":
        return 0.5 * ((real - 1.0) ** 2).mean() + 0.5 * (fake ** 2).mean()
    if kind == "nonsat":
        return F.softplus(-real).mean() + F.softplus(fake).mean()
    raise ValueError(f"unknown adversarial loss {kind!r}")


def g_adversarial(kind: str, fake: torch.Tensor) -> torch.Tensor:
    """Generator loss from the discriminator's logits on generated images."""
    fake = fake.float()
    if kind in ("hinge", "wgan"):
        return -fake.mean()
    if kind == "lsgan":
        return 0.5 * ((fake - 1.0) ** 2).mean()
    if kind == "nonsat":
        return F.softplus(-fake).mean()
    raise ValueError(f"unknown adversarial loss {kind!r}")


def _grad_norm_sq(out: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    (g,) = torch.autograd.grad(out.float().sum(), x, create_graph=True)
    return g.pow(2).reshape(g.shape[0], -1).sum(1)


def gradient_penalty(critic, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """WGAN-GP (Gulrajani et al. 2017): ``E[(||grad critic(x_hat)|| - 1)^2]`` on random
    interpolates. ``critic`` maps images to logits; computed in fp32 (outside autocast)."""
    with torch.autocast(device_type=real.device.type, enabled=False):
        alpha = torch.rand(real.shape[0], *([1] * (real.dim() - 1)), device=real.device)
        x = (alpha * real.detach().float() + (1 - alpha) * fake.detach().float()).requires_grad_(True)
        return ((_grad_norm_sq(critic(x), x) + 1e-12).sqrt() - 1.0).pow(2).mean()


def r1_penalty(critic, real: torch.Tensor) -> torch.Tensor:
    """R1 (Mescheder et al. 2018): ``E[||grad critic(x_real)||^2] / 2``."""
    with torch.autocast(device_type=real.device.type, enabled=False):
        x = real.detach().float().requires_grad_(True)
        return 0.5 * _grad_norm_sq(critic(x), x).mean()


def l1(a: torch.Tensor, b: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
    """Mean absolute difference; ``weight`` (N,) weighs samples (e.g. ``has_gt``)."""
    d = (a.float() - b.float()).abs().reshape(a.shape[0], -1).mean(1)
    if weight is None:
        return d.mean()
    w = weight.float()
    return (d * w).sum() / w.sum().clamp_min(1.0)


def pyramid_l1(a: torch.Tensor, b: torch.Tensor, weight: torch.Tensor | None = None, levels: int = 3) -> torch.Tensor:
    """:func:`l1` averaged over ``levels`` scales (2x average pooling each): coarse levels give a
    displacement a gradient from further away than one pixel."""
    total = l1(a, b, weight)
    for _ in range(levels - 1):
        a, b = F.avg_pool2d(a, 2), F.avg_pool2d(b, 2)
        total = total + l1(a, b, weight)
    return total / levels


MATCH_FLOOR = 0.05  # shading_matched: how much kept area a neighbourhood needs before its own estimate counts


def shading_matched(gt: torch.Tensor, reference: torch.Tensor, keep: torch.Tensor, sigma: float) -> torch.Tensor:
    """``gt`` with ``reference``'s low-frequency colour and shading, measured where ``keep`` is 1.

    ``gt``, ``reference``: (N, 3, H, W) in [-1, 1]; ``keep``: (N, 1, H, W) in [0, 1], where the two
    should agree (where the warp moves nothing); ``sigma``: the Gaussian of "low frequency", in
    fractions of the side. The offset ``reference − gt`` is averaged locally over the kept pixels
    (normalised convolution), drawn towards its image-wide mean where a neighbourhood has few of
    them (the moving mouth, say), and added to the whole of ``gt``: what the expression changes
    (teeth, folds, a lip's shape) stays, only the light it was photographed in follows the input.

    Why: a same-person pair is two photos (a neutral and a smiling portrait, two video frames).
    Besides the expression they differ in exposure, white balance and shading. L1 to the raw
    photo teaches a warp's colour residual to paint that difference onto every face, as a
    low-contrast mottling that costs realism (docs/results/small_faces.md). An exact pair (a
    photo and its own deformation) has no such difference, and comes back unchanged."""
    w = keep.float().clamp(0.0, 1.0)
    s = sigma * float(gt.shape[-1])
    diff = (reference.float() - gt.float()) * w
    den = gaussian_blur(w, s)
    overall = diff.sum((2, 3), keepdim=True) / w.sum((2, 3), keepdim=True).clamp_min(1e-6)
    local = (gaussian_blur(diff, s) + MATCH_FLOOR * overall) / (den + MATCH_FLOOR)
    return (gt.float() + local).clamp(-1.0, 1.0).to(gt.dtype)


def cycle(recon: torch.Tensor, original: torch.Tensor) -> torch.Tensor:
    """Cycle consistency: the input, edited and edited back, should be the input."""
    return l1(recon, original)


def au_regression(pred: torch.Tensor, want: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
    """Mean squared error between predicted and wanted AU intensities (both in [0, 1])."""
    d = (pred.float() - want.float()).pow(2).mean(1)
    if weight is None:
        return d.mean()
    return (d * weight.float()).sum() / weight.float().sum().clamp_min(1.0)


def total_variation(x: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference of neighbouring pixels (smoothness)."""
    x = x.float()
    return (x[..., 1:, :] - x[..., :-1, :]).abs().mean() + (x[..., :, 1:] - x[..., :, :-1]).abs().mean()


def mask_l1(mask: torch.Tensor) -> torch.Tensor:
    """Edit-area regulariser. ``mask`` is the weight of the *input* image (1 = keep the input
    pixel): penalising ``1 - mask`` keeps the edit to the few pixels that need it (used by the
    pix2pix and landmark-fusion tasks). Not GANimation's sign: see :func:`mask_mean`."""
    return (1.0 - mask.float()).mean()


def mask_mean(mask: torch.Tensor) -> torch.Tensor:
    """GANimation's attention regulariser (Pumarola et al. 2018, Eq. 4): the mean of the mask
    that weights the *input* image. The mask easily saturates to 1 (output = input, no edit);
    penalising it keeps the generator editing."""
    return mask.float().mean()


def mask_tv(mask: torch.Tensor) -> torch.Tensor:
    return total_variation(mask)


def field_terms(fields, weight) -> dict[str, torch.Tensor]:
    """The regularisers of a "warp + learned residual" generator's fields
    (:class:`facexpr.methods.residual.Fields`), those with a weight > 0 (``weight(name)``):
    ``tv`` of the flow correction and the residual; ``correction``: L1 of the flow correction (px:
    the geometry stays the warp's unless the images say otherwise); ``mask``: the blend mask's
    mean (synthesise only where the warp has nothing to show; not below 0, where the sigmoid
    saturates); ``mask_tv``."""
    terms = {}
    if weight("tv") > 0:
        terms["tv"] = total_variation(fields.correction) + total_variation(fields.residual)
    if weight("correction") > 0:
        terms["correction"] = fields.correction.abs().mean()
    if weight("mask") > 0:
        terms["mask"] = fields.mask.clamp(min=0.0).mean()
    if weight("mask_tv") > 0:
        terms["mask_tv"] = mask_tv(fields.mask)
    return terms


class Perceptual(torch.nn.Module):
    """Perceptual distance with the VGG16 trunk of ST-LPIPS (Ghildyal & Liu 2022).

    Reuses the evaluation judge's loader and forward (:class:`facexpr.perceptual.STLPIPS`;
    weights from the stlpips-pytorch wheel, fetched by ``facexpr fetch-models``). ``mode``:
    ``"lpips"`` (the learned linear heads: the ST-LPIPS distance itself) or ``"l1"`` (mean L1 of the
    unit-normalised features of the five stages). The VGG weights are frozen and are not part of
    ``state_dict`` (checkpoints stay small); gradients flow to the images.
    """

    def __init__(self, mode: str = "lpips"):
        super().__init__()

        if mode not in ("lpips", "l1"):
            raise ValueError(f"unknown perceptual mode {mode!r}")
        self.mode = mode
        self._base = get_lpips()
        self._on: dict = {}

    def _judge_on(self, device, dtype=torch.float32):
        """The judge with its tensors on ``device`` (a shallow copy; the cached judge stays on CPU)."""
        key = (str(device), dtype)
        if key not in self._on:
            j = copy.copy(self._base)
            j._shift = self._base._shift.to(device, dtype)
            j._scale = self._base._scale.to(device, dtype)
            j._slices = [(None if f is None else f.to(device, dtype), [(w.to(device, dtype), b.to(device, dtype))
                                                                      for w, b in layers])
                         for f, layers in self._base._slices]
            j._lins = [w.to(device, dtype) for w in self._base._lins]
            self._on[key] = j
        return self._on[key]

    def forward(self, a: torch.Tensor, b: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
        j = self._judge_on(a.device)
        fa, fb = j._features(a.float()), j._features(b.float())
        per = 0
        for k, (x, y) in enumerate(zip(fa, fb)):
            if self.mode == "lpips":
                per = per + F.conv2d((x - y) ** 2, j._lins[k]).mean(dim=(1, 2, 3))
            else:
                per = per + (x - y).abs().mean(dim=(1, 2, 3))
        if weight is None:
            return per.mean()
        return (per * weight.float()).sum() / weight.float().sum().clamp_min(1.0)
