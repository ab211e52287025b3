"""Build :class:`~facexpr.expression.prior.ExpressionPrior` from ICT-FaceKit (``facexpr research build-prior``;
an offline tool: the runtime only reads the shipped prior).

1. **Correspondence.** Render ICT's neutral head with the lips slightly parted (so MediaPipe's
   inner-lip points fall on the right lip), detect it with MediaPipe, and take the mesh surface
   point under each landmark (barycentric weights on a face triangle). That point is a material
   point of the mesh, so the same weights read any identity or expression shape.
2. **Frame.** ICT is in centimetres, y up, z to the viewer; MediaPipe's landmarks are x right,
   y down, with a relative z that is not metric. The z scale is measured on the render (MediaPipe's
   z against ICT's true depth), then one similarity takes ICT's landmarks onto the mean face on
   the expression-stable points, and the same map carries every displacement.
3. **Mean and identity** from real neutral faces (London *train split* + Canada): their
   generalised-Procrustes mean, and their main modes beside ICT's 100 identity modes.
4. **Shading.** Each expression shape's change of Lambertian shading (light from the front and
   above) and of surface concavity, as a log-luminance ratio in the face atlas of
   :mod:`facexpr.expression.shading`: the folds and bulges a warp cannot show.

Deterministic: the same inputs give the same file (tested on the correspondence).
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from ..faces.align import umeyama
from ..faces.topology import BROW_LEFT, BROW_RIGHT, IRISES, LIPS_INNER, LIPS_OUTER, STABLE
from ..expression.blendshapes import INDEX, NAMES
from ..expression.ict import FACE_VERTICES, ICTModel, View, render, surface_points, vertex_normals
from ..expression.prior import ICT_NOTICE, ExpressionPrior
from ..expression.shading import TEX, atlas_layout, atlas_weight
from ..datasets import london
from ..faces.align import to_canonical
from ..faces.landmarks import analyze_faces
from ..io import load_image
from ..expression.analysis import ExpressionFitter
from ..expression.model import DEFAULT_PATH, ExpressionModel

OPEN_LIPS = {"jawOpen": 0.2}


def ict_to_mediapipe_name(name: str) -> str | None:
    """``browDown_L`` → ``browDownLeft``; split ICT shapes map onto MediaPipe's single one."""
    for ict, mp in (("browInnerUp_", "browInnerUp"), ("cheekPuff_", "cheekPuff")):
        if name.startswith(ict):
            return mp
    if name.endswith("_L"):
        name = name[:-2] + "Left"
    elif name.endswith("_R"):
        name = name[:-2] + "Right"
    return name if name in INDEX else None


def painted_albedo(ict: ICTModel, xy: np.ndarray, view: View = View()) -> np.ndarray:
    """Skin albedo with dark brows and red lips where MediaPipe's landmarks ``xy`` (478, 2) put
    them on the neutral render: a bald, colourless head gives MediaPipe no brow to track."""
    albedo = np.tile(np.array([205.0, 170.0, 150.0]), (len(ict.neutral), 1))
    proj = view.project(ict.neutral)
    front = np.arange(len(ict.neutral)) < FACE_VERTICES
    for brow in (BROW_RIGHT, BROW_LEFT):
        hull = cv2.convexHull(xy[list(brow)].astype(np.float32))
        d = np.array([cv2.pointPolygonTest(hull, (float(x), float(y)), True) for x, y in proj[front]])
        t = np.clip((d + 2.0) / 6.0, 0.0, 1.0)[:, None]  # soft edge, ~2 px outside the hull
        albedo[front] = albedo[front] * (1 - t) + np.array([70.0, 50.0, 40.0]) * t
    outer = xy[list(LIPS_OUTER)].astype(np.float32)
    inner = xy[list(LIPS_INNER)].astype(np.float32)
    d_out = np.array([cv2.pointPolygonTest(outer, (float(x), float(y)), True) for x, y in proj[front]])
    d_in = np.array([cv2.pointPolygonTest(inner, (float(x), float(y)), True) for x, y in proj[front]])
    lip = np.clip((d_out + 1.0) / 3.0, 0, 1) * np.clip((1.0 - d_in) / 3.0, 0, 1)
    albedo[front] = albedo[front] * (1 - lip[:, None]) + np.array([175.0, 95.0, 95.0]) * lip[:, None]
    return albedo


def _detect(img: np.ndarray):
    faces = analyze_faces(img)
    if not faces:
        raise RuntimeError("MediaPipe found no face on the ICT render")
    return faces[0]


def correspondence(ict: ICTModel, view: View = View(), albedo: np.ndarray | None = None):
    """(vertex ids (478, 3), weights (478, 3), the render's MediaPipe face) for each landmark."""
    verts = ict.shape(expression=OPEN_LIPS)
    img, ids = render(ict, verts, view, albedo=albedo)
    faces = [_detect(img)]
    face = faces[0]
    tri, bary = surface_points(ict, verts, ids, face.xy, view)
    vid = np.zeros((478, 3), np.int64)
    w = np.zeros((478, 3))
    proj = view.project(verts[:FACE_VERTICES])
    for i in range(478):
        if tri[i] >= 0:
            vid[i], w[i] = ict.triangles[tri[i]], bary[i]
        else:  # off the face surface (irises on the eyeballs): the nearest face vertex
            j = int(np.argmin(np.linalg.norm(proj - face.xy[i], axis=1)))
            vid[i], w[i] = j, 1.0 / 3
    return vid, w, face


def sample(field: np.ndarray, vid: np.ndarray, w: np.ndarray) -> np.ndarray:
    """A per-vertex field (..., V, 3) read at the landmarks' surface points → (..., 478, 3)."""
    return np.einsum("...lkc,lk->...lc", field[..., vid, :], w)


def _to_image_axes(p: np.ndarray, z_scale: float) -> np.ndarray:
    return p * np.array([1.0, -1.0, -z_scale])


def _real_neutrals(data_root: Path, log=print) -> list:
    paths = [p.neutral for p in london.split(data_root / "london", "train")]
    paths += sorted((data_root / "canada").glob("*.jpg"))
    shapes = []
    for p in paths:
        faces = analyze_faces(load_image(p))
        if faces:
            shapes.append(faces[0])
    log(f"real neutral faces: {len(shapes)} of {len(paths)}")
    return shapes


def _laplacian(v: np.ndarray, tris: np.ndarray) -> np.ndarray:
    """Umbrella Laplacian (neighbour mean − vertex) per vertex."""
    acc = np.zeros_like(v)
    cnt = np.zeros(len(v))
    for a, b in ((0, 1), (1, 2), (2, 0), (1, 0), (2, 1), (0, 2)):
        np.add.at(acc, tris[:, a], v[tris[:, b]])
        np.add.at(cnt, tris[:, a], 1)
    return acc / np.maximum(cnt, 1)[:, None] - v


def _shade(v: np.ndarray, tris: np.ndarray, light=(0.0, 0.55, 1.0), cavity: float = 3.0) -> np.ndarray:
    """Per-vertex luminance: Lambert under a front-top light, darkened in concave creases."""
    n = vertex_normals(v, tris)
    l = np.asarray(light, np.float64)
    l /= np.linalg.norm(l)
    lam = np.clip(n @ l, 0.05, 1.0) * 0.75 + 0.25
    concave = np.einsum("ij,ij->i", _laplacian(v, tris), n)  # > 0 in a crease (neighbours in front)
    return lam * np.exp(-cavity * np.clip(concave, 0, None))


def _raster(values: np.ndarray, tris: np.ndarray, fixed: np.ndarray, order: np.ndarray, size: int) -> np.ndarray:
    """Per-triangle values (F, C) painted into a (size, size, C) atlas (front surface wins)."""
    img = np.zeros((size, size, values.shape[1]), np.float32)
    for k in order:
        cv2.fillConvexPoly(img, fixed[tris[k]], tuple(float(x) for x in values[k]), lineType=cv2.LINE_8, shift=4)
    return img


def _frame(v: np.ndarray, tris: np.ndarray):
    """Each triangle's edges in its own plane: (F, 2, 2) edge matrix, and the plane's axes u, w."""
    e1, e2 = v[tris[:, 1]] - v[tris[:, 0]], v[tris[:, 2]] - v[tris[:, 0]]
    u = e1 / np.maximum(np.linalg.norm(e1, axis=1, keepdims=True), 1e-12)
    n = np.cross(e1, e2)
    w = np.cross(n / np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12), u)
    D = np.stack([np.stack([np.einsum("ij,ij->i", e1, u), np.einsum("ij,ij->i", e2, u)], 1),
                  np.stack([np.einsum("ij,ij->i", e1, w), np.einsum("ij,ij->i", e2, w)], 1)], 1)
    return D, u, w


def _compression(v0: np.ndarray, v1: np.ndarray, tris: np.ndarray) -> np.ndarray:
    """Per triangle, the skin's compression on the surface as an atlas-plane tensor (F, 3) =
    c · (vx², vx·vy, vy²): c = 1 − the smallest principal stretch of the triangle (3D, in its own
    plane, so foreshortening is not mistaken for compression), v its direction seen from the front."""
    D0, u, w = _frame(v0, tris)
    D1, _, _ = _frame(v1, tris)
    ok = np.abs(np.linalg.det(D0)) > 1e-12
    F = np.zeros_like(D0)
    F[ok] = D1[ok] @ np.linalg.inv(D0[ok])
    C = np.einsum("nki,nkj->nij", F, F)
    ev, V = np.linalg.eigh(C)
    c = np.clip(1.0 - np.sqrt(np.clip(ev[:, 0], 0, None)), 0.0, 1.0) * ok
    d3 = V[:, 0, 0][:, None] * u + V[:, 1, 0][:, None] * w
    d2 = d3[:, :2] * np.array([1.0, -1.0])  # ICT y is up, the atlas's y is down
    d2 /= np.maximum(np.linalg.norm(d2, axis=1, keepdims=True), 1e-9)
    return np.stack([c * d2[:, 0] ** 2, c * d2[:, 0] * d2[:, 1], c * d2[:, 1] ** 2], 1)


def _largest(tensor: np.ndarray):
    a, b, d = tensor[..., 0], tensor[..., 1], tensor[..., 2]
    tr, det = a + d, a * d - b * b
    lam = tr / 2 + np.sqrt(np.clip(tr * tr / 4 - det, 0, None))
    return lam, a, b, d


def wrinkles(tensor: np.ndarray, wavelength: float = 7.0, onset: float = 0.06, full: float = 0.25,
             depth: float = 0.45, coherence: float = 8.0) -> np.ndarray:
    """Log-luminance of skin buckling: where the skin is compressed along v, thin dark folds run
    across v (forehead lines when the brows rise, glabella furrows when they knit, bunny lines on
    a sneering nose, crow's feet) — spaced ``wavelength`` texels (about 1 cm), as deep as the
    compression (none below ``onset``, the full ``depth`` from ``full``). The direction is the
    compression's average over ``coherence`` texels, so neighbouring folds run parallel as real
    forehead lines do, instead of following every ripple of the mesh."""
    size = tensor.shape[0]
    lam, _, _, _ = _largest(tensor)  # largest eigenvalue = compression
    lam_c, a, b, d = _largest(cv2.GaussianBlur(tensor, (0, 0), coherence))
    vx, vy = b, lam_c - a  # the smoothed tensor's main eigenvector
    bad = np.hypot(vx, vy) < 1e-9
    vx, vy = np.where(bad, lam_c - d, vx), np.where(bad, b, vy)
    n = np.maximum(np.hypot(vx, vy), 1e-9)
    vx, vy = vx / n, vy / n
    vy = np.where(vy < 0, -vy, vy)  # one orientation, so neighbouring texels share the phase
    vx = np.where(vy == 0, np.abs(vx), vx)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    phase = 2 * np.pi * (xx * vx + yy * vy) / wavelength
    line = np.clip(np.cos(phase), 0, 1) ** 3
    strength = np.clip((lam - onset) / (full - onset), 0, 1)
    return (-depth * strength * line).astype(np.float32)


# Shapes whose skin buckles into visible lines (FACS: forehead lines of AU1/AU2, glabella furrows
# of AU4, bunny lines of AU9, crow's feet of AU6/AU7); elsewhere the compression is real but shows
# as a bulge (the broad shading), not as lines.
WRINKLE_SHAPES = ("browDownLeft", "browDownRight", "browInnerUp", "browOuterUpLeft", "browOuterUpRight",
                  "noseSneerLeft", "noseSneerRight", "eyeSquintLeft", "eyeSquintRight",
                  "cheekSquintLeft", "cheekSquintRight")


# Shapes whose folds and bulges are shaded at all: the skin-folding ones above, plus the
# nasolabial and chin folds of the lips. Large rigid motions (jaw, lips rolling, puckering)
# change a one-light render's shading over the whole lower face, which on a photo with its own
# light reads as dirt, not as expression.
SHADED_SHAPES = WRINKLE_SHAPES + ("mouthFrownLeft", "mouthFrownRight", "mouthUpperUpLeft", "mouthUpperUpRight",
                                  "mouthDimpleLeft", "mouthDimpleRight", "mouthShrugLower", "mouthShrugUpper")


def shading_atlas(ict: ICTModel, atlas_xy: np.ndarray, shapes: dict[str, np.ndarray],
                  size: int = TEX, smooth: float = 0.7, gain: float = 1.0, broad=(-0.25, 0.08),
                  limit=(-0.6, 0.08), upper: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Log-luminance ratio (size, size) per named expression delta, in atlas space: the shape's
    change of shading under light (broad folds and bulges) plus the wrinkles its compression of
    the skin makes (:func:`wrinkles`); zero on the eyes and the mouth interior (drawn by the
    renderer). The broad part is ``gain`` × the Lambert-and-cavity change (a single light under-
    states the shadowing of a real face's sockets and folds, lit from all sides: ambient
    occlusion is not modelled), clipped to ``broad``, and the sum to ``limit``: highlights stay
    small (a generic light; the photo has its own), folds may be deep.

    ``atlas_xy`` (V, 2) is each face vertex's atlas position (material coordinates: the warp
    looks the ratio up at the deformed face's atlas coordinates); ``upper`` (size, size) limits
    the lines to the upper face (forehead, brows, eye corners, nose bridge)."""
    tris = ict.triangles[np.all(ict.triangles < FACE_VERTICES, 1)]
    base = _shade(ict.neutral, ict.triangles)[:FACE_VERTICES]
    fixed = np.round(atlas_xy * 16).astype(np.int32)
    # painter's order by neutral depth, so the front surface wins where the atlas folds
    order = np.argsort(ict.neutral[tris].mean(1)[:, 2])
    out = {}
    for name, delta in shapes.items():
        if name not in SHADED_SHAPES:
            continue
        moved = ict.neutral + delta
        lum = _shade(moved, ict.triangles)[:FACE_VERTICES]
        ratio = np.log(lum / base)
        img = _raster(ratio[tris].mean(1)[:, None], tris, fixed, order, size)[..., 0]
        img = cv2.GaussianBlur(img, (0, 0), smooth) if smooth > 0 else img
        lines = 0.0
        if name in WRINKLE_SHAPES:
            tensor = cv2.GaussianBlur(_raster(_compression(ict.neutral, moved, tris), tris, fixed, order, size),
                                      (0, 0), 3.0)
            lines = wrinkles(tensor) * (1.0 if upper is None else upper)
        out[name] = np.clip(np.clip(gain * img, *broad) + lines, *limit).astype(np.float32)
    return out


def upper_face(layout: np.ndarray, size: int = TEX) -> np.ndarray:
    """(size, size) 1 above the nose's lower end (landmark 2, subnasale), fading over ~6 texels."""
    y = np.arange(size, dtype=np.float32)[:, None] - float(layout[2, 1])
    return np.broadcast_to(np.clip(0.5 - y / 6.0, 0.0, 1.0), (size, size)).astype(np.float32)


def corrugator(expression: np.ndarray, mean: np.ndarray, share: float = 1.0) -> np.ndarray:
    """``expression`` with each side's ``browDown`` also lowering that side's inner brow by
    ``share`` of ``browInnerUp``'s motion.

    ICT's browDown lowers the middle of the brow by ~3 mm and hardly moves its inner end, but AU4
    (corrugator, depressor supercilii, procerus) pulls the inner ends down and together most —
    the "V" that tells anger from worry. Without it an AU4 edit reads as sad on face-api."""
    out = expression.copy()
    inner = expression[INDEX["browInnerUp"]]
    x = mean[:, 0] - mean[:, 0].mean()
    left = 1.0 / (1.0 + np.exp(-x / 0.05))  # subject's left is image right (x > 0)
    out[INDEX["browDownLeft"]] -= share * inner * left[:, None]
    out[INDEX["browDownRight"]] -= share * inner * (1.0 - left)[:, None]
    return out


def build(ict: ICTModel, data_root: Path | None, identity_modes: int = 100, real_modes: int = 60,
          ict_identity_scale: float = 1.0, real_scale: float = 0.5, log=print) -> ExpressionPrior:
    """``real_scale`` shrinks the real faces' modes below their measured spread: 100 photos of
    mostly-neutral people still hold some expression (and MediaPipe noise), and at full size
    those modes explain away brow and lid motion in a single-photo fit (the synthetic-recovery
    test and the held-out neutral photos chose 0.5)."""
    view = View()
    _, _, first = correspondence(ict, view)
    albedo = painted_albedo(ict, first.xy, view)
    vid, w, face = correspondence(ict, view, albedo)
    pts = sample(ict.shape(expression=OPEN_LIPS), vid, w)  # cm, ICT axes
    neutral_pts = sample(ict.neutral, vid, w)
    valid = np.ones(478, bool)
    valid[list(IRISES)] = False
    # MediaPipe's z against ICT's depth on the render (both relative to their means)
    zi = -pts[valid, 2] * view.scale
    zm = face.landmarks[valid, 2]
    zi, zm = zi - zi.mean(), zm - zm.mean()
    z_scale = float(zm @ zi / (zi @ zi))
    log(f"MediaPipe z / true depth on the render: {z_scale:.3f}")

    # the London expression model's reference frame, so both models share one canonical frame
    reference = ExpressionModel.load(DEFAULT_PATH).mean_shape
    real = _real_neutrals(data_root, log) if data_root is not None else []
    canon = np.stack([to_canonical(f.landmarks, reference)[0] for f in real]) if real else None
    mean = canon.mean(0) if real else reference
    idx = [i for i in STABLE if valid[i]]
    ict_img = _to_image_axes(neutral_pts, z_scale)
    sim = umeyama(ict_img[idx], mean[idx])
    log(f"ICT → canonical: scale {sim.scale:.4f} per cm")

    def carry(delta_cm: np.ndarray) -> np.ndarray:  # (..., 478, 3) displacement, ICT axes → canonical
        return sim.scale * _to_image_axes(delta_cm, z_scale) @ sim.R.T

    expression = np.zeros((len(NAMES), 478, 3))
    mp_deltas: dict[str, np.ndarray] = {}
    for k, name in enumerate(ict.expression_names):
        mp = ict_to_mediapipe_name(name)
        if mp is None:
            continue
        d = ict.expression_deltas[k].astype(np.float64)
        expression[INDEX[mp]] += carry(sample(d, vid, w))
        mp_deltas[mp] = mp_deltas.get(mp, 0) + d[:FACE_VERTICES]
    identity = [ict_identity_scale * carry(sample(ict.identity_deltas[:identity_modes].astype(np.float64), vid, w))]
    if len(real) > 3 and real_modes > 0:
        X = (canon - canon.mean(0)).reshape(len(canon), -1)
        _, S, Vt = np.linalg.svd(X, full_matrices=False)
        k = min(real_modes, len(S))
        std = S[:k] / np.sqrt(len(canon) - 1)
        identity.append(real_scale * (Vt[:k] * std[:, None]).reshape(k, 478, 3))
    identity = np.concatenate(identity)
    expression = corrugator(expression, mean)
    expression[:, ~valid] = 0.0
    identity[:, ~valid] = 0.0
    observed = observed_basis(ict, albedo, reference, view, log)

    # shading: ICT vertices in atlas space through the same similarity
    v_img = sim.apply(_to_image_axes(ict.neutral[:FACE_VERTICES], z_scale))
    layout = atlas_layout(reference, TEX)
    lay_mean = reference[:, :2]
    mn, mx = lay_mean.min(0), lay_mean.max(0)
    s = 0.92 * TEX / float(max(mx - mn))
    atlas_xy = (v_img[:, :2] - (mn + mx) / 2) * s + TEX / 2
    assert np.allclose(layout, (lay_mean - (mn + mx) / 2) * s + TEX / 2)
    full = {n: np.pad(d, ((0, len(ict.neutral) - FACE_VERTICES), (0, 0))) for n, d in mp_deltas.items()}
    ratios = shading_atlas(ict, atlas_xy, full, upper=upper_face(layout))
    keep = atlas_weight(layout, TEX)  # not on the eyes or the mouth interior
    shading = np.zeros((len(NAMES), TEX, TEX), np.float32)
    for n, r in ratios.items():
        shading[INDEX[n]] = r * keep
    meta = {"source": "ICT-FaceKit light model, ict_facekit.npz", "licence": ICT_NOTICE,
            "z_scale": z_scale, "scale_per_cm": sim.scale, "real_neutrals": len(real),
            "identity_modes": {"ict": identity_modes, "ict_scale": ict_identity_scale, "real": int(identity.shape[0] - identity_modes), "real_scale": real_scale},
            "correspondence": "MediaPipe on an orthographic render, lips parted (jawOpen 0.2)"}
    meta["observed"] = "MediaPipe's landmark motion on renders of each shape at full activation"
    prior = ExpressionPrior(mean, identity, expression, valid, shading, meta, observed)
    if real:
        calibrate(prior, real)
    return prior


def calibrate(prior: ExpressionPrior, neutrals: list) -> None:
    """Set the prior's neutral reference from real neutral faces (London train split + Canada):
    MediaPipe's mean scores on them (its zero is not a neutral face: it reads some squint and
    blink on everyone), then the fit's mean reading, so an average neutral face reads 0."""
    prior.neutral_scores = np.mean([f.blendshapes for f in neutrals], axis=0).astype(np.float64)
    prior.neutral_code = None
    fitter = ExpressionFitter(prior, known_basis=ExpressionModel.load(DEFAULT_PATH).basis)
    prior.neutral_code = np.mean([fitter.fit(f.landmarks, f.blendshapes).expression for f in neutrals], axis=0)
    prior.meta["calibration"] = f"{len(neutrals)} real neutral faces (London train split + Canada)"


def observed_basis(ict: ICTModel, albedo: np.ndarray, reference: np.ndarray, view: View = View(),
                   log=print) -> np.ndarray:
    """(52, 478, 3): how MediaPipe's landmarks move (canonical frame) when the rendered head makes
    each expression at full activation. Fitting real faces' landmarks against *this* basis
    compares like with like: MediaPipe's own response (sliding contours, brows it tracks by
    their hair) rather than the mesh's true surface motion."""
    def canon(expr):
        img, _ = render(ict, ict.shape(expression=expr), view, albedo=albedo)
        return to_canonical(_detect(img).landmarks, reference)[0]

    base = canon({})
    out = np.zeros((len(NAMES), 478, 3))
    groups: dict[str, list[str]] = {}
    for n in ict.expression_names:
        mp = ict_to_mediapipe_name(n)
        if mp is not None:
            groups.setdefault(mp, []).append(n)
    for mp, names in groups.items():
        try:
            out[INDEX[mp]] = canon({n: 1.0 for n in names}) - base
        except RuntimeError:
            log(f"observed basis: no face found for {mp}; left at 0")
    out[:, list(IRISES)] = 0.0
    return out
