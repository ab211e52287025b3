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

from dataclasses import dataclass

from ...train import losses as L
from ..nets import PatchDiscriminator
from ..pix2pix.train import Pix2PixModel, Pix2PixTask
from .method import LandmarkFusionAdapter, LandmarkFusionWarpAdapter
from .nets import landmark_fusion_warp_generator


class LandmarkFusionTask(Pix2PixTask, LandmarkFusionAdapter):
    """pix2pix's recipe with the landmark-fusion family's key-point images
    (:class:`~.method.LandmarkFusionAdapter`)."""

    generator = "G"
    phases = {"D": ("D",), "G": ("G",)}


WARP_LOSS_TERMS = ("adv", "l1", "perceptual", "tv", "correction", "mask", "mask_tv")


@dataclass(frozen=True)
class LandmarkFusionWarpModel(Pix2PixModel):
    """The ``model:`` section of landmark-fusion-warp configs."""

    flow_grid: int = 64           # the base flow's mesh grid (0 = the crop size)
    feat_ch: int = 16             # the U-Net's output features, read by the residual head


class LandmarkFusionWarpTask(Pix2PixTask, LandmarkFusionWarpAdapter):
    """landmark-fusion on the product's warp (issue 12, :class:`~.method.LandmarkFusionWarpAdapter`):
    pix2pix's conditional PatchGAN on (image, fused key-point image) and its D phase; the generator
    refines the warp. At training time the fused key points are the regime's ``want_landmarks``
    (the ground truth's), as for the crop generator. G terms: ``adv``; ``l1`` (3-level pyramid) and
    ``perceptual`` to the ground truth where there is one; ``tv`` of the flow correction and the
    residual; ``correction`` (L1 of the flow correction, px); ``mask`` (mean of the blend mask:
    synthesise only where the warp has nothing to show) and ``mask_tv``."""

    model_config = LandmarkFusionWarpModel
    loss_terms = WARP_LOSS_TERMS

    def build(self):
        m = self.cfg.model
        G = landmark_fusion_warp_generator(int(m.get("feat_ch", 16)), base=int(m.get("g_base", 16)),
                                           depth=int(m.get("g_depth", 4)), max_ch=int(m.get("g_max", 128)),
                                           res_blocks=int(m.get("g_res", 1)), norm=str(m.get("g_norm", "instance")))
        D = PatchDiscriminator(4, base=int(m.get("d_base", 32)), n_layers=int(m.get("d_layers", 3)),
                               max_ch=int(m.get("d_max", 256)), spectral=bool(m.get("d_spectral", False)))
        return {"G": G, "D": D}

    def g_loss(self, nets, batch):
        G, D = nets["G"], nets["D"]
        fake, f = G(batch["target"], batch["base_flow"], batch["target_map"], batch["want_map"], base=batch["base"])
        f_logits, _ = self._d(D, fake, batch["want_map"])
        adv = L.g_adversarial(self.cfg.loss.adversarial, f_logits)
        total, logs = self.weight("adv") * adv, {"g_adv": adv.detach()}
        has = batch["has_gt"]
        terms = {}
        if self.weight("l1") > 0 and has.sum() > 0:
            terms["l1"] = L.pyramid_l1(fake, batch["gt"], has)
        if self.weight("perceptual") > 0 and has.sum() > 0:
            terms["perceptual"] = self.perceptual(fake, batch["gt"], has)
        terms.update(L.field_terms(f, self.weight))
        return self.add_terms(total, logs, terms)
