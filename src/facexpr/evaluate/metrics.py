"""Metrics: pure functions on arrays (no models, no files), each with its scale stated.

Everything here is deterministic; the one random choice (KID's subsets) takes an explicit seed.
"""
from __future__ import annotations

import math

import numpy as np

from ..faces.align import umeyama
from ..faces.topology import IRIS_LEFT, IRIS_RIGHT

# ----------------------------------------------------------------------------- expression


def expression_change(output_bs, target_bs, source_bs, source_neutral_bs, mask=None) -> float:
    """How much of the source's expression change the method put on the target.

    The change the method made, ``d_out = output - target``, projected on the change the source
    shows against its own neutral photo, ``d_src = source - source_neutral`` (blendshape vectors,
    restricted to ``mask``): ``<d_out, d_src> / |d_src|^2``. 0 = no change (or an unrelated one),
    1 = the same change, > 1 exaggerated, < 0 the opposite. NaN when the source shows no change.
    """
    dot, norm = expression_change_terms(output_bs, target_bs, source_bs, source_neutral_bs, mask)
    return dot / norm if norm > 1e-12 else math.nan


def expression_change_terms(output_bs, target_bs, source_bs, source_neutral_bs, mask=None) -> tuple[float, float]:
    """(<d_out, d_src>, |d_src|^2) of :func:`expression_change`, for pooling over pairs."""
    m = slice(None) if mask is None else np.asarray(mask, bool)
    d_out = (np.asarray(output_bs, np.float64) - np.asarray(target_bs, np.float64))[m]
    d_src = (np.asarray(source_bs, np.float64) - np.asarray(source_neutral_bs, np.float64))[m]
    return float(d_out @ d_src), float(d_src @ d_src)


def pooled_expression_change(dots, norms) -> float:
    """Expression change pooled over pairs: sum <d_out, d_src> / sum |d_src|^2.

    The same 0 = none, 1 = the source's change scale as the per-pair ratio, but each pair weighs by
    how much its source changes, so a source that barely moves (a tiny denominator) cannot dominate.
    """
    d, n = np.asarray(dots, np.float64), np.asarray(norms, np.float64)
    ok = np.isfinite(d) & np.isfinite(n)
    total = n[ok].sum()
    return float(d[ok].sum() / total) if total > 1e-12 else math.nan


def mean_abs_error(a, b, mask=None) -> float:
    """Mean absolute difference (blendshapes or action units, both on a 0..1 scale)."""
    d = np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64))
    return float(d[np.asarray(mask, bool)].mean() if mask is not None else d.mean())


def interocular(landmarks) -> float:
    xy = np.asarray(landmarks, np.float64)[:, :2]
    return float(np.linalg.norm(xy[IRIS_RIGHT[0]] - xy[IRIS_LEFT[0]]))


def landmark_nme(landmarks, reference) -> float:
    """Landmark error after Procrustes alignment, in % of the reference's inter-ocular distance.

    ``landmarks`` are similarity-aligned (2D Umeyama: rotation, scale, translation over all 478
    points) onto ``reference``; then the mean point-to-point distance is divided by the reference's
    iris-to-iris distance. Pose and face position are forgiven; shape (expression) differences not.
    """
    a = np.asarray(landmarks, np.float64)[:, :2]
    b = np.asarray(reference, np.float64)[:, :2]
    aligned = umeyama(a, b).apply(a)
    return float(np.linalg.norm(aligned - b, axis=1).mean() / interocular(b) * 100.0)


# ----------------------------------------------------------------------------- emotion


def emotion_correct(probs, label: str | None, classes) -> float:
    """1.0 if the top class is ``label``, 0.0 if not, NaN when there is no usable label."""
    if label is None or label not in classes or probs is None:
        return math.nan
    return float(classes[int(np.argmax(probs))] == label)


# ----------------------------------------------------------------------------- realism / fidelity


def fid(feats_a: np.ndarray, feats_b: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets (FID on Inception features).

    Biased upwards at small sample sizes (it needs thousands of images to settle); use KID to
    compare methods on a benchmark of ~100 pairs.
    """
    from scipy import linalg

    a, b = np.asarray(feats_a, np.float64), np.asarray(feats_b, np.float64)
    if len(a) < 2 or len(b) < 2:
        return math.nan
    mu_a, mu_b = a.mean(0), b.mean(0)
    xa, xb = a - mu_a, b - mu_b
    n, m, d = len(a), len(b), a.shape[1]
    tr_a, tr_b = (xa ** 2).sum() / (n - 1), (xb ** 2).sum() / (m - 1)
    if min(n, m) <= d:
        # tr sqrt(Sa Sb) without the d x d square root: Sa Sb has the non-zero eigenvalues of M M^T,
        # M = Xa Xb^T / sqrt((n-1)(m-1)), so the trace is M's nuclear norm (exact, and an n x m SVD).
        tr_covmean = np.linalg.svd(xa @ xb.T / np.sqrt((n - 1) * (m - 1)), compute_uv=False).sum()
    else:
        sa, sb = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
        covmean = linalg.sqrtm(sa @ sb)
        if not np.isfinite(covmean).all():  # the usual fix (pytorch-fid): regularise and retry
            eps = np.eye(d) * 1e-6
            covmean = linalg.sqrtm((sa + eps) @ (sb + eps))
        tr_covmean = np.trace(np.real(covmean))
    return float(max(0.0, ((mu_a - mu_b) ** 2).sum() + tr_a + tr_b - 2 * tr_covmean))


def _poly_kernel(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """KID's kernel k(a, b) = (a.b / d + 1)^3."""
    return (x @ y.T / x.shape[1] + 1) ** 3


def mmd2_unbiased(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased MMD^2 U-statistic with KID's kernel.

    For equal sizes (our sets are paired: output i and reference i belong to pair i) every term
    leaves out i == j, cross terms included (Gretton et al. 2012, MMD^2_u): unbiased even when x_i
    and y_i are related, and exactly 0 for a set against itself. For unequal sizes the cross term
    is the full mean (Bińkowski et al. 2018).
    """
    m, n = len(x), len(y)
    kxx, kyy, kxy = _poly_kernel(x, x), _poly_kernel(y, y), _poly_kernel(x, y)
    within = (kxx.sum() - np.trace(kxx)) / (m * (m - 1)) + (kyy.sum() - np.trace(kyy)) / (n * (n - 1))
    if m == n:
        return float(within - 2 * (kxy.sum() - np.trace(kxy)) / (m * (m - 1)))
    return float(within - 2 * kxy.mean())


def kid(feats_a: np.ndarray, feats_b: np.ndarray, subsets: int = 50, seed: int = 0) -> tuple[float, float]:
    """Kernel Inception Distance: (estimate on the full sets, std over ``subsets`` seeded random
    half-size subsets). Paired sets (equal length) are subsampled with the same indices. The
    estimate is unbiased, so it can be slightly negative; a set against itself scores exactly 0.
    """
    a, b = np.asarray(feats_a, np.float64), np.asarray(feats_b, np.float64)
    if min(len(a), len(b)) < 2:
        return math.nan, math.nan
    full = mmd2_unbiased(a, b)
    rng = np.random.default_rng(seed)
    vals = []
    if min(len(a), len(b)) >= 4:
        for _ in range(subsets):
            ia = rng.choice(len(a), len(a) // 2, replace=False)
            ib = ia if len(a) == len(b) else rng.choice(len(b), len(b) // 2, replace=False)
            vals.append(mmd2_unbiased(a[ia], b[ib]))
    return full, float(np.std(vals)) if vals else math.nan


def _to_tensor(images):
    import torch

    x = np.stack([np.asarray(im, np.uint8) for im in images]).astype(np.float32) / 255.0
    return torch.from_numpy(x).permute(0, 3, 1, 2)


def ssim(a: list[np.ndarray], b: list[np.ndarray]) -> np.ndarray:
    """(N,) SSIM (kornia, 11x11 Gaussian window, RGB in [0, 1]); 1 = identical."""
    import kornia
    import torch

    if not a:
        return np.zeros(0)
    with torch.inference_mode():
        return kornia.metrics.ssim(_to_tensor(a), _to_tensor(b), 11).mean(dim=(1, 2, 3)).double().numpy()


PSNR_CAP = 100.0  # dB for identical images (MSE 0), so tables and JSON stay finite


def psnr(a: list[np.ndarray], b: list[np.ndarray]) -> np.ndarray:
    """(N,) PSNR in dB of RGB images in [0, 1] (kornia's definition), capped at :data:`PSNR_CAP`."""
    import torch

    if not a:
        return np.zeros(0)
    with torch.inference_mode():
        mse = ((_to_tensor(a) - _to_tensor(b)) ** 2).mean(dim=(1, 2, 3)).double().numpy()
    with np.errstate(divide="ignore"):
        return np.minimum(10.0 * np.log10(1.0 / np.maximum(mse, 1e-300)), PSNR_CAP)


# ----------------------------------------------------------------------------- summaries


def summary(values) -> dict:
    """mean, std and count of the finite values (NaN = not applicable / not measurable)."""
    v = np.asarray([x for x in values if x is not None], np.float64)
    v = v[np.isfinite(v)]
    if len(v) == 0:
        return {"mean": None, "std": None, "n": 0}
    return {"mean": float(v.mean()), "std": float(v.std()), "n": int(len(v))}
