"""The ``warp`` method on a real London pair (source = smiling/061_08, target = neutral/010_03)."""
from __future__ import annotations

import numpy as np
import pytest

from facexpr.errors import MethodNotFound
from facexpr.expression.blendshapes import INDEX
from facexpr.expression.retarget import Retargeted
from facexpr.faces.paste import Patch
from facexpr.faces.topology import FACE_OVAL, IRIS_LEFT, IRIS_RIGHT, LIPS_INNER, LIPS_OUTER
from facexpr.methods import RenderJob, available, get_method
from facexpr.methods.warp.method import Warp, WarpConfig, backward_map

SMILE = [INDEX["mouthSmileLeft"], INDEX["mouthSmileRight"]]


def _iris_radius(xy: np.ndarray, iris) -> float:
    return float(np.linalg.norm(xy[list(iris[1:])] - xy[iris[0]], axis=1).mean())


# ----------------------------------------------------------------------------- registry

def test_registry_has_warp():
    assert "warp" in available()
    m = get_method("warp")
    assert isinstance(m, Warp) and m.name == "warp"
    assert get_method("warp") is m  # created once


def test_unknown_method():
    with pytest.raises(MethodNotFound) as e:
        get_method("gan9000")
    assert "gan9000" in str(e.value) and "warp" in str(e.value) and "\n" not in str(e.value)


# ----------------------------------------------------------------------------- backward_map

def test_backward_map_zero_displacement_is_identity():
    pts = np.array([[0, 0], [100, 0], [100, 80], [0, 80], [50, 40]], float)
    mx, my = backward_map(pts, pts, (0, 0, 100, 80), grid=32, smooth=1.0)
    xs, ys = np.meshgrid(np.arange(100), np.arange(80))
    assert mx.shape == (80, 100) and mx.dtype == np.float32
    assert np.array_equal(mx, xs.astype(np.float32)) and np.array_equal(my, ys.astype(np.float32))


def test_backward_map_constant_shift():
    dst = np.array([[-10, -10], [120, -10], [120, 100], [-10, 100]], float)
    mx, my = backward_map(dst, dst + (3.0, -2.0), (5, 7, 60, 50), grid=10 ** 6)
    xs, ys = np.meshgrid(np.arange(5, 65), np.arange(7, 57))
    np.testing.assert_allclose(mx, xs + 3.0, atol=1e-4)
    np.testing.assert_allclose(my, ys - 2.0, atol=1e-4)


# ----------------------------------------------------------------------------- render

def test_identity_retarget_renders_the_target_unchanged(target_img, target_face):
    """No landmark motion, no mouth fill, irises in place: the patch is the target's own pixels."""
    rt = Retargeted(target_face.landmarks.copy(), np.zeros(52), target_face.blendshapes.copy())
    patch = Warp().render(RenderJob(target_img, target_face, target_img, target_face, rt))
    assert isinstance(patch, Patch)
    h, w = patch.mask.shape
    assert patch.image.shape == (h, w, 3) and patch.image.dtype == np.uint8
    x0, y0 = int(patch.to_target[0, 2]), int(patch.to_target[1, 2])
    np.testing.assert_array_equal(patch.to_target[:, :2], np.eye(2))
    assert np.array_equal(patch.image, target_img[y0:y0 + h, x0:x0 + w])


def test_patch_covers_the_face(warp_result, target_img, target_face, source_img, source_face):
    patch = get_method("warp").render(RenderJob(target_img, target_face, source_img, source_face,
                                                warp_result.retargeted))
    assert patch.mask.dtype == np.float32 and 0 <= patch.mask.min() and patch.mask.max() <= 1.0 + 1e-6
    x0, y0 = patch.to_target[:, 2]
    h, w = patch.mask.shape
    fx0, fy0, fx1, fy1 = target_face.bbox
    assert x0 <= fx0 and y0 <= fy0 and x0 + w >= fx1 and y0 + h >= fy1
    # The mask is fully on over the mouth and off at the patch corners.
    mouth = target_face.xy[list(LIPS_OUTER)].mean(0) - (x0, y0)
    assert patch.mask[int(mouth[1]), int(mouth[0])] == pytest.approx(1.0, abs=1e-4)
    assert patch.mask[0, 0] == 0 and patch.mask[-1, -1] == 0


# ----------------------------------------------------------------------------- the London pair

def test_output_has_target_size(warp_result, target_img):
    out = warp_result.image
    assert out.shape == target_img.shape and out.dtype == np.uint8


def test_far_from_face_is_identical(warp_result, target_img, target_face):
    out, tgt = warp_result.image, target_img
    b = 50
    assert np.array_equal(out[:b], tgt[:b]) and np.array_equal(out[-b:], tgt[-b:])
    assert np.array_equal(out[:, :b], tgt[:, :b]) and np.array_equal(out[:, -b:], tgt[:, -b:])
    # Everything outside the anchor ring (WarpConfig.ring x the face oval) is untouched.
    oval = target_face.xy[list(FACE_OVAL)]
    c = oval.mean(0)
    r = np.linalg.norm(oval - c, axis=1).max() * WarpConfig().ring
    ys, xs = np.mgrid[0:tgt.shape[0], 0:tgt.shape[1]]
    far = np.hypot(xs - c[0], ys - c[1]) > r + 2
    assert far.mean() > 0.3
    assert np.array_equal(out[far], tgt[far])


def test_mouth_region_changed(warp_result, target_img, target_face):
    x0, y0 = np.floor(target_face.xy[list(LIPS_OUTER)].min(0)).astype(int)
    x1, y1 = np.ceil(target_face.xy[list(LIPS_OUTER)].max(0)).astype(int)
    diff = np.abs(warp_result.image[y0:y1, x0:x1].astype(int) - target_img[y0:y1, x0:x1]).max(2)
    assert diff.mean() > 10
    assert (diff > 30).mean() > 0.2


def test_output_still_has_a_face(warp_output_faces, target_face):
    assert len(warp_output_faces) == 1
    f = warp_output_faces[0]
    assert abs(f.size - target_face.size) < 0.05 * target_face.size
    # Same place: the face did not jump around.
    assert np.linalg.norm(f.xy.mean(0) - target_face.xy.mean(0)) < 0.03 * target_face.size


def test_irises_keep_their_radius(warp_output_faces, target_face, warp_result):
    out_xy = warp_output_faces[0].xy
    for iris in (IRIS_RIGHT, IRIS_LEFT):
        r_t = _iris_radius(target_face.xy, iris)
        assert _iris_radius(warp_result.retargeted.xy, iris) == pytest.approx(r_t, rel=1e-9)
        assert _iris_radius(out_xy, iris) == pytest.approx(r_t, rel=0.08)


def test_result_moves_toward_retargeted_landmarks(warp_output_faces, warp_result, target_face):
    goal = warp_result.retargeted.xy
    got = warp_output_faces[0].xy
    err_out = np.linalg.norm(got - goal, axis=1).mean()
    err_unchanged = np.linalg.norm(target_face.xy - goal, axis=1).mean()
    assert err_out < err_unchanged, (err_out, err_unchanged)
    lips = list(LIPS_OUTER)
    assert (np.linalg.norm(got[lips] - goal[lips], axis=1).mean()
            < 0.5 * np.linalg.norm(target_face.xy[lips] - goal[lips], axis=1).mean())


def test_result_smiles(warp_output_faces, target_face, source_face):
    """MediaPipe itself sees the transferred smile on the output."""
    out_smile = warp_output_faces[0].blendshapes[SMILE].mean()
    assert target_face.blendshapes[SMILE].mean() < 0.1 < source_face.blendshapes[SMILE].mean()
    assert out_smile > target_face.blendshapes[SMILE].mean() + 0.1


# ----------------------------------------------------------------------------- folds, openings

def test_pressed_lips_are_not_an_open_mouth(target_face):
    from facexpr.faces.topology import INNER_LIP_PAIRS
    from facexpr.methods.warp.method import open_area
    from facexpr.render.common import poly_area

    xy = target_face.xy.copy()
    for u, l in INNER_LIP_PAIRS:  # lower inner lip pushed up past the upper one: crossed contour
        xy[l, 1] = xy[u, 1] - 0.02 * target_face.size
    assert poly_area(xy[list(LIPS_INNER)]) > 0  # the crossed polygon has an area…
    assert open_area(xy) == (0.0, 0.0)          # …but nothing is open
    opened = target_face.xy.copy()
    for u, l in INNER_LIP_PAIRS:
        opened[l, 1] += 0.05 * target_face.size
    area, gap = open_area(opened)
    assert gap > 0.04 * target_face.size and area > open_area(target_face.xy)[0] * 3


@pytest.mark.parametrize("aus", [["AU45=1"], ["AU28=1"], ["AU23=1", "AU17=1"], ["AU14=1"]])
def test_edits_render_without_folds(target_img, aus):
    from scipy.spatial import Delaunay

    from facexpr.faces.mesh import _signed_area
    from facexpr.faces.topology import INNER_LIP_PAIRS, LID_PAIRS
    from facexpr.methods.warp.method import fold_free
    from facexpr.pipeline import EditConfig, run_edit

    r = run_edit(target_img, EditConfig.parse(aus, None, 1.0, "warp", None, 0))
    rest = r.face.xy
    dst = fold_free(rest, r.retargeted.xy)
    tri = Delaunay(rest[:468]).simplices  # the mesh; irises are pasted rigidly
    up, lo = np.zeros(len(rest), bool), np.zeros(len(rest), bool)
    for u, l in LID_PAIRS + INNER_LIP_PAIRS:
        up[u] = lo[l] = True
    a = _signed_area(rest, tri)
    keep = ~(up[tri].any(1) & lo[tri].any(1)) & (np.abs(a) > 0.1 * np.median(np.abs(a)))  # no slivers
    a0, a1 = _signed_area(rest, tri[keep]), _signed_area(dst, tri[keep])
    assert not (a1 * np.sign(a0) < -0.2 * np.median(np.abs(a0))).any()  # lip-row slivers may stay (a few px²)
    for u, l in LID_PAIRS + INNER_LIP_PAIRS:
        assert dst[l, 1] - dst[u, 1] > -1.0  # lids and lips meet, never cross (upright photo)


def test_a_smaller_source_face_still_lends_its_mouth_interior(source_img, target_img):
    """How much interior the source can lend is measured in face-size units: the same smiling
    source at half its size (a video frame against a portrait) shows the same teeth, not the
    synthetic ones (before the fix: interior lightness 182 at full size, 120 at half)."""
    import cv2

    import facexpr.pipeline as P
    from facexpr.faces.topology import LIPS_INNER

    def interior_lightness(src):
        res = P.run_transfer(src, target_img, P.TransferConfig(method="warp"))
        m = np.zeros(target_img.shape[:2], np.uint8)
        cv2.fillPoly(m, [np.round(res.retargeted.landmarks[list(LIPS_INNER), :2]).astype(np.int32)], 1)
        m = cv2.erode(m, np.ones((5, 5), np.uint8))
        assert m.sum() > 500  # the mouth opens
        return float(cv2.cvtColor(res.image, cv2.COLOR_RGB2LAB)[..., 0][m > 0].mean())

    half = cv2.resize(source_img, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA)
    assert abs(interior_lightness(half) - interior_lightness(source_img)) < 15


def test_shading_darkens_skin_redder_than_grey(target_img, target_face):
    """A fold's shadow keeps the skin's luminance change but is redder than a grey one
    (:data:`facexpr.expression.shading.SKIN_CHROMA`, measured on real smiles): with the geometry
    unchanged, the shaded pixels' log change is smaller in red than in blue, in the measured ratio."""
    from facexpr.expression.model import load_default_model
    from facexpr.expression.shading import SKIN_CHROMA

    assert abs(float(SKIN_CHROMA @ np.float32([0.299, 0.587, 0.114])) - 1.0) < 0.02  # luminance as before
    model = load_default_model()
    shade = np.full(model.shading.shape[1:], -0.3, np.float32)  # a uniform fold over the whole atlas
    rt = Retargeted(target_face.landmarks.copy(), np.zeros(52), target_face.blendshapes.copy(),
                    shading=shade, layout=model.layout)
    job = RenderJob(target_img, target_face, target_img, target_face, rt)
    flat, shaded = (Warp(WarpConfig(shading=s)).render(job).image.astype(np.float64) for s in (False, True))
    dark = (flat.min(2) > 40) & (shaded.mean(2) < flat.mean(2) * 0.85)
    assert dark.mean() > 0.05  # the face is shaded
    change = np.log((shaded[dark] + 0.5) / (flat[dark] + 0.5))
    r, g, b = np.median(change, 0)
    assert b < r < 0 and abs(r / b - SKIN_CHROMA[0] / SKIN_CHROMA[2]) < 0.05
