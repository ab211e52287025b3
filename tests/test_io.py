"""Image input/output: every format and mode becomes RGB uint8, bad inputs become typed one-line
errors, and saving is atomic."""
from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from facexpr import io as fio
from facexpr.errors import (FacexprError, ImageNotFound, ImageTooLarge, ImageTooSmall, InputError,
                            NotAnImage, OutputError)
from facexpr.io import atomic_write_text, check_output_path, load_image, save_image

from _support import data_file


def _pattern(w: int = 120, h: int = 90) -> np.ndarray:
    """A smooth colour pattern (lossy formats keep it within a few levels) with distinct corners."""
    y, x = np.mgrid[0:h, 0:w]
    return np.stack([x * 255 // (w - 1), y * 255 // (h - 1), np.full_like(x, 60)], -1).astype(np.uint8)


def _one_line(err: Exception) -> str:
    msg = str(err)
    assert msg and "\n" not in msg, f"message is not one line: {msg!r}"
    return msg


# ----------------------------------------------------------------------------- formats

@pytest.mark.parametrize("ext,lossy", [(".jpg", True), (".png", False), (".webp", True),
                                       (".bmp", False), (".tif", False), (".tiff", False)])
def test_load_formats_give_rgb_uint8(tmp_path, ext, lossy):
    ref = _pattern()
    p = tmp_path / f"img{ext}"
    Image.fromarray(ref).save(p, **({"quality": 95} if lossy else {}))
    arr = load_image(p)
    assert arr.shape == (90, 120, 3) and arr.dtype == np.uint8
    assert arr.flags["C_CONTIGUOUS"]
    diff = np.abs(arr.astype(int) - ref)
    if lossy:
        assert diff.mean() < 3
    else:
        assert diff.max() == 0


def test_save_then_load_roundtrip_every_format(tmp_path):
    ref = _pattern()
    for ext in fio.SAVE_FORMATS:
        out = save_image(ref, tmp_path / f"out{ext}")
        assert out == tmp_path / f"out{ext}" and out.is_file()
        back = load_image(out)
        assert back.shape == ref.shape
        tol = 3 if fio.SAVE_FORMATS[ext] in ("JPEG", "WEBP") else 0
        assert np.abs(back.astype(int) - ref).mean() <= tol, ext


def test_exif_orientation_is_applied(tmp_path):
    # Stored 200 wide x 100 high, red block in the stored top-left corner, blue elsewhere.
    stored = np.zeros((100, 200, 3), np.uint8)
    stored[...] = (0, 0, 255)
    stored[:50, :50] = (255, 0, 0)
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display"
    p = tmp_path / "rotated.jpg"
    Image.fromarray(stored).save(p, exif=exif, quality=95)
    assert Image.open(p).size == (200, 100)  # the file itself is landscape
    arr = load_image(p)
    assert arr.shape == (200, 100, 3)  # displayed portrait
    # Rotating clockwise moves the stored top-left corner to the top-right.
    assert arr[10, 90, 0] > 200 and arr[10, 90, 2] < 60
    assert arr[10, 10, 2] > 200 and arr[10, 10, 0] < 60
    assert arr[190, 90, 2] > 200


def test_exif_orientation_applied_to_pil_input(tmp_path):
    stored = np.zeros((100, 200, 3), np.uint8)
    exif = Image.Exif()
    exif[0x0112] = 8
    p = tmp_path / "rot8.jpg"
    Image.fromarray(stored).save(p, exif=exif)
    with Image.open(p) as im:
        assert load_image(im).shape == (200, 100, 3)


def test_rgba_is_composited_on_white(tmp_path):
    a = np.zeros((80, 100, 4), np.uint8)
    a[..., 0] = 255                 # pure red …
    a[:, :50, 3] = 255              # … opaque on the left half
    a[:, 50:75, 3] = 128            # half transparent
    a[:, 75:, 3] = 0                # fully transparent on the right
    p = tmp_path / "rgba.png"
    Image.fromarray(a, "RGBA").save(p)
    arr = load_image(p)
    assert arr.shape == (80, 100, 3)
    assert tuple(arr[0, 0]) == (255, 0, 0)
    assert tuple(arr[0, 99]) == (255, 255, 255)
    assert abs(int(arr[0, 60, 1]) - 127) <= 2  # red over white at 50 %


def test_rgba_array_is_composited_on_white():
    a = np.zeros((70, 70, 4), np.uint8)
    a[..., 2] = 255
    a[:35, :, 3] = 255
    arr = load_image(a)
    assert tuple(arr[0, 0]) == (0, 0, 255) and tuple(arr[69, 0]) == (255, 255, 255)


def test_palette_with_transparency_is_composited(tmp_path):
    im = Image.new("P", (80, 80), 0)
    im.putpalette([0, 255, 0] + [0, 0, 0] * 255)
    im.info["transparency"] = 0
    p = tmp_path / "p.png"
    im.save(p, transparency=0)
    arr = load_image(p)
    assert tuple(arr[40, 40]) == (255, 255, 255)


def test_greyscale_L_becomes_rgb(tmp_path):
    g = np.tile(np.arange(0, 250, 2, dtype=np.uint8), (70, 1))
    p = tmp_path / "grey.png"
    Image.fromarray(g, "L").save(p)
    arr = load_image(p)
    assert arr.shape == (70, 125, 3) and arr.dtype == np.uint8
    assert np.array_equal(arr[..., 0], g) and np.array_equal(arr[..., 1], g) and np.array_equal(arr[..., 2], g)


def test_16bit_png_becomes_rgb_uint8(tmp_path):
    g = (np.tile(np.linspace(0, 65535, 128), (80, 1))).astype(np.uint16)
    p = tmp_path / "grey16.png"
    Image.fromarray(g).save(p)
    assert Image.open(p).mode.startswith("I")  # really a 16-bit file
    arr = load_image(p)
    assert arr.shape == (80, 128, 3) and arr.dtype == np.uint8
    assert arr[0, 0, 0] == 0 and arr[0, -1, 0] == 255
    expected = np.round(g[0].astype(np.float64) / 65535 * 255)
    assert np.abs(arr[0, :, 0].astype(float) - expected).max() <= 1
    assert np.all(np.diff(arr[0, :, 0].astype(int)) >= 0)  # monotone, not wrapped around


def test_uint16_and_float_arrays_are_scaled():
    u16 = np.full((64, 64, 3), 65535, np.uint16)
    assert load_image(u16).max() == 255 and load_image(u16).dtype == np.uint8
    f = np.full((64, 64), 0.5, np.float32)
    out = load_image(f)
    assert out.shape == (64, 64, 3) and abs(int(out[0, 0, 0]) - 128) <= 1


@pytest.mark.parametrize("shape", [(64, 64, 2), (64, 64, 5), (64,), (2, 64, 64, 3)])
def test_bad_array_shape_is_not_an_image(shape):
    with pytest.raises(NotAnImage) as e:
        load_image(np.zeros(shape, np.uint8))
    _one_line(e.value)


def test_loads_shared_edge_files(edge):
    rgba = load_image(data_file(edge, "Image_with_alpha.png"))
    bw = load_image(data_file(edge, "BWPictureHuman.jpg"))
    for arr in (rgba, bw):
        assert arr.ndim == 3 and arr.shape[2] == 3 and arr.dtype == np.uint8
    assert np.array_equal(bw[..., 0], bw[..., 1]) and np.array_equal(bw[..., 1], bw[..., 2])


# ----------------------------------------------------------------------------- size limits

def test_pixel_limit_raises_without_decoding(tmp_path, monkeypatch):
    p = tmp_path / "bomb.png"
    Image.new("1", (8000, 8000)).save(p)  # 64 MP, a few kB on disk
    assert p.stat().st_size < 100_000
    # Decoding would call ImageFile.load: make that an error so the test proves it never happens.
    from PIL import ImageFile

    def no_decode(self, *a, **k):
        raise AssertionError("the image was decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", no_decode)
    t = time.perf_counter()
    with pytest.raises(ImageTooLarge) as e:
        load_image(p)
    assert time.perf_counter() - t < 1.0
    msg = _one_line(e.value)
    assert "8000x8000" in msg and "bomb.png" in msg


def test_pixel_limit_applies_to_pil_and_arrays(monkeypatch):
    monkeypatch.setattr(fio, "MAX_PIXELS", 100 * 100)
    with pytest.raises(ImageTooLarge):
        load_image(Image.new("RGB", (101, 100)))
    with pytest.raises(ImageTooLarge):
        load_image(np.zeros((100, 101, 3), np.uint8))
    assert load_image(np.zeros((100, 100, 3), np.uint8)).shape == (100, 100, 3)


def test_too_small_image(tmp_path):
    p = tmp_path / "tiny.png"
    Image.new("RGB", (fio.MIN_SIDE - 1, 500)).save(p)
    with pytest.raises(ImageTooSmall) as e:
        load_image(p)
    _one_line(e.value)
    assert load_image(np.zeros((fio.MIN_SIDE, fio.MIN_SIDE, 3), np.uint8)).shape[0] == fio.MIN_SIDE


# ----------------------------------------------------------------------------- bad inputs

def test_missing_file(tmp_path):
    with pytest.raises(ImageNotFound) as e:
        load_image(tmp_path / "nope.jpg")
    assert "nope.jpg" in _one_line(e.value) and "no such file" in str(e.value)


def test_folder_is_not_an_image(tmp_path):
    with pytest.raises(NotAnImage) as e:
        load_image(tmp_path)
    assert "folder" in _one_line(e.value)


def test_text_file_is_not_an_image(tmp_path):
    p = tmp_path / "notes.jpg"
    p.write_text("hello, I am not a JPEG\n" * 20)
    with pytest.raises(NotAnImage) as e:
        load_image(p)
    assert "not an image" in _one_line(e.value)


def test_video_is_not_an_image(edge):
    video = data_file(edge, "no_face.mp4")
    with pytest.raises(NotAnImage) as e:
        load_image(video)
    assert "no_face.mp4" in _one_line(e.value)


@pytest.mark.parametrize("keep", [0.5, 0.1, 30])
def test_truncated_jpeg(tmp_path, keep):
    good = tmp_path / "good.jpg"
    Image.fromarray(_pattern(300, 300)).save(good, quality=95)
    data = good.read_bytes()
    n = keep if isinstance(keep, int) else int(len(data) * keep)
    bad = tmp_path / "trunc.jpg"
    bad.write_bytes(data[:n])
    with pytest.raises(NotAnImage) as e:
        load_image(bad)
    assert "trunc.jpg" in _one_line(e.value)


def test_typed_errors_are_facexpr_input_errors():
    for cls in (ImageNotFound, NotAnImage, ImageTooLarge, ImageTooSmall, OutputError):
        assert issubclass(cls, InputError) and issubclass(cls, FacexprError)
        assert cls("x").exit_code == 2


# ----------------------------------------------------------------------------- output

def test_check_output_path_refuses_input(tmp_path):
    src = tmp_path / "in.png"
    save_image(_pattern(), src)
    with pytest.raises(OutputError) as e:
        check_output_path(src, [src, tmp_path / "other.png"])
    assert "same file" in _one_line(e.value)
    # Spelled differently (relative, with ..) it is still the same file.
    other = tmp_path / "sub"
    other.mkdir()
    with pytest.raises(OutputError):
        check_output_path(other / ".." / "in.png", [src])


def test_check_output_path_refuses_input_via_symlink(tmp_path):
    src = tmp_path / "in.png"
    save_image(_pattern(), src)
    link = tmp_path / "link.png"
    link.symlink_to(src)
    with pytest.raises(OutputError):
        check_output_path(link, [src])


def test_check_output_path_ok_and_errors(tmp_path):
    src = tmp_path / "in.png"
    save_image(_pattern(), src)
    assert check_output_path(tmp_path / "out.png", [src, np.zeros((1,))]) == tmp_path / "out.png"
    with pytest.raises(OutputError) as e:
        check_output_path(tmp_path / "out.gif", [src])
    assert ".gif" in _one_line(e.value)
    with pytest.raises(OutputError) as e:
        check_output_path(tmp_path / "missing" / "out.png", [src])
    assert "does not exist" in _one_line(e.value)


def test_save_is_atomic_no_part_files(tmp_path):
    out = tmp_path / "out.png"
    save_image(_pattern(), out)
    save_image(_pattern()[::-1].copy(), out)  # overwrite
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.png"]
    assert np.array_equal(load_image(out), _pattern()[::-1])


def test_failing_encode_keeps_existing_file(tmp_path):
    out = tmp_path / "out.jpg"
    save_image(_pattern(), out)
    before = out.read_bytes()
    rgba = np.zeros((90, 120, 4), np.uint8)  # JPEG cannot store RGBA: the encoder fails midway
    with pytest.raises((OSError, OutputError)):
        save_image(rgba, out)
    assert out.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.jpg"]


def test_failing_rename_keeps_existing_file(tmp_path, monkeypatch):
    out = tmp_path / "out.png"
    save_image(_pattern(), out)
    before = out.read_bytes()

    def boom(a, b):
        raise OSError("disk on fire")

    monkeypatch.setattr(fio.os, "replace", boom)
    with pytest.raises(OSError, match="disk on fire"):
        save_image(np.zeros((90, 120, 3), np.uint8), out)
    with pytest.raises(OSError, match="disk on fire"):
        atomic_write_text(tmp_path / "x.json", "{}")
    assert out.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.png"]


def test_save_unknown_format(tmp_path):
    with pytest.raises(OutputError):
        save_image(_pattern(), tmp_path / "out.xyz")
    assert list(tmp_path.iterdir()) == []


def test_atomic_write_text(tmp_path):
    p = atomic_write_text(tmp_path / "a.json", '{"a": 1}')
    assert p.read_text() == '{"a": 1}'
    assert [x.name for x in tmp_path.iterdir()] == ["a.json"]


def test_save_in_current_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    save_image(_pattern(), "rel.png")
    assert (tmp_path / "rel.png").is_file() and len(os.listdir(tmp_path)) == 1
    assert Path("rel.png").stat().st_size > 0
