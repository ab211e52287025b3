"""Model files: found locally, checksum-verified, and a corrupt or missing file is a clean
ModelError (never a silent fallback, never a crash inside MediaPipe)."""
from __future__ import annotations

import functools
import os
import subprocess

import numpy as np
import pytest

from facexpr import assets
from facexpr.errors import ModelError
from facexpr.faces import landmarks

from _support import facexpr_cmd

ENV = assets.ASSETS["face_landmarker"].env_var


@pytest.fixture
def clean_env(monkeypatch):
    """No user overrides, and a fresh checksum cache before and after (it is keyed on path+mtime,
    so clearing it only costs a re-hash)."""
    for a in assets.ASSETS.values():
        monkeypatch.delenv(a.env_var, raising=False)
    monkeypatch.delenv("FACEXPR_MODELS", raising=False)
    assets._verified.cache_clear()
    yield monkeypatch
    assets._verified.cache_clear()


@pytest.fixture
def fresh_landmarker(clean_env):
    """A private, uncached landmarker factory: the process-wide landmarker (and its cache) is put
    back untouched afterwards, so later tests do not reload MediaPipe or see a broken one."""
    fresh = functools.lru_cache(maxsize=1)(landmarks._Landmarker)
    clean_env.setattr(landmarks, "get_landmarker", fresh)
    yield fresh
    if fresh.cache_info().currsize:  # a landmarker was created after all: release it
        fresh().close()


def test_env_var_names():
    assert ENV == "FACEXPR_FACE_LANDMARKER"
    assert assets.ASSETS["dlib_shape_predictor_5"].env_var == "FACEXPR_DLIB_SHAPE_PREDICTOR_5"
    assert assets.CORE == ("face_landmarker",)


def test_resolve_finds_verified_face_landmarker(clean_env):
    p = assets.resolve("face_landmarker")
    assert p.is_file() and p.name == "face_landmarker.task"
    assert assets.sha256_of(p) == assets.ASSETS["face_landmarker"].sha256


def test_resolve_unknown_asset():
    with pytest.raises(ModelError, match="unknown model"):
        assets.resolve("nope")


def test_models_dirs_order(clean_env, tmp_path):
    clean_env.setenv("FACEXPR_MODELS", str(tmp_path))
    dirs = assets.models_dirs()
    assert dirs[0] == tmp_path and len(dirs) == 3
    assert assets.candidates(assets.ASSETS["face_landmarker"])[0] == tmp_path / "face_landmarker.task"
    clean_env.setenv(ENV, str(tmp_path / "x.task"))
    assert assets.candidates(assets.ASSETS["face_landmarker"])[0] == tmp_path / "x.task"


def test_env_var_to_good_copy_is_used(clean_env, tmp_path):
    copy = tmp_path / "my_landmarker.task"
    copy.write_bytes(assets.resolve("face_landmarker").read_bytes())
    clean_env.setenv(ENV, str(copy))
    assert assets.resolve("face_landmarker") == copy


def test_env_var_to_corrupt_file_raises(clean_env, tmp_path):
    bad = tmp_path / "face_landmarker.task"
    bad.write_bytes(b"\x00" * 4096)
    clean_env.setenv(ENV, str(bad))
    with pytest.raises(ModelError) as e:
        assets.resolve("face_landmarker")
    msg = str(e.value)
    assert str(bad) in msg and "SHA-256" in msg and "\n" not in msg
    assert e.value.exit_code == 3


def test_env_var_to_missing_file_raises(clean_env, tmp_path):
    clean_env.setenv(ENV, str(tmp_path / "gone.task"))
    with pytest.raises(ModelError, match="no such file"):
        assets.resolve("face_landmarker")


def test_corrupt_file_in_models_folder_is_not_skipped(clean_env, tmp_path):
    """A mismatch is an error, never a silent fallback to the next candidate."""
    (tmp_path / "face_landmarker.task").write_bytes(b"corrupt")
    clean_env.setenv("FACEXPR_MODELS", str(tmp_path))
    with pytest.raises(ModelError, match="SHA-256"):
        assets.resolve("face_landmarker")


def test_modified_file_is_rechecked(clean_env, tmp_path):
    copy = tmp_path / "lm.task"
    copy.write_bytes(assets.resolve("face_landmarker").read_bytes())
    clean_env.setenv(ENV, str(copy))
    assert assets.resolve("face_landmarker") == copy
    copy.write_bytes(copy.read_bytes()[:-10] + b"0123456789")
    st = copy.stat()
    os.utime(copy, ns=(st.st_atime_ns, st.st_mtime_ns + 10 ** 9))  # a visibly newer file
    with pytest.raises(ModelError):
        assets.resolve("face_landmarker")


def test_corrupt_model_stops_the_landmarker(fresh_landmarker, clean_env, tmp_path):
    bad = tmp_path / "face_landmarker.task"
    bad.write_bytes(b"PK\x03\x04 not really a zip")
    clean_env.setenv(ENV, str(bad))
    with pytest.raises(ModelError):
        landmarks.get_landmarker()
    with pytest.raises(ModelError):
        landmarks.analyze_faces(np.zeros((100, 100, 3), np.uint8))


def test_process_landmarker_still_works_after_swaps(target_img):
    """Runs after the swap tests above: the cached landmarker was restored, not broken."""
    faces = landmarks.analyze_faces(target_img)
    assert len(faces) == 1


def test_cli_corrupt_model_exit_code_3(tmp_path, source_path, target_path):
    bad = tmp_path / "face_landmarker.task"
    bad.write_bytes(b"\x00" * 100)
    env = {**os.environ, ENV: str(bad)}
    p = subprocess.run(facexpr_cmd() + ["transfer", str(source_path), str(target_path), "-o", str(tmp_path / "o.png")],
                       capture_output=True, text=True, env=env, timeout=120, stdin=subprocess.DEVNULL)
    assert p.returncode == 3, p.stderr
    lines = [line for line in p.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in p.stderr and "SHA-256" in lines[0]
    assert not (tmp_path / "o.png").exists()
