"""landmark-fusion on the shared warp + learned residual renderer: the training task
(smoke run, export, reload), that a fresh generator returns the product's warp, the fusion module's
geometry reaching the pipeline (and its closed loop) and the fusion's prior-expression training data."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from facexpr.methods import available, spec_for_task
from facexpr.train.config import load_config
from facexpr.train.tasks import available_tasks, get_task

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


@pytest.fixture(autouse=True)
def _threads(one_torch_thread):
    pass


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    from _support import smoke_train_export

    return smoke_train_export(tmp_path_factory, "landmark-fusion-warp")


def test_registered_trainable_shipped_transfer_and_edit():
    from facexpr.methods import get_method

    assert "landmark-fusion-warp" in available_tasks() and "landmark-fusion-warp" in available()
    spec = spec_for_task("landmark-fusion-warp")
    assert spec.generator.endswith(":LandmarkFusionWarpAdapter") and spec.capabilities == frozenset({"transfer", "edit"})
    assert spec_for_task("landmark-fusion").capabilities == frozenset({"transfer"})  # the crop generator
    m = get_method("landmark-fusion-warp")  # generator + the prior-trained fusion module, checksum-verified
    assert m.spec.landmark_driven and m.exported.warp_base and m.exported.card["steps"] == 400  # the fine-tune


def test_smoke_training_export_and_reload(smoke):
    from facexpr.methods.exported import load_exported

    summary, card, path = smoke
    assert summary["steps"] == 4 and card["task"] == "landmark-fusion-warp"
    for k in ("d_adv", "g_adv", "g_l1", "g_tv", "g_correction", "g_mask", "g_total"):
        assert np.isfinite(summary["logs"][k]), k
    G, adapter, _ = load_exported(path)
    assert adapter.warp_base
    x = torch.rand(1, 3, 64, 64) * 2 - 1
    base = (x * 0.5).clamp(-1, 1)
    maps = torch.zeros(1, 1, 64, 64)
    batch = {"target": x, "base": base, "base_flow": torch.zeros(1, 2, 64, 64), "target_map": maps, "want_map": maps}
    with torch.no_grad():
        y = adapter.generate(G, batch)
        y_big = adapter.generate_detail(G, batch, torch.nn.functional.interpolate(base, size=(192, 192)))
    assert y.shape == (1, 3, 64, 64) and y_big.shape == (1, 3, 192, 192)
    assert (y - base).abs().mean() < 0.05  # 4 steps: still (nearly) the warp


def test_a_fresh_generator_returns_the_products_warp(synthetic_cache):
    from facexpr.train.data import FaceCache, PairDataset, fixed_batch

    cfg = load_config(CONFIGS / "landmark-fusion-warp-smoke.yaml", ["data.regime=self_supervised"])
    task = get_task(cfg.task)(cfg)
    ds = PairDataset(FaceCache([synthetic_cache]), cfg.data, seed=0, transform=task.sample_transform)
    batch = fixed_batch(ds, 4, offset=0)
    G = task.build()["G"]
    with torch.no_grad():
        y = task.generate(G, batch)
    assert (y - batch["base"]).abs().max() < 1e-4
    assert (batch["base"] - batch["target"]).abs().mean() > 0.01


def test_the_fusion_geometry_drives_the_pipeline(smoke, shared_data, monkeypatch):
    """The method's geometry is the fusion module's (asked for before rendering), and on the warp
    the pipeline's closed loop may correct it: the output shows the source's smile."""
    import facexpr.pipeline as P
    from facexpr import assets
    from facexpr.expression.analysis import analyze_faces
    from facexpr.expression.blendshapes import INDEX
    from facexpr.io import load_image
    from facexpr.methods.landmark_fusion.method import LandmarkFusionMethod

    from _support import SOURCE_REL, TARGET_REL, data_file

    _, _, path = smoke
    method = LandmarkFusionMethod(path, assets.resolve("landmark_fusion_fusion_prior"))
    assert method.spec.landmark_driven
    seen = []
    fused = method.geometry
    monkeypatch.setattr(method, "geometry", lambda job: seen.append(1) or fused(job))
    monkeypatch.setattr(P, "get_method", lambda name: method)
    src, tgt = (load_image(data_file(shared_data, r)) for r in (SOURCE_REL, TARGET_REL))
    res = P.run_transfer(src, tgt, P.TransferConfig(method="landmark-fusion-warp"))
    assert seen and res.retargeted.from_geometry
    smile = lambda img: analyze_faces(img)[0].blendshapes[[INDEX["mouthSmileLeft"], INDEX["mouthSmileRight"]]].mean()  # noqa: E731
    assert smile(res.image) > smile(tgt) + 0.2


def test_prior_groups_add_every_emotion():
    from facexpr.expression.emotions import EMOTIONS
    from facexpr.expression.model import load_default_model
    from facexpr.methods.landmark_fusion.nets import ShapeGroup, make_pairs, prior_groups

    model = load_default_model()
    rest = model.mean_shape.astype(np.float64)
    g = ShapeGroup("p", np.stack([rest, rest]), np.zeros((2, 52)), "pair")
    (p,) = prior_groups([g], model, intensities=(1.0,))
    assert p.kind == "prior" and len(p.canon) == 1 + len(EMOTIONS)
    moved = np.linalg.norm(p.canon[1:] - rest, axis=2).max(1)
    assert (moved > 0.01).all()  # every emotion moves some point
    S, T, G = make_pairs([g, p], rest[None], np.random.default_rng(0), 8)
    assert S.shape == T.shape == G.shape == (8, 478, 3)


def test_an_edit_renders_the_pipelines_geometry(smoke, shared_data, monkeypatch):
    """An edit has no source face to fuse: the geometry is the pipeline's (the target's key points
    moved by the edit), and the output shows the edit."""
    import facexpr.pipeline as P
    from facexpr import assets
    from facexpr.expression.analysis import analyze_faces
    from facexpr.expression.blendshapes import INDEX
    from facexpr.io import load_image
    from facexpr.methods.landmark_fusion.method import LandmarkFusionMethod

    from _support import TARGET_REL, data_file

    _, _, path = smoke
    method = LandmarkFusionMethod(path, assets.resolve("landmark_fusion_fusion_prior"))
    assert method.spec.name == "landmark-fusion-warp" and "edit" in method.spec.capabilities  # the file's family
    monkeypatch.setattr(method, "fused_landmarks", lambda job: pytest.fail("an edit must not fuse"))
    monkeypatch.setattr(P, "get_method", lambda name: method)
    tgt = load_image(data_file(shared_data, TARGET_REL))
    res = P.run_edit(tgt, P.EditConfig.parse(aus="AU12=+0.8", method="landmark-fusion-warp"))
    smile = lambda img: analyze_faces(img)[0].blendshapes[[INDEX["mouthSmileLeft"], INDEX["mouthSmileRight"]]].mean()  # noqa: E731
    assert smile(res.image) > smile(tgt) + 0.2
