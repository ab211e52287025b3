"""Typed configs: YAML files, inheritance, dotted overrides, and errors that name the key."""
from __future__ import annotations

from pathlib import Path

import pytest

from facexpr.train.config import Config, ConfigError, OptimConfig, config_from_dict, load_config
from facexpr.train.tasks import get_task

CONFIGS = sorted((Path(__file__).resolve().parents[2] / "configs").glob("*.yaml"))


def test_configs_folder_has_smoke_and_sizes():
    names = {p.stem for p in CONFIGS}
    assert {"smoke", "pix2pix-128", "pix2pix-256"} <= names


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_every_config_loads_and_names_a_task(path):
    cfg = load_config(path)
    assert isinstance(cfg, Config)
    assert get_task(cfg.task).name == cfg.task
    assert cfg.size in (64, 128, 256)


def test_base_inheritance_and_deep_merge():
    root = Path(__file__).resolve().parents[2] / "configs"
    c128, c256 = load_config(root / "pix2pix-128.yaml"), load_config(root / "pix2pix-256.yaml")
    assert c256.size == 256 and c256.model["g_depth"] == 5
    assert c256.model["g_base"] == c128.model["g_base"]  # inherited key inside an overridden mapping
    assert c256.loss == c128.loss and c256.train.out_dir != c128.train.out_dir


def test_overrides_are_typed():
    cfg = config_from_dict({}, ["train.steps=12", "optim.G.lr=1e-4", "optim.E.lr=3e-5", "data.cache=/a",
                                "train.cpu=true", "loss.weights.l1=2", "optim.D.betas=[0.0, 0.99]"])
    assert cfg.train.steps == 12 and isinstance(cfg.train.steps, int)
    assert cfg.optim["G"].lr == pytest.approx(1e-4)  # YAML reads 1e-4 as a string: converted
    assert cfg.optim_for("E").lr == pytest.approx(3e-5) and cfg.optim_for("nobody") == OptimConfig()
    assert cfg.data.cache == ["/a"] and cfg.train.cpu is True
    assert cfg.loss.weights["l1"] == 2.0 and cfg.loss.weights["adv"] == 1.0  # merged into defaults
    assert cfg.optim["D"].betas == (0.0, 0.99)


@pytest.mark.parametrize("override, message", [
    ("train.stpes=3", "unknown key train.stpes"),
    ("train.steps=many", "train.steps must be an integer"),
    ("train.cpu=3", "train.cpu must be true or false"),
    ("data.regime=paired", "data.regime must be one of"),
    ("data.mix={paired: 1}", "data.mix must give"),
    ("loss.penalty=gp", "loss.penalty must be one of"),
    ("size=100", "size must be a multiple of 16"),
    ("train.steps", "expected key=value"),
])
def test_bad_values_name_the_key(override, message):
    with pytest.raises(ConfigError, match=message):
        config_from_dict({}, [override])


def test_yaml_round_trip(tmp_path):
    cfg = config_from_dict({"name": "x", "model": {"a": 1}}, ["train.steps=7"])
    p = tmp_path / "c.yaml"
    p.write_text(cfg.to_yaml())
    assert load_config(p) == cfg


def test_file_errors(tmp_path):
    with pytest.raises(ConfigError, match="no such file"):
        load_config(tmp_path / "missing.yaml")
    (tmp_path / "a.yaml").write_text("base: b.yaml\n")
    (tmp_path / "b.yaml").write_text("base: a.yaml\n")
    with pytest.raises(ConfigError, match="circular"):
        load_config(tmp_path / "a.yaml")
    (tmp_path / "list.yaml").write_text("- 1\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_config(tmp_path / "list.yaml")


def test_unknown_task():
    from facexpr.train.tasks import TaskNotFound

    with pytest.raises(TaskNotFound, match="unknown training task"):
        get_task("no-such-method")
