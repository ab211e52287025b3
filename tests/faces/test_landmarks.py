"""Face detection and description with MediaPipe on real photos (the landmarker is created once per
process; the session fixtures in conftest.py analyse the London pair once)."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from facexpr.errors import FaceIndexError, FaceNotFound, FaceTooSmall
from facexpr.expression.blendshapes import NAMES
from facexpr.faces.landmarks import MIN_FACE_PX, Face, analyze_faces, select_face
from facexpr.faces.topology import (BROW_LEFT, EYE_LEFT, EYE_RIGHT, IRIS_LEFT, IRIS_RIGHT,
                                    MOUTH_CORNERS, N_LANDMARKS)
from facexpr.io import load_image

from _support import data_file

LONDON_SAMPLE = ["london/neutral/010_03.jpg", "london/smiling/061_08.jpg", "london/neutral/042_03.jpg",
                 "london/smiling/087_08.jpg"]


def _check_face(face: Face, w: int, h: int) -> None:
    assert face.landmarks.shape == (N_LANDMARKS, 3) and face.landmarks.dtype == np.float64
    assert face.blendshapes.shape == (52,) == (len(NAMES),)
    assert np.all((face.blendshapes >= 0) & (face.blendshapes <= 1))
    assert face.pose.shape == (4, 4) and np.isfinite(face.pose).all()
    assert face.image_size == (w, h)
    xy = face.xy
    assert np.all(xy[:, 0] >= 0) and np.all(xy[:, 0] < w) and np.all(xy[:, 1] >= 0) and np.all(xy[:, 1] < h)


@pytest.mark.parametrize("rel", LONDON_SAMPLE)
def test_london_photo_has_one_face(shared_data, rel):
    img = load_image(data_file(shared_data, rel))
    faces = analyze_faces(img)
    assert len(faces) == 1
    face = faces[0]
    _check_face(face, img.shape[1], img.shape[0])
    # London photos are frontal head-and-shoulders portraits, the face about a third of the width.
    assert 0.25 * img.shape[1] < face.size < 0.6 * img.shape[1]
    yaw, pitch, roll = face.yaw_pitch_roll()
    assert abs(yaw) < 20 and abs(roll) < 15


def test_landmark_anatomy(target_face):
    """Sanity of the geometry: subject's right eye is on the image left, mouth below the eyes…"""
    xy = target_face.xy
    right_eye, left_eye = xy[list(EYE_RIGHT)].mean(0), xy[list(EYE_LEFT)].mean(0)
    assert right_eye[0] < left_eye[0]
    mouth = xy[list(MOUTH_CORNERS)].mean(0)
    assert mouth[1] > max(right_eye[1], left_eye[1])
    assert xy[list(BROW_LEFT)][:, 1].mean() < left_eye[1]
    # Iris centres lie inside their eyes.
    for eye, iris in ((EYE_RIGHT, IRIS_RIGHT), (EYE_LEFT, IRIS_LEFT)):
        pts = xy[list(eye)]
        c = xy[iris[0]]
        assert pts[:, 0].min() < c[0] < pts[:, 0].max()


def test_smiling_vs_neutral_blendshapes(source_face, target_face):
    smile = [NAMES.index("mouthSmileLeft"), NAMES.index("mouthSmileRight")]
    assert source_face.blendshapes[smile].mean() > 0.3
    assert target_face.blendshapes[smile].mean() < 0.1


def test_face_to_dict(target_face):
    d = target_face.to_dict()
    assert set(d) == {"bbox", "size_px", "pose", "blendshapes", "landmarks"}
    assert len(d["landmarks"]) == 478 and len(d["landmarks"][0]) == 3
    assert list(d["blendshapes"]) == list(NAMES)
    assert set(d["pose"]) == {"yaw", "pitch", "roll", "matrix"}
    x0, y0, x1, y1 = d["bbox"]
    assert x1 - x0 > 100 and y1 - y0 > 100
    assert "landmarks" not in target_face.to_dict(with_landmarks=False)


def test_landmarks_follow_offset_into_a_bigger_canvas(target_img, target_face):
    """Coordinates are mapped back through the downscale (canvas > 1920 px) and the crop refine."""
    h, w = target_img.shape[:2]
    canvas = np.full((h + 900, w + 1000, 3), 235, np.uint8)
    ox, oy = 700, 300
    canvas[oy:oy + h, ox:ox + w] = target_img
    faces = analyze_faces(canvas)
    assert len(faces) == 1
    err = np.linalg.norm(faces[0].xy - (target_face.xy + (ox, oy)), axis=1)
    assert np.median(err) < 3.0, np.median(err)
    assert faces[0].image_size == (w + 1000, h + 900)


def test_multi_face_largest_first(edge):
    img = load_image(data_file(edge, "multi_face.jpg"))
    faces = analyze_faces(img, thorough=True)
    assert len(faces) == 5
    sizes = [f.size for f in faces]
    assert sizes == sorted(sizes, reverse=True)
    for f in faces:
        _check_face(f, img.shape[1], img.shape[0])
    # Five different people: face centres are far apart.
    centres = np.array([f.xy.mean(0) for f in faces])
    d = np.linalg.norm(centres[:, None] - centres[None], axis=2) + np.eye(5) * 1e9
    assert d.min() > 50


def test_blank_image_has_no_face():
    assert analyze_faces(np.full((400, 500, 3), 200, np.uint8), thorough=True) == []


def test_profile_face_is_not_found(edge):
    """BWPictureHuman.jpg shows a face in profile that MediaPipe cannot find (used by the CLI tests)."""
    assert analyze_faces(load_image(data_file(edge, "BWPictureHuman.jpg"))) == []


# ----------------------------------------------------------------------------- select_face

def _fake_face(size: float) -> Face:
    xy = np.zeros((478, 3))
    xy[1, :2] = size
    return Face(xy, np.zeros(52, np.float32), np.eye(4), (1000, 1000))


def test_select_face_default_and_index():
    faces = [_fake_face(300), _fake_face(200), _fake_face(100)]
    assert select_face(faces, None, "img") is faces[0]
    assert select_face(faces, 2, "img") is faces[2]


def test_select_face_no_face():
    with pytest.raises(FaceNotFound, match="no face") as e:
        select_face([], None, "target x.jpg")
    assert "target x.jpg" in str(e.value) and "\n" not in str(e.value)


@pytest.mark.parametrize("index", [2, 5, -1])
def test_select_face_index_out_of_range(index):
    with pytest.raises(FaceIndexError) as e:
        select_face([_fake_face(300), _fake_face(200)], index, "img")
    msg = str(e.value)
    assert f"face index {index}" in msg and "2 faces found" in msg and "\n" not in msg


def test_select_face_too_small_fake():
    with pytest.raises(FaceTooSmall):
        select_face([_fake_face(MIN_FACE_PX - 1)], None, "img")
    assert select_face([_fake_face(MIN_FACE_PX)], None, "img").size == MIN_FACE_PX


def test_tiny_real_face_is_too_small(target_img):
    """A London face shrunk to ~35 px inside a big blank canvas is found (tiles) but refused."""
    small = cv2.resize(target_img, (90, 90), interpolation=cv2.INTER_AREA)
    canvas = np.full((600, 600, 3), 255, np.uint8)
    canvas[255:345, 255:345] = small
    faces = analyze_faces(canvas)
    assert len(faces) == 1 and faces[0].size < MIN_FACE_PX
    with pytest.raises(FaceTooSmall) as e:
        select_face(faces, None, "tiny.png")
    assert "tiny.png" in str(e.value) and "smaller than" in str(e.value)
