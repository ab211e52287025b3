"""The two judges: the face-api emotion port matches face-api itself and sees smiles; dlib's
descriptor tells people apart; broken model files are clean ModelErrors."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from facexpr import assets
from facexpr.errors import ModelError
from facexpr.evaluate.judges import emotion_faceapi as ef

PEOPLE = ("001", "004", "005", "025", "042", "087")  # mixed gender and ethnicity


def _have_faceapi() -> bool:
    try:
        assets.resolve("faceapi_expression_weights")
        assets.resolve("faceapi_expression_manifest")
        return True
    except ModelError:
        return False


needs_faceapi = pytest.mark.skipif(not _have_faceapi(), reason="face-api model not fetched (facexpr fetch-models)")


@pytest.fixture
def fresh_caches():
    """Judges cache their models; tests that swap model files must not see (or leave) a cached one."""
    from facexpr.faces import identity as idl
    ef.get_faceapi_emotion.cache_clear()
    idl._models.cache_clear()
    yield
    ef.get_faceapi_emotion.cache_clear()
    idl._models.cache_clear()


# --------------------------------------------------------------------------- face-api port

@needs_faceapi
def test_port_matches_faceapi_reference():
    """Probabilities from face-api 1.7.15 itself (tfjs 4.22 cpu backend, predictExpressions on a
    tensor) for two seeded noise images; the 112x79 one also checks the centred square padding."""
    square = np.random.default_rng(0).integers(0, 256, (112, 112, 3), dtype=np.uint8)
    narrow = np.random.default_rng(1).integers(0, 256, (112, 79, 3), dtype=np.uint8)
    faceapi = np.array([
        [0.3522087, 0.0491211, 0.4050626, 0.0533010, 0.0103844, 0.0267636, 0.1031586],
        [0.5406535, 0.0857270, 0.1780545, 0.0818831, 0.0050293, 0.0005587, 0.1080940],
    ])
    p = ef.get_faceapi_emotion().predict([square, narrow])
    np.testing.assert_allclose(p, faceapi, atol=2e-5)


def test_landmark_box_is_faceapi_aligned_rect():
    pts = np.array([[100, 200], [300, 200], [200, 450]], float)  # bbox 200 x 250
    assert ef.landmark_box(pts, (1000, 1000)) == (80, 175, 320, 475)  # +10% of w / h per side
    assert ef.landmark_box(pts, (460, 310)) == (80, 175, 310, 460)   # clipped to the image
    mp = np.zeros((478, 2))
    mp[:] = (200, 100)                  # forehead & co: must be ignored
    mp[ef._MP_BOX_POINTS] = (200, 300)
    mp[234], mp[454], mp[152], mp[105] = (100, 300), (300, 300), (200, 450), (200, 200)
    assert ef.landmark_box(mp, (1000, 1000)) == (80, 175, 320, 475)


# --------------------------------------------------------------------------- on real faces

@pytest.fixture(scope="module")
def faces(london):
    dlib = pytest.importorskip("dlib")  # noqa: F841  (the eval extra)
    from facexpr.faces.identity import get_dlib_identity
    judge = get_dlib_identity()
    out = {}
    for pid in PEOPLE:
        for kind, path in (("smiling", london / "smiling" / f"{pid}_08.jpg"),
                           ("neutral", london / "neutral" / f"{pid}_03.jpg")):
            img = np.asarray(Image.open(path).convert("RGB"))
            box = judge.detect(img)
            assert box is not None, f"no face found in {path}"
            out[pid, kind] = img, box
    return out


@needs_faceapi
def test_smiles_score_happier_than_neutral(faces):
    judge = ef.get_faceapi_emotion()
    happy = {k: judge.classify_box(img, box)[ef.EMOTIONS.index("happy")] for k, (img, box) in faces.items()}
    smiling = np.mean([happy[p, "smiling"] for p in PEOPLE])
    neutral = np.mean([happy[p, "neutral"] for p in PEOPLE])
    assert smiling > neutral + 0.3, (smiling, neutral)
    assert neutral < 0.1


def test_identity_same_person_closer_than_different(faces):
    from facexpr.faces.identity import MATCH_THRESHOLD, get_dlib_identity
    judge = get_dlib_identity()
    emb = {k: judge.embed(img, box) for k, (img, box) in faces.items()}
    assert all(e is not None and e.shape == (128,) for e in emb.values())
    same = [judge.distance(emb[p, "neutral"], emb[p, "smiling"]) for p in PEOPLE]
    diff = [judge.distance(emb[a, "neutral"], emb[b, "smiling"]) for a in PEOPLE for b in PEOPLE if a != b]
    assert max(same) < min(diff)
    assert np.median(same) < MATCH_THRESHOLD < np.median(diff)


def test_identity_no_face_is_none():
    pytest.importorskip("dlib")
    from facexpr.faces.identity import get_dlib_identity
    assert get_dlib_identity().embed(np.full((240, 320, 3), 127, np.uint8)) is None


# --------------------------------------------------------------------------- broken model files

def test_corrupt_faceapi_weights_raise_model_error(tmp_path, monkeypatch, fresh_caches):
    bad = tmp_path / "face_expression_model.bin"
    bad.write_bytes(b"\x00" * 1000)
    monkeypatch.setenv("FACEXPR_FACEAPI_EXPRESSION_WEIGHTS", str(bad))
    with pytest.raises(ModelError):
        ef.get_faceapi_emotion()
    monkeypatch.setenv("FACEXPR_FACEAPI_EXPRESSION_WEIGHTS", str(tmp_path / "missing.bin"))
    with pytest.raises(ModelError):
        ef.get_faceapi_emotion()


@needs_faceapi
def test_truncated_weights_rejected_by_decoder(tmp_path):
    """Even past the checksum (e.g. a custom model), a short .bin is a ModelError, not garbage."""
    bad = tmp_path / "w.bin"
    bad.write_bytes(assets.resolve("faceapi_expression_weights").read_bytes()[:-100])
    with pytest.raises(ModelError, match="truncated"):
        ef.load_weights(assets.resolve("faceapi_expression_manifest"), bad)


def test_corrupt_dlib_model_raises_model_error(tmp_path, monkeypatch, fresh_caches):
    pytest.importorskip("dlib")
    from facexpr.faces.identity import get_dlib_identity
    bad = tmp_path / "dlib_face_recognition_resnet_model_v1.dat"
    bad.write_bytes(b"not a model")
    monkeypatch.setenv("FACEXPR_DLIB_FACE_RECOGNITION", str(bad))
    with pytest.raises(ModelError):
        get_dlib_identity().embed(np.zeros((100, 100, 3), np.uint8), box=(10, 10, 90, 90))


def test_mediapipe_box_points_match_topology():
    """The judge keeps its own copy of these indices (to avoid importing MediaPipe); keep it true."""
    topo = pytest.importorskip("facexpr.faces.topology")
    pts = set(ef._MP_BOX_POINTS.tolist())
    brows = set(topo.BROW_RIGHT + topo.BROW_LEFT)
    assert brows <= pts and (pts - brows) <= set(topo.FACE_OVAL)
    assert {152, 234, 454} <= pts and 10 not in pts  # chin and cheeks in, forehead out
