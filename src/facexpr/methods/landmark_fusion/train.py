"""``landmark-fusion`` (Fan et al. 2023, "Facial Expression Transfer Based on cGANs"): the expression
transfer module, a conditional GAN on (fused key-point image, target face).

Generator: the shared U-Net (:class:`facexpr.train.nets.UNetGenerator`), input = target crop (3) +
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
(:mod:`facexpr.methods.landmark_fusion.fusion`). Key-point images are
:func:`facexpr.train.data.landmark_map` drawings at the crop size, ``model.kp_thickness`` px wide.
"""
from __future__ import annotations

from ..data import landmark_map
from . import register_task
from .pix2pix import Pix2PixTask


@register_task("landmark-fusion")
class LandmarkFusionTask(Pix2PixTask):
    generator = "G"
    phases = {"D": ("D",), "G": ("G",)}

    def sample_transform(self, sample: dict) -> dict:
        size = sample["target"].shape[-1]
        th = int(self.cfg.model.get("kp_thickness", 1))
        sample["target_map"] = landmark_map(sample["target_landmarks"], size, th)
        sample["want_map"] = landmark_map(sample["want_landmarks"], size, th)  # the fused key-point image
        return sample
