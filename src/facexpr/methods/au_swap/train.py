"""Training task ``au-swap`` (Shao et al. 2019) on the shared "warp + learned residual" renderer.

A sample is a target A and a source B (unpaired, a same-person pair or a self-supervised
deformation: :mod:`facexpr.train.data`'s ``mixed`` regime); the base is the product's warp of A to
B's expression (:mod:`facexpr.methods.warp_base`). The generator (:class:`~.nets.AUSwapGenerator`)
renders A's AU-free features with B's AU-related features — the *swap*.

Networks and phases: ``G`` (both encoders + decoder), ``D`` (PatchGAN critic with an AU head, 22
AUs), ``C`` (the multi-class adversary on the AU-free features). D phase: ``D`` (``adv``, ``au`` on
real photos: their own AU code) and ``C`` (cross-entropy, the expression class of A from its
AU-free map, detached: :func:`~.nets.expression_class` of A's AU code). G phase, terms in
``loss.weights``:

* ``adv``: realism of the swap (D); ``au``: D's AU head on the swap against B's AUs (the swapped
  output carries the other image's AUs);
* ``l1`` (3-level pyramid) and ``perceptual`` (ST-LPIPS; GPU configs): to the ground truth where
  the regime knows it;
* ``branch``: each AU branch's intensity against the project's AU code (B's and A's);
* ``rec``: A rendered with its own AU code and no motion must be A (self-reconstruction);
* ``swap``: swap consistency — swapping the result back (its AU-free map, A's AU code, the reverse
  landmark warp) must give A again;
* ``id``: the swap keeps A's AU-free features (the project's own identity features, never a judge's);
* ``cls``: the multi-class adversarial term — KL(uniform ‖ C(A's AU-free map)): the encoder is
  trained until the adversary cannot tell the expression (ADLD-style);
* ``tv``/``correction``/``mask``/``mask_tv``: the fields' regularisers (:func:`~facexpr.train.losses.field_terms`).

The ablations set ``cls: 0`` (no multi-class adversarial term: the adversary still trains, so the
disentanglement probe can read it) and ``swap: 0`` (no swap consistency).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ...expression.action_units import AUS
from ...train import losses as L
from ...train.tasks import GANModel, TrainTask
from ..flow import landmark_flow
from ..nets import PatchDiscriminator
from ..pix2pix.train import _pick
from .method import AUSwapAdapter
from .nets import CLASSES, AUSwapGenerator, ExpressionClassifier, au_prior_maps, expression_class

LOSS_TERMS = ("adv", "au", "l1", "perceptual", "branch", "rec", "swap", "id", "cls", "tv", "correction", "mask", "mask_tv")


@dataclass(frozen=True)
class AUSwapModel(GANModel):
    """The ``model:`` section of au-swap configs."""

    flow_grid: int = 64       # the base flow's mesh grid
    au_dim: int = 8           # each AU branch's feature size
    au_ch: int = 48           # the AU branches' shared trunk width
    free_ch: int = 64         # the AU-free map's channels
    feat_ch: int = 16         # the decoder's output features (read by the residual head)
    c_hidden: int = 64        # the adversary's hidden width


class AUSwapTask(TrainTask, AUSwapAdapter):
    model_config = AUSwapModel
    loss_terms = LOSS_TERMS
    generator = "G"
    phases = {"D": ("D", "C"), "G": ("G",)}

    def build(self):
        m = self.cfg.model
        n = len(AUS)
        G = AUSwapGenerator(n, int(m.get("au_dim", 8)), int(m.get("au_ch", 48)), int(m.get("free_ch", 64)),
                            int(m.get("feat_ch", 16)), int(m.get("g_base", 16)), int(m.get("g_max", 128)),
                            str(m.get("g_norm", "instance")))
        D = PatchDiscriminator(3, base=int(m.get("d_base", 32)), n_layers=int(m.get("d_layers", 3)),
                               max_ch=int(m.get("d_max", 128)), aux_out=n, spectral=bool(m.get("d_spectral", False)))
        C = ExpressionClassifier(int(m.get("free_ch", 64)), int(m.get("c_hidden", 64)))
        return {"G": G, "D": D, "C": C}

    def sample_transform(self, sample: dict) -> dict:
        """The inference sample, plus what the losses need: A's own AU priors (its
        self-reconstruction) and the reverse landmark flow (the swap back)."""
        sample = AUSwapAdapter.sample_transform(self, sample)
        size = sample["target"].shape[-1]
        sample["target_prior"] = au_prior_maps(sample["target_landmarks"], size, size // 4)
        sample["back_flow"] = landmark_flow(sample["want_landmarks"], sample["target_landmarks"], size,
                                            int(self.model.get("flow_grid", 64)))
        return sample

    def d_loss(self, nets, batch):
        G, D, C = nets["G"], nets["D"], nets["C"]
        with torch.no_grad():
            fake = self.generate(G, batch).detach()
            z = G.encode_free(batch["target"]).detach()
        has = batch["has_gt"]
        real = _pick(has, batch["gt"], batch["target"])
        real_aus = _pick(has, batch["want_aus"], batch["target_aus"])
        r_logits, r_aus = D(real)
        f_logits, _ = D(fake)
        adv = L.d_adversarial(self.cfg.loss.adversarial, r_logits, f_logits)
        au = L.au_regression(r_aus, real_aus)
        cls = F.cross_entropy(C(z).float(), expression_class(batch["target_aus"]))
        total = self.weight("adv") * adv + self.weight("au") * au + cls
        logs = {"d_adv": adv.detach(), "d_au": au.detach(), "c_ce": cls.detach()}
        return self.with_penalty(total, logs, lambda x: D(x)[0], real, fake)

    def g_loss(self, nets, batch):
        G, D, C = nets["G"], nets["D"], nets["C"]
        x, s = batch["target"], batch["source"]
        z = G.encode_free(x)
        code_s, aus_s, _ = G.encode_au(s, batch["source_prior"])
        code_x, aus_x, _ = G.encode_au(x, batch["target_prior"])
        fake, f = G.render(x, batch["base_flow"], z, code_s, base=batch["base"])
        f_logits, f_aus = D(fake)
        adv = L.g_adversarial(self.cfg.loss.adversarial, f_logits)
        total, logs = self.weight("adv") * adv, {"g_adv": adv.detach()}
        terms = {"au": L.au_regression(f_aus, batch["want_aus"]),
                 "branch": 0.5 * (L.au_regression(aus_s, batch["source_aus"]) + L.au_regression(aus_x, batch["target_aus"]))}
        has = batch["has_gt"]
        if self.weight("l1") > 0 and has.sum() > 0:
            terms["l1"] = L.pyramid_l1(fake, batch["gt"], has)
        if self.weight("perceptual") > 0 and has.sum() > 0:
            terms["perceptual"] = self.perceptual(fake, batch["gt"], has)
        if self.weight("rec") > 0:
            rec = G.render(x, torch.zeros_like(batch["base_flow"]), z, code_x, base=x)[0]
            terms["rec"] = L.l1(rec, x)
        if self.weight("swap") > 0 or self.weight("id") > 0:
            z_fake = G.encode_free(fake)
            if self.weight("id") > 0:
                terms["id"] = (z_fake.float() - z.detach().float()).abs().mean()
            if self.weight("swap") > 0:
                back = G.render(fake, batch["back_flow"], z_fake, code_x)[0]
                terms["swap"] = L.pyramid_l1(back, x)
        if self.weight("cls") > 0:
            logp = F.log_softmax(C(z).float(), 1)
            terms["cls"] = -logp.mean(1).mean() - math.log(len(CLASSES))  # KL(uniform || p) >= 0
        terms.update(L.field_terms(f, self.weight))
        return self.add_terms(total, logs, terms)


__all__ = ["AUSwapTask", "AUSwapModel"]
