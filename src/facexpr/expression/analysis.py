"""Expression analysis by fitting: pose + identity + expression coefficients for every face.

MediaPipe's blendshape classifier reads smiles, jaw and blinks well but stays near 0 for frowns,
sneers, cheek raises and widened eyes even where the landmarks clearly move. So each face's 3D
landmarks are fitted with the morphable prior (:mod:`facexpr.expression.prior`):

    min_{a, e}  Σ_p w_p ‖y_p − (mean + I a + E e)_p‖² / σ²  +  ‖a‖²  +  μ‖e‖²  +  λ Σ e,
    0 ≤ e ≤ 1

in the canonical frame (pose removed by a similarity on the expression-stable points). Identity
``a`` is eliminated in closed form; the bounded expression problem (≤ 52 unknowns) is solved by
an exact active-set method; one robust re-weighting drops landmarks that fit badly (an occluding
hand, a tracking glitch). About 7.5 ms per face on the 2-core CPU (most of it the robust refit).

The result is *fused* with MediaPipe where MediaPipe is reliable (:data:`FROM_MEDIAPIPE`: smile,
jaw, blinks, gaze): those scores are kept, and the London-fitted expression model — calibrated on
exactly those scores — keeps moving the landmarks for them.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from ..faces.align import to_canonical
from ..faces import landmarks
from ..faces.landmarks import Detection, Face
from .blendshapes import FITTED, FROM_MEDIAPIPE, INDEX, MIRRORED, NAMES
from .prior import ExpressionPrior, load_default_prior, symmetric_basis, symmetrize
from . import action_units
from .model import load_default_model
from .reader import load_default_reader



@dataclass(frozen=True)
class FitConfig:
    noise: float = 0.03      # model + landmark error (canonical units; the stable points' RMS radius is 1)
    z_weight: float = 0.3    # MediaPipe's depth is less reliable than x, y
    ridge: float = 0.02      # μ: keeps co-linear shapes from trading off wildly
    sparsity: float = 0.02   # λ (in units of 1/σ² · squared error): unexplained motion stays 0
    robust: float = 3.0      # landmarks whose residual exceeds this × the median are dropped (once)
    debias: float = 0.05     # refit the shapes above this without the sparsity cost (relaxed lasso)


@dataclass
class FitResult:
    expression: np.ndarray   # (52,) fitted coefficients in [0, 1] (NAMES order; unfitted = 0)
    identity: np.ndarray     # (K,)
    residual: float          # RMS landmark residual, canonical units
    canonical: np.ndarray    # (478, 3) the face in the canonical frame
    raw: np.ndarray | None = None  # (52,) before the neutral calibration (fitted shapes only)


class ExpressionFitter:
    """``known_basis`` (52, 478, 3): the motion of the MediaPipe-scored blendshapes
    (:data:`FROM_MEDIAPIPE`) that is removed before fitting — by default the London-fitted model's,
    which is exactly what the renderer will add for them, so a smile's cheek motion (part of that
    model's smile) is not fitted a second time as cheekSquint."""

    def __init__(self, prior: ExpressionPrior, cfg: FitConfig = FitConfig(), known_basis: np.ndarray | None = None,
                 fitted: tuple[str, ...] = FITTED):
        self.prior, self.cfg = prior, cfg
        basis = prior.observed if prior.observed is not None else prior.expression
        self.fitted = np.array([n in fitted and np.any(basis[i]) for n, i in zip(NAMES, range(len(NAMES)))])
        self.known = np.isin(NAMES, FROM_MEDIAPIPE) & ~np.isin(NAMES, fitted)
        kb = basis if known_basis is None else known_basis
        self.E_known = kb[self.known].reshape(int(self.known.sum()), -1).T
        self.E = basis[self.fitted].reshape(int(self.fitted.sum()), -1).T  # (D, M)
        self.I = prior.identity.reshape(len(prior.identity), -1).T                   # (D, K)
        w = np.repeat(prior.valid.astype(np.float64), 3).reshape(478, 3)
        w[:, 2] *= cfg.z_weight
        self.w0 = w.ravel()
        self._system = lru_cache(maxsize=8)(self._reduced)
        self._base = self._reduced(None)

    def _reduced(self, drop: tuple[int, ...] | None):
        """The identity-eliminated normal equations for a set of dropped landmarks."""
        w = self.w0.copy()
        if drop:
            w.reshape(478, 3)[list(drop)] = 0.0
        w /= self.cfg.noise ** 2
        Iw, Ew = self.I * w[:, None], self.E * w[:, None]
        Gii = self.I.T @ Iw + np.eye(self.I.shape[1])
        Gie = self.I.T @ Ew
        Gee = self.E.T @ Ew
        Gii_inv = np.linalg.inv(Gii)
        K = Gie.T @ Gii_inv
        scale = np.diag(Gee).copy()  # per shape, so small shapes (brows, lids) are not penalised more
        Gr = Gee - K @ Gie + self.cfg.ridge * np.diag(scale)
        return w, Iw, Ew, Gii_inv, K, Gr, scale

    def _target(self, landmarks: np.ndarray, mediapipe: np.ndarray | None):
        canon, _ = to_canonical(np.asarray(landmarks, np.float64), self.prior.mean)
        y = (canon - self.prior.mean).ravel()
        if mediapipe is not None:  # relative to what MediaPipe reads on an average neutral face
            base = self.prior.neutral_scores if self.prior.neutral_scores is not None else 0.0
            y = y - self.E_known @ (np.asarray(mediapipe, np.float64) - base)[self.known]
        return canon, y

    def fit(self, landmarks: np.ndarray, mediapipe: np.ndarray | None = None) -> FitResult:
        """Fit one face's (478, 3) landmarks. MediaPipe's scores for :data:`FROM_MEDIAPIPE`
        (when given) are taken as known: their motion is removed before the rest is fitted, so a
        smile is not explained a second time as stretched lips or raised cheeks."""
        canon, y = self._target(landmarks, mediapipe)
        e, a, r = self._solve(y, self._base)
        per_point = np.sqrt((r.reshape(478, 3)[:, :2] ** 2).sum(1))
        ok = self.prior.valid
        med = np.median(per_point[ok])
        drop = tuple(int(i) for i in np.nonzero(ok & (per_point > self.cfg.robust * max(med, 1e-6)))[0])
        if drop and len(drop) < 0.25 * ok.sum():
            e, a, r = self._solve(y, self._system(drop))
        full = np.zeros(len(NAMES))
        full[self.fitted] = e
        raw = full.copy()
        if self.prior.neutral_code is not None:  # a neutral face reads 0 (population calibration)
            full = np.clip(full - self.prior.neutral_code, 0.0, 1.0)
        if mediapipe is not None:
            full[self.known] = np.asarray(mediapipe, np.float64)[self.known]
        rms = float(np.sqrt((r ** 2 * (self.w0 > 0)).sum() / max((self.w0 > 0).sum(), 1)))
        return FitResult(full, a, rms, canon, raw)

    def fit_change(self, before: np.ndarray, after: np.ndarray, mp_before: np.ndarray,
                   mp_after: np.ndarray) -> np.ndarray:
        """The signed change (52,) of the expression coefficients between two landmark sets of
        the *same* face (before and after an edit, two frames): the canonical landmarks'
        difference is fitted directly, so the person's identity cancels instead of absorbing part
        of the change, and no neutral calibration clips a small one. MediaPipe's scores give the
        known shapes' change (their motion is removed first). Signed coefficients in [-1, 1]
        with an L1 cost (as positive and negative parts), then refitted without it."""
        c0, _ = to_canonical(np.asarray(before, np.float64), self.prior.mean)
        c1, _ = to_canonical(np.asarray(after, np.float64), self.prior.mean)
        dmp = np.asarray(mp_after, np.float64) - np.asarray(mp_before, np.float64)
        dy = (c1 - c0).ravel() - self.E_known @ dmp[self.known]
        w, Iw, Ew, *_, scale = self._base
        G = Ew.T @ self.E + self.cfg.ridge * np.diag(scale)
        h = Ew.T @ dy
        e = lasso_box(G, h, self.cfg.sparsity * scale)
        act = np.abs(e) > self.cfg.debias
        if self.cfg.debias and act.any():
            e = np.zeros_like(e)
            e[act] = box_qp(G[np.ix_(act, act)], h[act], lo=-1.0, hi=1.0)
        full = np.zeros(len(NAMES))
        full[self.fitted] = e
        full[self.known] = dmp[self.known]
        return full

    def _solve(self, y: np.ndarray, system):
        w, Iw, Ew, Gii_inv, K, Gr, scale = system
        hi, he = Iw.T @ y, Ew.T @ y
        hr = he - K @ hi
        e = box_qp(Gr, hr - self.cfg.sparsity * scale)
        if self.cfg.debias:
            # The sparsity cost picks which shapes are active but also shrinks them; refit the
            # active ones without it, so a clear frown reads at its full strength.
            act = e > self.cfg.debias
            if act.any():
                e = np.zeros_like(e)
                e[act] = box_qp(Gr[np.ix_(act, act)], hr[act])
        a = Gii_inv @ hi - K.T @ e
        r = y - self.I @ a - self.E @ e
        return e, a, r


def lasso_box(G: np.ndarray, h: np.ndarray, l1: np.ndarray, lo: float = -1.0, hi: float = 1.0,
              sweeps: int = 200, tol: float = 1e-6) -> np.ndarray:
    """argmin ½ xᵀGx − hᵀx + Σ l1_j |x_j| subject to lo ≤ x ≤ hi, by coordinate descent (signed
    coefficients: a change can lower a shape as well as raise it)."""
    x = np.zeros(len(h))
    d = np.diag(G)
    for _ in range(sweeps):
        moved = 0.0
        for j in range(len(h)):
            r = h[j] - G[j] @ x + d[j] * x[j]
            v = np.clip(np.sign(r) * max(abs(r) - l1[j], 0.0) / d[j], lo, hi)
            moved = max(moved, abs(v - x[j]))
            x[j] = v
        if moved < tol:
            break
    return x


def box_qp(G: np.ndarray, h: np.ndarray, lo: float = 0.0, hi: float = 1.0, iters: int = 50) -> np.ndarray:
    """argmin ½ xᵀGx − hᵀx subject to lo ≤ x ≤ hi (G symmetric positive definite).

    Active set: solve on the free variables, clip, free a bound variable whose gradient points
    inside, repeat; typically 3–6 rounds for 50 variables."""
    n = len(h)
    x = np.clip(np.linalg.solve(G, h), lo, hi)
    for _ in range(iters):
        g = G @ x - h
        free = ((x > lo) & (x < hi)) | ((x <= lo) & (g < 0)) | ((x >= hi) & (g > 0))
        if not free.any():
            break
        xn = x.copy()
        fixed = ~free
        rhs = h[free] - G[np.ix_(free, fixed)] @ x[fixed]
        xn[free] = np.linalg.solve(G[np.ix_(free, free)], rhs)
        if np.all((xn[free] >= lo - 1e-12) & (xn[free] <= hi + 1e-12)):
            xn = np.clip(xn, lo, hi)
            g = G @ xn - h
            if np.all(((xn > lo) & (xn < hi)) | ((xn <= lo) & (g >= -1e-9)) | ((xn >= hi) & (g <= 1e-9))):
                return xn
            x = xn
            continue
        # step towards the free solution until the first bound is hit
        d = xn - x
        with np.errstate(divide="ignore", invalid="ignore"):
            t_hi = np.where(d > 0, (hi - x) / d, np.inf)
            t_lo = np.where(d < 0, (lo - x) / d, np.inf)
        t = float(min(1.0, np.min(np.minimum(t_hi, t_lo)[free])))
        x = np.clip(x + t * d, lo, hi)
        if n and t < 1e-12:
            x = np.clip(xn, lo, hi)
    return x


@lru_cache(maxsize=2)
def default_fitter() -> ExpressionFitter:
    return ExpressionFitter(load_default_prior(), known_basis=load_default_model(prior=False).basis)


def fuse(fitted: np.ndarray, mediapipe: np.ndarray) -> np.ndarray:
    """The expression code: MediaPipe's scores where they are reliable, the fit elsewhere."""
    out = np.asarray(fitted, np.float64).copy()
    for n in FROM_MEDIAPIPE:
        out[INDEX[n]] = mediapipe[INDEX[n]]
    return np.clip(out, 0.0, 1.0)


@lru_cache(maxsize=1)
def symmetric_fitter() -> ExpressionFitter:
    """The fit on the mirror-symmetric prior (:func:`~.prior.symmetrize`), uncalibrated and without
    the robust refit (whose per-face matrix inverse costs more than the reader saves): the learned
    reader's input. Mirror-equivariant: the fit of a mirrored face is the mirrored fit."""
    prior = load_default_prior()
    known = symmetric_basis(prior, load_default_model(prior=False).basis)
    return ExpressionFitter(symmetrize(prior), FitConfig(robust=np.inf, debias=0.0), known_basis=known)


def read_code(landmarks: np.ndarray, raw: np.ndarray, fitter: ExpressionFitter | None = None) -> tuple[np.ndarray, "FitResult"]:
    """The expression code of one face and the prior fit behind it: the learned reader's code
    (:mod:`.reader`) where the package ships one and no other fitter is asked for, else the fit
    fused with MediaPipe's scores."""
    reader = load_default_reader() if fitter is None else None
    if reader is not None:
        res = symmetric_fitter().fit(landmarks, raw)
        return reader.read(landmarks, raw, res.raw).astype(np.float32), res
    res = (fitter or default_fitter()).fit(landmarks, raw)
    return fuse(res.expression, raw).astype(np.float32), res


def describe(face: Detection | Face, fitter: ExpressionFitter | None = None,
             mirrored: Detection | None = None) -> Face:
    """The analysed :class:`Face` of a raw MediaPipe :class:`Detection`: its expression code read
    (``blendshapes``: :func:`read_code`), the detection kept as ``detection`` (MediaPipe's own
    scores: ``mediapipe_scores``) and the fit as ``fit``. A face already analysed is returned as it is.

    ``mirrored``: the same face detected in the mirrored photo (:func:`~facexpr.faces.landmarks.mirror_pass`);
    the code is then the average of both readings (the mirrored one Left↔Right swapped), so a photo
    and its mirror image read exactly the mirrored code of each other. Landmarks and MediaPipe's
    scores stay those of the photo itself."""
    if isinstance(face, Face):
        return face
    raw = np.asarray(face.blendshapes, np.float32)
    code, res = read_code(face.landmarks, raw, fitter)
    if mirrored is not None:
        other, _ = read_code(mirrored.landmarks, np.asarray(mirrored.blendshapes, np.float32), fitter)
        code = ((code + other[list(MIRRORED)]) / 2.0).astype(np.float32)
    return Face(face.landmarks, code, face.pose, face.image_size, detection=face, fit=res)


def analyze_faces(rgb: np.ndarray, thorough: bool = False, mirror: bool = True) -> list[Face]:
    """:func:`facexpr.faces.landmarks.analyze_faces`, each face described by its code; with
    ``mirror`` (photos: the default) read in the photo and in its mirror image and averaged
    (:func:`describe`): about 10 ms more per face for a reading that does not change when the
    photo is mirrored. Video tracking reads each frame once (the filter over time steadies it)."""
    faces = landmarks.analyze_faces(rgb, thorough=thorough)
    return [describe(f, mirrored=landmarks.mirror_pass(rgb, f) if mirror else None) for f in faces]


def reanalyze(rgb: np.ndarray, near) -> Face | None:
    """:func:`facexpr.faces.landmarks.reanalyze` with the fitted code (e.g. to measure an edit)."""
    face = landmarks.reanalyze(rgb, near)
    return None if face is None else describe(face)


def mediapipe_scores(face: Detection | Face) -> np.ndarray:
    """MediaPipe's own 52 scores of ``face`` (a detection's, or those an analysed face was fitted
    from); a face made by the program has none, and its code stands in for them."""
    if isinstance(face, Detection):
        return face.blendshapes
    return face.blendshapes if face.mediapipe_scores is None else face.mediapipe_scores


# Shapes whose change is read from MediaPipe's classifier in a change measurement: the smile, jaw,
# blinks and gaze (the product's own fusion), and the mouth-opening and lip-protrusion shapes
# that it scores reliably on edited photos (the pre-prior AU sweep, docs/results/au_edit_prior.md:
# upper-lip raise ρ .92, lower-lip depressor .95, chin raiser .80, pucker .86, funnel .89). Every
# other shape — brows, lids, cheeks, nose, frowns, dimples, presses, rolls, stretch, where that
# sweep found MediaPipe's scores flat (ρ −.30 … .48) — is fitted to the landmarks' change.
CHANGE_FROM_MEDIAPIPE = ("mouthSmileLeft", "mouthSmileRight", "jawOpen", "eyeBlinkLeft", "eyeBlinkRight",
                         "eyeLookDownLeft", "eyeLookDownRight", "eyeLookInLeft", "eyeLookInRight",
                         "eyeLookOutLeft", "eyeLookOutRight", "eyeLookUpLeft", "eyeLookUpRight",
                         "mouthUpperUpLeft", "mouthUpperUpRight", "mouthLowerDownLeft", "mouthLowerDownRight",
                         "mouthShrugLower", "mouthShrugUpper", "mouthPucker", "mouthFunnel")


@lru_cache(maxsize=1)
def change_fitter() -> ExpressionFitter:
    fitted = tuple(n for n in NAMES if n not in CHANGE_FROM_MEDIAPIPE and n != "_neutral")
    return ExpressionFitter(load_default_prior(), known_basis=load_default_model(prior=False).basis, fitted=fitted)


def change_between(before: Face, after: Face) -> np.ndarray:
    """The signed expression-code change (52,) from ``before`` to ``after``, two photos of the
    *same* face (e.g. before and after an edit): :meth:`ExpressionFitter.fit_change`, the shapes
    of :data:`CHANGE_FROM_MEDIAPIPE` read by MediaPipe's classifier, every other one from the
    landmarks."""
    mp = [np.asarray(mediapipe_scores(f), np.float64) for f in (before, after)]
    return change_fitter().fit_change(before.landmarks, after.landmarks, *mp)


def face_report(face: Face, with_landmarks: bool = True) -> dict:
    """JSON-ready description for ``facexpr analyze``: box, pose, the expression code and where
    it came from, action units, and (optionally) the landmarks."""
    face = describe(face)
    d = face.to_dict(with_landmarks=False)
    raw = face.mediapipe_scores
    fit: FitResult = face.fit
    d["blendshapes"] = {n: round(float(v), 4) for n, v in zip(NAMES, face.blendshapes)}
    d["mediapipe_blendshapes"] = {n: round(float(v), 4) for n, v in zip(NAMES, raw)}
    d["fit"] = {"residual": round(fit.residual, 5), "fitted": list(FITTED),
                "coefficients": {n: round(float(v), 4) for n, v in zip(NAMES, fit.expression) if v > 0}}
    d["action_units"] = {k: round(v, 4) for k, v in action_units.as_dict(action_units.estimate(face.blendshapes)).items()}
    if with_landmarks:
        d["landmarks"] = np.round(face.landmarks, 2).tolist()
    return d
