"""``facexpr swap A B -o A_OUT -o B_OUT`` and ``facexpr.swap``: two outputs, each its input's size,
each wearing the other photo's expression; one-line errors for everything a user can get wrong."""
from __future__ import annotations

import numpy as np
import pytest

from facexpr.io import load_image

from test_cli import assert_one_line_error, run


@pytest.fixture(scope="module")
def swapped(source_path, target_path, tmp_path_factory):
    d = tmp_path_factory.mktemp("swap")
    a, b = d / "a.png", d / "b.png"
    p = run("swap", source_path, target_path, "-m", "warp", "-o", a, "-o", b, "--profile")
    return p, a, b


def test_swap_writes_both_outputs(swapped, source_img, target_img):
    p, a, b = swapped
    assert p.returncode == 0, p.stderr
    assert p.stdout.split() == [str(a), str(b)]
    assert len([line for line in p.stderr.splitlines() if line.startswith("profile:")]) == 2
    out_a, out_b = load_image(a), load_image(b)
    assert out_a.shape == source_img.shape and out_b.shape == target_img.shape
    assert np.abs(out_a.astype(int) - source_img).max() > 30  # each face changed
    assert np.abs(out_b.astype(int) - target_img).max() > 30


def test_swap_moves_each_expression_to_the_other(swapped):
    """A is smiling and B neutral: after the swap A's smile has gone to B."""
    from facexpr.expression.analysis import analyze_faces
    from facexpr.expression.blendshapes import INDEX

    _, a, b = swapped
    smile = lambda p: analyze_faces(load_image(p))[0].blendshapes[[INDEX["mouthSmileLeft"], INDEX["mouthSmileRight"]]].mean()  # noqa: E731
    assert smile(b) > smile(a) + 0.2


@pytest.mark.parametrize("outs,needle", [
    (["one.png"], "give -o twice"),
    (["same.png", "same.png"], "same file"),
    (["a.txt", "b.png"], "unknown output format"),
])
def test_swap_bad_outputs(source_path, target_path, tmp_path, outs, needle):
    args = [x for o in outs for x in ("-o", tmp_path / o)]
    assert_one_line_error(run("swap", source_path, target_path, "-m", "warp", *args), needle, code=2)
    assert not any((tmp_path / o).exists() for o in outs)


def test_swap_bad_inputs(source_path, edge, tmp_path):
    a, b = tmp_path / "a.png", tmp_path / "b.png"
    assert_one_line_error(run("swap", source_path, tmp_path / "missing.jpg", "-m", "warp", "-o", a, "-o", b),
                          "missing.jpg")
    assert_one_line_error(run("swap", source_path, edge / "no_face.mp4", "-m", "warp", "-o", a, "-o", b),
                          "not an image")
    assert_one_line_error(run("swap", source_path, source_path, "-m", "nope", "-o", a, "-o", b), "nope")
    assert_one_line_error(run("swap", source_path, source_path, "-m", "warp", "-o", source_path, "-o", b),
                          "same file as an input")
    assert not a.exists() and not b.exists()


def test_swap_in_python(source_img, target_img):
    import facexpr

    res = facexpr.swap(source_img, target_img, method="warp", intensity=0)
    assert np.array_equal(res.a.image, source_img) and np.array_equal(res.b.image, target_img)


def test_swap_with_au_swap_the_default(source_path, target_path, tmp_path, source_img, target_img):
    """The paper's own setting with the shipped au-swap generator (the default method of `swap`)."""
    a, b = tmp_path / "a.png", tmp_path / "b.png"
    p = run("swap", source_path, target_path, "-o", a, "-o", b)
    assert p.returncode == 0, p.stderr
    assert load_image(a).shape == source_img.shape and load_image(b).shape == target_img.shape
    assert np.abs(load_image(b).astype(int) - target_img).max() > 30
