"""The shipped linear expression model: loads, has the right shapes, and moves landmarks the way
the blendshapes say; broken files are ModelErrors."""
from __future__ import annotations

import json

import numpy as np
import pytest

from facexpr.errors import ModelError
from facexpr.expression.blendshapes import INDEX
from facexpr.expression.model import DEFAULT_PATH, ExpressionModel, load_default_model
from facexpr.faces.topology import LIPS_INNER, LIPS_OUTER, MOUTH_CORNERS, STABLE


def test_shipped_model_file_exists():
    assert DEFAULT_PATH.name == "expression_linear.safetensors"
    assert DEFAULT_PATH.is_file()
    assert DEFAULT_PATH.parent.name == "data" and DEFAULT_PATH.parent.parent.name == "facexpr"


def test_shipped_model_loads_with_right_shapes(model):
    assert isinstance(model, ExpressionModel)
    assert model.mean_shape.shape == (478, 3) and model.basis.shape == (52, 478, 3)
    assert np.isfinite(model.mean_shape).all() and np.isfinite(model.basis).all()
    assert isinstance(model.meta, dict)
    # Reference normalisation (fit.reference_shape): stable points centred, RMS radius 1.
    st = model.mean_shape[list(STABLE)]
    np.testing.assert_allclose(st.mean(0), 0, atol=1e-3)
    assert np.sqrt((st ** 2).sum(1).mean()) == pytest.approx(1.0, abs=1e-3)


def test_load_default_model_is_cached():
    assert load_default_model() is load_default_model()


def test_canonical_frame_is_image_oriented(model):
    """y grows downwards (as in images): forehead above chin, subject's right on the image left."""
    ms = model.mean_shape
    assert ms[10, 1] < ms[152, 1]
    assert ms[MOUTH_CORNERS[0], 0] < ms[MOUTH_CORNERS[1], 0]


def test_smile_moves_mouth_corners_up_and_out(model):
    d = np.zeros(52)
    d[INDEX["mouthSmileLeft"]] = d[INDEX["mouthSmileRight"]] = 0.5
    disp = model.displacement(d)
    assert disp.shape == (478, 3)
    ms = model.mean_shape
    centre_x = ms[list(LIPS_OUTER), 0].mean()
    face_h = ms[:, 1].max() - ms[:, 1].min()
    for i in MOUTH_CORNERS:  # 61 (subject's right), 291 (subject's left)
        assert disp[i, 1] < -0.005 * face_h, (i, disp[i])      # up: smaller y
        outward = np.sign(ms[i, 0] - centre_x)
        assert disp[i, 0] * outward > 0.005 * face_h, (i, disp[i])  # away from the mouth centre
    # A smile moves the mouth much more than the stable (pose) points.
    mouth = np.linalg.norm(disp[list(MOUTH_CORNERS)], axis=1).mean()
    stable = np.linalg.norm(disp[list(STABLE)], axis=1).mean()
    assert mouth > 5 * stable


def test_jaw_open_opens_the_mouth(model):
    d = np.zeros(52)
    d[INDEX["jawOpen"]] = 0.6
    moved = model.mean_shape + model.displacement(d)
    upper, lower = LIPS_INNER[15], LIPS_INNER[5]  # 13 and 14: inner-lip mid points
    gap0 = model.mean_shape[lower, 1] - model.mean_shape[upper, 1]
    gap1 = moved[lower, 1] - moved[upper, 1]
    assert gap1 > gap0 + 0.05
    assert moved[152, 1] > model.mean_shape[152, 1]  # the chin drops


def test_displacement_is_linear(model):
    rng = np.random.default_rng(0)
    a, b = rng.uniform(-1, 1, 52), rng.uniform(-1, 1, 52)
    np.testing.assert_allclose(model.displacement(a + 2 * b), model.displacement(a) + 2 * model.displacement(b),
                               atol=1e-9)
    assert not np.any(model.displacement(np.zeros(52)))


def test_save_load_round_trip(tmp_path, model):
    p = tmp_path / "m.safetensors"
    ExpressionModel(model.mean_shape, model.basis, {"hello": [1, 2]}).save(p)
    back = ExpressionModel.load(p)
    assert back.meta == {"hello": [1, 2]}
    np.testing.assert_allclose(back.mean_shape, model.mean_shape, atol=1e-6)
    np.testing.assert_allclose(back.basis, model.basis, atol=1e-3, rtol=1e-3)  # stored float16
    assert [x.name for x in tmp_path.iterdir()] == ["m.safetensors"]  # no .part left behind


def test_missing_model_is_model_error(tmp_path):
    with pytest.raises(ModelError, match="not found"):
        ExpressionModel.load(tmp_path / "nope.safetensors")


@pytest.mark.parametrize("content", [b"", b"\x00" * 100, b"garbage that is not a model" * 50,
                                     b"\xff\xff\xff\xff\xff\xff\xff\x7f{}"])
def test_corrupt_model_is_model_error(tmp_path, content):
    p = tmp_path / "bad.safetensors"
    p.write_bytes(content)
    with pytest.raises(ModelError) as e:
        ExpressionModel.load(p)
    assert "bad.safetensors" in str(e.value) and "\n" not in str(e.value)
    assert e.value.exit_code == 3


def test_truncated_model_is_model_error(tmp_path):
    p = tmp_path / "trunc.safetensors"
    p.write_bytes(DEFAULT_PATH.read_bytes()[:-1000])
    with pytest.raises(ModelError):
        ExpressionModel.load(p)


def test_wrong_shapes_is_model_error(tmp_path):
    from safetensors.numpy import save_file

    p = tmp_path / "shapes.safetensors"
    save_file({"mean_shape": np.zeros((468, 3), np.float32), "basis": np.zeros((52, 468, 3), np.float16)},
              str(p), metadata={"meta": json.dumps({})})
    with pytest.raises(ModelError, match="shapes"):
        ExpressionModel.load(p)


def test_missing_tensor_is_model_error(tmp_path):
    from safetensors.numpy import save_file

    p = tmp_path / "partial.safetensors"
    save_file({"mean_shape": np.zeros((478, 3), np.float32)}, str(p))
    with pytest.raises(ModelError):
        ExpressionModel.load(p)
