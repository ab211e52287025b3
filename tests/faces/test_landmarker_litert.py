"""The project's own graph of MediaPipe's face models (LiteRT) against MediaPipe's graph, on real
shared photos: the same faces, landmarks, scores and head pose, so every fit, reader and benchmark
made with MediaPipe's graph still holds."""
from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from facexpr import assets
from facexpr.faces import landmarker_litert as lite
from facexpr.faces import landmarks
from facexpr.io import load_image

from _support import data_file

pytestmark = pytest.mark.skipif(not lite.available(), reason="ai-edge-litert is not installed on this platform")

PHOTOS = ["london/neutral/010_03.jpg", "london/smiling/061_08.jpg", "london/neutral/082_03.jpg",
          "london/smiling/172_08.jpg", "probes/angry.jpg", "probes/surprised.jpeg", "lisa/lisa3.jpg"]


@pytest.fixture(scope="module")
def both(monkeypatch_module):
    """(own graph, MediaPipe's graph) landmarkers, side by side."""
    monkeypatch_module.setenv("FACEXPR_LANDMARKER", "litert")
    own = landmarks._Landmarker()
    monkeypatch_module.setenv("FACEXPR_LANDMARKER", "mediapipe")
    ref = landmarks._Landmarker()
    assert (own.engine, ref.engine) == ("litert", "mediapipe")
    yield own, ref
    own.close()
    ref.close()


@pytest.fixture(scope="module")
def monkeypatch_module():
    mp = pytest.MonkeyPatch()
    yield mp
    mp.undo()


def _photo(shared_data, rel: str) -> np.ndarray:
    img = load_image(data_file(shared_data, rel))
    s = min(1.0, 1024 / max(img.shape[:2]))  # the size analyze_faces' refinement reads at
    return cv2.resize(img, None, fx=s, fy=s, interpolation=cv2.INTER_AREA) if s < 1 else img


def _angle(a: np.ndarray, b: np.ndarray) -> float:
    r = a[:3, :3] / np.cbrt(np.linalg.det(a[:3, :3]))
    q = b[:3, :3] / np.cbrt(np.linalg.det(b[:3, :3]))
    return math.degrees(math.acos(np.clip((np.trace(r @ q.T) - 1) / 2, -1.0, 1.0)))


@pytest.mark.parametrize("rel", PHOTOS)
def test_own_graph_reads_what_mediapipe_reads(shared_data, both, rel):
    """Same faces; landmarks within a fraction of a pixel; scores and pose alike. (Measured on 38
    shared photos: median landmark difference 0.014 px, the worst photo's mean 0.19-0.31 px (the
    angry probe, a 500-px face: the two graphs' crops differ in rounding), scores within 0.017;
    the pose matches MediaPipe's to 1e-4° given the same landmarks.)"""
    img = _photo(shared_data, rel)
    own, ref = (lm.detect(img) for lm in both)
    assert len(own) == len(ref) >= 1
    for a, b in zip(own, ref):
        d = np.abs(a.landmarks[:, :2] - b.landmarks[:, :2]) / b.size  # in face sizes
        assert d.mean() < 0.0015 and d.max() < 0.005, (rel, d.mean() * b.size, d.max() * b.size)
        assert np.abs(a.blendshapes - b.blendshapes).max() < 0.05
        assert _angle(a.pose, b.pose) < 0.5
        assert np.abs(a.pose[:3, 3] - b.pose[:3, 3]).max() < 0.5  # cm


def test_pose_of_mediapipes_own_landmarks_is_mediapipes_pose(shared_data, both):
    """The head pose from landmarks (:mod:`facexpr.faces.face_geometry`) reproduces MediaPipe's
    facial transformation matrix from MediaPipe's own landmarks."""
    from facexpr.faces.face_geometry import facial_transformation, load_metadata

    meta = load_metadata(assets.resolve("face_landmarker"))
    for rel in PHOTOS[:4]:
        img = _photo(shared_data, rel)
        h, w = img.shape[:2]
        for det in both[1].detect(img):
            norm = det.landmarks / np.array([w, h, w])
            assert np.abs(facial_transformation(norm, w, h, meta) - det.pose).max() < 1e-3


def test_reread_of_an_unchanged_photo_is_the_reading(shared_data, monkeypatch):
    """Reading a photo again on its own region (the closed loop's measurement) gives the first
    reading back, also through a scaled and shifted copy, as the loop's small try is."""
    monkeypatch.setenv("FACEXPR_LANDMARKER", "litert")
    img = _photo(shared_data, "london/smiling/061_08.jpg")
    (det,) = landmarks.analyze_faces(img)
    again = landmarks.reread(img, det)
    assert np.abs(again.landmarks - det.landmarks).max() < 0.05
    assert np.abs(again.blendshapes - det.blendshapes).max() < 0.01
    s, off = 0.5, np.array([40.0, 25.0])
    small = cv2.resize(img[25:, 40:], None, fx=s, fy=s, interpolation=cv2.INTER_AREA)
    near = landmarks.Detection((det.landmarks - [*off, 0]) * s, det.blendshapes, det.pose,
                               (small.shape[1], small.shape[0]), reading=det.reading)
    seen = landmarks.reread(small, near)
    assert np.abs(seen.landmarks[:, :2] / s + off - det.landmarks[:, :2]).mean() < 1.5
    assert np.abs(seen.blendshapes - det.blendshapes).max() < 0.1


def test_no_face_and_bad_engine(monkeypatch):
    lm = lite.LiteRTLandmarker(assets.resolve("face_landmarker"))
    assert lm.detect(np.zeros((200, 300, 3), np.uint8)) == []
    monkeypatch.setenv("FACEXPR_LANDMARKER", "tensorflow")
    with pytest.raises(ValueError, match="FACEXPR_LANDMARKER"):
        landmarks.engine()


def test_anchors_are_blazefaces():
    a = lite.ssd_anchors()
    assert a.shape == (896, 2)
    assert np.allclose(a[:2], [[0.5 / 16, 0.5 / 16]] * 2) and np.allclose(a[512], [0.5 / 8, 0.5 / 8])


def test_a_nudged_reread_needs_the_own_graph(shared_data, both):
    """A nudged crop (the reader's training data) is read by the own graph, moved as asked; a face
    read by MediaPipe's graph has no region to nudge."""
    img = _photo(shared_data, "london/neutral/010_03.jpg")
    own, ref = (lm.detect(img)[0] for lm in both)
    assert landmarks.reread(img, ref, (0.01, 0.0, 1.0, 0.0)) is None
    seen = landmarks.reread(img, own, (0.01, 0.0, 1.02, 0.03))
    d = np.abs(seen.landmarks[:, :2] - own.landmarks[:, :2]).mean()
    assert 0.01 < d < 0.01 * own.size
