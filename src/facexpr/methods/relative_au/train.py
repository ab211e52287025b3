"""Training tasks ``relative-au`` (Ling et al. 2020) and ``ganimation`` (Pumarola et al. 2018, the
absolute-AU ablation), run by the trainer (:mod:`facexpr.train.tasks`).

Both train :class:`~facexpr.methods.relative_au.nets.RelativeAUGenerator` against a PatchGAN with
a real/fake head and an AU-regression head (:class:`facexpr.methods.nets.PatchDiscriminator`,
``aux_out=17``). They differ in what the generator is told:

* ``relative-au``: Δ = wanted AUs − the input's AUs (``model.condition: relative``), MSF skips and
  the relative (flow + residual, linear in Δ) head;
* ``ganimation``: the wanted AUs themselves (``model.condition: absolute``), GANimation's attention
  mask + colour head (``model.output: attention``), plain skips.

Losses (weights in ``loss.weights``, the usual choice ``loss.adversarial: wgan`` +
``loss.penalty: wgan-gp`` as both papers):

* ``adv``: adversarial; ``au``: AU regression — D on real images (their measured AUs) in the D
  phase, the generated image against the wanted AUs in the G phase;
* ``rec``: reconstruction — the input with Δ = 0 (absolute: its own AUs) must come back (the
  relative head does this by construction, so the term is skipped there);
* ``cycle``: edit by Δ, then by −Δ (absolute: back to the input's AUs): the input again;
* ``flow`` (relative head only; our addition): L1, in pixels, between the predicted flow and the
  dense motion from the target's landmarks to the wanted ones — exact for self-supervised
  deformations, landmark-driven for the other regimes. A per-pixel motion target that a short CPU
  run learns from far faster than from image differences alone; 0 turns it off;
* ``tv``: total variation of the edit field (the flow and residual, or GANimation's mask);
* ``mask``/``mask_tv``: GANimation's attention regularisers (attention head only): the mean of
  the input's weight (so the mask does not saturate to "no edit") and its total variation;
* ``l1``/``perceptual``: to the ground truth where the regime knows it (same-person pairs and
  self-supervised deformations; our addition to the unpaired recipe, which makes short CPU runs
  learn). ``l1`` and ``cycle`` are taken over a 3-level image pyramid (:func:`~facexpr.train.losses.pyramid_l1`):
  a pixel difference alone gives a motion a gradient only within about a pixel of the right place.

``relative-au-warp`` (:class:`RelativeAUWarpTask`): the same MSF U-Net and critic on the
shared "warp + learned residual" renderer (:mod:`facexpr.methods.residual`), told the 22 AUs of the
prior-fitted code (``data.code: fitted``, ``data.aus: all``; configs pair it with the prior
sampler). The geometry is the product's warp to the wanted landmarks (``model.base: warp``, with its mouth
interior, irises and fold shading: :mod:`facexpr.methods.warp_base`; ``landmark``: the plain
landmark warp of the crop, the ablation); the net predicts a flow correction, a residual and a
blend mask, and starts as the warp. Its terms: ``adv``, ``au``,
``l1``/``perceptual`` (to the gt), ``cycle`` (back by −Δ along the reverse landmark warp), ``tv``
(of the flow correction and residual), ``mask_tv``, ``correction`` (L1 of the flow correction, px: the geometry stays the model's
unless the images say otherwise), ``mask`` (mean of the blend mask: synthesise only where the
warp has nothing to show). With ``loss.match_gt`` > 0 a pair's ground truth first takes the input's
low-frequency colour and shading where the warp moves nothing (:meth:`RelativeAUWarpTask.matched_gt`):
two photos of one person differ in exposure too, and the residual should not learn that.

Δ uses the AUs the cache estimated from MediaPipe blendshapes
(:mod:`facexpr.expression.action_units`); any 17-AU labels (OpenFace intensities / 5) work the same.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from ...train import losses as L
from ...expression.action_units import AUS
from ...methods.flow import landmark_flow
from ...train.config import check_choice
from ...train.tasks import GANModel, TrainTask
from ..nets import PatchDiscriminator
from ..residual import motion_support
from ..pix2pix.train import _pick
from .method import GANimationAdapter, GANimationWarpAdapter, RelativeAUAdapter, RelativeAUWarpAdapter
from .nets import RelativeAUGenerator, RelativeAUWarpGenerator

N_AUS = 17
LOSS_TERMS = ("adv", "au", "l1", "perceptual", "rec", "cycle", "flow", "tv", "mask", "mask_tv")


@dataclass(frozen=True)
class RelativeAUModel(GANModel):
    """The ``model:`` section of relative-au / ganimation configs; ``condition``, ``output`` and
    ``msf`` default to the family's (:attr:`RelativeAUAdapter.defaults`) when absent."""

    condition: str | None = None  # relative | absolute
    output: str | None = None     # relative (flow + residual) | attention (colour + mask)
    msf: bool | None = None       # multi-scale feature fusion skips
    d_base: int = 64
    d_layers: int = 4

    def __post_init__(self):
        super().__post_init__()
        check_choice(self.condition, (None, "relative", "absolute"), "model.condition")
        check_choice(self.output, (None, "relative", "attention"), "model.output")


class RelativeAUTask(TrainTask, RelativeAUAdapter):
    model_config = RelativeAUModel
    loss_terms = LOSS_TERMS
    generator = "G"
    phases = {"D": ("D",), "G": ("G",)}

    def build(self):
        m = self.cfg.model
        G = RelativeAUGenerator(N_AUS, base=int(m.get("g_base", 32)), depth=int(m.get("g_depth", 4)),
                                max_ch=int(m.get("g_max", 256)), res_blocks=int(m.get("g_res", 1)),
                                norm=str(m.get("g_norm", "instance")), output=str(self.option("output")),
                                msf=bool(self.option("msf")))
        D = PatchDiscriminator(3, base=int(m.get("d_base", 64)), n_layers=int(m.get("d_layers", 4)),
                               max_ch=int(m.get("d_max", 256)), aux_out=N_AUS, spectral=bool(m.get("d_spectral", False)))
        return {"G": G, "D": D}

    def sample_transform(self, sample: dict) -> dict:
        """With a ``flow`` loss weight: the dense motion from the target's landmarks to the wanted
        ones (:func:`facexpr.train.augment.landmark_flow`), the flow head's distillation target."""
        if self.weight("flow") > 0:
            sample["flow"] = landmark_flow(sample["target_landmarks"], sample["want_landmarks"],
                                           sample["target"].shape[-1])
        return sample

    def _real(self, batch):
        has = batch["has_gt"]
        return _pick(has, batch["gt"], batch["target"]), _pick(has, batch["want_aus"], batch["target_aus"])

    # -- losses

    def d_loss(self, nets, batch):
        G, D = nets["G"], nets["D"]
        with torch.no_grad():
            fake = self.generate(G, batch).detach()
        real, real_aus = self._real(batch)
        r_logits, r_aus = D(real)
        f_logits, _ = D(fake)
        adv = L.d_adversarial(self.cfg.loss.adversarial, r_logits, f_logits)
        au = L.au_regression(r_aus, real_aus)
        total = self.weight("adv") * adv + self.weight("au") * au
        logs = {"d_adv": adv.detach(), "d_au": au.detach()}
        return self.with_penalty(total, logs, lambda x: D(x)[0], real, fake)

    def _output_terms(self, D, fake, batch, want):
        """What every relative-AU generator's output is judged by: realism and AUs (D), and the
        real photo where a pair has one (L1, perceptual). Returns (total, logs, terms)."""
        f_logits, f_aus = D(fake)
        adv = L.g_adversarial(self.cfg.loss.adversarial, f_logits)
        terms = {"au": L.au_regression(f_aus, want)}
        has = batch["has_gt"]
        if self.weight("l1") > 0 and has.sum() > 0:
            terms["l1"] = L.pyramid_l1(fake, batch["gt"], has)
        if self.weight("perceptual") > 0 and has.sum() > 0:
            terms["perceptual"] = self.perceptual(fake, batch["gt"], has)
        return self.weight("adv") * adv, {"g_adv": adv.detach()}, terms

    def g_loss(self, nets, batch):
        G, D = nets["G"], nets["D"]
        x, have, want = batch["target"], batch["target_aus"], batch["want_aus"]
        fake, aux = G(x, self.condition(want, have))
        total, logs, terms = self._output_terms(D, fake, batch, want)
        if self.weight("rec") > 0 and not self.identity_at_zero:
            terms["rec"] = L.l1(G(x, self.condition(have, have))[0], x)
        if self.weight("cycle") > 0:
            terms["cycle"] = L.pyramid_l1(G(fake, self.condition(have, want))[0], x)
        if self.weight("flow") > 0 and "flow" in batch and self.identity_at_zero:
            terms["flow"] = (aux.float() - batch["flow"].float()).abs().mean()
        if self.weight("tv") > 0 and aux is not None:
            terms["tv"] = L.total_variation(aux)
        if aux is not None and self.option("output") == "attention":
            if self.weight("mask") > 0:
                terms["mask"] = L.mask_mean(aux)
            if self.weight("mask_tv") > 0:
                terms["mask_tv"] = L.mask_tv(aux)
        return self.add_terms(total, logs, terms)


class GANimationTask(RelativeAUTask, GANimationAdapter):
    """The absolute-AU ablation: GANimation's conditioning and attention/colour head."""


WARP_LOSS_TERMS = ("adv", "au", "l1", "perceptual", "cycle", "tv", "correction", "mask", "mask_tv")


@dataclass(frozen=True)
class RelativeAUWarpModel(GANModel):
    """The ``model:`` section of relative-au-warp configs."""

    condition: str = "relative"   # the paper's conditioning (absolute would be the ganimation ablation)
    msf: bool = True
    flow_grid: int = 0            # the base flow's mesh grid (0 = the crop size)
    base: str = "warp"            # what the net refines: the product's warp, or the plain landmark warp
    d_base: int = 64
    d_layers: int = 4

    def __post_init__(self):
        super().__post_init__()
        check_choice(self.condition, ("relative", "absolute"), "model.condition")
        check_choice(self.base, ("warp", "landmark"), "model.base")


class RelativeAUWarpTask(TrainTask, RelativeAUWarpAdapter):
    """relative-au on the warp (see the module docstring); D phase as :class:`RelativeAUTask`."""

    model_config = RelativeAUWarpModel
    loss_terms = WARP_LOSS_TERMS
    generator = "G"
    phases = {"D": ("D",), "G": ("G",)}
    d_loss = RelativeAUTask.d_loss
    _real = RelativeAUTask._real
    _output_terms = RelativeAUTask._output_terms

    def build(self):
        m, n = self.cfg.model, len(AUS)
        G = RelativeAUWarpGenerator(n, base=int(m.get("g_base", 32)), depth=int(m.get("g_depth", 4)),
                                    max_ch=int(m.get("g_max", 256)), res_blocks=int(m.get("g_res", 1)),
                                    norm=str(m.get("g_norm", "instance")), msf=bool(self.option("msf")))
        D = PatchDiscriminator(3, base=int(m.get("d_base", 64)), n_layers=int(m.get("d_layers", 4)),
                               max_ch=int(m.get("d_max", 256)), aux_out=n, spectral=bool(m.get("d_spectral", False)))
        return {"G": G, "D": D}

    def sample_transform(self, sample: dict) -> dict:
        """The base flow, and (with a ``cycle`` weight) the reverse one for the way back."""
        sample = RelativeAUWarpAdapter.sample_transform(self, sample)
        if self.weight("cycle") > 0 and not self.warp_base:  # the product's warp has no way back
            sample["back_flow"] = landmark_flow(sample["want_landmarks"], sample["target_landmarks"],
                                                sample["target"].shape[-1], int(self.option("flow_grid")))
        return sample

    def matched_gt(self, batch: dict) -> dict:
        """``batch`` with each ground truth given the input's low-frequency colour and shading,
        measured where the warp moves nothing (``loss.match_gt`` > 0; :func:`facexpr.train.losses.shading_matched`),
        so the residual learns the expression's change and not two photos' exposure. The critic
        still sees the photos as they are."""
        sigma = float(self.cfg.loss.match_gt)
        if sigma <= 0 or float(batch["has_gt"].sum()) == 0:
            return batch
        keep = 1.0 - motion_support(batch["base_flow"].float())
        return {**batch, "gt": L.shading_matched(batch["gt"], batch["target"], keep, sigma)}

    def g_loss(self, nets, batch):
        G, D = nets["G"], nets["D"]
        x, have, want = batch["target"], batch["target_aus"], batch["want_aus"]
        fake, f = G(x, batch["base_flow"], self.condition(want, have), base=self._base(batch))
        total, logs, terms = self._output_terms(D, fake, self.matched_gt(batch), want)
        if self.weight("cycle") > 0 and "back_flow" in batch:
            terms["cycle"] = L.pyramid_l1(G(fake, batch["back_flow"], self.condition(have, want))[0], x)
        terms.update(L.field_terms(f, self.weight))
        return self.add_terms(total, logs, terms)


class GANimationWarpTask(RelativeAUWarpTask, GANimationWarpAdapter):
    """``ganimation-warp``: :class:`RelativeAUWarpTask` told the wanted AUs (no MSF skips)."""
