"""Error metrics of a denoised batch: small pure functions on host numpy values.

Every metric is per pixel and in float64.  Decibel figures follow one sign
convention: larger is better for :func:`psnr` and :func:`gain_db`, and
:func:`gap_db` is the loss (≥ 0 up to noise) with respect to the optimum.
"""
from __future__ import annotations

import math

import numpy as np

__all__ = ["PAIRED", "gain_db", "gap_db", "loglog_fit", "loglog_slope", "mean_and_stderr", "mse_per_image", "psnr", "stderr"]

#: The ``reason`` of a finished row whose optimum was measured on its own noisy images (a dataset whose MMSE
#: is a Monte Carlo estimate, e.g. ``gmm``): ``optimal_mse`` is then the exact optimal denoiser's MSE on the
#: same images and ``optimal_stderr`` the standard error of the paired per-image difference.
PAIRED = "paired: optimal denoiser on the same noisy images; optimal_stderr is the paired difference's"


def mse_per_image(x, x_hat):
    """Mean squared error per pixel of each image, in float64.

    Parameters
    ----------
    x, x_hat : numpy arrays of the same shape ``(n, ...)``
        Clean and denoised batches; every axis after the first is averaged.

    Returns
    -------
    mse : numpy array, shape (n,), float64
    """
    x = np.asarray(x, dtype=np.float64)
    x_hat = np.asarray(x_hat, dtype=np.float64)
    if x.shape != x_hat.shape:
        raise ValueError(f"shapes differ: x {x.shape} and x_hat {x_hat.shape}")
    if x.ndim < 2:
        raise ValueError(f"expected a batch (n, ...) with at least 2 axes; got shape {x.shape}")
    diff = x_hat - x
    return np.mean(diff * diff, axis=tuple(range(1, x.ndim)))


def stderr(values):
    """Standard error of the mean of independent ``values``: ``std(ddof=1) / sqrt(n)``.

    Returns ``nan`` for fewer than two values (the spread is then unknown).
    """
    values = np.asarray(values, dtype=np.float64).reshape(-1)
    if values.size < 2:
        return math.nan
    return float(np.std(values, ddof=1) / math.sqrt(values.size))


def mean_and_stderr(values):
    """``(mean, standard error of the mean)`` of ``values`` as Python floats."""
    values = np.asarray(values, dtype=np.float64).reshape(-1)
    return float(np.mean(values)), stderr(values)


def _db(ratio):
    """``10 log10(ratio)`` with the limits ±inf instead of warnings; ``None`` stays ``None``."""
    if ratio is None or (isinstance(ratio, float) and math.isnan(ratio)):
        return None
    if ratio == 0:
        return -math.inf
    if math.isinf(ratio):
        return math.inf
    return 10.0 * math.log10(ratio)


def _ratio(num, den):
    if num is None or den is None:
        return None
    if den == 0:
        return math.inf if num > 0 else math.nan
    return num / den


def psnr(mse, peak=1.0):
    """Peak signal-to-noise ratio in dB: ``10 log10(peak² / mse)`` (``inf`` when ``mse`` is 0)."""
    return _db(_ratio(float(peak) ** 2, None if mse is None else float(mse)))


def gain_db(sigma, mse):
    """Denoising gain in dB: ``10 log10(σ² / mse)``; 0 for the identity, whose MSE is σ²."""
    return _db(_ratio(float(sigma) ** 2, None if mse is None else float(mse)))


def gap_db(mse, optimal_mse):
    """Gap to the optimum in dB: ``10 log10(mse / optimal_mse)``; ``None`` when the optimum is unknown."""
    if mse is None or optimal_mse is None:
        return None
    return _db(_ratio(float(mse), float(optimal_mse)))


def loglog_slope(x, y):
    """Least-squares slope of ``log y`` against ``log x`` (``None`` with fewer than 2 points).

    Used for MSE vs σ (identity: 2; a denoiser that saturates at the signal variance: → 0)
    and for the decay exponent of MSE vs the continuum noise level ε = σ/√N.
    """
    return loglog_fit(x, y, np.zeros(np.shape(x)))[0]


def loglog_fit(x, y, y_stderr):
    """Least-squares slope of ``log y`` against ``log x`` and its standard error.

    The slope is :func:`loglog_slope`'s; it is linear in ``log y``, ``r = Σ w_i log y_i`` with
    ``w_i = (u_i − ū) / Σ (u_j − ū)²`` and ``u = log x``, so independent errors of standard
    deviation ``δ_i ≈ y_stderr_i / y_i`` on ``log y_i`` (the delta method) give
    ``se(r) = √(Σ w_i² δ_i²)``.  Errors positively correlated across points (the same images
    at every size) make this conservative.  It is the measurement error only: a curve that is
    not a power law over the range (log factors, a pre-asymptotic regime) moves the fitted
    slope without widening the interval, so compare the slope of the finest pair too.

    Returns ``(slope, stderr)``, or ``(None, None)`` with fewer than two usable points.

    References
    ----------
    J. R. Taylor, *An Introduction to Error Analysis*, 2nd ed., §3.11 and §8.4 (propagation,
    least-squares slope).
    """
    x, y, se = (np.asarray(a, dtype=np.float64) for a in (x, y, y_stderr))
    keep = (x > 0) & (y > 0) & np.isfinite(x) & np.isfinite(y) & np.isfinite(se) & (se >= 0)
    u, v, d = np.log(x[keep]), np.log(y[keep]), se[keep] / y[keep]
    if u.size < 2 or np.unique(u).size < 2:
        return None, None
    w = (u - u.mean()) / np.sum((u - u.mean()) ** 2)
    return float(np.sum(w * v)), float(np.sqrt(np.sum(w**2 * d**2)))
