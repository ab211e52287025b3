"""``landmark-fusion`` (Fan et al. 2023, "Facial Expression Transfer Based on cGANs"): the expression
transfer module, a conditional GAN on (fused key-point image, target face).

Generator: the shared U-Net (:class:`facexpr.methods.nets.UNetGenerator`), input = target crop (3) +
the target's own key-point image (1) + the *fused* key-point image (1: the target geometry with
the source's expression). The extra target key-point channel is this implementation's
modification of the paper's U-Net input (it tells the net where the face is now, so it learns
the motion, not just the end state); ``model.attention`` adds a GANimation-style mask.
Discriminator: a PatchGAN on the (image, fused key-point image) pair (real: the ground truth
with its own key points). Losses: adversarial + L1 + perceptual (ST-LPIPS), weights in
``loss.weights``.

At training time the fused key points are the ground truth's landmarks (the regime's
``want_landmarks``: same-person pairs or self-supervised deformations); at inference the
``landmark-fusion`` method draws them from the fusion module
(:mod:`facexpr.methods.landmark_fusion.nets`). Key-point images are
:func:`facexpr.methods.samples.landmark_map` drawings at the crop size, ``model.kp_thickness`` px wide.
"""
from __future__ import annotations

from ..pix2pix.train import Pix2PixTask, Pix2PixWarpTask
from .method import LandmarkFusionAdapter, LandmarkFusionWarpAdapter


class LandmarkFusionTask(Pix2PixTask, LandmarkFusionAdapter):
    """pix2pix's recipe with the landmark-fusion family's key-point images
    (:class:`~.method.LandmarkFusionAdapter`)."""

    generator = "G"
    phases = {"D": ("D",), "G": ("G",)}


class LandmarkFusionWarpTask(Pix2PixWarpTask, LandmarkFusionWarpAdapter):
    """landmark-fusion on the product's warp (:class:`~.method.LandmarkFusionWarpAdapter`):
    :class:`~facexpr.methods.pix2pix.train.Pix2PixWarpTask`'s recipe, the U-Net told the target's
    own key-point image too (``model.target_map``, default true). At training time the fused key
    points are the regime's ``want_landmarks`` (the ground truth's), as for the crop generator."""
