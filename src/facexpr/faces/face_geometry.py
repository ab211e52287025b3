"""Face pose (facial transformation matrix) from MediaPipe face landmarks, in numpy.

MediaPipe's FaceLandmarker computes ``facial_transformation_matrixes`` with its
"face geometry" pipeline: the normalized screen landmarks are lifted into a
metric (centimetre) space seen by a virtual perspective camera, and a weighted
orthogonal Procrustes fit against the canonical face model gives the 4x4
canonical-to-camera transform. Re-implementing it here lets callers that
already hold landmarks (cached, edited, mirrored, tracked) get the same pose
without running the task again, and without protobuf or mediapipe at runtime.

The steps follow ``geometry_pipeline.cc`` / ``procrustes_solver.cc`` of
MediaPipe with the environment the FaceLandmarker task installs by default
(origin at the top-left corner, 63 degree vertical field of view, near plane
at 1 cm). Only the 468 face-mesh landmarks are used; the task drops the 10
iris points before the pipeline, and so does this module.

Every Procrustes solve in the pipeline only sees landmarks with a non-zero
weight in the metadata's Procrustes basis (the weights multiply every term),
so the solves run on that small subset (about 30 points); the only quantity
that needs all 468 points is the mean screen depth used as depth offset.
"""

from __future__ import annotations

import io
import math
import struct
import zipfile
from dataclasses import dataclass
from os import PathLike
from pathlib import Path

import numpy as np

# Defaults of FaceGeometryFromLandmarksGraph's environment (the FaceLandmarker
# task passes no ENVIRONMENT side packet, so these are what it uses).
VERTICAL_FOV_DEGREES = 63.0
NEAR_PLANE_CM = 1.0

# GeometryPipelineMetadata.input_source values.
INPUT_SOURCE_DEFAULT = 0
INPUT_SOURCE_FACE_LANDMARK_PIPELINE = 1
INPUT_SOURCE_FACE_DETECTION_PIPELINE = 2

# MediaPipe skips faces whose landmarks all lie within this normalized radius
# of their centroid: the fit is numerically unstable there.
_TOO_COMPACT_RADIUS = 1e-3
# Degeneracy guard used by MediaPipe's float Procrustes solver.
_ABS_EPS = 1e-9

# Mesh3d.VERTEX_PT: position (x, y, z) then texture coordinate (u, v).
_VERTEX_SIZE = 5

_TASK_MEMBER = "geometry_pipeline_metadata_landmarks.binarypb"


@dataclass(frozen=True)
class GeometryMetadata:
    """The parts of ``geometry_pipeline_metadata_landmarks.binarypb`` the pose needs.

    ``canonical_vertices`` is the canonical face mesh in centimetres (468, 3),
    ``weights`` the Procrustes weight per landmark (468,), zero off the basis.
    ``basis_ids`` and the ``basis_*`` arrays are the precomputed subset the
    solver works on, so each call does no per-metadata work.
    """

    input_source: int
    canonical_vertices: np.ndarray
    uv: np.ndarray
    index_buffer: np.ndarray
    weights: np.ndarray
    basis_ids: np.ndarray
    basis_sqrt_weights: np.ndarray
    basis_weights: np.ndarray
    basis_total_weight: float
    basis_weighted_sources: np.ndarray  # (3, K) canonical * sqrt(w)
    basis_centered_sources: np.ndarray  # (3, K) weighted, centred canonical
    basis_scale_denominator: float


# --------------------------------------------------------------------------
# Minimal protobuf wire-format reader: the installed mediapipe ships no pb2
# module for this message, and pulling protobuf in for three fields is not
# worth a runtime dependency.
# --------------------------------------------------------------------------


def _read_varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = 0
    shift = 0
    while True:
        if pos >= len(buf):
            raise ValueError("truncated varint in geometry metadata")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise ValueError("varint too long in geometry metadata")


def _iter_fields(buf: bytes):
    """Yield (field_number, wire_type, value) where value is int or bytes."""
    pos = 0
    n = len(buf)
    while pos < n:
        key, pos = _read_varint(buf, pos)
        field, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _read_varint(buf, pos)
        elif wire == 1:
            value, pos = buf[pos:pos + 8], pos + 8
        elif wire == 2:
            length, pos = _read_varint(buf, pos)
            value, pos = buf[pos:pos + length], pos + length
        elif wire == 5:
            value, pos = buf[pos:pos + 4], pos + 4
        else:
            raise ValueError(f"unsupported protobuf wire type {wire} in geometry metadata")
        if pos > n:
            raise ValueError("truncated field in geometry metadata")
        yield field, wire, value


def _floats(wire: int, value) -> list[float]:
    """A repeated float field element: packed (wire 2) or one fixed32 (wire 5)."""
    if wire == 5:
        return [struct.unpack("<f", value)[0]]
    if wire == 2:
        if len(value) % 4:
            raise ValueError("packed float field has a bad length")
        return list(struct.unpack(f"<{len(value) // 4}f", value))
    raise ValueError(f"float field with wire type {wire}")


def _uints(wire: int, value) -> list[int]:
    """A repeated uint32 field element: packed (wire 2) or one varint (wire 0)."""
    if wire == 0:
        return [value]
    if wire == 2:
        out, pos = [], 0
        while pos < len(value):
            v, pos = _read_varint(value, pos)
            out.append(v)
        return out
    raise ValueError(f"uint32 field with wire type {wire}")


def _parse_metadata_bytes(data: bytes) -> GeometryMetadata:
    input_source = INPUT_SOURCE_DEFAULT
    vertex_type = 0
    vertex_buffer: list[float] = []
    index_buffer: list[int] = []
    basis: list[tuple[int, float]] = []
    for field, wire, value in _iter_fields(data):
        if field == 3 and wire == 0:  # input_source
            input_source = value
        elif field == 1 and wire == 2:  # canonical_mesh (Mesh3d)
            for f, w, v in _iter_fields(value):
                if f == 1 and w == 0:
                    vertex_type = v
                elif f == 3:
                    vertex_buffer.extend(_floats(w, v))
                elif f == 4:
                    index_buffer.extend(_uints(w, v))
        elif field == 2 and wire == 2:  # procrustes_landmark_basis entry
            lid, weight = 0, 0.0
            for f, w, v in _iter_fields(value):
                if f == 1 and w == 0:
                    lid = v
                elif f == 2 and w == 5:
                    weight = struct.unpack("<f", v)[0]
            basis.append((lid, weight))
    if vertex_type != 0:
        raise ValueError(f"unsupported canonical mesh vertex type {vertex_type}")
    if not vertex_buffer or len(vertex_buffer) % _VERTEX_SIZE:
        raise ValueError("canonical mesh vertex buffer is empty or not a multiple of 5")
    if not basis:
        raise ValueError("geometry metadata has no Procrustes landmark basis")
    if input_source == INPUT_SOURCE_DEFAULT:
        input_source = INPUT_SOURCE_FACE_LANDMARK_PIPELINE

    # MediaPipe keeps the mesh in float32; keep those exact values, compute in float64.
    vb = np.asarray(vertex_buffer, dtype=np.float32).reshape(-1, _VERTEX_SIZE)
    n = vb.shape[0]
    vertices = vb[:, :3].astype(np.float64)
    weights = np.zeros(n, dtype=np.float64)
    for lid, weight in basis:
        if not 0 <= lid < n:
            raise ValueError(f"Procrustes basis landmark id {lid} outside the {n}-vertex mesh")
        if weight < 0:
            raise ValueError("Procrustes basis weights must be non-negative")
        weights[lid] = np.float32(weight)

    ids = np.flatnonzero(weights > 0)
    w = weights[ids]
    sw = np.sqrt(w)
    total = float(w.sum())
    if total <= _ABS_EPS:
        raise ValueError("Procrustes basis total weight is too small")
    src = vertices[ids].T  # (3, K)
    ws = src * sw
    centre = (ws * sw).sum(axis=1) / total
    cws = ws - np.outer(centre, sw)
    denom = float((cws * ws).sum())
    if denom <= _ABS_EPS:
        raise ValueError("canonical Procrustes basis is degenerate")
    return GeometryMetadata(
        input_source=int(input_source),
        canonical_vertices=vertices,
        uv=vb[:, 3:5].astype(np.float64),
        index_buffer=np.asarray(index_buffer, dtype=np.int64).reshape(-1, 3)
        if len(index_buffer) % 3 == 0
        else np.asarray(index_buffer, dtype=np.int64),
        weights=weights,
        basis_ids=ids,
        basis_sqrt_weights=sw,
        basis_weights=w,
        basis_total_weight=total,
        basis_weighted_sources=ws,
        basis_centered_sources=cws,
        basis_scale_denominator=denom,
    )


def load_metadata(path_or_bytes: str | PathLike | bytes | bytearray | memoryview) -> GeometryMetadata:
    """Parse a GeometryPipelineMetadata binary protobuf (a path, or its bytes).

    Accepts the ``.binarypb`` file itself or a ``face_landmarker.task`` bundle
    (a zip), from which the ``geometry_pipeline_metadata_landmarks.binarypb``
    member is read: that is the file the task itself loads.
    """
    if isinstance(path_or_bytes, (bytes, bytearray, memoryview)):
        data = bytes(path_or_bytes)
    else:
        path = Path(path_or_bytes)
        data = path.read_bytes()
    # A .task bundle is a zip, possibly with bytes before the first entry, so
    # look for the zip directory rather than a leading "PK" signature.
    if zipfile.is_zipfile(io.BytesIO(data)):
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            if _TASK_MEMBER in zf.namelist():
                data = zf.read(_TASK_MEMBER)
    return _parse_metadata_bytes(data)


# --------------------------------------------------------------------------
# Geometry.
# --------------------------------------------------------------------------


def _solve_weighted_procrustes(meta: GeometryMetadata, targets: np.ndarray) -> tuple[np.ndarray, float, np.ndarray]:
    """Weighted orthogonal Procrustes canonical -> ``targets`` (3, K) on the basis subset.

    Returns (rotation 3x3, scale, translation 3). Same formulation as
    MediaPipe's FloatPrecisionProcrustesSolver, so results agree to rounding.
    """
    sw = meta.basis_sqrt_weights
    wt = targets * sw
    cws = meta.basis_centered_sources
    design = wt @ cws.T
    if np.sqrt((design * design).sum()) <= _ABS_EPS:
        raise ValueError("face geometry: Procrustes design matrix is degenerate")
    u, _, vt = np.linalg.svd(design)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        u[:, 2] *= -1.0
    rot = u @ vt
    scale = float(((rot @ cws) * wt).sum()) / meta.basis_scale_denominator
    if scale <= _ABS_EPS:
        raise ValueError("face geometry: Procrustes scale is too small")
    diffs = wt - (scale * rot) @ meta.basis_weighted_sources
    trans = (diffs * sw).sum(axis=1) / meta.basis_total_weight
    return rot, scale, trans


def facial_transformation(landmarks_norm: np.ndarray, width: int, height: int, meta: GeometryMetadata) -> np.ndarray:
    """The FaceLandmarker facial transformation matrix (4x4, float64) for one face.

    ``landmarks_norm`` is the task's NormalizedLandmark x, y, z per landmark,
    shape (478, 3) or (468, 3) (iris points beyond 468 are ignored, as in the
    task); ``width``/``height`` are the image size in pixels the landmarks
    were detected on. The matrix maps canonical-face centimetres to the
    virtual camera's right-handed metric space, scale included, exactly as
    MediaPipe defines it.

    Raises ValueError where MediaPipe would produce no matrix (landmarks
    collapsed to a point, degenerate fit) or on malformed input.
    """
    lm = np.asarray(landmarks_norm, dtype=np.float64)
    n = meta.canonical_vertices.shape[0]
    if lm.ndim != 2 or lm.shape[1] != 3 or lm.shape[0] < n:
        raise ValueError(f"landmarks must have shape (>={n}, 3), got {lm.shape}")
    if width <= 0 or height <= 0:
        raise ValueError(f"image size must be positive, got {width}x{height}")
    lm = lm[:n]
    if not np.isfinite(lm).all():
        raise ValueError("landmarks contain non-finite values")

    xy = lm[:, :2]
    if np.sqrt(((xy - xy.mean(axis=0)) ** 2).sum(axis=1).max()) <= _TOO_COMPACT_RADIUS:
        raise ValueError("face geometry: landmarks too compact (MediaPipe skips such faces)")

    # Perspective camera frustum at the near plane.
    near = NEAR_PLANE_CM
    height_at_near = 2.0 * near * math.tan(0.5 * math.radians(VERTICAL_FOV_DEGREES))
    width_at_near = width * height_at_near / height
    left, bottom = -0.5 * width_at_near, -0.5 * height_at_near

    # Project XY onto the near plane (origin at the top-left: flip y); z is
    # scaled like x, as the landmark model's z is in x's normalized units.
    depth_offset = lm[:, 2].mean() * width_at_near
    sub = lm[meta.basis_ids]
    px = sub[:, 0] * width_at_near + left
    py = (1.0 - sub[:, 1]) * height_at_near + bottom
    pz = sub[:, 2] * width_at_near

    def metric(scale: float) -> np.ndarray:
        # Move z to the near plane, rescale, unproject XY, flip handedness.
        z = (pz - depth_offset + near) / scale
        return np.stack((px * z / near, py * z / near, -z))

    # 1st estimate on the projected (not unprojected) landmarks.
    _, s1, _ = _solve_weighted_procrustes(meta, np.stack((px, py, -pz)))
    # 2nd estimate on landmarks unprojected with the first scale.
    inter = metric(s1)
    if meta.input_source == INPUT_SOURCE_FACE_DETECTION_PIPELINE:
        r, s, t = _solve_weighted_procrustes(meta, inter)
        inter[2] = (s * r[2]) @ meta.canonical_vertices[meta.basis_ids].T + t[2]
    _, s2, _ = _solve_weighted_procrustes(meta, inter)
    final = metric(s1 * s2)
    r, s, t = _solve_weighted_procrustes(meta, final)
    if meta.input_source == INPUT_SOURCE_FACE_DETECTION_PIPELINE:
        final[2] = (s * r[2]) @ meta.canonical_vertices[meta.basis_ids].T + t[2]
        r, s, t = _solve_weighted_procrustes(meta, final)

    out = np.eye(4)
    out[:3, :3] = s * r
    out[:3, 3] = t
    return out
