"""``pix2pix``: the reference task (smoke tests, and a baseline): a U-Net edits the target crop
given a drawing of the landmarks it should have; a conditional PatchGAN judges (image, landmarks).

Generator input: target image (3) + target landmark map (1) + wanted landmark map (1); with
``model.target_map: false`` the target map is left out (plain pix2pix: image + condition). With
``model.attention`` the U-Net predicts a colour image and a mask (GANimation-style blending).
Discriminator input: image (3) + the landmark map it should match (1); with a positive ``au``
loss weight it also regresses the 17 AU intensities (GANimation's critic head).

Losses (weights in ``loss.weights``): ``adv`` (``loss.adversarial``), ``l1`` and ``perceptual``
to the ground truth where the regime has one, ``au`` (D's AU head: real images in the D phase,
wanted AUs in the G phase), ``cycle`` (edit back to the target's own landmarks), ``tv``,
``mask`` and ``mask_tv`` (attention regularisers), plus ``loss.penalty``.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from ...train import losses as L
from ...train.tasks import GANModel, TrainTask
from ..nets import PatchDiscriminator, UNetGenerator
from .method import Pix2PixAdapter, Pix2PixWarpAdapter
from .nets import keypoint_warp_generator

N_AUS = 17
LOSS_TERMS = ("adv", "l1", "perceptual", "au", "cycle", "tv", "mask", "mask_tv")


@dataclass(frozen=True)
class Pix2PixModel(GANModel):
    """The ``model:`` section of pix2pix / landmark-fusion configs (defaults as used when absent)."""

    attention: bool = False       # GANimation-style colour + mask output
    target_map: bool = True       # False: plain pix2pix (no key-point image of the target)
    kp_thickness: int = 1         # key-point images' line width (px)


def _pick(mask: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per sample: ``a`` where mask is 1, else ``b``."""
    m = mask.reshape(-1, *([1] * (a.dim() - 1))).to(a.dtype)
    return m * a + (1 - m) * b


class Pix2PixTask(TrainTask, Pix2PixAdapter):
    model_config = Pix2PixModel
    loss_terms = LOSS_TERMS
    generator = "G"
    phases = {"D": ("D",), "G": ("G",)}

    @property
    def uses_target_map(self) -> bool:
        return bool(self.model.get("target_map", True))

    def build(self):
        m = self.cfg.model
        G = UNetGenerator(5 if self.uses_target_map else 4, 3, base=int(m.get("g_base", 32)), depth=int(m.get("g_depth", 4)),
                          max_ch=int(m.get("g_max", 256)), res_blocks=int(m.get("g_res", 1)),
                          norm=str(m.get("g_norm", "instance")), attention=bool(m.get("attention", False)))
        return {"G": G, "D": self._critic(N_AUS if self.weight("au") > 0 else 0)}

    def _critic(self, aux_out: int) -> PatchDiscriminator:
        """The conditional PatchGAN on (image, key-point image), ``aux_out`` AU outputs (0: none)."""
        m = self.cfg.model
        return PatchDiscriminator(4, base=int(m.get("d_base", 32)), n_layers=int(m.get("d_layers", 3)),
                                  max_ch=int(m.get("d_max", 256)), aux_out=aux_out,
                                  spectral=bool(m.get("d_spectral", False)))

    def _d(self, D, image, cond_map):
        return D(torch.cat([image, cond_map * 2 - 1], 1))

    def _real(self, batch):
        """Real (image, map, AUs) for D: the ground truth where known, else the target as it is."""
        has = batch["has_gt"]
        return (_pick(has, batch["gt"], batch["target"]), _pick(has, batch["want_map"], batch["target_map"]),
                _pick(has, batch["want_aus"], batch["target_aus"]))

    # -- losses

    def d_loss(self, nets, batch):
        G, D = nets["G"], nets["D"]
        kind = self.cfg.loss.adversarial
        with torch.no_grad():
            fake = self.generate(G, batch).detach()
        real, real_map, real_aus = self._real(batch)
        r_logits, r_aus = self._d(D, real, real_map)
        f_logits, _ = self._d(D, fake, batch["want_map"])
        adv = L.d_adversarial(kind, r_logits, f_logits)
        total, logs = self.weight("adv") * adv, {"d_adv": adv.detach()}
        if r_aus is not None and self.weight("au") > 0:
            au = L.au_regression(r_aus, real_aus)
            total = total + self.weight("au") * au
            logs["d_au"] = au.detach()
        return self.with_penalty(total, logs, lambda x: self._d(D, x, real_map)[0], real, fake)

    def g_loss(self, nets, batch):
        G, D = nets["G"], nets["D"]
        fake, mask = self._g(G, batch["target"], batch["target_map"], batch["want_map"])
        f_logits, f_aus = self._d(D, fake, batch["want_map"])
        adv = L.g_adversarial(self.cfg.loss.adversarial, f_logits)
        total, logs = self.weight("adv") * adv, {"g_adv": adv.detach()}
        has = batch["has_gt"]
        terms = {}
        if self.weight("l1") > 0 and has.sum() > 0:
            terms["l1"] = L.l1(fake, batch["gt"], has)
        if self.weight("perceptual") > 0 and has.sum() > 0:
            terms["perceptual"] = self.perceptual(fake, batch["gt"], has)
        if self.weight("au") > 0 and f_aus is not None:
            terms["au"] = L.au_regression(f_aus, batch["want_aus"])
        if self.weight("cycle") > 0:
            back, _ = self._g(G, fake, batch["want_map"], batch["target_map"])
            terms["cycle"] = L.cycle(back, batch["target"])
        if self.weight("tv") > 0:
            terms["tv"] = L.total_variation(fake)
        if mask is not None:
            if self.weight("mask") > 0:
                terms["mask"] = L.mask_l1(mask)
            if self.weight("mask_tv") > 0:
                terms["mask_tv"] = L.mask_tv(mask)
        return self.add_terms(total, logs, terms)


WARP_LOSS_TERMS = ("adv", "l1", "perceptual", "tv", "correction", "mask", "mask_tv")


@dataclass(frozen=True)
class Pix2PixWarpModel(Pix2PixModel):
    """The ``model:`` section of pix2pix-warp / landmark-fusion-warp configs."""

    flow_grid: int = 64           # the base flow's mesh grid (0 = the crop size)
    feat_ch: int = 16             # the U-Net's output features, read by the residual head


class Pix2PixWarpTask(Pix2PixTask, Pix2PixWarpAdapter):
    """A key-point-image U-Net on the product's warp (:class:`~.method.Pix2PixWarpAdapter`):
    pix2pix's conditional PatchGAN on (image, wanted key-point image) and its D phase; the generator
    refines the warp. G terms: ``adv``; ``l1`` (3-level pyramid) and
    ``perceptual`` to the ground truth where there is one; ``tv`` of the flow correction and the
    residual; ``correction`` (L1 of the flow correction, px); ``mask`` (mean of the blend mask:
    synthesise only where the warp has nothing to show) and ``mask_tv``."""

    model_config = Pix2PixWarpModel
    loss_terms = WARP_LOSS_TERMS

    def build(self):
        m = self.cfg.model
        G = keypoint_warp_generator(int(m.get("feat_ch", 16)), base=int(m.get("g_base", 16)),
                                    depth=int(m.get("g_depth", 4)), max_ch=int(m.get("g_max", 128)),
                                    res_blocks=int(m.get("g_res", 1)), norm=str(m.get("g_norm", "instance")),
                                    target_map=self.uses_target_map)
        return {"G": G, "D": self._critic(0)}

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
