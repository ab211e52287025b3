"""Retargeting: target geometry + (source − target) expression, per region and intensity."""
from __future__ import annotations

import numpy as np
import pytest

from facexpr.errors import IntensityOutOfRange, RegionError

from facexpr.expression.blendshapes import INDEX, NAMES, REGIONS, as_dict, region_mask
from facexpr.expression.retarget import (CLOSED_EYE, MAX_INTENSITY, RetargetConfig, apply_delta,
                                         expression_delta, retarget)
from facexpr.faces.landmarks import Face
from facexpr.faces.topology import (BROW_LEFT, BROW_RIGHT, EYE_LEFT, EYE_RIGHT, IRIS_LEFT, IRIS_RIGHT,
                                    LIPS_INNER, LIPS_OUTER, MOUTH_CORNERS)

EYES_AND_BROWS = list(EYE_LEFT + EYE_RIGHT + BROW_LEFT + BROW_RIGHT)
MOUTH = list(LIPS_OUTER + LIPS_INNER)


# ----------------------------------------------------------------------------- region_mask

def test_region_mask_groups():
    brows, eyes, mouth = (region_mask((r,)).astype(bool) for r in REGIONS)
    assert region_mask().shape == (52,)
    assert {NAMES[i] for i in np.flatnonzero(brows)} == {n for n in NAMES if n.startswith("brow")}
    assert {NAMES[i] for i in np.flatnonzero(eyes)} == {n for n in NAMES if n.startswith(("eyeBlink", "eyeSquint", "eyeWide"))}
    assert mouth[INDEX["jawOpen"]] and mouth[INDEX["mouthSmileLeft"]] and mouth[INDEX["cheekPuff"]]
    assert not (brows & eyes).any() and not (eyes & mouth).any() and not (brows & mouth).any()
    assert np.array_equal(region_mask(), (brows | eyes | mouth).astype(np.float32))


def test_region_mask_excludes_gaze_and_neutral():
    m = region_mask()
    assert m[INDEX["_neutral"]] == 0
    assert all(m[INDEX[n]] == 0 for n in NAMES if n.startswith("eyeLook"))
    assert region_mask(()).sum() == 0


def test_region_mask_unknown_region():
    with pytest.raises(ValueError, match="nose"):
        region_mask(("mouth", "nose"))


def test_as_dict():
    d = as_dict(np.arange(52, dtype=np.float32))
    assert list(d) == list(NAMES) and d["jawOpen"] == INDEX["jawOpen"]


# ----------------------------------------------------------------------------- config and delta

@pytest.mark.parametrize("bad", [-0.01, MAX_INTENSITY + 0.01, 10.0])
def test_config_rejects_intensity_out_of_range(bad):
    with pytest.raises(IntensityOutOfRange, match="intensity"):
        RetargetConfig(intensity=bad)


def test_config_rejects_unknown_region():
    """The request's own limits (facexpr.limits): a user's error, one line from the CLI."""
    with pytest.raises(RegionError, match="lips"):
        RetargetConfig(regions=("lips",))


def test_expression_delta_intensity_and_regions():
    rng = np.random.default_rng(0)
    s, t = rng.uniform(0, 0.4, 52), rng.uniform(0, 0.4, 52)  # eyes open (blink < CLOSED_EYE)
    full = expression_delta(s, t, RetargetConfig(1.0, gate=False))
    np.testing.assert_allclose(full, (s - t) * region_mask(), atol=1e-7)
    np.testing.assert_allclose(expression_delta(s, t, RetargetConfig(0.5, gate=False)), 0.5 * full, atol=1e-7)
    assert not expression_delta(s, t, RetargetConfig(0.0)).any()
    mouth_only = expression_delta(s, t, RetargetConfig(1.0, ("mouth",), gate=False))
    assert not mouth_only[region_mask(("brows", "eyes")).astype(bool)].any()
    assert mouth_only[INDEX["jawOpen"]] == pytest.approx(s[INDEX["jawOpen"]] - t[INDEX["jawOpen"]])


def test_fitted_shapes_are_gated_between_people(monkeypatch):
    """Without the learned reader, fitted-coefficient differences under FIT_GATE (a person's own
    brow height…) do not transfer; a full expression still does; MediaPipe-scored shapes are never
    gated."""
    from facexpr.expression import retarget
    from facexpr.expression.retarget import FIT_GATE

    monkeypatch.setattr(retarget, "load_default_reader", lambda: None)
    s, t = np.zeros(52), np.zeros(52)
    s[INDEX["browDownLeft"]], s[INDEX["noseSneerLeft"]], s[INDEX["mouthSmileLeft"]] = 0.2, 1.0, 0.2
    d = expression_delta(s, t, RetargetConfig())
    assert d[INDEX["browDownLeft"]] == 0.0 and 0.2 < FIT_GATE
    assert d[INDEX["noseSneerLeft"]] == pytest.approx(1.0)
    assert d[INDEX["mouthSmileLeft"]] == pytest.approx(0.2)
    assert expression_delta(s, t, RetargetConfig(gate=False))[INDEX["browDownLeft"]] == pytest.approx(0.2)


def test_reader_shapes_transfer_at_full_strength():
    """The reader's readings carry their own rest calibration: a brow or nose change it reads
    reaches the target as it is, not shrunk by FIT_GATE a second time."""
    from facexpr.expression.reader import load_default_reader
    from facexpr.expression.retarget import gated_shapes

    reader = load_default_reader()
    if reader is None:
        pytest.skip("no reader shipped in this checkout")
    assert not (gated_shapes() & reader.use).any()
    s, t = np.zeros(52), np.zeros(52)
    s[INDEX["browDownLeft"]], s[INDEX["noseSneerLeft"]] = 0.2, 0.6
    d = expression_delta(s, t, RetargetConfig())
    assert d[INDEX["browDownLeft"]] == pytest.approx(0.2) and d[INDEX["noseSneerLeft"]] == pytest.approx(0.6)


def test_closed_target_eye_is_not_opened():
    s, t = np.zeros(52), np.zeros(52)
    t[INDEX["eyeBlinkLeft"]] = CLOSED_EYE + 0.3  # target's left eye closed, source's open and wide
    s[INDEX["eyeWideLeft"]] = 0.8
    s[INDEX["eyeBlinkRight"]] = 0.6            # source blinks the right eye: allowed
    d = expression_delta(s, t, RetargetConfig())
    assert d[INDEX["eyeBlinkLeft"]] == 0.0 and d[INDEX["eyeWideLeft"]] == 0.0
    assert d[INDEX["eyeBlinkRight"]] == pytest.approx(0.6)


# ----------------------------------------------------------------------------- synthetic faces

def _synthetic_face(model, blendshapes=None) -> Face:
    """A face in image coordinates made from the model's mean shape, rotated by 10 degrees."""
    a = np.radians(10)
    R = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
    lm = 150.0 * model.mean_shape @ R.T + (400, 350, 0)
    bs = np.zeros(52, np.float32) if blendshapes is None else np.asarray(blendshapes, np.float32)
    return Face(lm, bs, np.eye(4), (800, 800))


def test_synthetic_smile_lifts_mouth_corners(model):
    tgt = _synthetic_face(model)
    bs = np.zeros(52, np.float32)
    bs[INDEX["mouthSmileLeft"]] = bs[INDEX["mouthSmileRight"]] = 0.8
    rt = retarget(_synthetic_face(model, bs), tgt, model)
    assert rt.delta[INDEX["mouthSmileLeft"]] == pytest.approx(0.8)
    np.testing.assert_allclose(rt.blendshapes, np.clip(tgt.blendshapes + rt.delta, 0, 1))
    # "Up" in the face's own (rotated) frame: project onto the face's downward axis.
    down = np.array([-np.sin(np.radians(10)), np.cos(np.radians(10))])
    for i in MOUTH_CORNERS:
        assert (rt.xy[i] - tgt.xy[i]) @ down < -1.0


def test_retarget_identical_expression_changes_nothing(model):
    bs = np.random.default_rng(1).uniform(0, 0.4, 52)
    tgt = _synthetic_face(model, bs)
    rt = retarget(_synthetic_face(model, bs), tgt, model)
    assert not rt.delta.any()
    np.testing.assert_allclose(rt.landmarks, tgt.landmarks, atol=1e-6)


# ----------------------------------------------------------------------------- real faces

def test_intensity_zero_returns_target_landmarks(model, source_face, target_face):
    rt = retarget(source_face, target_face, model, RetargetConfig(intensity=0.0))
    assert not rt.delta.any()
    np.testing.assert_allclose(rt.landmarks, target_face.landmarks, atol=1e-6)
    np.testing.assert_allclose(rt.blendshapes, target_face.blendshapes, atol=1e-7)


def test_full_retarget_moves_the_mouth(model, source_face, target_face):
    rt = retarget(source_face, target_face, model)
    assert rt.landmarks.shape == (478, 3)
    move = np.linalg.norm(rt.xy - target_face.xy, axis=1)
    assert move[MOUTH].mean() > 0.01 * target_face.size
    # The smile is transferred: the mouth corners rise (the face is upright in London photos).
    for i in MOUTH_CORNERS:
        assert rt.xy[i, 1] < target_face.xy[i, 1] - 2.0
    # …and widen.
    w0 = np.linalg.norm(target_face.xy[MOUTH_CORNERS[0]] - target_face.xy[MOUTH_CORNERS[1]])
    w1 = np.linalg.norm(rt.xy[MOUTH_CORNERS[0]] - rt.xy[MOUTH_CORNERS[1]])
    assert w1 > w0 + 5.0
    assert rt.blendshapes[INDEX["mouthSmileLeft"]] > 0.3


def test_intensity_scales_motion(model, source_face, target_face):
    full = retarget(source_face, target_face, model, RetargetConfig(1.0)).landmarks - target_face.landmarks
    half = retarget(source_face, target_face, model, RetargetConfig(0.5)).landmarks - target_face.landmarks
    np.testing.assert_allclose(half, 0.5 * full, atol=1e-6)


def test_mouth_region_moves_the_mouth_most(model, source_face, target_face):
    rt = retarget(source_face, target_face, model, RetargetConfig(1.0, ("mouth",)))
    move = np.linalg.norm(rt.xy - target_face.xy, axis=1)
    assert move[MOUTH].max() > 0.02 * target_face.size
    assert move[EYES_AND_BROWS].max() < 0.25 * move[MOUTH].max()


def test_mouth_region_leaves_eyes_and_brows_unchanged(model, source_face, target_face):
    rt = retarget(source_face, target_face, model, RetargetConfig(1.0, ("mouth",)))
    np.testing.assert_allclose(rt.landmarks[EYES_AND_BROWS], target_face.landmarks[EYES_AND_BROWS], atol=1e-6)
    np.testing.assert_allclose(rt.landmarks[list(IRIS_LEFT + IRIS_RIGHT)],
                               target_face.landmarks[list(IRIS_LEFT + IRIS_RIGHT)], atol=1e-6)


def test_irises_are_rigid(model, source_face, target_face):
    rt = retarget(source_face, target_face, model)
    for eye, iris in ((EYE_RIGHT, IRIS_RIGHT), (EYE_LEFT, IRIS_LEFT)):
        shift = rt.landmarks[list(iris)] - target_face.landmarks[list(iris)]
        np.testing.assert_allclose(shift, np.broadcast_to(shift[0], shift.shape), atol=1e-9)
        eye_shift = (rt.landmarks[list(eye)] - target_face.landmarks[list(eye)]).mean(0)
        np.testing.assert_allclose(shift[0], eye_shift, atol=1e-9)


def test_apply_delta_zero_is_identity(model, target_face):
    np.testing.assert_allclose(apply_delta(target_face, np.zeros(52), model), target_face.landmarks, atol=1e-6)


def test_source_neutral_transfers_measured_geometry(model, source_face, target_face):
    """``--source-neutral``: the source's own canonical displacement; its neutral = itself moves nothing,
    and the closed loop's extra (here a smile) adds the model's motion on top of the measurement."""
    from facexpr.expression.retarget import with_extra

    rt = retarget(source_face, target_face, model, source_neutral=source_face)
    assert rt.from_geometry and rt.geometry is not None and np.abs(rt.geometry).max() == 0
    assert np.abs(rt.landmarks[:, :2] - target_face.landmarks[:, :2]).max() < 1e-6
    extra = np.zeros(len(NAMES))
    extra[INDEX["mouthSmileLeft"]] = extra[INDEX["mouthSmileRight"]] = 0.5
    more = with_extra(target_face, rt, extra, model)
    corners = [61, 291]
    assert (more.landmarks[corners, 1] < rt.landmarks[corners, 1] - 1.0).all()  # corners rise (image y down)
    assert np.array_equal(more.delta, rt.requested + extra) and more.from_geometry


def _moved(face: Face, points: list[int], shift: np.ndarray) -> Face:
    from dataclasses import replace

    lm = face.landmarks.copy()
    lm[points] += shift
    return replace(face, landmarks=lm)


def test_view_agreement_trusts_one_view_and_not_another():
    from facexpr.expression.retarget import view_agreement
    from facexpr.faces.topology import STABLE

    rng = np.random.default_rng(0)
    ref = rng.normal(size=(478, 3))
    mouth_moved = ref.copy()
    mouth_moved[MOUTH] += 0.3                      # expression: the stable points do not move
    assert view_agreement(mouth_moved, ref, 0.035, 0.07) == 1.0
    turned = ref.copy()
    turned[list(STABLE)] += rng.normal(scale=0.2, size=(len(STABLE), 3))  # the view disagrees
    assert view_agreement(turned, ref, 0.035, 0.07) == 0.0
    half = ref.copy()
    half[list(STABLE)] += np.array([0.0525, 0.0, 0.0])  # RMS halfway between the two bounds
    assert view_agreement(half, ref, 0.035, 0.07) == pytest.approx(0.5)


def test_source_neutral_from_another_view_falls_back_on_the_codes(model, source_face, target_face):
    """A source whose landmarks disagree with its neutral's on the stable points (another view)
    is retargeted by its code change through the model, not by the spurious landmark difference;
    one that agrees keeps the measured geometry (its mouth moved, nothing else)."""
    from facexpr.faces.topology import STABLE

    mouth = list(LIPS_OUTER)
    agree = _moved(source_face, mouth, np.array([0.0, 6.0, 0.0]))  # lips 6 px down, same view
    rt = retarget(agree, target_face, model, source_neutral=source_face)
    assert rt.from_geometry and np.abs(rt.landmarks[mouth, 1] - target_face.landmarks[mouth, 1]).max() > 1.0
    rng = np.random.default_rng(1)
    scale = np.ptp(source_face.landmarks[:, 0])
    lm = source_face.landmarks.copy()
    lm[list(STABLE)] += rng.normal(scale=0.2 * scale, size=(len(STABLE), 3))
    from dataclasses import replace
    other_view = replace(source_face, landmarks=lm)  # same codes, a landmark set that is not this view
    rt = retarget(other_view, target_face, model, source_neutral=source_face)
    assert rt.from_geometry and np.abs(rt.geometry).max() < 1e-9        # the codes did not change
    np.testing.assert_allclose(rt.landmarks[:, :2], target_face.landmarks[:, :2], atol=1e-6)


def test_source_neutral_change_is_composed_with_the_targets_code_bounded(model, source_face, target_face):
    """``--source-neutral`` adds the source's change to the target's own code as bounded
    activations, as ``facexpr animate`` does: a source whose reference had half-closed lids opens
    the target's eyes to their neutral (blink 0) and no further, and a smile change adds to the
    target's smile up to 1 — not the raw change, which would widen the eyes past open."""
    from dataclasses import replace

    def coded(face: Face, **scores) -> Face:
        bs = np.zeros(len(NAMES), np.float32)
        for k, v in scores.items():
            bs[INDEX[k]] = v
        return replace(face, blendshapes=bs)

    target = coded(target_face, eyeBlinkLeft=0.1, eyeBlinkRight=0.1, mouthSmileLeft=0.8)
    reference = coded(source_face, eyeBlinkLeft=0.7, eyeBlinkRight=0.7, mouthSmileLeft=0.5)
    laugh = coded(source_face, eyeBlinkLeft=0.05, eyeBlinkRight=0.05, mouthSmileLeft=0.95)
    rt = retarget(laugh, target, model, RetargetConfig(), source_neutral=reference)
    assert rt.delta[INDEX["eyeBlinkLeft"]] == pytest.approx(-0.1)   # open to neutral, not -0.65
    assert rt.delta[INDEX["mouthSmileLeft"]] == pytest.approx(0.2)  # 0.8 + 0.45 capped at 1
    half = retarget(laugh, target, model, RetargetConfig(intensity=0.5), source_neutral=reference)
    np.testing.assert_allclose(half.delta, 0.5 * rt.delta, atol=1e-9)
    mouth_only = retarget(laugh, target, model, RetargetConfig(regions=("mouth",)), source_neutral=reference)
    assert mouth_only.delta[INDEX["eyeBlinkLeft"]] == 0 and mouth_only.delta[INDEX["mouthSmileLeft"]] == pytest.approx(0.2)
