"""The Python API ``facexpr.transfer`` / ``facexpr.analyze`` end to end."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

import facexpr
from facexpr.errors import (FaceIndexError, FaceNotFound, ImageNotFound, IntensityOutOfRange, MethodNotFound,
                            NotAnImage, RegionError)
from facexpr.expression.blendshapes import INDEX
from facexpr.io import load_image
from facexpr.limits import MAX_INTENSITY
from facexpr.pipeline import TransferConfig, TransferResult, run_transfer

from _support import data_file

STAGES = {"load", "analyze", "retarget", "render", "paste"}
SMILE = [INDEX["mouthSmileLeft"], INDEX["mouthSmileRight"]]


def _border_equal(a: np.ndarray, b: np.ndarray, px: int = 50) -> bool:
    return all(np.array_equal(x, y) for x, y in ((a[:px], b[:px]), (a[-px:], b[-px:]),
                                                  (a[:, :px], b[:, :px]), (a[:, -px:], b[:, -px:])))


def test_result_type_and_timings(warp_result, target_img):
    assert isinstance(warp_result, TransferResult)
    assert warp_result.image.shape == target_img.shape and warp_result.image.dtype == np.uint8
    assert STAGES <= set(warp_result.timings)
    assert all(v >= 0 for v in warp_result.timings.values())
    assert warp_result.timings["render"] > 0
    assert len(warp_result.source_face.landmarks) == len(warp_result.target_face.landmarks) == 478
    assert warp_result.retargeted.landmarks.shape == (478, 3)


def test_paths_pil_and_arrays_give_the_same_result(warp_result, source_path, target_path, source_img, target_img):
    """warp_result was made from pathlib paths; PIL images and arrays must give identical pixels."""
    with Image.open(source_path) as s, Image.open(target_path) as t:
        from_pil = facexpr.transfer(s, t)
    from_arr = facexpr.transfer(source_img, target_img)
    for r in (from_pil, from_arr):
        assert np.array_equal(r.image, warp_result.image)


def test_intensity_zero_returns_target_exactly(source_path, target_path, target_img):
    r = facexpr.transfer(str(source_path), str(target_path), intensity=0)  # str paths work too
    assert np.array_equal(r.image, target_img)
    assert r.image is not target_img
    assert not r.retargeted.delta.any()


def test_intensity_scales_the_change(warp_result, source_path, target_path, target_img):
    half = facexpr.transfer(source_path, target_path, intensity=0.5).image.astype(int)
    full = warp_result.image.astype(int)
    d_half, d_full = np.abs(half - target_img).mean(), np.abs(full - target_img).mean()
    assert 0 < d_half < d_full


def test_regions_mouth_only_keeps_the_mouth_change(warp_result, source_path, target_path, target_img, target_face):
    from facexpr.faces.topology import LIPS_OUTER

    r = facexpr.transfer(source_path, target_path, regions=["mouth"])
    assert not r.retargeted.delta[[INDEX["browInnerUp"], INDEX["eyeBlinkLeft"], INDEX["eyeSquintRight"]]].any()
    x0, y0 = target_face.xy[list(LIPS_OUTER)].min(0).astype(int)
    x1, y1 = target_face.xy[list(LIPS_OUTER)].max(0).astype(int)
    assert np.abs(r.image[y0:y1, x0:x1].astype(int) - target_img[y0:y1, x0:x1]).mean() > 10


def test_bad_arguments(source_path, target_path, tmp_path):
    with pytest.raises(MethodNotFound):
        facexpr.transfer(source_path, target_path, method="nope")
    # one limit, one error type for transfer and edit alike (facexpr.limits), checked before any work
    with pytest.raises(IntensityOutOfRange) as t:
        facexpr.transfer(source_path, target_path, intensity=2.0)
    with pytest.raises(IntensityOutOfRange) as e:
        facexpr.edit(target_path, aus="AU12=+0.5", intensity=2.0)
    assert str(t.value) == str(e.value) == f"intensity must be between 0 and {MAX_INTENSITY}, got 2.0"
    with pytest.raises(RegionError, match="nose"):
        facexpr.transfer(source_path, target_path, regions=["nose"])
    with pytest.raises(ImageNotFound):
        facexpr.transfer(tmp_path / "missing.jpg", target_path)
    with pytest.raises(FaceIndexError):
        facexpr.transfer(source_path, target_path, target_face=1)


def test_no_face_in_target_names_the_target(source_path, tmp_path):
    blank = tmp_path / "blank.png"
    Image.new("RGB", (400, 300), (180, 180, 180)).save(blank)
    with pytest.raises(FaceNotFound) as e:
        facexpr.transfer(source_path, blank)
    assert "target" in str(e.value) and "blank.png" in str(e.value) and "no face" in str(e.value)


def test_video_target_is_not_an_image(source_path, edge):
    with pytest.raises(NotAnImage):
        facexpr.transfer(source_path, data_file(edge, "no_face.mp4"))


def test_greyscale_target(source_path, target_path, tmp_path):
    grey = tmp_path / "grey.jpg"
    Image.open(target_path).convert("L").save(grey, quality=95)
    r = facexpr.transfer(source_path, grey)
    tgt = load_image(grey)
    assert r.image.shape == tgt.shape == (1350, 1350, 3)
    assert _border_equal(r.image, tgt)
    assert np.abs(r.image.astype(int) - tgt).max() > 30  # something changed (the face)
    assert r.target_face.blendshapes[SMILE].mean() < 0.1


def test_greyscale_source(source_path, target_path, tmp_path, target_img):
    grey = tmp_path / "grey_src.png"
    Image.open(source_path).convert("L").save(grey)
    r = facexpr.transfer(grey, target_path)
    assert r.image.shape == target_img.shape
    assert r.source_face.blendshapes[SMILE].mean() > 0.3  # the smile is still seen in grey
    assert np.abs(r.image.astype(int) - target_img).mean() > 0.1


def test_rgba_target(source_path, target_path, tmp_path):
    rgba = Image.open(target_path).convert("RGBA")
    a = np.array(rgba)
    a[:100, :100, 3] = 0  # a transparent corner: becomes white
    p = tmp_path / "rgba.png"
    Image.fromarray(a, "RGBA").save(p)
    r = facexpr.transfer(source_path, p)
    assert r.image.shape == (1350, 1350, 3)
    assert np.all(r.image[:100, :100] == 255)
    assert _border_equal(r.image, load_image(p))


def test_exif_rotated_target(source_path, target_path, tmp_path):
    """A portrait target stored sideways with EXIF Orientation=6 comes out upright and portrait."""
    upright = Image.open(target_path).crop((175, 0, 1175, 1350))  # 1000 wide x 1350 high
    stored = upright.transpose(Image.Transpose.ROTATE_90)         # 1350 wide x 1000 high
    exif = Image.Exif()
    exif[0x0112] = 6
    p = tmp_path / "sideways.jpg"
    stored.save(p, exif=exif, quality=95)
    r = facexpr.transfer(source_path, p)
    assert r.image.shape == (1350, 1000, 3)
    assert r.target_face.image_size == (1000, 1350)
    assert np.abs(r.image[:50].astype(int) - np.asarray(upright)[:50]).mean() < 3


def test_run_transfer_with_config(source_img, target_img):
    r = run_transfer(source_img, target_img, TransferConfig(intensity=0.0, regions=("brows",)))
    assert np.array_equal(r.image, target_img)
    assert "render" not in r.timings  # nothing to render at intensity 0


def test_analyze_api(target_path):
    faces = facexpr.analyze(target_path)
    assert len(faces) == 1 and faces[0].landmarks.shape == (478, 3)


def test_face_indices_match_analyze(edge, source_path):
    group = data_file(edge, "multi_face.jpg")
    faces = facexpr.analyze(group)
    assert len(faces) == 5
    for i in (1, 3):
        r = facexpr.transfer(source_path, group, target_face=i)
        assert r.target_face.bbox == faces[i].bbox


def test_target_face_index_in_group_photo(edge, source_path):
    """Transfer onto the second face of a group photo changes that face and leaves the largest alone."""
    group = data_file(edge, "multi_face.jpg")
    img = load_image(group)
    r = facexpr.transfer(source_path, group, target_face=1)
    assert r.image.shape == img.shape
    largest = facexpr.analyze(img)[0]
    assert r.target_face.size < largest.size
    x0, y0, x1, y1 = largest.bbox
    assert np.array_equal(r.image[y0:y1, x0:x1], img[y0:y1, x0:x1])
    x0, y0, x1, y1 = r.target_face.bbox
    assert np.abs(r.image[y0:y1, x0:x1].astype(int) - img[y0:y1, x0:x1]).mean() > 0.5


def test_source_neutral_closed_loop_makes_up_the_smile(london, source_path, target_path):
    """With ``source_neutral`` the measured displacement is kept and the closed loop adds the
    model's motion where MediaPipe under-measured it: the output smiles at least as much as the
    open loop's, and nearer the source's own change."""
    from facexpr.faces.landmarks import reanalyze
    from facexpr.pipeline import TransferConfig, run_transfer
    from _support import data_file

    neutral = data_file(london.parent, "london/neutral/061_03.jpg")
    smile = lambda face: float(face.blendshapes[INDEX["mouthSmileLeft"]] + face.blendshapes[INDEX["mouthSmileRight"]]) / 2
    res = {fb: run_transfer(source_path, target_path, TransferConfig(source_neutral=neutral, feedback=fb))
           for fb in (0, 1)}
    assert res[1].retargeted.from_geometry and res[0].retargeted.from_geometry
    seen = {fb: smile(reanalyze(r.image, r.target_face)) - smile(r.target_face) for fb, r in res.items()}
    want = float(res[1].retargeted.requested[INDEX["mouthSmileLeft"]] + res[1].retargeted.requested[INDEX["mouthSmileRight"]]) / 2
    assert want > 0.3  # a real smile's change
    assert seen[1] >= seen[0] - 0.02 and abs(seen[1] - want) <= abs(seen[0] - want) + 0.02


def test_closed_loop_measures_a_transfers_reader_shapes_with_the_reader():
    """An absolute transfer asks for the source's *code*, so the closed loop measures the shapes
    the learned reader answers with the reader; an edit (render-space amounts) and a relative
    transfer (measured geometry) keep MediaPipe-only correction."""
    from facexpr.expression.reader import load_default_reader
    from facexpr.expression.retarget import EDIT, TRANSFER, Intent
    from facexpr.pipeline import _gainable, _read_measured

    reader = load_default_reader()
    from facexpr.expression.blendshapes import FITTED, NAMES

    read = _read_measured(Intent(TRANSFER))
    assert read.any() and not (read & ~reader.use).any() and set(np.array(NAMES)[read]) <= set(FITTED)
    assert not _read_measured(Intent(EDIT)).any()
    assert not _read_measured(Intent(TRANSFER, relative=True)).any()
    frown = np.zeros(len(INDEX))
    frown[[INDEX["mouthFrownLeft"], INDEX["mouthFrownRight"]]] = 0.5  # a shape MediaPipe does not score
    assert _gainable(frown, None, Intent(TRANSFER)) and not _gainable(frown, None, Intent(EDIT))
    frown[:] = 0
    frown[INDEX["mouthFrownLeft"]] = 0.05  # within the reader's doubt: nothing to correct
    assert not _gainable(frown, None, Intent(TRANSFER))


def test_closed_loop_makes_up_a_reader_shape_to_the_full_shape_at_most(monkeypatch, target_face):
    """The loop's arithmetic on a reader-measured shape: a frown asked at 0.6 that the reader
    reads back at 0.15 is made up (×1.75), but never past the full shape (code 1) nor below the
    request; a MediaPipe-measured shape (the smile) keeps its own rule, unbounded by 1."""
    from dataclasses import replace as dc_replace

    import facexpr.pipeline as pl
    from facexpr.expression.retarget import TRANSFER, Intent, Retargeted

    frown, smile = INDEX["mouthFrownLeft"], INDEX["mouthSmileLeft"]
    t = np.zeros(len(INDEX), np.float32)
    t[frown] = 0.3  # the target's own reading: room for 0.7 more
    target = dc_replace(target_face, blendshapes=t, detection=None)
    want = np.zeros(len(INDEX))
    want[frown], want[smile] = 0.6, 0.6
    seen_code, seen_mp = t.astype(np.float64).copy(), np.zeros(len(INDEX))
    seen_code[frown] += 0.15  # the render reads a quarter of the frown asked for
    seen_mp[smile] = 0.3      # and half the smile
    monkeypatch.setattr(pl, "reread", lambda out, near: object())
    monkeypatch.setattr(pl, "mediapipe_scores", lambda f: seen_mp if not hasattr(f, "landmarks") else np.zeros(len(INDEX)))
    monkeypatch.setattr(pl, "describe", lambda f: dc_replace(target, blendshapes=seen_code))
    rt = Retargeted(target.landmarks, want.copy(), t, intent=Intent(TRANSFER))
    delta = pl._corrected(np.zeros((4, 4, 3), np.uint8), target, rt)
    assert delta[frown] == pytest.approx(0.7)            # 0.6 x 1.75 = 1.05, capped at 1 - 0.3
    assert delta[smile] == pytest.approx(0.6 * 1.5)      # MediaPipe's rule: half short, x 1.5
    rt_edit = Retargeted(target.landmarks, want.copy(), t, intent=Intent("edit"))
    assert pl._corrected(np.zeros((4, 4, 3), np.uint8), target, rt_edit)[frown] == pytest.approx(0.6)


def test_transfer_makes_up_a_sad_sources_frown(london, target_path):
    """End to end: a sad source's frown (a shape only the reader reads) is raised by the closed
    loop where the open loop's render read weaker (a 0.7 frown drawn open loop read back ~0.15 on
    some targets), within the full shape, and the output reads a clear frown."""
    from facexpr.expression.analysis import reanalyze

    source = facexpr.edit(data_file(london.parent, "london/neutral/005_03.jpg"), emotion="sad").image
    frown = [INDEX["mouthFrownLeft"], INDEX["mouthFrownRight"]]
    res = {fb: run_transfer(source, target_path, TransferConfig(feedback=fb)) for fb in (0, 1)}
    want = res[1].retargeted.requested[frown]
    assert want.mean() > 0.3  # the edit reads as a clear frown
    own = res[1].target_face.blendshapes[frown]
    assert np.all(res[1].retargeted.delta[frown] > want) and np.all(res[1].retargeted.delta[frown] <= 1 - own + 1e-6)
    seen = reanalyze(res[1].image, res[1].target_face).blendshapes[frown].mean() - own.mean()
    assert seen > 0.3
