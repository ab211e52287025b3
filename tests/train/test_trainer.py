"""End-to-end on CPU: smoke training, checkpoints, exact resume, export, the exported method, CLI."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from facexpr.train.checkpoint import latest_checkpoint, load_checkpoint, read_state
from facexpr.train.config import load_config
from facexpr.train.tasks import unwrap
from facexpr.train.trainer import Trainer, lr_lambda

SMOKE = Path(__file__).resolve().parents[2] / "configs" / "smoke.yaml"
FAST = ["train.steps=6", "train.checkpoint_every=3", "train.log_every=1", "train.image_every=3"]


def _states_equal(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def _opt_equal(a, b) -> bool:
    sa, sb = a.state_dict()["state"], b.state_dict()["state"]
    return sa.keys() == sb.keys() and all(
        torch.equal(sa[k][n], sb[k][n]) if torch.is_tensor(sa[k][n]) else sa[k][n] == sb[k][n]
        for k in sa for n in sa[k])


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    """The smoke config, uninterrupted: 6 iterations, checkpoints at 3 and 6."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        out = tmp_path_factory.mktemp("smoke") / "run"
        cfg = load_config(SMOKE, FAST + [f"train.out_dir={out}", "train.progress=false"])
        tr = Trainer(cfg)
        summary = tr.fit()
    finally:
        torch.set_num_threads(threads)
    return tr, summary, out


def test_smoke_training(smoke_run):
    tr, summary, out = smoke_run
    assert summary["steps"] == 6 and summary["steps_per_s"] > 0
    logs = summary["logs"]
    for k in ("d_adv", "d_penalty", "d_au", "g_adv", "g_l1", "g_perceptual", "g_au", "g_cycle", "g_tv",
              "g_mask", "g_mask_tv", "g_total", "d_total"):
        assert k in logs and np.isfinite(logs[k]), k
    assert (out / "config.yaml").is_file() and json.loads((out / "train.json").read_text())["steps"] == 6
    assert sorted(p.name for p in (out / "samples").glob("*.png")) == ["step-00000003.png", "step-00000006.png"]
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    ea = EventAccumulator(str(out / "tb"), size_guidance={"images": 0})
    ea.Reload()
    assert {"loss/g_total", "loss/d_total", "lr/G", "lr/D", "perf/steps_per_s"} <= set(ea.Tags()["scalars"])
    assert [e.step for e in ea.Images(ea.Tags()["images"][0])] == [3, 6]  # source | target | output grids
    ck = latest_checkpoint(out)
    assert ck.name == "step-00000006" and read_state(ck)["step"] == 6
    for rel in ("nets/G.safetensors", "nets/D.safetensors", "ema/G.safetensors", "optim/G.pt", "optim/D.pt",
                "sched/G.pt", "rng/0.pt", "config.yaml"):
        assert (ck / rel).is_file(), rel
    assert not list(ck.parent.glob(".*.tmp"))  # nothing half-written left behind
    # the EMA differs from the raw generator (decay 0.9) but not by much
    g, e = unwrap(tr.nets["G"]).state_dict(), tr.ema["G"].state_dict()
    assert not _states_equal(g, e)


def test_checkpoint_round_trip(smoke_run):
    tr, _, out = smoke_run
    fresh = Trainer(load_config(SMOKE, FAST + [f"train.out_dir={out}", "train.progress=false"]))
    assert not _states_equal(unwrap(fresh.nets["G"]).state_dict(), unwrap(tr.nets["G"]).state_dict())
    state = load_checkpoint(latest_checkpoint(out), {n: unwrap(v) for n, v in fresh.nets.items()}, fresh.ema,
                            fresh.opt, fresh.sched, restore_rng=False)
    assert state["step"] == 6
    for n in tr.nets:
        assert _states_equal(unwrap(fresh.nets[n]).state_dict(), unwrap(tr.nets[n]).state_dict())
        assert _opt_equal(fresh.opt[n], tr.opt[n])
        assert fresh.sched[n].state_dict()["last_epoch"] == tr.sched[n].state_dict()["last_epoch"]
    assert _states_equal(fresh.ema["G"].state_dict(), tr.ema["G"].state_dict())


def test_resume_is_exact(smoke_run, tmp_path):
    """Stop after the checkpoint at step 3 (a kill), resume to 6: bit-identical to the uninterrupted run."""
    tr, _, _ = smoke_run
    over = FAST + [f"train.out_dir={tmp_path / 'run'}", "train.progress=false"]
    first = Trainer(load_config(SMOKE, over))
    first.fit(stop_after=3)
    assert latest_checkpoint(tmp_path / "run").name == "step-00000003"
    del first
    torch.manual_seed(1234)  # whatever the RNG does in between, the checkpoint restores it
    np.random.seed(99)
    resumed = Trainer(load_config(SMOKE, over), resume=True)
    assert resumed.step == 3
    resumed.fit()
    for n in tr.nets:
        assert _states_equal(unwrap(resumed.nets[n]).state_dict(), unwrap(tr.nets[n]).state_dict()), n
        assert _opt_equal(resumed.opt[n], tr.opt[n]), n
    assert _states_equal(resumed.ema["G"].state_dict(), tr.ema["G"].state_dict())
    assert torch.equal(torch.get_rng_state(), tr_rng_after(tr))


def tr_rng_after(tr) -> torch.Tensor:
    """The uninterrupted run's RNG state at its last checkpoint (= after its last iteration)."""
    return torch.load(latest_checkpoint(tr.out) / "rng" / "0.pt", weights_only=True)["torch"]


def test_resume_refuses_another_model(smoke_run, tmp_path):
    from facexpr.train.config import ConfigError

    _, _, out = smoke_run
    with pytest.raises(ConfigError, match="model"):
        Trainer(load_config(SMOKE, FAST + [f"train.out_dir={out}", "model.g_base=4"]), resume=True)
    with pytest.raises(ConfigError, match="no checkpoint"):
        Trainer(load_config(SMOKE, FAST + [f"train.out_dir={tmp_path / 'empty'}"]), resume=True)


def test_export_and_method(smoke_run, tmp_path):
    from facexpr.expression.model import load_default_model
    from facexpr.expression.retarget import retarget
    from facexpr.faces.landmarks import Face
    from facexpr.faces.paste import paste_back
    from facexpr.methods.base import RenderJob
    from facexpr.methods.exported import load_exported
    from facexpr.train.export import export
    from facexpr.methods.exported import ExportedMethod
    from facexpr.train.synthetic import face_landmarks, paint_face

    tr, _, out = smoke_run
    card = export(out, tmp_path / "smoke.safetensors", metrics={"lpips": 0.5})
    f = tmp_path / "smoke.safetensors"
    assert card["weights"] == "ema" and card["steps"] == 6 and card["metrics"]["lpips"] == 0.5
    assert card["file_bytes"] == f.stat().st_size < 2 * 2 * card["parameters"] + 20000  # fp16
    from facexpr.io import default_file_mode

    assert f.stat().st_mode & 0o777 == default_file_mode()  # not safetensors' private 0600
    assert (tmp_path / "smoke.json").is_file() and "data licence" in (tmp_path / "smoke.md").read_text()
    assert card["data"][0]["faces"] == 12
    G, task, card2 = load_exported(f)
    assert card2["task"] == "pix2pix" and next(G.parameters()).dtype == torch.float32
    batch = {k: v[:2] for k, v in _grid_batch(tr).items()}
    with torch.no_grad():
        ref, got = task.generate(tr.ema["G"], batch), task.generate(G, batch)
    assert (ref - got).abs().max() < 0.02  # fp16 rounding only

    rng = np.random.default_rng(0)

    def photo(bs):
        lm = face_landmarks(bs, 160) + np.array([40, 30, 0])
        img = np.full((220, 240, 3), 90, np.uint8)
        img[30:190, 40:200] = paint_face(lm - np.array([40, 30, 0]), 160, (200, 150, 130), (90, 90, 90), rng)
        return img, Face(lm, bs.astype(np.float32), np.eye(4), (240, 220))

    bs_s = np.zeros(52)
    bs_s[[44, 45]] = 0.9
    (ti, tf), (si, sf) = photo(np.zeros(52)), photo(bs_s)
    method = ExportedMethod(f)
    patch = method.render(RenderJob(ti, tf, si, sf, retarget(sf, tf, load_default_model())))
    assert patch.image.shape == (64, 64, 3) and patch.mask.max() > 0.9
    result = paste_back(ti, patch)
    assert result.shape == ti.shape and np.array_equal(result[:5, :5], ti[:5, :5])  # outside the face: untouched


def _grid_batch(tr):
    from facexpr.train.data import fixed_batch

    return fixed_batch(tr.dataset, 2)


def test_lr_schedules():
    f = lr_lambda("linear", 100, 0.5, 0)
    assert f(0) == 1 and f(50) == 1 and f(75) == pytest.approx(0.5) and f(100) == 0
    g = lr_lambda("cosine", 100, 0.5, 10)
    assert g(0) == pytest.approx(0.1) and g(50) == pytest.approx(0.5, abs=0.02)


def test_cli_train_export(tmp_path):
    from typer.testing import CliRunner

    from facexpr.train.cli import make_app

    app, runner = make_app(), CliRunner()
    run = tmp_path / "run"
    res = runner.invoke(app, ["train", "-c", str(SMOKE), "train.steps=2", "train.checkpoint_every=2",
                              "train.image_every=0", f"train.out_dir={run}", "train.progress=false"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout[res.stdout.index("{"):])["steps"] == 2
    res = runner.invoke(app, ["train", "-c", str(SMOKE), "train.steps=3", "train.checkpoint_every=3",
                              "train.image_every=0", f"train.out_dir={run}", "train.progress=false", "--resume"])
    assert res.exit_code == 0, res.output
    assert read_state(latest_checkpoint(run))["step"] == 3
    res = runner.invoke(app, ["export", str(run), "-o", str(tmp_path / "m.safetensors")])
    assert res.exit_code == 0 and (tmp_path / "m.md").is_file()
    res = runner.invoke(app, ["train", "-c", str(SMOKE), "train.stpes=3"])
    assert res.exit_code == 2 and "unknown key train.stpes" in res.output


def test_init_from_fine_tunes_a_shipped_generator(smoke_run, tmp_path):
    """``train.init_from``: the generator (and its EMA) start from an exported file or a checkpoint
    folder, everything else fresh; a file that does not fit the config's generator is refused."""
    from facexpr.train.config import ConfigError
    from facexpr.train.export import export

    tr, _, out = smoke_run
    f = tmp_path / "g.safetensors"
    export(out, f)
    base = FAST + [f"train.out_dir={tmp_path / 'ft'}", "train.progress=false"]
    ft = Trainer(load_config(SMOKE, base + [f"train.init_from={f}"]))
    shipped = tr.ema["G"].state_dict()
    for k, v in unwrap(ft.nets["G"]).state_dict().items():
        assert torch.allclose(v, shipped[k].half().float(), atol=1e-6), k  # fp16 export
        assert torch.equal(ft.ema["G"].state_dict()[k], v), k
    assert ft.step == 0
    from_dir = Trainer(load_config(SMOKE, base + [f"train.init_from={latest_checkpoint(out)}"]))
    assert _states_equal(unwrap(from_dir.nets["G"]).state_dict(), shipped)  # a checkpoint's EMA, exact
    with pytest.raises(ConfigError, match="no generator weights"):
        Trainer(load_config(SMOKE, base + [f"train.init_from={tmp_path / 'missing.safetensors'}"]))
    with pytest.raises(ConfigError, match="does not fit"):
        Trainer(load_config(SMOKE, base + [f"train.init_from={f}", "model.g_base=16"]))
