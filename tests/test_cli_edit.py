"""``facexpr edit`` as a real subprocess: output, profile, exit codes and one-line errors."""
from __future__ import annotations

import numpy as np
import pytest

from facexpr.io import load_image

from test_cli import assert_one_line_error, run


def test_edit_writes_output_and_profile(target_path, target_img, tmp_path):
    out = tmp_path / "out.png"
    p = run("edit", target_path, "--au", "AU12=+0.8", "--au", "AU4=-0.2", "-m", "warp", "-o", out, "--profile")
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == str(out)
    img = load_image(out)
    assert img.shape == target_img.shape
    assert np.array_equal(img[:50], target_img[:50])        # background untouched (lossless PNG)
    assert np.abs(img.astype(int) - target_img).max() > 30    # the face changed
    prof = [line for line in p.stderr.splitlines() if line.startswith("profile:")]
    assert len(prof) == 1 and all(f"{s} " in prof[0] for s in ("load", "analyze", "render", "paste", "save"))
    assert [x.name for x in tmp_path.iterdir()] == ["out.png"]  # atomic: no temp files left


def test_edit_intensity_zero_is_the_input(target_path, target_img, tmp_path):
    out = tmp_path / "same.png"
    p = run("edit", target_path, "--emotion", "happy", "--intensity", "0", "-m", "warp", "-o", out)
    assert p.returncode == 0, p.stderr
    assert np.array_equal(load_image(out), target_img)


@pytest.mark.parametrize("args,needles", [
    (["--au", "AU11=+0.5"], ["AU11 is not supported", "AU12"]),
    (["--au", "L1=+0.5"], ["no left/right halves", "AU1"]),
    (["--au", "AU12"], ["AU<number>=<change>"]),
    (["--au", "AU12=0.5", "--au", "AU12=0.1"], ["more than once"]),
    (["--au", "AU12=1.2"], ["outside [-1, +1]"]),
    (["--emotion", "bored"], ["unknown emotion", "happy"]),
    (["--emotion", "sad", "--intensity", "1.6"], ["between 0 and 1.5"]),
    ([], ["nothing to edit"]),
])
def test_edit_user_errors_exit_2_in_one_line(args, needles, target_path, tmp_path):
    p = run("edit", target_path, *args, "-m", "warp", "-o", tmp_path / "o.png")
    assert_one_line_error(p, *needles, code=2)
    assert not (tmp_path / "o.png").exists()


def test_edit_refuses_to_overwrite_the_input(target_path, tmp_path):
    import shutil

    copy = tmp_path / "me.jpg"
    shutil.copy(target_path, copy)
    p = run("edit", copy, "--au", "AU12=0.5", "-m", "warp", "-o", copy)
    assert_one_line_error(p, "same file as an input", code=2)
    p = run("edit", copy, "--au", "AU12=0.5", "-m", "warp")
    assert_one_line_error(p, "-o", code=2)


def test_edit_missing_image_and_bad_face_index(target_path, tmp_path):
    p = run("edit", tmp_path / "nope.jpg", "--au", "AU12=0.5", "-m", "warp", "-o", tmp_path / "o.png")
    assert_one_line_error(p, "no such file", code=2)
    p = run("edit", target_path, "--au", "AU12=0.5", "-m", "warp", "--face", "2", "-o", tmp_path / "o.png")
    assert_one_line_error(p, "out of range", code=2)


def test_edit_unusable_model_file_exits_3(target_path, tmp_path):
    bad = tmp_path / "broken.safetensors"
    bad.write_bytes(b"not a model")
    p = run("edit", target_path, "--au", "AU12=0.5", "-m", bad, "-o", tmp_path / "o.png")
    assert_one_line_error(p, "broken.safetensors", code=3)


def test_edit_default_method_is_the_warp(target_path, tmp_path):
    """The default edit method needs no generator (warp: the most controllable on the AU
    benchmark); a missing generator file for -m relative-au is covered in tests/test_edit.py."""
    p = run("edit", target_path, "--au", "AU12=0.5", "-o", tmp_path / "o.png", "--profile")
    assert p.returncode == 0, p.stderr
    assert "render" in p.stdout + p.stderr and (tmp_path / "o.png").stat().st_size > 1000


def test_edit_help_has_an_example():
    p = run("edit", "--help")
    assert p.returncode == 0 and "--au AU12=+0.8" in p.stdout and "--emotion" in p.stdout
