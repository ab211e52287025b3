"""The shared "warp + learned residual" renderer: shapes, output == the warp at
initialisation (generic and relative-au's), the fields applied at another resolution, gradients
that reach every field (so training can leave the warp), and the layering of the new modules."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from facexpr.methods.relative_au.nets import RelativeAUWarpGenerator
from facexpr.methods.residual import (IN_CHANNELS, Fields, WarpResidualGenerator, compose, resize_flow, warp)

PKG = Path(__file__).resolve().parents[2] / "src" / "facexpr"


@pytest.fixture(autouse=True)
def _threads(one_torch_thread):
    pass


class _Backbone(nn.Module):
    """A stand-in family network: two convolutions, condition added as a bias."""

    def __init__(self, ch=8, cond_dim=4):
        super().__init__()
        self.a, self.b = nn.Conv2d(IN_CHANNELS, ch, 3, padding=1), nn.Conv2d(ch, ch, 3, padding=1)
        self.c = nn.Linear(cond_dim, ch)

    def forward(self, x, cond):
        return torch.relu(self.b(torch.relu(self.a(x) + self.c(cond)[:, :, None, None])))


def _smooth(t, s):
    return F.interpolate(t, size=(s, s), mode="bilinear", align_corners=False)


def _flow(n, s, px=3.0, seed=0):
    g = torch.Generator().manual_seed(seed)
    return _smooth(torch.randn(n, 2, 4, 4, generator=g) * px, s)


def test_generic_generator_starts_as_the_warp():
    torch.manual_seed(0)
    G = WarpResidualGenerator(_Backbone(), 8)
    x, flow, cond = torch.rand(2, 3, 32, 32) * 2 - 1, _flow(2, 32), torch.randn(2, 4)
    y, f = G(x, flow, cond)
    assert y.shape == x.shape and f.flow.shape == (2, 2, 32, 32) and f.mask.shape == (2, 1, 32, 32)
    assert torch.equal(y, warp(x, flow))  # exactly the warp, not just close
    assert f.correction.abs().max() == 0 and f.residual.abs().max() == 0 and f.mask.abs().max() == 0
    assert (y - x).abs().mean() > 0.01  # and the warp does move pixels


def test_on_a_given_base_the_fields_refine_it_not_rewarp_it():
    """With ``base=`` (the product's warp) the output at initialisation is the base itself, the
    fields' flow is the correction alone, and a trained correction moves the base's pixels."""
    torch.manual_seed(0)
    G = WarpResidualGenerator(_Backbone(), 8)
    x, cond = torch.rand(2, 3, 32, 32) * 2 - 1, torch.randn(2, 4)
    flow = torch.zeros(2, 2, 32, 32)
    flow[:, 1] = 2.0  # the warp moves every pixel (>= SUPPORT_FULL * 32 px): the fields act everywhere
    base = torch.rand(2, 3, 32, 32) * 2 - 1
    y, f = G(x, flow, cond, base=base)
    assert torch.allclose(y, base, atol=1e-6) and f.flow.abs().max() == 0
    with torch.no_grad():
        G.head.conv.bias[0] = 1.0  # a uniform correction of CORRECTION_UNIT * 32 px to the right
    y, f = G(x, flow, cond, base=base)
    assert torch.allclose(f.flow[:, 0], torch.ones(2, 32, 32)) and torch.allclose(y, warp(base, f.flow), atol=1e-5)


def test_relative_au_warp_generator_starts_as_the_warp_at_any_size():
    torch.manual_seed(0)
    G = RelativeAUWarpGenerator(22, base=8, max_ch=32).eval()
    for s in (32, 64):
        x, flow, cond = torch.rand(2, 3, s, s) * 2 - 1, _flow(2, s), torch.rand(2, 22) - 0.5
        with torch.no_grad():
            y, f = G(x, flow, cond)
            assert y.shape == x.shape and torch.allclose(y, warp(x, flow), atol=1e-6)
            y0, _ = G(x, torch.zeros_like(flow), cond)
        assert torch.allclose(y0, x, atol=1e-5)  # no motion asked, nothing learned yet: the input
    with pytest.raises(ValueError, match="multiple of 16"):
        G(torch.zeros(1, 3, 40, 40), torch.zeros(1, 2, 40, 40), torch.zeros(1, 22))
    assert G.spec["cond_dim"] == 22 and RelativeAUWarpGenerator(**G.spec).spec == G.spec


def _random_head(G, std=0.05):
    nn.init.normal_(G.head.conv.weight, std=std)
    nn.init.normal_(G.head.conv.bias, std=std)
    with torch.no_grad():
        G.head.conv.bias[8] = 6.0  # the mask half on


def test_fields_apply_at_the_photo_resolution():
    torch.manual_seed(0)
    G = RelativeAUWarpGenerator(22, base=8, max_ch=32).eval()
    _random_head(G)
    x = _smooth(torch.rand(1, 3, 4, 4) * 2 - 1, 32)
    flow, cond = _flow(1, 32), torch.rand(1, 22)
    with torch.no_grad():
        y, _ = G(x, flow, cond)
        f = G.fields(x, flow, cond)
        assert torch.allclose(compose(x, f), y, atol=1e-6)
        assert f.correction.abs().max() > 0.05 and f.mask.max() > 0.05  # every field is in play
        big = _smooth(x, 128)
        y_big = compose(big, f)
        assert y_big.shape == (1, 3, 128, 128)
        edit_small, edit_big = (y - x).flatten(), (F.avg_pool2d(y_big, 4) - x).flatten()
        assert F.cosine_similarity(edit_small, edit_big, 0) > 0.8  # the same edit, 4x larger
        up = f.resized((128, 128))
        assert torch.allclose(up.flow, resize_flow(f.flow, (128, 128))) and up.flow.abs().max() > 4 * 2.0
    zero = Fields(*(torch.zeros(1, c, 32, 32) for c in (2, 2, 3, 3, 1)))
    assert torch.allclose(compose(big, zero), big, atol=1e-5)


def test_training_can_leave_the_warp():
    """Gradients reach the zero-initialised head, the mask's among them; a few steps fit a target
    the warp alone cannot reach (a colour change), and the mask does not die under its penalty."""
    torch.manual_seed(0)
    G = RelativeAUWarpGenerator(22, base=8, max_ch=32)
    x, flow, cond = torch.rand(2, 3, 32, 32) * 2 - 1, _flow(2, 32), torch.rand(2, 22)
    target = (warp(x, flow) * 0.5 + 0.3).detach()
    loss0 = (G(x, flow, cond)[0] - target).abs().mean()
    loss0.backward()
    grad = G.head.conv.weight.grad.abs().sum(dim=(1, 2, 3))
    assert (grad[:5] > 0).all() and grad[8] > 0  # flow correction, residual, mask
    opt = torch.optim.Adam(G.parameters(), lr=3e-3)
    for _ in range(25):
        opt.zero_grad()
        y, f = G(x, flow, cond)
        loss = (y - target).abs().mean()
        (loss + 0.1 * f.mask.clamp(min=0).mean()).backward()
        opt.step()
    assert loss.item() < 0.7 * loss0.item(), (loss0.item(), loss.item())
    assert G.head.conv.weight.grad[8].abs().sum() > 0  # the mask is still alive
    assert G.head.conv.weight.grad[5:8].abs().sum() > 0  # and so the colour it blends in


def test_the_renderer_is_inference_code():
    """methods/residual.py, flow.py and warp_base.py import nothing of train/ or evaluate/ (nor torchvision)."""
    for name in ("residual.py", "flow.py", "warp_base.py"):
        tree = ast.parse((PKG / "methods" / name).read_text(encoding="utf-8"))
        mods = {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
        mods |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        assert not any(m.lstrip(".").startswith(("train", "evaluate")) or "torchvision" in m
                       or m.startswith(("facexpr.train", "facexpr.evaluate")) for m in mods), (name, mods)
