"""Shared fixtures: locating ../shared/data (skip when absent, unless FACEXPR_REQUIRE_DATA=1 makes
that a failure) and session-wide analyses of real photos, so MediaPipe runs as little as possible.

Shared data is never copied into the repository; variants (greyscale, RGBA, rotated…) are
generated into ``tmp_path`` by the tests that need them.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from _support import DEFAULT_DATA, SOURCE_REL, TARGET_REL, data_file, missing_data  # noqa: F401


@pytest.fixture(scope="session")
def shared_data() -> Path:
    root = Path(os.environ.get("FACEXPR_DATA") or DEFAULT_DATA)
    if not root.is_dir():
        missing_data(f"shared data folder {root}")
    return root


@pytest.fixture(scope="session")
def london(shared_data: Path) -> Path:
    d = shared_data / "london"
    if not (d / "smiling").is_dir() or not (d / "neutral").is_dir():
        missing_data(f"London set {d}")
    return d


@pytest.fixture(scope="session")
def edge(shared_data: Path) -> Path:
    d = shared_data / "edge"
    if not d.is_dir():
        missing_data(f"edge-case folder {d}")
    return d


@pytest.fixture(scope="session")
def source_path(london: Path) -> Path:
    return data_file(london.parent, SOURCE_REL)


@pytest.fixture(scope="session")
def target_path(london: Path) -> Path:
    return data_file(london.parent, TARGET_REL)


@pytest.fixture(scope="session")
def source_img(source_path: Path) -> np.ndarray:
    from facexpr.io import load_image

    return load_image(source_path)


@pytest.fixture(scope="session")
def target_img(target_path: Path) -> np.ndarray:
    from facexpr.io import load_image

    return load_image(target_path)


@pytest.fixture(scope="session")
def source_faces(source_img):
    from facexpr.expression.analysis import analyze_faces  # analysed faces: the code renderers read

    return analyze_faces(source_img)


@pytest.fixture(scope="session")
def target_faces(target_img):
    from facexpr.expression.analysis import analyze_faces  # analysed faces: the code renderers read

    return analyze_faces(target_img)


@pytest.fixture(scope="session")
def source_face(source_faces):
    assert len(source_faces) == 1, "the London source photo should show exactly one face"
    return source_faces[0]


@pytest.fixture(scope="session")
def target_face(target_faces):
    assert len(target_faces) == 1, "the London target photo should show exactly one face"
    return target_faces[0]


@pytest.fixture(scope="session")
def model():
    from facexpr.expression.model import load_default_model

    return load_default_model()


@pytest.fixture(scope="session")
def warp_result(source_path, target_path):
    """One full ``warp`` transfer of the London pair, shared by the method and pipeline tests."""
    import facexpr

    return facexpr.transfer(source_path, target_path, method="warp")


@pytest.fixture(scope="session")
def warp_output_faces(warp_result):
    """The transfer result analysed again, as a user would."""
    from facexpr.expression.analysis import analyze_faces  # analysed faces: the code renderers read

    return analyze_faces(warp_result.image)


@pytest.fixture
def one_torch_thread():
    """Torch on one thread for the test (2-core CI: two threads fight the other process)."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="session")
def synthetic_cache(tmp_path_factory) -> Path:
    """4 cartoon people x 3 expressions at 64 px, in the `facexpr prepare` cache format."""
    from facexpr.train.synthetic import make_cache

    return make_cache(tmp_path_factory.mktemp("syn") / "cache", n_people=4, per_person=3, size=64, seed=0)
