"""``evaluate --downscale N``: every input shrunk to N px on its long side before the transfer.

The size checks and the pair rewriting run on synthetic images (no shared data); one London pair
checks end to end that a method and the judges really receive the small images and that the
report says so; bad sizes end in one line and exit code 2.
"""
from __future__ import annotations

import subprocess

import cv2
import numpy as np
import pytest

from facexpr.datasets.expressions import Pair
from facexpr.errors import FacexprError, InputError
from facexpr.evaluate.downscale import MAX_SIDE, MIN_SIDE, Downscale
from facexpr.io import load_image, save_image

from _support import facexpr_cmd


@pytest.mark.parametrize("bad", [0, -256, MIN_SIDE - 1, MAX_SIDE + 1, True, 256.0, "256"])
def test_a_bad_size_is_one_line(bad):
    with pytest.raises(InputError) as e:
        Downscale(bad)
    assert "\n" not in str(e.value) and "--downscale" in str(e.value) and e.value.exit_code == 2


def _photo(path, h, w, seed=0):
    rng = np.random.default_rng(seed)
    img = cv2.resize(rng.integers(0, 256, (h // 8, w // 8, 3), dtype=np.uint8), (w, h),
                     interpolation=cv2.INTER_NEAREST)  # blocks: area averaging keeps their colours
    save_image(img, path)
    return img


def test_pairs_point_at_area_averaged_copies(tmp_path):
    big = _photo(tmp_path / "big.png", 1024, 768)   # portrait: the long side is the height
    wide = _photo(tmp_path / "wide.png", 300, 1200, seed=1)
    small = _photo(tmp_path / "small.png", 200, 150, seed=2)
    pairs = [Pair("a", tmp_path / "big.png", tmp_path / "wide.png", gt=tmp_path / "small.png"),
             Pair("b", tmp_path / "small.png", tmp_path / "big.png", source_neutral=tmp_path / "wide.png"),
             Pair("c", tmp_path / "missing.png", tmp_path / "big.png")]
    out = Downscale(256).pairs(pairs, tmp_path / "work")

    assert [p.id for p in out] == ["a", "b", "c"] and out[0].label == pairs[0].label
    a, b, c = out
    assert load_image(a.source).shape == (256, 192, 3) and load_image(a.target).shape == (64, 256, 3)
    assert np.array_equal(load_image(a.gt), small)  # already small: never upscaled, pixels unchanged
    assert np.array_equal(load_image(a.source), cv2.resize(big, (192, 256), interpolation=cv2.INTER_AREA))
    assert b.target == a.source and b.source_neutral == a.target  # one copy per distinct photo
    assert len(list((tmp_path / "work").iterdir())) == 3
    assert c.source == tmp_path / "missing.png"  # unreadable: kept, so the runner lists the pair as skipped
    with pytest.raises(FacexprError):
        load_image(c.source)


def test_run_sees_small_images_and_the_report_says_so(london, tmp_path):
    from facexpr.evaluate import benchmarks, report, runner

    seen = []

    def spy(source, target):  # a 'method' that returns the target and notes what it was given
        s, t = load_image(source), load_image(target)
        seen.append((s.shape, t.shape))
        return t, {"render": 0.0}

    pairs = benchmarks.subset(benchmarks.london_pairs(london), 1)
    result = runner.evaluate_pairs(pairs, [runner.MethodSpec("spy", spy)], runner.Judges(("expression",)),
                                   keep_crops=1, downscale=Downscale(256))
    assert seen == [((256, 256, 3), (256, 256, 3))]  # London photos are 1350 x 1350
    assert result.pairs == pairs  # the report names the original photos
    assert result.per_pair[pairs[0].id]["spy"]["face"]  # MediaPipe still finds the small face
    assert result.crops[pairs[0].id]["target"] is not None
    assert result.meta["downscale"]["long_side"] == 256
    results = report.build_results(result, "london", "facexpr evaluate --downscale 256")
    assert results["downscale"]["long_side"] == 256
    text = report.markdown_report(results, {}, "x")
    assert "down-scaled to 256 px" in text and "INTER_AREA" in text


@pytest.mark.parametrize("args, needle", [
    (["--benchmark", "london", "--downscale", "12"], "--downscale must be"),
    (["--task", "read", "--downscale", "256"], "--downscale goes with --task transfer"),
])
def test_cli_bad_downscale_is_one_line_exit_2(tmp_path, args, needle, shared_data):
    p = subprocess.run(facexpr_cmd() + ["evaluate", *args, "--out", str(tmp_path / "x"), "--limit", "1"],
                       capture_output=True, text=True, timeout=300, env=_env(shared_data))
    assert p.returncode == 2 and p.stderr.count("\n") == 1 and needle in p.stderr, p.stderr
    assert not (tmp_path / "x").exists()


def _env(shared_data):
    import os

    return {**os.environ, "FACEXPR_DATA": str(shared_data)}
