"""The relative-au generator (MSF U-Net, relative head) and the relative-au / ganimation training
tasks: shapes, the zero-condition identity, conditioning that survives instance normalisation,
a smoke run, export and reload."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from facexpr.methods.relative_au.nets import RelativeAUGenerator, warp
from facexpr.train.config import load_config
from facexpr.train.tasks import available_tasks, get_task

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


@pytest.fixture(autouse=True)
def _threads(one_torch_thread):
    pass


def test_zero_condition_is_the_identity_and_sizes_are_checked():
    torch.manual_seed(0)
    G = RelativeAUGenerator(17, base=8, max_ch=32).eval()
    for s in (32, 48, 96):  # any multiple of 16
        x = torch.rand(2, 3, s, s) * 2 - 1
        with torch.no_grad():
            y, flow = G(x, torch.zeros(2, 17))
        assert y.shape == x.shape and flow.shape == (2, 2, s, s)
        assert torch.allclose(y, x, atol=1e-5)
    with pytest.raises(ValueError, match="multiple of 16"):
        G(torch.zeros(1, 3, 40, 40), torch.zeros(1, 17))


def test_the_condition_reaches_the_output():
    """A tiled condition before instance norm would be normalised away; FiLM keeps it."""
    torch.manual_seed(0)
    for kw in ({"output": "attention", "msf": False}, {"output": "relative", "msf": True}):
        G = RelativeAUGenerator(17, base=8, max_ch=32, **kw)
        for p in G.parameters():  # random, non-zero conditioning weights
            torch.nn.init.normal_(p, std=0.2)
        x = torch.rand(1, 3, 32, 32) * 2 - 1
        a, b = torch.zeros(1, 17), torch.zeros(1, 17)
        b[0, 8] = 0.8
        with torch.no_grad():
            assert (G(x, a)[0] - G(x, b)[0]).abs().mean() > 1e-3, kw


def test_warp_moves_pixels_by_the_flow():
    x = torch.zeros(1, 1, 8, 8)
    x[0, 0, 4, 4] = 1.0
    flow = torch.zeros(1, 2, 8, 8)
    flow[:, 0] = 1.0  # read one pixel to the right
    y = warp(x, flow)
    assert y[0, 0, 4, 3] == pytest.approx(1.0) and y[0, 0, 4, 4] == pytest.approx(0.0)


def test_tasks_registered_and_configs_load():
    assert {"relative-au", "ganimation"} <= set(available_tasks())
    rel, gan = load_config(CONFIGS / "relative-au-128.yaml"), load_config(CONFIGS / "ganimation-128.yaml")
    assert rel.loss.adversarial == "wgan" and rel.loss.penalty == "wgan-gp" and rel.train.g_every > 1
    assert gan.task == "ganimation" and gan.train.steps == rel.train.steps and gan.data == rel.data
    G = get_task(rel.task)(rel).build()["G"]
    assert G.output == "relative" and G.msf
    G = get_task(gan.task)(gan).build()["G"]
    assert G.output == "attention" and not G.msf
    # relative-au is told the change; ganimation the wanted AUs themselves
    have, want = torch.full((1, 17), 0.2), torch.full((1, 17), 0.5)
    assert torch.allclose(get_task("relative-au")(rel).condition(want, have), want - have)
    assert torch.allclose(get_task("ganimation")(gan).condition(want, have), want)


@pytest.fixture(scope="module", params=["relative-au", "ganimation"])
def smoke(request, tmp_path_factory):
    from facexpr.train.trainer import Trainer

    out = tmp_path_factory.mktemp(request.param) / "run"
    ablation = ["model.condition=absolute", "model.output=attention", "model.msf=false"]
    cfg = load_config(CONFIGS / "relative-au-smoke.yaml", [f"task={request.param}", f"train.out_dir={out}"]
                      + (ablation if request.param == "ganimation" else []))
    return request.param, Trainer(cfg).fit(), out


def test_smoke_training_export_and_reload(smoke, tmp_path):
    from facexpr.methods.exported import load_exported
    from facexpr.train.export import export

    name, summary, out = smoke
    assert summary["steps"] == 4
    logs = summary["logs"]
    for k in ("d_adv", "d_au", "d_penalty", "g_adv", "g_au", "g_l1", "g_cycle", "g_total"):
        assert np.isfinite(logs[k]), k
    if name == "ganimation":
        assert np.isfinite(logs["g_mask"]) and np.isfinite(logs["g_mask_tv"]) and np.isfinite(logs["g_rec"])
    else:
        assert "g_rec" not in logs  # identity at delta = 0 by construction: no pass spent on it
        assert np.isfinite(logs["g_flow"])
    card = export(out, tmp_path / f"{name}.safetensors")
    assert card["task"] == name and card["regime"] == "mixed"
    G, task, _ = load_exported(tmp_path / f"{name}.safetensors")
    batch = {"target": torch.rand(1, 3, 64, 64) * 2 - 1, "target_aus": torch.full((1, 17), 0.3),
             "want_aus": torch.full((1, 17), 0.3)}
    with torch.no_grad():
        y = task.generate(G, batch)
    assert y.shape == (1, 3, 64, 64) and torch.isfinite(y).all()
    if name == "relative-au":  # wanted = current: nothing to change
        assert torch.allclose(y, batch["target"], atol=1e-4)


def test_edit_field_applies_at_any_resolution():
    """Inference applies the field computed on the small crop to a sharp, larger crop."""
    from facexpr.methods.relative_au.nets import apply_field

    torch.manual_seed(0)
    G = RelativeAUGenerator(17, base=8, max_ch=32).eval()
    for p in (G.flow.weight, G.residual.weight):
        torch.nn.init.normal_(p, std=0.05)
    smooth = lambda t, s: torch.nn.functional.interpolate(t, size=(s, s), mode="bilinear", align_corners=False)  # noqa: E731
    x = smooth(torch.rand(1, 3, 4, 4) * 2 - 1, 32)  # a smooth image: resampling it changes little
    cond = torch.zeros(1, 17)
    cond[0, 8] = 1.0
    with torch.no_grad():
        y, _ = G(x, cond)
        flow, residual = G.edit_field(x, cond)
        assert torch.allclose(apply_field(x, flow, residual), y, atol=1e-6)
        assert flow.abs().max() > 0.1  # it does move pixels
        big = smooth(x, 128)
        y_big = apply_field(big, flow, residual)
        assert y_big.shape == (1, 3, 128, 128)
        edit_small, edit_big = (y - x).flatten(), (torch.nn.functional.avg_pool2d(y_big, 4) - x).flatten()
        assert torch.nn.functional.cosine_similarity(edit_small, edit_big, 0) > 0.8  # the same edit, 4x larger
        zero = apply_field(big, torch.zeros_like(flow), torch.zeros_like(residual))
        assert torch.allclose(zero, big, atol=1e-5)
