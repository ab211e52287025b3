"""The package as a user gets it: build the wheel, install it alone into a fresh venv (nothing else
installed first, no --no-deps: pip resolves every dependency the wheel declares), then
`facexpr fetch-models --core`, `facexpr sample` and `facexpr transfer` on the bundled pair.

The install must stay torch-free (torch is the `[torch]` extra), consistent (`pip check`), and the
transfer must really move the face: the output's smile (AU12, read by the installed `facexpr
analyze`) rises well above the neutral target's, and the photo's background is untouched.

Slow (a minute or two: the wheel's dependencies come through pip's cache or the package index,
and the face model through `facexpr fetch-models`); CI runs it. pip in the new venv reads the same
configuration as this machine's (index, local wheels, constraints), so a local torch would be found
if anything asked for it; nothing should.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow


def _run(cmd, env, cwd, timings, label, timeout=900):
    t = time.perf_counter()
    p = subprocess.run([str(c) for c in cmd], env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    timings[label] = round(time.perf_counter() - t, 1)
    assert p.returncode == 0, f"{label}: exit {p.returncode}\n{p.stdout[-2000:]}\n{p.stderr[-4000:]}"
    return p


def _pip_cache() -> str:
    p = subprocess.run([sys.executable, "-m", "pip", "cache", "dir"], capture_output=True, text=True)
    return p.stdout.strip() if p.returncode == 0 and p.stdout.strip() else ""


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """A fresh venv with the built wheel installed, and the timings of each step."""
    work = tmp_path_factory.mktemp("wheel")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    cache = _pip_cache()
    env.update(HOME=str(work / "home"), FACEXPR_MODELS=str(work / "models"), PIP_DISABLE_PIP_VERSION_CHECK="1")
    if cache:
        env["PIP_CACHE_DIR"] = cache  # the machine's pip cache, though HOME is a fresh one
    (work / "home").mkdir()
    timings: dict[str, float] = {}
    # Built from a clean copy: setuptools reuses a build/ folder, where a module since moved or
    # deleted would still sit and be shipped; and the test leaves the checkout as it was.
    tree = work / "src-tree"
    shutil.copytree(REPO, tree, ignore=shutil.ignore_patterns(
        ".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", ".pytest_cache", "runs", "reports",
        "cache", "models", "node_modules"))
    _run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", work / "dist", tree], env, work,
         timings, "pip wheel")
    (wheel,) = (work / "dist").glob("facexpr-*.whl")
    _run([sys.executable, "-m", "venv", work / "venv"], env, work, timings, "python -m venv")
    bin_ = work / "venv" / "bin"
    _run([bin_ / "pip", "install", "-q", wheel], env, work, timings, "pip install facexpr-*.whl")
    yield work, bin_, env, timings
    print("\nfresh-venv timings (s):", json.dumps(timings), file=sys.stderr)


def test_install_is_torch_free_and_consistent(installed):
    work, bin_, env, timings = installed
    assert subprocess.run([bin_ / "pip", "show", "-q", "torch"], env=env, capture_output=True).returncode != 0, \
        "the core install pulled torch"
    check = _run([bin_ / "pip", "check"], env, work, timings, "pip check")
    assert "No broken requirements" in check.stdout
    names = {d["name"].lower() for d in
             json.loads(_run([bin_ / "pip", "list", "--format=json"], env, work, timings, "pip list").stdout)}
    assert {"mediapipe", "opencv-contrib-python", "facexpr"} <= names
    assert not names & {"opencv-python-headless", "opencv-python"}, "two OpenCV distributions share cv2/"
    # pip there reads this machine's configuration, so `facexpr[torch]` would still find the local
    # CPU torch (resolved only, not installed).
    _run([bin_ / "pip", "install", "--dry-run", "-q", "--no-deps", "torch==2.13.0"], env, work, timings,
         "pip install --dry-run torch")
    help_ = _run([bin_ / "facexpr", "--help"], env, work, timings, "facexpr --help")
    assert "transfer" in help_.stdout and "research" in help_.stdout


def test_fetch_models_then_transfer_on_the_bundled_pair(installed):
    work, bin_, env, timings = installed
    _run([bin_ / "facexpr", "fetch-models", "--core"], env, work, timings, "facexpr fetch-models --core")
    assert (work / "models" / "face_landmarker.task").is_file()
    paths = _run([bin_ / "facexpr", "sample", "-o", work / "s"], env, work, timings, "facexpr sample").stdout.split()
    source, target = map(Path, paths)
    assert source.is_file() and target.is_file() and (work / "s" / "README.md").is_file()
    out = work / "out.png"
    _run([bin_ / "facexpr", "transfer", source, target, "-o", out], env, work, timings, "facexpr transfer")

    from PIL import Image

    before = np.asarray(Image.open(target).convert("RGB")).astype(int)
    after = np.asarray(Image.open(out).convert("RGB")).astype(int)
    assert after.shape == before.shape
    diff = np.abs(after - before).sum(-1)
    assert diff[:40, :40].max() == 0 and diff[:40, -40:].max() == 0, "the background changed"
    assert (diff > 8).mean() > 0.02, "the face did not change"

    def au12(path):
        doc = json.loads(_run([bin_ / "facexpr", "analyze", path, "--no-landmarks"], env, work, timings,
                              f"facexpr analyze {Path(path).name}").stdout)
        return doc["faces"][0]["action_units"]["AU12"]

    assert au12(out) > au12(target) + 0.3


def test_a_generator_method_names_the_torch_extra(installed):
    work, bin_, env, timings = installed
    source, target = (work / "s" / n for n in ("source_smiling.jpg", "target_neutral.jpg"))
    if not source.is_file():
        paths = _run([bin_ / "facexpr", "sample", "-o", work / "s"], env, work, timings, "facexpr sample")
        assert paths.returncode == 0
    p = subprocess.run([bin_ / "facexpr", "transfer", source, target, "-m", "relative-au", "-o", work / "g.png"],
                       env=env, capture_output=True, text=True, timeout=300)
    assert p.returncode == 2 and p.stderr.strip().count("\n") == 0, p.stderr
    assert "pip install 'facexpr[torch]'" in p.stderr and not (work / "g.png").exists()
