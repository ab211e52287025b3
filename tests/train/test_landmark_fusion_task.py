"""The landmark-fusion training task: a smoke run of a few iterations on synthetic faces, export,
and the method rendering through the exported generator with the fusion module's landmarks."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from facexpr.train.config import load_config
from facexpr.train.tasks import available_tasks, get_task

SMOKE = Path(__file__).resolve().parents[2] / "configs" / "landmark-fusion-smoke.yaml"
MAIN = Path(__file__).resolve().parents[2] / "configs" / "landmark-fusion-128.yaml"


def test_registered_and_configs_load():
    assert "landmark-fusion" in available_tasks()
    assert get_task("landmark-fusion").name == "landmark-fusion"
    cfg = load_config(MAIN)
    assert cfg.task == "landmark-fusion" and cfg.size == 128 and cfg.loss.weights["perceptual"] > 0
    G = get_task(cfg.task)(cfg).build()["G"]
    assert sum(p.numel() for p in G.parameters()) * 2 < 10e6  # fp16 export under 10 MB


def test_sample_transform_adds_keypoint_images(synthetic_cache):
    from facexpr.train.data import FaceCache, PairDataset

    cfg = load_config(SMOKE, [f"data.cache=[{synthetic_cache}]", "data.synthetic=0"])
    task = get_task(cfg.task)(cfg)
    s = PairDataset(FaceCache([synthetic_cache]), cfg.data, transform=task.sample_transform)[0]
    assert s["target_map"].shape == s["want_map"].shape == (1, 64, 64)
    assert s["want_map"].max() > 0.5


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    from facexpr.train.trainer import Trainer

    out = tmp_path_factory.mktemp("lf") / "run"
    cfg = load_config(SMOKE, [f"train.out_dir={out}", "train.progress=false"])
    summary = Trainer(cfg).fit()
    return summary, out


def test_smoke_training(smoke):
    summary, out = smoke
    assert summary["steps"] == 4
    for k in ("d_adv", "g_adv", "g_l1", "g_perceptual", "g_mask", "g_total", "d_total"):
        assert np.isfinite(summary["logs"][k]), k


def test_export_and_render(smoke, tmp_path, synthetic_cache):
    import torch

    from facexpr.expression.retarget import Retargeted
    from facexpr.faces.landmarks import Face
    from facexpr.methods.base import RenderJob
    from facexpr.methods.landmark_fusion.method import LandmarkFusionMethod
    from facexpr.methods.landmark_fusion.nets import FusionMLP, save_net
    from facexpr.train.data import FaceCache
    from facexpr.train.export import export

    _, out = smoke
    g = tmp_path / "g.safetensors"
    card = export(out, g)
    assert card["task"] == "landmark-fusion" and g.stat().st_size < 10e6
    f = tmp_path / "f.safetensors"
    net = FusionMLP(hidden=16)
    with torch.no_grad():
        net.body[-1].bias.normal_(0, 0.2)
    save_net(net, f, "mlp", {})
    m = LandmarkFusionMethod(generator=g, fusion=f)
    cache = FaceCache([synthetic_cache])
    a, b = cache.load(0), cache.load(4)
    face = lambda d: Face(d["landmarks"].astype(np.float64), d["blendshapes"], d["pose"], (64, 64))  # noqa: E731
    ta, sb = face(a), face(b)
    rt = Retargeted(ta.landmarks.copy(), np.zeros(52), ta.blendshapes)
    patch = m.render(RenderJob(a["image"], ta, b["image"], sb, rt))
    assert patch.image.shape == (64, 64, 3) and patch.image.dtype == np.uint8
    assert patch.mask.shape == (64, 64) and patch.to_target.shape == (2, 3)
    lm = m.fused_landmarks(RenderJob(a["image"], ta, b["image"], sb, rt))
    assert lm.shape == (478, 3) and not np.allclose(lm, ta.landmarks)


def test_pix2pix_baseline_uses_the_source_key_points_unfused(smoke, tmp_path, synthetic_cache):
    """The paper's baseline: in the target's aligned crop, the condition is the source's own
    key points (its face shape included); intensity 0 keeps the target's."""
    from facexpr.errors import ModelError
    from facexpr.faces.crops import alignment
    from facexpr.expression.retarget import Retargeted
    from facexpr.faces.landmarks import Face
    from facexpr.expression.retarget import Intent
    from facexpr.methods.base import RenderJob
    from facexpr.methods.pix2pix.method import Pix2PixMethod, source_in_target
    from facexpr.train.data import FaceCache
    from facexpr.faces.crops import crop_landmarks

    cache = FaceCache([synthetic_cache])
    a, b = cache.load(0), cache.load(4)
    face = lambda d, s: Face(d["landmarks"].astype(np.float64) * s, d["blendshapes"], d["pose"], (64, 64))  # noqa: E731
    ta, sb = face(a, 1.0), face(b, 0.9)  # the source photo at another scale
    job = RenderJob(a["image"], ta, b["image"], sb, Retargeted(ta.landmarks.copy(), np.zeros(52), ta.blendshapes))
    lm = source_in_target(job, 64)
    in_target_crop = crop_landmarks(lm, alignment(ta.landmarks, 64))[:, :2]
    in_source_crop = crop_landmarks(sb.landmarks, alignment(sb.landmarks, 64))[:, :2]
    assert np.allclose(in_target_crop, in_source_crop, atol=1e-6)
    job.retargeted.intent = Intent(intensity=0.0)
    assert np.allclose(source_in_target(job, 64), ta.landmarks)
    with pytest.raises(ModelError, match="pix2pix: generator weights"):
        Pix2PixMethod(generator=tmp_path / "missing.safetensors")
