"""landmark-fusion: key-point images, the fusion networks, training pairs, files, registration and
the missing-weights error (no shared data needed; fast)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from facexpr.errors import ModelError
from facexpr.methods.landmark_fusion import nets as fu


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def mean_shape():
    from facexpr.expression.model import load_default_model

    return load_default_model().mean_shape


def _groups(mean_shape, rng):
    out = []
    for k in range(3):
        ident = mean_shape * rng.uniform(0.97, 1.03)
        canon = np.stack([ident + rng.normal(0, 0.01, ident.shape) for _ in range(4)])
        out.append(fu.ShapeGroup(f"p{k}", canon, rng.uniform(0, 1, (4, 52)), "pair" if k < 2 else "video"))
    return out


def test_keypoint_image(mean_shape):
    m = fu.keypoint_image(mean_shape, 64)
    assert m.shape == (1, 64, 64) and m.dtype == np.float32
    assert 0.0 <= m.min() and m.max() == pytest.approx(1.0)
    assert 0.02 < (m > 0.2).mean() < 0.5  # a drawing, not an empty or full image
    moved = mean_shape.copy()
    moved[:, 1] += 0.2  # the whole face lower: the drawing moves down
    m2 = fu.keypoint_image(moved, 64)
    ys = np.arange(64)[:, None]
    assert (m2[0] * ys).sum() / m2.sum() > (m[0] * ys).sum() / m.sum() + 2
    assert fu.keypoint_image(mean_shape, 128).shape == (1, 128, 128)


def test_fusion_ae_forward():
    net = fu.FusionAE(size=64, base=8, depth=3)
    x = torch.rand(2, 2, 64, 64)
    y = net(x)
    assert y.shape == (2, 1, 64, 64) and 0 <= float(y.detach().min()) and float(y.detach().max()) <= 1
    y.mean().backward()
    assert all(p.grad is not None for p in net.parameters())


def test_fusion_mlp_starts_as_identity(mean_shape):
    net = fu.FusionMLP(hidden=32)
    s = torch.as_tensor(mean_shape[None] * 1.02, dtype=torch.float32)
    t = torch.as_tensor(mean_shape[None], dtype=torch.float32).repeat(1, 1, 1)
    out = net(s, t)
    assert out.shape == (1, 478, 3) and torch.allclose(out, t)  # zero-initialised head: no change yet


def test_make_pairs_and_short_training(mean_shape):
    rng = np.random.default_rng(0)
    groups = _groups(mean_shape, rng)
    neutrals = np.stack([g.rest for g in groups])
    S, T, G = fu.make_pairs(groups, neutrals, rng, 6)
    assert S.shape == T.shape == G.shape == (6, 478, 3)
    assert np.isfinite(S).all() and not np.allclose(S, G)  # the source never is the answer itself
    net = fu.train_mlp(groups, neutrals, steps=3, batch=4, hidden=32, log=None)
    assert not net.training


def test_train_ae_runs(mean_shape):
    rng = np.random.default_rng(1)
    groups = _groups(mean_shape, rng)
    net = fu.train_ae(groups, np.stack([g.rest for g in groups]), steps=2, batch=2, size=32, log=None)
    assert net(torch.rand(1, 2, 32, 32)).shape == (1, 1, 32, 32)


def test_save_load_and_fuse(tmp_path, mean_shape):
    net = fu.FusionMLP(hidden=16)
    with torch.no_grad():
        net.body[-1].bias.normal_(0, 0.1)
    p = tmp_path / "f.safetensors"
    fu.save_net(net, p, "mlp", {"x": 1})
    back, meta = fu.load_net(p, "mlp")
    assert meta == {"x": 1}
    s = torch.as_tensor(mean_shape[None], dtype=torch.float32)
    assert torch.allclose(back(s, s), net.eval()(s, s), atol=2e-3)  # fp16 weights on disk
    # fused landmarks in an image frame: a similarity of the canonical shape
    img = mean_shape * 100 + np.array([300.0, 250.0, 0.0])
    out = fu.fuse_landmarks(back, img, img, mean_shape)
    assert out.shape == (478, 3) and np.isfinite(out).all() and not np.allclose(out, img)
    zero = fu.fuse_landmarks(back, img, img, mean_shape, intensity=0.0)
    np.testing.assert_allclose(zero, img, atol=1e-6)
    with pytest.raises(ModelError, match="not a fusion ae file"):
        fu.load_net(p, "ae")


def test_registered():
    from facexpr.methods import available

    assert "landmark-fusion" in available()


def test_missing_weights_raise_model_error(tmp_path):
    from facexpr.methods.landmark_fusion.method import LandmarkFusionMethod

    with pytest.raises(ModelError) as e:
        LandmarkFusionMethod(generator=tmp_path / "nope.safetensors", fusion=tmp_path / "nofusion.safetensors")
    msg = str(e.value)
    assert "landmark-fusion" in msg and "not found" in msg and "\n" not in msg
    fake_g = tmp_path / "g.safetensors"
    fake_g.write_bytes(b"x")
    with pytest.raises(ModelError, match="fusion weights .* not found"):
        LandmarkFusionMethod(generator=fake_g, fusion=tmp_path / "nofusion.safetensors")


def test_shipped_method_loads_or_fails_clearly():
    from facexpr.methods import get_spec
    from facexpr.methods.landmark_fusion.method import LandmarkFusionMethod

    spec = get_spec("landmark-fusion")
    m = LandmarkFusionMethod(*spec.weight_paths())  # shipped, resolved and checksum-verified via facexpr.assets
    assert m.name == "landmark-fusion" and m.size == spec.crop_size == 128
