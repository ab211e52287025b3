"""The ``facexpr`` command, run as a real subprocess: outputs, exit codes, and one-line errors
(never a traceback) for everything a user can get wrong."""
from __future__ import annotations

import csv
import json
import os
import subprocess

import numpy as np
import pytest
from PIL import Image

from facexpr.expression.blendshapes import NAMES
from facexpr.io import load_image

from _support import data_file, facexpr_cmd


def run(*args, env=None, timeout=180) -> subprocess.CompletedProcess:
    full_env = {**os.environ, **(env or {})}
    full_env.pop("COLUMNS", None)
    return subprocess.run(facexpr_cmd() + [str(a) for a in args], capture_output=True, text=True,
                          timeout=timeout, env=full_env, stdin=subprocess.DEVNULL)


def assert_one_line_error(p: subprocess.CompletedProcess, *needles: str, code: int | None = None) -> str:
    assert p.returncode != 0, p
    if code is not None:
        assert p.returncode == code, (p.returncode, p.stderr)
    assert "Traceback" not in p.stderr, p.stderr
    lines = [line for line in p.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, f"stderr is not one line:\n{p.stderr}"
    for n in needles:
        assert n.lower() in lines[0].lower(), (n, lines[0])
    return lines[0]


@pytest.fixture(scope="module")
def pair(source_path, target_path):
    return source_path, target_path


# ----------------------------------------------------------------------------- success

def test_transfer_writes_output_and_profile(pair, tmp_path, target_img):
    src, tgt = pair
    out = tmp_path / "out.png"
    p = run("transfer", src, tgt, "-o", out, "--profile")
    assert p.returncode == 0, p.stderr
    assert out.is_file() and p.stdout.strip() == str(out)
    img = load_image(out)
    assert img.shape == target_img.shape
    assert np.array_equal(img[:50], target_img[:50])      # lossless PNG: background untouched
    assert np.abs(img.astype(int) - target_img).max() > 30  # the face changed
    prof = [line for line in p.stderr.splitlines() if line.startswith("profile:")]
    assert len(prof) == 1, p.stderr
    for stage in ("load", "analyze", "retarget", "render", "paste", "save"):
        assert f"{stage} " in prof[0] and " ms" in prof[0]
    assert "total" in prof[0]
    assert [x.name for x in tmp_path.iterdir()] == ["out.png"]  # no temp files left


def test_transfer_jpeg_output_with_options(pair, tmp_path):
    src, tgt = pair
    out = tmp_path / "out.jpg"
    p = run("transfer", src, tgt, "-o", out, "--regions", "mouth,eyes", "--intensity", "0.7", "-m", "warp")
    assert p.returncode == 0, p.stderr
    assert Image.open(out).format == "JPEG"
    assert "profile" not in p.stderr


def test_methods_lists_warp():
    p = run("methods")
    assert p.returncode == 0 and "warp" in p.stdout.split()


def test_help_mentions_commands():
    p = run("--help")
    assert p.returncode == 0
    for cmd in ("transfer", "analyze", "methods"):
        assert cmd in p.stdout


def test_analyze_prints_json(target_path, target_img):
    p = run("analyze", target_path)
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)
    assert doc["width"] == target_img.shape[1] and doc["height"] == target_img.shape[0]
    assert len(doc["faces"]) == 1
    f = doc["faces"][0]
    assert np.array(f["landmarks"]).shape == (478, 3)
    assert list(f["blendshapes"]) == list(NAMES) and all(0 <= v <= 1 for v in f["blendshapes"].values())
    assert {"yaw", "pitch", "roll"} <= set(f["pose"]) and np.array(f["pose"]["matrix"]).shape == (4, 4)
    assert len(f["bbox"]) == 4 and f["size_px"] > 100


def test_analyze_to_file_without_landmarks(target_path, tmp_path):
    out = tmp_path / "faces.json"
    p = run("analyze", target_path, "--no-landmarks", "-o", out, "--indent", "1")
    assert p.returncode == 0, p.stderr
    doc = json.loads(out.read_text())
    assert "landmarks" not in doc["faces"][0] and "blendshapes" in doc["faces"][0]
    assert "\n" in out.read_text()  # indented


def test_analyze_no_face_is_empty_list(tmp_path):
    blank = tmp_path / "blank.png"
    Image.new("RGB", (300, 200), (120, 130, 140)).save(blank)
    p = run("analyze", blank)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["faces"] == []


# ----------------------------------------------------------------------------- bad input

def test_missing_file(pair, tmp_path):
    p = run("transfer", tmp_path / "nope.jpg", pair[1], "-o", tmp_path / "o.png")
    assert_one_line_error(p, "nope.jpg", "no such file", code=2)
    assert not (tmp_path / "o.png").exists()


def test_text_file(pair, tmp_path):
    txt = tmp_path / "readme.txt"
    txt.write_text("not a photo\n")
    assert_one_line_error(run("transfer", pair[0], txt, "-o", tmp_path / "o.png"), "readme.txt", "not an image", code=2)


def test_video(pair, edge, tmp_path):
    video = data_file(edge, "no_face.mp4")
    assert_one_line_error(run("transfer", video, pair[1], "-o", tmp_path / "o.png"), "no_face.mp4", code=2)


def test_no_face_profile_photo(pair, edge, tmp_path):
    bw = data_file(edge, "BWPictureHuman.jpg")
    line = assert_one_line_error(run("transfer", pair[0], bw, "-o", tmp_path / "o.png"), "no face", code=2)
    assert "target" in line
    assert not (tmp_path / "o.png").exists()


def test_no_face_blank_source(pair, tmp_path):
    blank = tmp_path / "blank.png"
    Image.new("RGB", (400, 400), (250, 250, 250)).save(blank)
    line = assert_one_line_error(run("transfer", blank, pair[1], "-o", tmp_path / "o.png"), "no face", code=2)
    assert "source" in line


def test_face_index_out_of_range(pair, tmp_path):
    assert_one_line_error(run("transfer", *pair, "-o", tmp_path / "o.png", "--target-face", "3"),
                          "face index 3", "1 face found", code=2)


def test_output_equals_input(pair, tmp_path):
    tgt = tmp_path / "me.jpg"
    Image.open(pair[1]).save(tgt, quality=90)
    before = tgt.read_bytes()
    assert_one_line_error(run("transfer", pair[0], tgt, "-o", tgt), "same file", code=2)
    assert tgt.read_bytes() == before


def test_unknown_output_format(pair, tmp_path):
    assert_one_line_error(run("transfer", *pair, "-o", tmp_path / "o.gif"), ".gif", code=2)


def test_output_folder_missing(pair, tmp_path):
    assert_one_line_error(run("transfer", *pair, "-o", tmp_path / "no" / "o.png"), "does not exist", code=2)


def test_unknown_method(pair, tmp_path):
    assert_one_line_error(run("transfer", *pair, "-o", tmp_path / "o.png", "--method", "magic"),
                          "unknown method", "magic", code=2)


def test_missing_arguments():
    assert_one_line_error(run("transfer"), "SOURCE TARGET", code=2)


@pytest.mark.parametrize("args,needle", [(["--intensity", "2"], "intensity"),
                                         (["--intensity", "-0.5"], "intensity"),
                                         (["--regions", "nose"], "nose")])
def test_bad_option_values_are_refused(pair, tmp_path, args, needle):
    p = run("transfer", *pair, "-o", tmp_path / "o.png", *args)
    assert p.returncode == 2 and "Traceback" not in p.stderr and needle in p.stderr
    assert not (tmp_path / "o.png").exists()


@pytest.mark.parametrize("args", [["--intensity", "2"], ["--regions", "nose"]])
def test_bad_option_values_are_one_line(pair, tmp_path, args):
    assert_one_line_error(run("transfer", *pair, "-o", tmp_path / "o.png", *args), code=2)


def test_analyze_output_folder_missing(target_path, tmp_path):
    assert_one_line_error(run("analyze", target_path, "-o", tmp_path / "missing" / "x.json"))


def test_analyze_bad_input(tmp_path):
    assert_one_line_error(run("analyze", tmp_path / "missing.png"), "no such file", code=2)


# ----------------------------------------------------------------------------- batch

def _write_pairs(path, rows):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "source", "target"])
        w.writerows(rows)


def test_batch_with_one_bad_pair(pair, edge, tmp_path):
    src, tgt = pair
    bw = data_file(edge, "BWPictureHuman.jpg")
    csv_path = tmp_path / "pairs.csv"
    rel_src = os.path.relpath(src, tmp_path)  # paths are relative to the CSV
    _write_pairs(csv_path, [["a", rel_src, os.path.relpath(tgt, tmp_path)],
                            ["bad", rel_src, str(bw)],
                            ["c", str(src), str(src)]])
    out_dir = tmp_path / "results"
    p = run("transfer", "--pairs", csv_path, "--out-dir", out_dir, "--profile")
    assert p.returncode == 1, p.stderr
    assert "Traceback" not in p.stderr
    assert sorted(x.name for x in out_dir.iterdir()) == ["a.png", "c.png", "results.parquet"]
    assert load_image(out_dir / "a.png").shape == load_image(tgt).shape
    assert "2/3 pairs written" in p.stderr
    assert "1 failed" in p.stderr
    bad_lines = [line for line in p.stderr.splitlines() if line.strip().startswith("bad:")]
    assert len(bad_lines) == 1 and "no face" in bad_lines[0]
    assert "profile:" in p.stderr


def test_batch_all_good_exits_zero(pair, tmp_path):
    csv_path = tmp_path / "pairs.csv"
    _write_pairs(csv_path, [["only", str(pair[0]), str(pair[1])]])
    p = run("transfer", "--pairs", csv_path, "--out-dir", tmp_path / "o", "--intensity", "0")
    assert p.returncode == 0, p.stderr
    assert np.array_equal(load_image(tmp_path / "o" / "only.png"), load_image(pair[1]))


@pytest.mark.parametrize("content,needle", [
    ("id,source\nx,a.jpg\n", "id,source,target"),
    ("id,source,target\n../evil,a.jpg,b.jpg\n", "ids must"),
    ("id,source,target\nx,a.jpg,b.jpg\nx,a.jpg,b.jpg\n", "duplicate"),
])
def test_batch_bad_csv(tmp_path, content, needle):
    csv_path = tmp_path / "pairs.csv"
    csv_path.write_text(content)
    assert_one_line_error(run("transfer", "--pairs", csv_path, "--out-dir", tmp_path / "o"), needle, code=2)
    assert not (tmp_path / "evil.png").exists()


def test_batch_needs_out_dir(tmp_path):
    csv_path = tmp_path / "pairs.csv"
    _write_pairs(csv_path, [["x", "a.jpg", "b.jpg"]])
    assert_one_line_error(run("transfer", "--pairs", csv_path), "--out-dir", code=2)


def test_batch_missing_csv(tmp_path):
    assert_one_line_error(run("transfer", "--pairs", tmp_path / "none.csv", "--out-dir", tmp_path / "o"),
                          "none.csv", code=2)


# ----------------------------------------------------------------------------- --source-neutral

def test_transfer_with_source_neutral(pair, london, tmp_path, target_img):
    """The faithful mode: the source's change from its own neutral photo (same person as SOURCE_REL)."""
    src, tgt = pair
    neutral = data_file(london.parent, "london/neutral/061_03.jpg")
    out = tmp_path / "out.png"
    p = run("transfer", src, tgt, "-o", out, "--source-neutral", neutral)
    assert p.returncode == 0, p.stderr
    img = load_image(out)
    assert img.shape == target_img.shape and np.abs(img.astype(int) - target_img).max() > 30


def test_bad_source_neutral_is_one_line(pair, tmp_path):
    src, tgt = pair
    assert_one_line_error(run("transfer", src, tgt, "-o", tmp_path / "o.png", "--source-neutral",
                              tmp_path / "missing.jpg"), "missing.jpg", "no such file", code=2)
    blank = tmp_path / "blank.png"
    Image.new("RGB", (300, 300), (120, 130, 140)).save(blank)
    assert_one_line_error(run("transfer", src, tgt, "-o", tmp_path / "o.png", "--source-neutral", blank),
                          "source neutral", "no face", code=2)
    assert not (tmp_path / "o.png").exists()
