"""Training task ``aip-gan`` (Ali & Hughes 2020) on the shared "warp + learned residual" renderer.

A sample is a target and a source (a same-person pair, a self-supervised deformation or another
person: :mod:`facexpr.train.data`'s ``mixed`` regime); the base is the product's warp of the target
to the source's expression (:mod:`facexpr.methods.warp_base`). The generator
(:class:`~.nets.AIPGenerator`) refines it from the source's attended expression features and the
target's attended identity features.

Networks: ``G`` (both encoders, the pooling and the decoder) and ``D`` (a PatchGAN critic). G
phase, terms in ``loss.weights``:

* ``adv``: realism (D); ``l1`` (3-level pyramid) and ``perceptual`` (ST-LPIPS; GPU configs) to the
  ground truth where the regime knows it;
* ``landmark``: the expression encoder's landmark image against the source's
  (:func:`facexpr.methods.samples.landmark_map` at 1/4, binary cross-entropy);
* ``attention``: its 1/4 spatial attention supervised by the same landmark image, blurred (BCE);
* ``intrinsic``: the identity encoder's intrinsic image against the target warped to its own
  neutral landmarks (the expression removed by the expression model: ``apply_delta(−code)``), L1 at 1/2;
* ``self_attention``: the identity encoder's attention is flip-equivariant (L1 between the
  attention of the mirrored target and the mirrored attention), its self-supervision;
* ``id``: ``1 − cos`` of the output's and the target's identity vectors (the identity encoder's
  own :meth:`~.nets.IdentityEncoder.embed`, never a judge);
* ``leak``: on samples whose source is another person (no ground truth), the output may not be
  nearer the source's identity vector than the target is: ``relu(cos(out, src) − cos(tgt, src))``;
* ``tv``/``correction``/``mask``/``mask_tv``: the fields' regularisers.

The ablations: ``model.attention: false`` (no attention modules; the attention terms vanish) and
``model.fusion: concat`` (concatenation instead of bilinear pooling). Against identity leakage
(the first run's outputs drifted towards the source's identity): ``model.jitter`` (the expression
encoder sees a randomly moved, re-lit, blurred source in training, :func:`jitter`) and
``model.expr_scales: 2`` (the expression reaches the 1/8 and 1/4 scales only).
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from ...expression.model import load_default_model
from ...expression.retarget import apply_delta
from ...faces.landmarks import Face
from ...train import losses as L
from ...train.config import check_choice
from ...train.tasks import GANModel, TrainTask
from ..flow import landmark_flow
from ..nets import PatchDiscriminator
from ..pix2pix.train import _pick
from ..residual import warp
from ..samples import landmark_map
from .method import AIPAdapter
from .nets import FUSIONS, AIPGenerator

LOSS_TERMS = ("adv", "l1", "perceptual", "landmark", "attention", "intrinsic", "self_attention", "id", "leak", "tv", "correction",
              "mask", "mask_tv")


@dataclass(frozen=True)
class AIPModel(GANModel):
    """The ``model:`` section of aip-gan configs."""

    flow_grid: int = 64
    chs: tuple = (16, 32, 64)     # encoders' and decoder's widths at 1/2, 1/4, 1/8
    feat_ch: int = 16
    rank: int = 32                # the bilinear pooling's rank
    attention: bool = True        # False: the no-attention ablation
    fusion: str = "bilinear"      # concat: the concatenation ablation
    expr_scales: int = 3          # the decoder scales (coarsest first) that get the expression features
    jitter: bool = False          # the source the expression encoder sees in training is jittered

    def __post_init__(self):
        super().__post_init__()
        check_choice(self.fusion, FUSIONS, "model.fusion")
        check_choice(self.expr_scales, (1, 2, 3), "model.expr_scales")


def neutral_landmarks(landmarks: np.ndarray, blendshapes: np.ndarray, size: int) -> np.ndarray:
    """A crop's landmarks with its expression removed (the expression model moved by −code)."""
    face = Face(np.asarray(landmarks, np.float64), np.asarray(blendshapes, np.float32), np.eye(4), (size, size))
    return apply_delta(face, -np.clip(face.blendshapes.astype(np.float64), 0, 1), load_default_model())


def jitter(image: torch.Tensor, shift: float = 0.04, scale: float = 0.06, angle: float = 5.0) -> torch.Tensor:
    """Each image moved by a random similarity (± ``shift`` of the side, ± ``scale``, ± ``angle``°),
    with random contrast, brightness and blur: for a same-person pair the source *is* the ground
    truth, and an expression encoder told it pixel for pixel learns to copy the source's face
    into the output (identity leakage); jittered, only what survives a small move — the
    expression — pays."""
    n = image.shape[0]
    r = lambda: torch.rand(n, device=image.device) * 2 - 1  # noqa: E731
    a, k = r() * angle * torch.pi / 180, 1 + r() * scale
    theta = torch.stack([torch.stack([k * torch.cos(a), -k * torch.sin(a), r() * shift * 2], 1),
                         torch.stack([k * torch.sin(a), k * torch.cos(a), r() * shift * 2], 1)], 1)
    grid = F.affine_grid(theta.to(image.dtype), list(image.shape), align_corners=False)
    out = F.grid_sample(image, grid, padding_mode="border", align_corners=False)
    blur = F.avg_pool2d(F.pad(out, (1, 1, 1, 1), mode="replicate"), 3, stride=1)
    w = torch.rand(n, 1, 1, 1, device=image.device, dtype=image.dtype)
    out = out + w * (blur - out)
    c = (1 + 0.3 * r()).to(image.dtype)[:, None, None, None]
    b = (0.15 * r()).to(image.dtype)[:, None, None, None]
    return (out * c + b).clamp(-1, 1)


class AIPTask(TrainTask, AIPAdapter):
    model_config = AIPModel
    loss_terms = LOSS_TERMS
    generator = "G"
    phases = {"D": ("D",), "G": ("G",)}

    def build(self):
        m = self.model_options
        G = AIPGenerator(tuple(m.chs), m.feat_ch, m.rank, m.g_norm, bool(m.attention), m.fusion, m.expr_scales)
        D = PatchDiscriminator(3, base=m.d_base, n_layers=m.d_layers, max_ch=m.d_max, spectral=m.d_spectral)
        return {"G": G, "D": D}

    def sample_transform(self, sample: dict) -> dict:
        """The inference sample, plus the heads' targets: the source's landmark image at 1/4 (and
        blurred, the attention's), and the flow that takes the target to its neutral landmarks."""
        sample = AIPAdapter.sample_transform(self, sample)
        size = sample["target"].shape[-1]
        q = size // 4
        lm = np.asarray(sample["source_landmarks"], np.float64) * (q / size)
        sample["source_lmap"] = landmark_map(lm, q)
        sample["source_lblur"] = np.clip(cv2.GaussianBlur(sample["source_lmap"][0], (0, 0), 1.0) * 3.0, 0, 1)[None]
        neutral = neutral_landmarks(sample["target_landmarks"], sample["target_blendshapes"], size)
        sample["neutral_flow"] = landmark_flow(sample["target_landmarks"], neutral, size, int(self.model.get("flow_grid", 64)))
        return sample

    def d_loss(self, nets, batch):
        G, D = nets["G"], nets["D"]
        with torch.no_grad():
            fake = self.generate(G, batch).detach()
        real = _pick(batch["has_gt"], batch["gt"], batch["target"])
        adv = L.d_adversarial(self.cfg.loss.adversarial, D(real)[0], D(fake)[0])
        total = self.weight("adv") * adv
        logs = {"d_adv": adv.detach()}
        return self.with_penalty(total, logs, lambda x: D(x)[0], real, fake)

    def g_loss(self, nets, batch):
        G, D = nets["G"], nets["D"]
        x, s = batch["target"], batch["source"]
        if self.model_options.jitter:
            s = jitter(s)
        e_feats, lmap, e_att = G.expression(s)
        i_feats, intrinsic, i_att = G.identity(x)
        fake, f = G.render(x, batch["base_flow"], e_feats, i_feats, base=batch["base"])
        adv = L.g_adversarial(self.cfg.loss.adversarial, D(fake)[0])
        total, logs = self.weight("adv") * adv, {"g_adv": adv.detach()}
        has = batch["has_gt"]
        terms = {"landmark": F.binary_cross_entropy(lmap.float().clamp(1e-4, 1 - 1e-4), batch["source_lmap"].float())}
        if self.weight("l1") > 0 and has.sum() > 0:
            terms["l1"] = L.pyramid_l1(fake, batch["gt"], has)
        if self.weight("perceptual") > 0 and has.sum() > 0:
            terms["perceptual"] = self.perceptual(fake, batch["gt"], has)
        if self.weight("attention") > 0 and G.spec["attention"]:
            terms["attention"] = F.binary_cross_entropy(e_att[1].float().clamp(1e-4, 1 - 1e-4), batch["source_lblur"].float())
        if self.weight("intrinsic") > 0:
            want = warp(x, batch["neutral_flow"].to(x.dtype))
            want = F.interpolate(want, size=intrinsic.shape[-2:], mode="bilinear", align_corners=False, antialias=True)
            terms["intrinsic"] = L.l1(intrinsic, want)
        if self.weight("self_attention") > 0 and G.spec["attention"]:
            flipped = G.identity.attention(torch.flip(x, dims=[3]))
            terms["self_attention"] = sum((a - torch.flip(b, dims=[3])).abs().mean() for a, b in zip(flipped, i_att)) / len(i_att)
        if self.weight("id") > 0 or self.weight("leak") > 0:
            e_out, e_tgt = G.identity.embed(fake), G.identity.embed(x)
            terms["id"] = (1.0 - (e_out * e_tgt.detach()).sum(1)).mean()
            other = 1.0 - has
            if self.weight("leak") > 0 and other.sum() > 0:
                e_src = G.identity.embed(s).detach()
                gap = F.relu((e_out * e_src).sum(1) - (e_tgt.detach() * e_src).sum(1))
                terms["leak"] = (gap * other).sum() / other.sum()
        terms.update(L.field_terms(f, self.weight))
        return self.add_terms(total, logs, terms)


__all__ = ["AIPTask", "AIPModel", "neutral_landmarks"]
