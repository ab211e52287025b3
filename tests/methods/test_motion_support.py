"""A refinement of the warp acts only where the warp moves the face (:func:`motion_support`).

The refiners trained on real photo pairs learned a low-contrast mottling of the skin from the
differences between two photos; where the warp leaves the face in place, whatever they add is
that, not expression (docs/results/small_faces.md). These tests fail if the generator's change
leaks outside the warp's motion, or if the gate stops the change where the warp does move.
"""
from __future__ import annotations

import pytest
import torch
import torch.nn as nn

from facexpr.methods.residual import (IN_CHANNELS, SUPPORT_FULL, SUPPORT_REACH, WarpResidualGenerator,
                                      motion_support)


@pytest.fixture(autouse=True)
def _threads(one_torch_thread):
    pass


class _Backbone(nn.Module):
    def __init__(self, ch=8):
        super().__init__()
        self.a = nn.Conv2d(IN_CHANNELS, ch, 3, padding=1)

    def forward(self, x, cond):
        return torch.tanh(self.a(x)) + cond[:, :, None, None]


def _moving_disc(n: int, s: int, centre=(40, 24), radius=8, px=6.0) -> torch.Tensor:
    """A base flow that moves a disc of the crop by ``px`` and nothing else."""
    ys, xs = torch.meshgrid(torch.arange(s, dtype=torch.float32), torch.arange(s, dtype=torch.float32), indexing="ij")
    inside = ((ys - centre[0]) ** 2 + (xs - centre[1]) ** 2) <= radius ** 2
    flow = torch.zeros(n, 2, s, s)
    flow[:, 0][:, inside] = px
    return flow


def _trained_generator(seed=0) -> WarpResidualGenerator:
    """A generator whose head is no longer zero: every field is non-zero everywhere before the gate."""
    torch.manual_seed(seed)
    G = WarpResidualGenerator(_Backbone(), 8)
    with torch.no_grad():
        nn.init.normal_(G.head.conv.weight, std=0.3)
        G.head.conv.bias.copy_(torch.tensor([0.2, -0.1, 0.3, -0.2, 0.1, 0.5, 0.5, 0.5, 7.0]))
    return G.eval()


@pytest.mark.parametrize("s", [64, 128])
def test_the_change_stays_where_the_warp_moves_the_face(s):
    G = _trained_generator()
    x, base = torch.rand(1, 3, s, s) * 2 - 1, torch.rand(1, 3, s, s) * 2 - 1
    flow = _moving_disc(1, s, centre=(s * 5 // 8, s * 3 // 8), radius=s // 8, px=3 * SUPPORT_FULL * s)
    with torch.no_grad():
        y, f = G(x, flow, torch.zeros(1, 8), base=base)
    change = (y - base).abs().amax(1)[0]
    # far from the moving disc (beyond the support's Gaussian reach) the base is returned exactly
    ys, xs = torch.meshgrid(torch.arange(s), torch.arange(s), indexing="ij")
    dist = torch.sqrt((ys - s * 5 // 8).float() ** 2 + (xs - s * 3 // 8).float() ** 2) - s // 8
    far = dist > 4 * SUPPORT_REACH * s + 2
    assert far.any() and change[far].max() == 0
    # where it moves, the generator's change is carried in full
    inside = dist < -2
    assert change[inside].mean() > 0.05
    assert motion_support(flow)[0, 0][inside].min() > 0.99


def test_no_motion_leaves_the_warp_as_it_is():
    G = _trained_generator(1)
    x, base = torch.rand(2, 3, 32, 32) * 2 - 1, torch.rand(2, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        y, _ = G(x, torch.zeros(2, 2, 32, 32), torch.zeros(2, 8), base=base)
    assert torch.equal(y, base.clamp(-1, 1))


def test_the_support_is_in_crop_units_so_any_face_size_gets_the_same_region():
    """The same motion, as a fraction of the crop, gives the same support at 64 and at 128 px."""
    small = motion_support(_moving_disc(1, 64, centre=(40, 24), radius=8, px=3.0))
    big = motion_support(_moving_disc(1, 128, centre=(80, 48), radius=16, px=6.0))
    down = torch.nn.functional.avg_pool2d(big, 2)
    assert (small - down).abs().max() < 0.12 and (small - down).abs().mean() < 0.01  # disc rasterisation differs
    assert small.max() == 1.0 and small.min() == 0.0
    # half the motion of SUPPORT_FULL far inside a wide moving region: half the support
    flow = torch.zeros(1, 2, 64, 64)
    flow[:, 0] = 0.5 * SUPPORT_FULL * 64
    assert torch.allclose(motion_support(flow), torch.full((1, 1, 64, 64), 0.5), atol=1e-5)
