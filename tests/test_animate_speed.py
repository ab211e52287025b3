"""What animate's start-up and per-frame speed-ups must not change (the speed itself is
benchmarks/animate.py's): the reference search on its own thread, sampled frames decoded without
conversion, the jitter window found in one pass, one BLAS thread while it runs."""
from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from _support import data_file

pytestmark = pytest.mark.data


@pytest.fixture(scope="module")
def wolfgang(shared_data):
    return data_file(shared_data, "video/WolfgangLanger_Pexels.mp4")


def test_read_frames_step_gives_the_same_frames(wolfgang):
    from facexpr.io_video import read_frames

    every = {f.index: f for f in read_frames(wolfgang, 5, 40)}
    some = list(read_frames(wolfgang, 5, 40, step=8))
    assert [f.index for f in some] == list(range(5, 40, 8))
    for f in some:
        assert f.time == every[f.index].time
        np.testing.assert_array_equal(f.image, every[f.index].image)


def _stillest_by_definition(driver_xy, found, fps, seconds=1.0):
    """The window as first written: each window's motion measured on its own."""
    from facexpr.animation import motion

    n = max(3, int(round(seconds * fps)))
    best, where = None, None
    for i in range(0, len(driver_xy) - n + 1):
        if not all(found[i:i + n]):
            continue
        seg = [driver_xy[j] for j in range(i, i + n)]
        m = float(motion(seg, float(np.ptp(seg[0][:, 1])) or 1.0).mean())
        if best is None or m < best:
            best, where = m, (i, i + n)
    return where


def test_stillest_window_matches_its_definition():
    from facexpr.animation import stillest_window

    rng = np.random.default_rng(3)
    for trial in range(20):
        n = int(rng.integers(5, 80))
        xy = np.cumsum(rng.normal(0, rng.uniform(0.1, 3), (n, 478, 2)), axis=0) + 200
        found = list(rng.random(n) > 0.1)
        drv = [p if f else None for p, f in zip(xy, found)]
        assert stillest_window(drv, found, 25.0, 0.2) == _stillest_by_definition(drv, found, 25.0, 0.2)


def test_photo_errors_come_first_and_stop_the_search(wolfgang, tmp_path):
    """The reference is searched on a helper thread while the photo is analysed: a photo without a
    face is still the error the user gets, promptly."""
    import time

    import facexpr
    from facexpr.errors import FaceNotFound
    from facexpr.io import save_image

    blank = tmp_path / "blank.png"
    save_image(np.full((256, 256, 3), 128, np.uint8), blank)
    t = time.perf_counter()
    with pytest.raises(FaceNotFound, match="photo"):
        facexpr.animate(blank, wolfgang)
    assert time.perf_counter() - t < 60


def test_one_blas_thread_nests_and_restores():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    from facexpr.threads import _numpy_blas, one_blas_thread

    if _numpy_blas() is None:
        pytest.skip("numpy has no OpenBLAS here")

    def threads():
        return _numpy_blas().info()[0]["num_threads"]

    before = threads()
    with one_blas_thread():
        assert threads() == 1
        with one_blas_thread():
            assert threads() == 1
        assert threads() == 1
    assert threads() == before


def test_a_limit_for_good_survives_a_request_that_began_before_it():
    """The Live server limits BLAS for good on a viewer's first frame; a photo analysis that was
    already running (inside ``one_blas_thread``) must not put two threads back when it ends.
    In a child process: the limit for good is for the rest of the process."""
    pytest.importorskip("threadpoolctl")
    code = (
        "from facexpr.threads import _numpy_blas, one_blas_thread, one_blas_thread_for_good\n"
        "b = _numpy_blas()\n"
        "if b is None: print('skip'); raise SystemExit\n"
        "b.limit(limits=2)\n"
        "n = lambda: b.info()[0]['num_threads']\n"
        "with one_blas_thread():\n"
        "    one_blas_thread_for_good()\n"
        "print(n())\n"
        "with one_blas_thread():\n"
        "    pass\n"
        "print(n())\n")
    env = {k: v for k, v in os.environ.items() if k not in ("FACEXPR_BLAS_THREADS", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    if out.stdout.strip() == "skip":
        pytest.skip("numpy has no OpenBLAS here")
    assert out.stdout.split() == ["1", "1"]


def test_on_helper_runs_nested_calls_inline():
    import threading

    from facexpr.threads import on_helper

    names = on_helper(lambda: (threading.current_thread().name,
                               on_helper(lambda: threading.current_thread().name).result())).result()
    assert names[0] == names[1] and names[0].startswith("facexpr-helper")


def test_helper_pool_works_in_a_forked_child():
    """A child forked after the pool started (a training DataLoader worker) gets its own threads."""
    import multiprocessing as mp

    from facexpr.threads import on_helper

    assert on_helper(lambda: 1).result() == 1  # the parent's pool exists
    ctx = mp.get_context("fork")
    with ctx.Pool(1) as pool:
        assert pool.apply(_helper_in_child, ()) == 42


def _helper_in_child():
    from facexpr.threads import on_helper

    return on_helper(lambda: 42).result(timeout=30)
