"""aip-gan (Ali & Hughes 2020): attention modules (ranges, shapes, the ablation's ones),
the bilinear pooling (starts as the identity; the concatenation ablation), the intrinsic image's
neutral landmarks, the training task (smoke run, export, reload) and the capability declaration."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from facexpr.methods import spec_for_task
from facexpr.methods.aip_gan.nets import AIPGenerator, Attention, BilinearFusion, ExpressionEncoder, IdentityEncoder
from facexpr.train.config import ConfigError, load_config
from facexpr.train.tasks import available_tasks, get_task

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


@pytest.fixture(autouse=True)
def _threads(one_torch_thread):
    pass


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    from _support import smoke_train_export

    return smoke_train_export(tmp_path_factory, "aip-gan")


def test_attention_maps_are_gates_in_0_1():
    torch.manual_seed(0)
    x = torch.randn(2, 8, 16, 16)
    y, ca, sa = Attention(8)(x)
    assert y.shape == x.shape and ca.shape == (2, 8, 1, 1) and sa.shape == (2, 1, 16, 16)
    for a in (ca, sa):
        assert ((a > 0) & (a < 1)).all()
    assert torch.allclose(y, x * ca * sa, atol=1e-6)
    y, ca, sa = Attention(8, enabled=False)(x)  # the ablation: no attention at all
    assert torch.equal(y, x) and torch.equal(ca, torch.ones_like(ca)) and torch.equal(sa, torch.ones_like(sa))


def test_encoders_heads_and_scales():
    torch.manual_seed(0)
    src = torch.rand(2, 3, 64, 64) * 2 - 1
    feats, lmap, sas = ExpressionEncoder((8, 16, 16))(src)
    assert [f.shape[-1] for f in feats] == [32, 16, 8] and lmap.shape == (2, 1, 16, 16)
    assert ((lmap > 0) & (lmap < 1)).all() and sas[1].shape == (2, 1, 16, 16)
    ident = IdentityEncoder((8, 16, 16))
    feats, intrinsic, _ = ident(src)
    assert intrinsic.shape == (2, 3, 32, 32) and intrinsic.abs().max() <= 1
    e = ident.embed(src)
    assert torch.allclose(e.norm(dim=1), torch.ones(2), atol=1e-5)


@pytest.mark.parametrize("mode", ["bilinear", "concat"])
def test_pooling_starts_as_the_identity(mode):
    f = BilinearFusion(8, 4, 6, rank=4, mode=mode)
    h, e, i = torch.randn(1, 8, 5, 5), torch.randn(1, 4, 5, 5), torch.randn(1, 6, 5, 5)
    assert torch.equal(f(h, e, i), h)
    torch.nn.init.normal_(f.p.weight)
    assert not torch.allclose(f(h, e, i), h)
    with pytest.raises(ValueError):
        BilinearFusion(8, 4, 6, mode="sum")


def test_a_fresh_generator_is_the_warp():
    torch.manual_seed(0)
    G = AIPGenerator((8, 16, 16), feat_ch=8, rank=4).eval()
    x, s, base = (torch.rand(2, 3, 64, 64) * 2 - 1 for _ in range(3))
    with torch.no_grad():
        y, f = G(x, torch.zeros(2, 2, 64, 64), s, base=base)
    assert torch.equal(y, base.clamp(-1, 1)) and f.mask.abs().max() == 0


def test_neutral_landmarks_remove_the_expression():
    from facexpr.expression.blendshapes import INDEX
    from facexpr.expression.model import load_default_model
    from facexpr.methods.aip_gan.train import neutral_landmarks

    m = load_default_model().mean_shape.astype(np.float64) * 100 + 64
    bs = np.zeros(52, np.float32)
    assert np.allclose(neutral_landmarks(m, bs, 128), m)
    bs[INDEX["jawOpen"]] = 0.8
    assert np.abs(neutral_landmarks(m, bs, 128) - m).max() > 1.0


def test_registered_transfer_only_and_config_choices():
    assert "aip-gan" in available_tasks()
    spec = spec_for_task("aip-gan")
    assert spec.name == "aip-gan" and spec.capabilities == frozenset({"transfer"})
    with pytest.raises(ConfigError, match="model.fusion"):
        get_task("aip-gan")(load_config(CONFIGS / "aip-gan-smoke.yaml", ["model.fusion=sum"]))


def test_smoke_training_export_and_reload(smoke):
    from facexpr.methods.exported import load_exported

    summary, card, path = smoke
    assert summary["steps"] == 4 and card["task"] == "aip-gan"
    for k in ("d_adv", "g_adv", "g_landmark", "g_attention", "g_intrinsic", "g_self_attention", "g_id", "g_total"):
        assert np.isfinite(summary["logs"][k]), k
    G, adapter, _ = load_exported(path)
    assert adapter.warp_base and G.spec["fusion"] == "bilinear" and G.spec["attention"]


def test_the_ablations_build(tmp_path):
    for over in (["model.attention=false"], ["model.fusion=concat"]):
        cfg = load_config(CONFIGS / "aip-gan-smoke.yaml", over)
        G = get_task("aip-gan")(cfg).build()["G"]
        assert G.spec["attention"] is (over[0] != "model.attention=false")


def test_expression_only_at_the_coarse_scales():
    G = AIPGenerator((8, 16, 16), feat_ch=8, rank=4, expr_scales=2)
    assert [f.use_e for f in G.backbone.fuse] == [False, True, True]  # 1/2, 1/4, 1/8
    f = G.backbone.fuse[0]
    h, i = torch.randn(1, 8, 5, 5), torch.randn(1, 8, 5, 5)
    torch.nn.init.normal_(f.p.weight)
    assert torch.equal(f(h, torch.randn(1, 8, 5, 5), i), f(h, torch.zeros(1, 8, 5, 5), i))  # e ignored there


def test_jitter_moves_and_relights_the_source():
    from facexpr.methods.aip_gan.train import jitter

    torch.manual_seed(0)
    x = torch.rand(4, 3, 32, 32) * 2 - 1
    y = jitter(x)
    assert y.shape == x.shape and y.abs().max() <= 1
    assert ((y - x).abs().mean((1, 2, 3)) > 0.01).all()
