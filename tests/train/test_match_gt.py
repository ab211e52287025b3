"""Colour-matched ground truths (``loss.match_gt``): two photos of one person differ in exposure
and shading as well as in expression, and a warp's colour residual trained on the raw photos
learned to paint that difference (docs/results/small_faces.md). These tests fail if a pair that
differs only by its light still costs L1, or if the matching wipes out what the expression changed.
"""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from facexpr.train import losses as L
from facexpr.train.config import load_config
from facexpr.train.tasks import get_task

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
S = 64
GREY = 1 / 127.5  # one grey level in [-1, 1]


@pytest.fixture(autouse=True)
def _threads(one_torch_thread):
    pass


def _photo(seed: int = 0) -> torch.Tensor:
    """A textured face-sized image in [-0.6, 0.6] (room for a change of light either way)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(1, 3, S, S, generator=g) * 0.8 - 0.4
    ys = torch.linspace(-1, 1, S)[:, None]
    return (x + 0.2 * ys).clamp(-0.6, 0.6)


def _relit(x: torch.Tensor) -> torch.Tensor:
    """``x`` photographed in other light: brighter, warmer, with a smooth left-to-right shading."""
    xs = torch.linspace(0, 1, S)[None, None, None, :]
    return x + torch.tensor([0.15, 0.08, -0.05])[None, :, None, None] + 0.1 * xs


def _moving_square(flow_px: float = 6.0) -> tuple[torch.Tensor, torch.Tensor]:
    """A base flow moving a 16-px square (the "mouth") and where it is."""
    inside = torch.zeros(1, 1, S, S, dtype=torch.bool)
    inside[..., 36:52, 24:40] = True
    flow = torch.zeros(1, 2, S, S)
    flow[:, 1:2][inside] = flow_px
    return flow, inside


def test_a_pair_differing_only_by_its_light_matches_exactly():
    x = _photo()
    gt = _relit(x)
    keep = torch.ones(1, 1, S, S)
    assert (gt - x).abs().mean() > 0.1
    assert (L.shading_matched(gt, x, keep, 0.04) - x).abs().max() < GREY
    # with no kept pixel at all (everything moves) the offset is the image-wide mean, still finite
    assert torch.isfinite(L.shading_matched(gt, x, torch.zeros_like(keep), 0.04)).all()


def test_the_expressions_change_survives_and_takes_the_inputs_light():
    """Where the warp moves the face the gt's own change (teeth: a bright patch) stays; outside
    it the gt equals the input; the change is seen in the input's light, not the other photo's."""
    from facexpr.methods.residual import motion_support

    x = _photo(1)
    flow, inside = _moving_square()
    expressed = x.clone()
    teeth = torch.zeros_like(x, dtype=torch.bool)
    teeth[..., 40:48, 28:36] = True
    expressed[teeth] = 0.5
    gt = _relit(expressed)
    keep = 1.0 - motion_support(flow)
    m = L.shading_matched(gt, x, keep, 0.04)
    far = keep[0, 0] >= 1.0
    assert (m - x)[0][:, far].abs().max() < GREY
    assert (gt - x)[0][:, far].abs().mean() > 0.1  # it was not already so
    # the bright patch is still there, within the input's light (two grey levels at most off)
    assert ((m - expressed)[teeth]).abs().mean() < 0.02
    assert ((gt - expressed)[teeth]).abs().mean() > 0.1


def test_an_exact_pair_comes_back_unchanged():
    """A self-supervised pair: the target is the gt deformed, so outside the motion they agree
    and the gt must not move."""
    x = _photo(2)
    flow, inside = _moving_square()
    target = x.clone()
    target[inside.expand_as(x)] = x[inside.expand_as(x)].flip(0)  # the moved part differs
    from facexpr.methods.residual import motion_support

    m = L.shading_matched(x, target, 1.0 - motion_support(flow), 0.04)
    assert (m - x).abs().max() < 0.02


@pytest.mark.parametrize("match", [0.04, 0.0])
def test_the_tasks_l1_ignores_the_pairs_light(match):
    """A fresh relative-au-warp generator returns the warp; on a pair that differs only by its
    light its L1 to the ground truth is 0 with ``loss.match_gt`` and not without it. The critic
    still sees the photo as it is."""
    cfg = load_config(CONFIGS / "relative-au-warp-smoke.yaml", [f"loss.match_gt={match}"])
    task = get_task(cfg.task)(cfg)
    nets = task.build()
    x = _photo(3)
    flow, _ = _moving_square(0.0)  # nothing moves: the pair differs only by its light
    aus = torch.full((1, 22), 0.2)
    batch = {"target": x, "base": x, "base_flow": flow, "target_aus": aus, "want_aus": aus,
             "gt": _relit(x), "has_gt": torch.ones(1)}
    _, logs = task.g_loss(nets, batch)
    if match:
        assert float(logs["g_l1"]) < GREY
        assert task.matched_gt(batch)["gt"] is not batch["gt"] and batch["gt"].sub(x).abs().mean() > 0.1
    else:
        assert float(logs["g_l1"]) > 0.05


def test_the_shipped_recipes_train_on_the_photos_as_they_are_and_the_fine_tune_matches():
    """The shipped weights were trained without matching, so their recipes reproduce them only
    with it off; the fine-tune config is the record of the runs with it."""
    assert load_config(CONFIGS / "relative-au-warp-cpu.yaml").loss.match_gt == 0
    assert load_config(CONFIGS / "ganimation-warp-cpu.yaml").loss.match_gt == 0
    assert load_config(CONFIGS / "relative-au-warp-finetune-cpu.yaml").loss.match_gt > 0
