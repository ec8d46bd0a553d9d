"""How close are samples to data?  Small pure functions on host numpy batches ``(n, C, H, W)``.

Every function takes numpy arrays (convert device arrays with
:func:`denoisebench.to_numpy` first) and computes in float64.  Two sets being compared
may have different sizes ``n``.  Periodograms follow :mod:`denoisebench._fourier`'s
convention: ``|fft2(x − m)|² / (H W)``, whose expectation is the covariance eigenvalue
``P(k)`` of a stationary field, and whose mean over the grid is the pixel variance.

References
----------
Power spectra: S. Mallat, *A Wavelet Tour of Signal Processing*, 3rd ed., §11.2.1.
Wavelet statistics: E. P. Simoncelli, E. H. Adelson, "Noise removal via Bayesian wavelet
coring", ICIP 1996 (heavy-tailed subband marginals); Mallat §7.7 (periodic wavelets).
Sliced Wasserstein: J. Rabin, G. Peyré, J. Delon, M. Bernot, "Wasserstein barycenter and its
application to texture mixing", SSVM 2011.  Memorisation: Z. Kadkhodaie, F. Guth,
E. P. Simoncelli, S. Mallat, "Generalization in diffusion models arises from geometry-adaptive
harmonic representations", ICLR 2024, §2.  KL between Gaussians: T. M. Cover, J. A. Thomas,
*Elements of Information Theory*, 2nd ed., §8.6 / Problem 8.9.
"""
from __future__ import annotations

import numpy as np
import pywt
from scipy.spatial.distance import cdist
from scipy.special import digamma
from scipy.stats import kurtosis, wasserstein_distance

from ._fourier import frequency_radius

__all__ = [
    "fit_stationary_gaussian",
    "gaussian_kl",
    "gaussian_kl_floor",
    "memorisation_ratio",
    "nearest_cosine",
    "nearest_distances",
    "pixel_wasserstein",
    "power_spectrum",
    "radial_average",
    "radial_power_spectrum",
    "same_seed_cosine",
    "sliced_wasserstein",
    "spectrum_log_error",
    "wavelet_kurtosis",
    "wavelet_kurtosis_error",
]

_TINY = 1e-300  # floor before a log, so an empty frequency gives a large finite error


def _batch(x):
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 4 or x.shape[0] < 1:
        raise ValueError(f"expected a batch (n, C, H, W); got shape {x.shape}")
    return x


def _flat(x):
    x = _batch(x)
    return x.reshape(x.shape[0], -1)


# -- second order: power spectra and Gaussians ---------------------------------------------------
def power_spectrum(x, mean=None):
    """Periodogram ``mean_{i,c} |fft2(x_ic − m)|² / (H W)`` on the full ``(H, W)`` grid.

    ``mean`` is the level ``m`` removed first (default: the set's pixel mean), so the
    value at k = 0 is ``H W ×`` the variance of the image means, not the squared mean.
    """
    x = _batch(x)
    m = x.mean() if mean is None else float(mean)
    h, w = x.shape[-2:]
    return np.mean(np.abs(np.fft.fft2(x - m)) ** 2, axis=(0, 1)) / (h * w)


def radial_average(p):
    """``(k, p_k)``: the mean of a full-grid spectrum over rings ``round(|k|) = 0, 1, 2, …``."""
    p = np.asarray(p, dtype=np.float64)
    rings = np.rint(frequency_radius(p.shape)).astype(int).ravel()
    count = np.bincount(rings)
    keep = count > 0
    return np.flatnonzero(keep), np.bincount(rings, p.ravel())[keep] / count[keep]


def radial_power_spectrum(x, mean=None):
    """``(k, P(k))``: the radially averaged :func:`power_spectrum` of the batch ``x``."""
    return radial_average(power_spectrum(x, mean))


def spectrum_log_error(x, data):
    """``mean_k |log P_x(k) − log P_data(k)|`` over the rings of :func:`radial_power_spectrum`.

    0 for equal spectra; ``log 2 ≈ 0.69`` when one set has twice the power everywhere.
    """
    _, px = radial_power_spectrum(x)
    _, pd = radial_power_spectrum(data)
    if px.shape != pd.shape:
        raise ValueError("x and data must have the same image size")
    return float(np.mean(np.abs(np.log(np.maximum(px, _TINY)) - np.log(np.maximum(pd, _TINY)))))


def fit_stationary_gaussian(x):
    """The stationary Gaussian fitted to ``x``: ``(m̂, p̂)`` with p̂ on the full grid.

    ``m̂`` is the pixel mean and ``p̂ = power_spectrum(x, m̂)``, the per-frequency variance
    (images and channels are pooled as independent draws of one field).
    """
    x = _batch(x)
    return float(x.mean()), power_spectrum(x, x.mean())


def gaussian_kl(p_hat, p, mean_hat=0.0, mean=0.0):
    """KL(N(m̂ 1, Ĉ) ‖ N(m 1, C)) for covariances diagonal in the unitary DFT basis.

    ``KL = ½ Σ_k [p̂_k/P_k − 1 − log(p̂_k/P_k)] + ½ (m̂ − m)² N / P_0``, the sum over the
    full grid of N frequencies (the constant image 1 is the k = 0 eigenvector, ‖1‖² = N).
    This is the general ``½[tr(C⁻¹Ĉ) − N − log det(C⁻¹Ĉ) + (μ − μ̂)ᵀC⁻¹(μ − μ̂)]`` with
    both matrices diagonalised by the same basis.  In nats, for one channel.
    """
    p_hat, p = np.asarray(p_hat, dtype=np.float64), np.asarray(p, dtype=np.float64)
    if p_hat.shape != p.shape or p.ndim != 2:
        raise ValueError(f"spectra must be full (H, W) grids of one shape; got {p_hat.shape} and {p.shape}")
    if np.any(p <= 0) or np.any(p_hat <= 0):
        raise ValueError("spectra must be > 0 at every frequency")
    r = p_hat / p
    return float(0.5 * np.sum(r - 1 - np.log(r)) + 0.5 * (mean_hat - mean) ** 2 * p.size / p.flat[0])


def gaussian_kl_floor(shape, n):
    """E[KL] of :func:`gaussian_kl` for ``n`` exact samples fitted by :func:`fit_stationary_gaussian`.

    With the mean estimated, ``p̂_k/P_k`` is ``χ²_{2n}/2n`` at a generic frequency,
    ``χ²_n/n`` at the other self-conjugate ones and ``χ²_{n−1}/n`` at k = 0; since
    ``E[log(χ²_ν/c)] = ψ(ν/2) + log(2/c)``, each term of the sum has the closed-form mean
    ``ν/c − 1 − ψ(ν/2) − log(2/c)``; the mean term adds ``1/(2n)``.  Samples closer than
    this to the data cannot be told apart from exact samples by this KL.
    """
    h, w = shape
    n = int(n)
    if n < 2:
        raise ValueError(f"need n >= 2 samples to fit a Gaussian; got {n}")

    def term(nu, c):
        return nu / c - 1 - digamma(nu / 2) - np.log(2 / c)

    self_conj = (1 + (h % 2 == 0)) * (1 + (w % 2 == 0))  # k with 2k ≡ 0, DC included
    total = (h * w - self_conj) * term(2 * n, 2 * n) + (self_conj - 1) * term(n, n) + term(n - 1, n)
    return float(0.5 * total + 0.5 / n)


# -- marginals ---------------------------------------------------------------------------------
def pixel_wasserstein(x, data):
    """Wasserstein-1 distance between the pixel-value histograms of ``x`` and ``data``."""
    return float(wasserstein_distance(_batch(x).ravel(), _batch(data).ravel()))


def wavelet_kurtosis(x, wavelet="db2", levels=3):
    """Kurtosis (Pearson, 3 for a Gaussian) of each wavelet subband, pooled over the batch.

    Periodic orthogonal wavelet transform (``pywt.wavedec2``, mode ``periodization``) of
    every image and channel, up to ``levels`` scales (fewer when the image is small).
    Keys ``'d1_H'`` … ``'dJ_D'``, ``d1`` the finest scale; H, V, D the orientations.
    """
    x = _batch(x)
    depth = max(1, min(int(levels), pywt.dwt_max_level(min(x.shape[-2:]), wavelet)))
    coeffs = pywt.wavedec2(x, wavelet, mode="periodization", level=depth, axes=(-2, -1))
    out = {}
    for j, bands in zip(range(depth, 0, -1), coeffs[1:]):
        for name, c in zip("HVD", bands):
            out[f"d{j}_{name}"] = float(kurtosis(c.ravel(), fisher=False))
    return out


def wavelet_kurtosis_error(x, data, wavelet="db2", levels=3):
    """``mean_b |log(κ_x(b) / κ_data(b))|`` over the subbands of :func:`wavelet_kurtosis`."""
    kx, kd = wavelet_kurtosis(x, wavelet, levels), wavelet_kurtosis(data, wavelet, levels)
    return float(np.mean([abs(np.log(max(kx[b], _TINY) / kd[b])) for b in kd]))


def sliced_wasserstein(x, data, n_projections=64, seed=0):
    """Sliced Wasserstein-1: the mean over random unit directions θ of W1(⟨x, θ⟩, ⟨data, θ⟩).

    Directions are uniform on the sphere of dimension ``C H W``, drawn from ``seed`` (so
    the same directions compare every set).
    """
    a, b = _flat(x), _flat(data)
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"x and data must have the same image shape; got {a.shape[1]} and {b.shape[1]} pixels")
    theta = np.random.default_rng(seed).standard_normal((a.shape[1], int(n_projections)))
    theta /= np.linalg.norm(theta, axis=0)
    pa, pb = a @ theta, b @ theta
    return float(np.mean([wasserstein_distance(pa[:, j], pb[:, j]) for j in range(theta.shape[1])]))


# -- memorisation and same-seed similarity ---------------------------------------------------------
def nearest_distances(x, ref, exclude_self=False, chunk=256):
    """Euclidean distance of each image of ``x`` to its nearest image in ``ref``, shape (n,).

    ``exclude_self``: ``x`` is ``ref`` and each image's distance to itself is skipped
    (leave-one-out).  Computed by ``scipy.spatial.distance.cdist`` in chunks of rows.
    """
    a, b = _flat(x), _flat(ref)
    if exclude_self and a.shape != b.shape:
        raise ValueError("exclude_self needs x to be ref")
    if exclude_self and a.shape[0] < 2:
        raise ValueError("leave-one-out needs at least 2 images")
    out = np.empty(a.shape[0])
    for start in range(0, a.shape[0], chunk):
        d = cdist(a[start:start + chunk], b)
        if exclude_self:
            rows = np.arange(d.shape[0])
            d[rows, start + rows] = np.inf
        out[start:start + chunk] = d.min(axis=1)
    return out


def memorisation_ratio(samples, train, reference=None):
    """``median_i d(sample_i, train) / median_j d(reference_j, train)``, d the nearest distance.

    0 when every sample is a training image; about 1 when samples are as far from the
    training set as fresh data is.  ``reference`` is held-out data (default: the training
    images themselves, leave-one-out).
    """
    if reference is None:
        ref = nearest_distances(train, train, exclude_self=True)
    else:
        ref = nearest_distances(reference, train)
    scale = float(np.median(ref))
    if scale == 0:
        raise ValueError("the reference images' median distance to the training set is 0")
    return float(np.median(nearest_distances(samples, train))) / scale


def _directions(x):
    """Rows of ``x`` minus their own mean, scaled to unit norm (a constant row stays 0)."""
    a = _flat(x)
    a = a - a.mean(axis=1, keepdims=True)
    norms = np.linalg.norm(a, axis=1, keepdims=True)
    return np.divide(a, norms, out=np.zeros_like(a), where=norms > 0)


def nearest_cosine(x, ref, chunk=256):
    """Largest cosine similarity of each image of ``x`` with an image of ``ref``, and which one.

    Images are compared after removing their own pixel mean, as in :func:`same_seed_cosine`
    (Kadkhodaie et al. 2024, §2: a sample's similarity to its nearest training image).

    Returns
    -------
    cos : ndarray (n,)
        In [−1, 1]; 1 when the image is a training image up to contrast and level.
        0 for a constant image.
    index : ndarray of int (n,)
        The index in ``ref`` of the nearest image.
    """
    a, b = _directions(x), _directions(ref)
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"images of x and ref differ in size: {a.shape[1]} and {b.shape[1]} values")
    cos, index = np.empty(a.shape[0]), np.empty(a.shape[0], dtype=np.int64)
    for start in range(0, a.shape[0], chunk):
        c = a[start:start + chunk] @ b.T
        index[start:start + chunk] = np.argmax(c, axis=1)
        cos[start:start + chunk] = np.max(c, axis=1)
    return np.clip(cos, -1.0, 1.0), index


def same_seed_cosine(a, b):
    """Cosine similarity of ``a_i`` and ``b_i`` (same seed), each minus its own pixel mean; shape (n,).

    1 for identical images (or differing by a constant level), −1 for opposite contrasts;
    NaN where an image is constant (it has no direction).
    """
    a, b = _flat(a), _flat(b)
    if a.shape != b.shape:
        raise ValueError(f"the two sample sets must have the same shape; got {a.shape} and {b.shape}")
    a = a - a.mean(axis=1, keepdims=True)
    b = b - b.mean(axis=1, keepdims=True)
    norms = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    out = np.full(a.shape[0], np.nan)
    return np.divide(np.sum(a * b, axis=1), norms, out=out, where=norms > 0)
