"""au-swap (Shao et al. 2019): the networks' shapes and attention, the expression classes
the adversary learns, the swap-twice identity at initialisation, the training task (smoke run,
export, reload), the capability declaration and the ``swap`` command with bad input."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from facexpr.expression.action_units import AUS
from facexpr.methods import get_spec, spec_for_task
from facexpr.methods.au_swap.nets import (AU_POINTS, CLASSES, AUBranches, AUSwapGenerator, ExpressionClassifier,
                                          au_prior_maps, expression_class)
from facexpr.train.config import load_config
from facexpr.train.tasks import available_tasks, get_task

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


@pytest.fixture(autouse=True)
def _threads(one_torch_thread):
    pass


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    from _support import smoke_train_export

    return smoke_train_export(tmp_path_factory, "au-swap")


def _landmarks(size: int) -> np.ndarray:
    from facexpr.expression.model import load_default_model

    m = load_default_model().mean_shape[:, :2].astype(np.float64)
    m = (m - m.mean(0)) / np.ptp(m, 0).max() * 0.7 * size + size / 2
    return np.concatenate([m, np.zeros((len(m), 1))], 1)


def test_every_au_has_a_region_and_its_prior_peaks_there():
    assert set(AU_POINTS) == set(AUS)
    lm = _landmarks(128)
    maps = au_prior_maps(lm, 128, 32)
    assert maps.shape == (len(AUS), 32, 32) and np.allclose(maps.max((1, 2)), 1.0)
    brow, chin = maps[AUS.index(1)], maps[AUS.index(17)]
    assert np.unravel_index(brow.argmax(), brow.shape)[0] < np.unravel_index(chin.argmax(), chin.shape)[0]


def test_branch_attention_sums_to_one_and_starts_at_the_prior():
    torch.manual_seed(0)
    net = AUBranches(len(AUS), dim=4, ch=16)
    prior = torch.as_tensor(au_prior_maps(_landmarks(64), 64, 16))[None].repeat(2, 1, 1, 1)
    code, aus, att = net(torch.rand(2, 3, 64, 64) * 2 - 1, prior)
    assert code.shape == (2, len(AUS) * 4) and aus.shape == (2, len(AUS)) and att.shape == (2, len(AUS), 16, 16)
    assert torch.allclose(att.sum((2, 3)), torch.ones(2, len(AUS)), atol=1e-5)
    assert ((aus >= 0) & (aus <= 1)).all()
    # zero-initialised logits: the attention is the normalised prior (+ its floor)
    p = prior + 1e-3
    assert torch.allclose(att, p / p.sum((2, 3), keepdim=True), atol=1e-5)


def test_expression_classes():
    from facexpr.expression.emotions import EMOTIONS

    z = torch.zeros(len(CLASSES) - 1 + 1, len(AUS))
    for k, name in enumerate(CLASSES[1:], 1):
        for au, v in EMOTIONS[name].items():
            z[k, AUS.index(au)] = v
    assert expression_class(z).tolist() == list(range(len(CLASSES)))
    assert ExpressionClassifier(16)(torch.rand(3, 16, 8, 8)).shape == (3, len(CLASSES))


def test_the_swap_twice_is_the_identity_at_init():
    """A fresh generator is the warp: A rendered with its own AU code and no motion is A exactly;
    swapped to B's AUs along a flow and back along the reverse flow, A comes back (up to the
    bilinear warp's blur)."""
    torch.manual_seed(0)
    G = AUSwapGenerator(len(AUS), au_dim=4, au_ch=16, free_ch=16, feat_ch=8, base=8, max_ch=32).eval()
    x = torch.nn.functional.interpolate(torch.rand(2, 3, 8, 8) * 2 - 1, size=(64, 64), mode="bilinear")
    s = torch.rand(2, 3, 64, 64) * 2 - 1
    prior = torch.as_tensor(au_prior_maps(_landmarks(64), 64, 16))[None].repeat(2, 1, 1, 1)
    with torch.no_grad():
        z = G.encode_free(x)
        code_x = G.encode_au(x, prior)[0]
        code_s = G.encode_au(s, prior)[0]
        rec = G.render(x, torch.zeros(2, 2, 64, 64), z, code_x, base=x)[0]
        flow = torch.zeros(2, 2, 64, 64)
        flow[:, 0] = 1.5
        fake = G.render(x, flow, z, code_s)[0]
        back = G.render(fake, -flow, G.encode_free(fake), code_x)[0]
    assert torch.equal(rec, x)
    assert (fake - x).abs().mean() > 0.01
    inner = (slice(None), slice(None), slice(4, -4), slice(4, -4))
    assert (back[inner] - x[inner]).abs().mean() < 0.02


def test_registered_transfer_only():
    assert "au-swap" in available_tasks()
    spec = spec_for_task("au-swap")
    assert spec.name == "au-swap" and spec.capabilities == frozenset({"transfer"})
    assert get_spec("au-swap", shipped=False).generator.endswith(":AUSwapAdapter")


def test_smoke_training_export_and_reload(smoke, synthetic_cache):
    from facexpr.methods.exported import load_exported
    from facexpr.train.data import FaceCache, PairDataset, fixed_batch

    summary, card, path = smoke
    assert summary["steps"] == 4 and card["task"] == "au-swap"
    for k in ("d_adv", "c_ce", "g_adv", "g_au", "g_branch", "g_rec", "g_swap", "g_id", "g_cls", "g_total"):
        assert np.isfinite(summary["logs"][k]), k
    assert summary["logs"]["g_cls"] >= 0  # a KL divergence
    G, adapter, _ = load_exported(path)
    assert adapter.warp_base and adapter.inputs == ("source_prior",)
    cfg = load_config(CONFIGS / "au-swap-smoke.yaml")
    ds = PairDataset(FaceCache([synthetic_cache]), cfg.data, seed=0, transform=adapter.sample_transform)
    batch = fixed_batch(ds, 2, offset=0)
    with torch.no_grad():
        y = adapter.generate(G, batch)
        big = torch.nn.functional.interpolate(batch["base"], size=(160, 160))
        y_big = adapter.generate_detail(G, batch, big)
    assert y.shape == (2, 3, 64, 64) and y_big.shape == (2, 3, 160, 160)
    assert (y - batch["base"]).abs().mean() < 0.05  # 4 steps: still (nearly) the warp


def test_an_edit_is_refused(tmp_path, smoke):
    from facexpr.errors import MethodCannot
    from facexpr.methods.base import EDIT, require
    from facexpr.methods.source_warp import SourceWarpMethod

    m = SourceWarpMethod(smoke[2], family="au-swap")
    assert m.spec.capabilities == frozenset({"transfer"}) and m.spec.landmark_driven
    with pytest.raises(MethodCannot):
        require(m.spec, EDIT)


def test_a_generator_of_another_family_is_refused(smoke):
    from facexpr.errors import ModelError
    from facexpr.methods.source_warp import SourceWarpMethod

    with pytest.raises(ModelError, match="not a 'aip-gan' one"):
        SourceWarpMethod(smoke[2], family="aip-gan")
