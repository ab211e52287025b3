"""relative-au on the shared warp + learned residual renderer: the training task (smoke
run, export, reload), that a short run leaves the warp in the right direction, that the family is
shipped (its weights checksum-verified), the older relative-au weights still load, and the whole inference path (crop, base flow, fields at the photo's resolution, paste-back)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from facexpr.expression import action_units
from facexpr.methods import available, get_method, spec_for_task
from facexpr.methods.relative_au.nets import RelativeAUWarpGenerator
from facexpr.methods.residual import warp
from facexpr.train.config import load_config
from facexpr.train.tasks import available_tasks, get_task

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


@pytest.fixture(autouse=True)
def _threads(one_torch_thread):
    pass


def _smoke_run(tmp_path_factory, *overrides):
    from facexpr.train.export import export
    from facexpr.train.trainer import Trainer

    out = tmp_path_factory.mktemp("raw") / "run"
    cfg = load_config(CONFIGS / "relative-au-warp-smoke.yaml", [f"train.out_dir={out}", *overrides])
    summary = Trainer(cfg).fit()
    path = out.parent / "relative-au-warp.safetensors"
    card = export(out, path)
    return summary, card, path


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    """Four steps on the product's warp (the default base)."""
    return _smoke_run(tmp_path_factory)


def test_registered_trainable_and_shipped():
    assert "relative-au-warp" in available_tasks() and "relative-au-warp" in available()
    assert {"relative-au", "ganimation"} <= set(available())
    assert spec_for_task("relative-au-warp").generator.endswith(":RelativeAUWarpAdapter")
    m = get_method("relative-au-warp")  # the shipped weights, checksum-verified
    assert m.spec.capabilities == frozenset({"transfer", "edit"}) and m.spec.landmark_driven
    assert m.exported.warp_base and m.exported.card["steps"] == 2400
    cpu = load_config(CONFIGS / "relative-au-warp-cpu.yaml")
    G = get_task(cpu.task)(cpu).build()["G"]
    assert isinstance(G, RelativeAUWarpGenerator) and G.cond_dim == 22 and G.backbone.msf


def test_smoke_training_export_and_reload(smoke):
    from facexpr.methods.exported import load_exported

    summary, card, path = smoke
    assert summary["steps"] == 4 and card["task"] == "relative-au-warp"
    for k in ("d_adv", "d_au", "d_penalty", "g_adv", "g_au", "g_l1", "g_tv", "g_correction", "g_mask", "g_total"):
        assert np.isfinite(summary["logs"][k]), k
    assert "g_cycle" not in summary["logs"]  # the product's warp has no way back
    G, adapter, _ = load_exported(path)
    assert isinstance(G, RelativeAUWarpGenerator) and tuple(adapter.au_set) == action_units.AUS
    assert adapter.warp_base
    x = torch.rand(1, 3, 64, 64) * 2 - 1
    base = (x + 0.3).clamp(-1, 1)  # stands for the product's warp of x
    flow = torch.zeros(1, 2, 64, 64)
    flow[:, 1] = 2.0
    batch = {"target": x, "base": base, "base_flow": flow, "target_aus": torch.full((1, 22), 0.3),
             "want_aus": torch.full((1, 22), 0.3)}
    with torch.no_grad():
        y = adapter.generate(G, batch)
        big = torch.nn.functional.interpolate(base, size=(256, 256), mode="bilinear", align_corners=False)
        y_big = adapter.generate_detail(G, batch, big)
    assert y.shape == (1, 3, 64, 64) and y_big.shape == (1, 3, 256, 256) and torch.isfinite(y_big).all()
    assert (y - base).abs().mean() < 0.05  # 4 steps: still (nearly) the base, not a re-warp of it
    assert (y - warp(x, flow)).abs().mean() > 0.1


def test_the_landmark_base_ablation_trains_with_its_cycle(tmp_path_factory):
    summary, _, path = _smoke_run(tmp_path_factory, "model.base=landmark")
    assert np.isfinite(summary["logs"]["g_cycle"])
    from facexpr.methods.exported import load_exported

    G, adapter, _ = load_exported(path)
    assert not adapter.warp_base
    x = torch.rand(1, 3, 64, 64) * 2 - 1
    flow = torch.zeros(1, 2, 64, 64)
    flow[:, 1] = 2.0
    batch = {"target": x, "base_flow": flow, "target_aus": torch.full((1, 22), 0.3),
             "want_aus": torch.full((1, 22), 0.3)}
    with torch.no_grad():
        assert (adapter.generate(G, batch) - warp(x, flow)).abs().mean() < 0.05


def test_at_initialisation_the_output_is_the_products_warp(synthetic_cache):
    """The base of a training sample is exactly what the ``warp`` method renders on the crop, and
    a fresh generator (zero head) returns it unchanged: the method starts as ``warp``."""
    from facexpr.methods.warp_base import crop_base
    from facexpr.train.data import FaceCache, PairDataset, fixed_batch

    cfg = load_config(CONFIGS / "relative-au-warp-smoke.yaml", ["data.regime=self_supervised"])
    task = get_task(cfg.task)(cfg)
    ds = PairDataset(FaceCache([synthetic_cache]), cfg.data, seed=0, transform=task.sample_transform)
    batch = fixed_batch(ds, 4, offset=0)
    assert np.allclose(batch["base"][0].numpy(), crop_base({k: v[0].numpy() for k, v in batch.items()}))
    assert (batch["base"] - batch["target"]).abs().mean() > 0.01  # the warp moved something
    G = task.build()["G"]
    with torch.no_grad():
        y = task.generate(G, batch)
    assert (y - batch["base"]).abs().max() < 1e-4


def test_the_shipped_relative_au_weights_still_load():
    from facexpr.assets import resolve
    from facexpr.methods.exported import load_exported
    from facexpr.methods.relative_au.nets import RelativeAUGenerator

    G, adapter, card = load_exported(resolve("relative_au_g128"))
    assert isinstance(G, RelativeAUGenerator) and tuple(adapter.au_set) == action_units.AUS_V1
    assert card["task"] == "relative-au" and G.cond_dim == 17


def test_a_short_run_learns_the_residual(synthetic_cache):
    """On self-supervised pairs (gt = the real photo) the warp alone (the output at initialisation)
    already undoes most of the deformation, and 60 generator steps bring the output closer still:
    the fields learn what the warp misses."""
    from facexpr.train.data import FaceCache, PairDataset, fixed_batch

    cfg = load_config(CONFIGS / "relative-au-warp-smoke.yaml", ["data.regime=self_supervised", "model.base=landmark"])
    task = get_task(cfg.task)(cfg)
    ds = PairDataset(FaceCache([synthetic_cache]), cfg.data, seed=0, transform=task.sample_transform)
    batch = fixed_batch(ds, 8, offset=0)
    torch.manual_seed(0)
    G = task.build()["G"]
    opt = torch.optim.Adam(G.parameters(), lr=5e-4)
    cond = task.condition(batch["want_aus"], batch["target_aus"])
    with torch.no_grad():
        base = (G(batch["target"], batch["base_flow"], cond)[0] - batch["gt"]).abs().mean().item()
    assert base < 0.85 * (batch["target"] - batch["gt"]).abs().mean().item()
    for _ in range(60):
        opt.zero_grad()
        loss = (G(batch["target"], batch["base_flow"], cond)[0] - batch["gt"]).abs().mean()
        loss.backward()
        opt.step()
    assert loss.item() < 0.85 * base, (base, loss.item())


def test_inference_path_edits_like_the_warp(smoke, shared_data):
    """Through the pipeline (-m exported file): an AU12 edit moves the lip corners up and out, and
    the rest of the photo stays as it was (the barely trained fields are ~ the warp)."""
    from facexpr.expression.analysis import analyze_faces
    from facexpr.io import load_image
    from facexpr.pipeline import EditConfig, run_edit

    from _support import TARGET_REL, data_file

    _, _, path = smoke
    img = load_image(data_file(shared_data, TARGET_REL))
    res = run_edit(img, EditConfig(str(path), ((12, 0.8),)))
    assert res.image.shape == img.shape
    before = analyze_faces(img)[0]
    after = analyze_faces(res.image)[0]
    width = lambda f: np.linalg.norm(f.xy[291] - f.xy[61]) / f.size  # noqa: E731  mouth corners
    lift = lambda f: (f.xy[[13, 14]].mean(0)[1] - f.xy[[61, 291]].mean(0)[1]) / f.size  # noqa: E731
    assert width(after) > width(before) + 0.01 and lift(after) > lift(before) + 0.005
    far = np.zeros(img.shape[:2], bool)
    far[:img.shape[0] // 10] = True  # the top of the photo (hair / background)
    assert np.array_equal(res.image[far], img[far])
