"""The sampler's own error, exactly: closed-form per-mode propagation on a stationary Gaussian field.

With the exact denoiser of a stationary Gaussian field (spectrum ``P(k)``, mean μ; docs/theory.md
§2), ``D(y; σ) − μ = H_σ (y − μ)`` with ``H_σ(k) = P/(P + σ²)`` per Fourier mode, so every step of
:func:`~denoisebench.sampling.heun`, :func:`~denoisebench.sampling.euler` and
:func:`~denoisebench.sampling.euler_maruyama` is affine per mode: ``v ← g_i(k)² v + q_i`` for the
variance ``v(k)`` of ``x − μ`` at mode ``k`` (``q_i`` the injected noise variance of
Euler–Maruyama).  Starting from ``x_0 = μ + σ_0 z`` (``v = σ_0²``), the sampler's output is
exactly ``N(μ, F* diag(v) F)``, and its KL to the data ``N(μ, F* diag(P) F)`` is
``½ Σ_k [v/P − 1 − log(v/P)]`` over the full grid (:func:`denoisebench.compare.gaussian_kl`;
the real field's conjugate pairs are both in the sum, each with its own eigenvector).  No Monte Carlo.

Per-mode gains, with ``a(σ) = σ/(P + σ²)`` (``dx/dσ = a x`` is the probability-flow ODE):

- Euler: ``g = 1 + h a(σ_i)``, ``h = σ_{i+1} − σ_i``;
- Heun: ``g = 1 + h (a(σ_i) + a(σ_{i+1})(1 + h a(σ_i)))/2`` (Euler on the last step, to σ = 0);
- Euler–Maruyama: ``g = (P + σ_{i+1}²)/(P + σ_i²)``, ``q = σ_i² − σ_{i+1}²`` (``q = 0`` on the last step).

Kadkhodaie–Simoncelli's ascent is **not** affine: its step size and noise scale
``σ_t = ‖D(y) − y‖/√N`` are read from the current image (and fed back to the denoiser as σ),
so its output is not Gaussian in closed form; it is excluded (:func:`propagate` refuses it).

References
----------
T. Karras, M. Aittala, T. Aila, S. Laine, NeurIPS 2022, Algorithms 1–2; Y. Song et al., ICLR 2021,
eq. 6; T. M. Cover, J. A. Thomas, *Elements of Information Theory*, 2nd ed., §8.6 (KL between
Gaussians); docs/theory.md §8 and §13.
"""
from __future__ import annotations

import math

import numpy as np

from .. import compare
from . import SCHEDULES, churn_levels

__all__ = [
    "CLOSED_FORM_SAMPLERS",
    "default_sigma_max",
    "initial_noise_kl",
    "kl_table",
    "limit_kl",
    "nfe",
    "propagate",
    "sampler_kl",
    "smallest_steps_below",
    "spectrum_bias",
]

#: Samplers whose step is affine per Fourier mode with the exact Gaussian denoiser.
CLOSED_FORM_SAMPLERS = ("heun", "euler", "euler-maruyama")

#: :func:`default_sigma_max`'s factor: the initial noise's std over the largest Fourier std of the data.
SIGMA_MAX_FACTOR = 3.0


def _spectrum(p):
    p = np.asarray(p, dtype=np.float64)
    if p.ndim != 2 or p.size == 0:
        raise ValueError(f"p must be a full (H, W) spectrum; got shape {p.shape}")
    if not np.all(np.isfinite(p)) or np.any(p <= 0):
        raise ValueError("p must be finite and > 0 at every frequency")
    return p


def _schedule(sigmas):
    s = np.asarray(sigmas, dtype=np.float64)
    if s.ndim != 1 or s.size < 2 or not np.all(np.isfinite(s)) or not np.all(np.diff(s) < 0) \
            or not (np.all(s[:-1] > 0) and s[-1] >= 0):
        raise ValueError(f"sigmas must be a strictly decreasing 1-d schedule, all but the last > 0; got {sigmas!r}")
    return s


def nfe(sampler, steps):
    """Denoiser evaluations per sample of ``sampler`` with ``steps`` schedule steps (σ_N = 0)."""
    if sampler not in CLOSED_FORM_SAMPLERS:
        raise ValueError(f"unknown sampler {sampler!r}; closed form for: {', '.join(CLOSED_FORM_SAMPLERS)}")
    return 2 * int(steps) - 1 if sampler == "heun" else int(steps)


def propagate(sampler, sigmas, p, sigma_init=None, churn=None):
    """Per-mode variance of ``x − μ`` after ``sampler`` runs the schedule ``sigmas`` with the exact denoiser.

    Parameters
    ----------
    sampler : {"heun", "euler", "euler-maruyama"}
    sigmas : 1-d array, the schedule (``σ_0 > … > σ_N ≥ 0``)
    p : (H, W) array, the data spectrum ``P(k) > 0`` (eigenvalues of the covariance, full grid)
    sigma_init : float, optional
        Std of the white initial noise (default ``σ_0``: ``x_0 = μ + σ_0 z``).
    churn : tuple ``(s_churn, s_tmin, s_tmax, s_noise)``, optional
        Heun only: EDM's stochastic steps (:func:`~denoisebench.sampling.heun`).  Before step ``i`` the
        fresh noise adds ``s_noise² (σ̂_i² − σ_i²)`` to every mode's variance, and the step runs from ``σ̂_i``.

    Returns
    -------
    numpy float64 array like ``p``: the output's variance per mode (the ``P`` it actually samples).
    """
    if sampler == "ascent":
        raise ValueError("sampler 'ascent' has no closed form: its step and noise scale σ_t = ‖D(y) − y‖/√N "
                         "depend on the image itself, so a step is not affine per mode")
    nfe(sampler, 1)  # validates the name
    if churn is not None and sampler != "heun":
        raise ValueError(f"churn is a setting of heun, not of {sampler!r}")
    s, p = _schedule(sigmas), _spectrum(p)
    raised = s[:-1] if churn is None else churn_levels(s, *churn[:3])
    v = np.full_like(p, float(s[0] if sigma_init is None else sigma_init) ** 2)
    a = lambda sig: sig / (p + sig * sig)  # noqa: E731  dx/dσ = a x, per mode
    for lo, hi, sig in zip(s[1:], raised, s[:-1]):
        v = v + (0.0 if churn is None else churn[3] ** 2 * (hi * hi - sig * sig))
        h = lo - hi
        if sampler == "euler-maruyama":
            v = ((p + lo * lo) / (p + hi * hi)) ** 2 * v + (hi * hi - lo * lo if lo > 0 else 0.0)
            continue
        g = 1 + h * a(hi)
        if sampler == "heun" and lo > 0:
            g = 1 + 0.5 * h * (a(hi) + a(lo) * g)
        v = g * g * v
    return v


def sampler_kl(sampler, sigmas, p, sigma_init=None, churn=None):
    """KL(sampler output ‖ data) in nats per image: ``½ Σ_k [v/P − 1 − log(v/P)]`` (means exact)."""
    p = _spectrum(p)
    return compare.gaussian_kl(propagate(sampler, sigmas, p, sigma_init, churn), p)


def spectrum_bias(sampler, sigmas, p, sigma_init=None, churn=None):
    """The spectrum log-error exact-denoiser samples have in expectation: ``mean_k |log v̄(k) − log P̄(k)|``.

    ``v`` is :func:`propagate`'s per-mode output variance and ``P`` the data's, both averaged over the rings
    of :func:`~denoisebench.compare.radial_average`, as :func:`~denoisebench.compare.spectrum_log_error`
    averages the periodograms of two image sets: the systematic part of that metric, with no
    finite-sample noise.  0 for an exact sampler.
    """
    p = _spectrum(p)
    return _ring_log_error(propagate(sampler, sigmas, p, sigma_init, churn), p)


def _ring_log_error(v, p):
    """``mean_rings |log v̄ − log P̄|`` of two full-grid spectra (:func:`spectrum_bias` from the variances)."""
    (_, v), (_, q) = compare.radial_average(v), compare.radial_average(p)
    return float(np.mean(np.abs(np.log(v / q))))


def initial_noise_kl(p, sigma_max):
    """KL of the *exact* flow started from ``N(μ, σ_max² I)`` instead of ``N(μ, C + σ_max² I)``.

    The flow scales mode ``k`` by ``√(P/(P + σ_max²))`` overall, so the output has variance
    ``P σ_max²/(P + σ_max²)`` (docs/theory.md §13): ``½ Σ_k [r − 1 − log r]``, ``r = σ_max²/(P + σ_max²)``.
    """
    p = _spectrum(p)
    if not (math.isfinite(sigma_max) and sigma_max > 0):
        raise ValueError(f"sigma_max must be finite and > 0; got {sigma_max!r}")
    return compare.gaussian_kl(p * sigma_max ** 2 / (p + sigma_max ** 2), p)


def limit_kl(p, sigma_max, sigma_min):
    """The many-step limit: exact flow from ``N(μ, σ_max²)`` down to σ_min, then the final ``D(·; σ_min)``.

    Output variance ``σ_max² P² / ((P + σ_max²)(P + σ_min²))``: what no number of steps removes.
    """
    p = _spectrum(p)
    if not 0 < sigma_min < sigma_max < math.inf:
        raise ValueError(f"need 0 < sigma_min < sigma_max < inf; got {sigma_min!r}, {sigma_max!r}")
    return compare.gaussian_kl(sigma_max ** 2 * p * p / ((p + sigma_max ** 2) * (p + sigma_min ** 2)), p)


def kl_table(p, steps, samplers=CLOSED_FORM_SAMPLERS, schedules=tuple(SCHEDULES), sigma_min=0.002, sigma_max=None):
    """Rows ``{sampler, schedule, steps, nfe, kl}`` for every sampler × schedule × step count.

    ``sigma_max`` defaults to ``SIGMA_MAX_FACTOR · √max P`` (the rule of :func:`default_sigma_max`
    with the true spectrum).
    """
    p = _spectrum(p)
    sigma_max = SIGMA_MAX_FACTOR * math.sqrt(float(p.max())) if sigma_max is None else float(sigma_max)
    rows = []
    for sampler in samplers:
        for schedule in schedules:
            if schedule not in SCHEDULES:
                raise ValueError(f"unknown schedule {schedule!r}; valid: {', '.join(SCHEDULES)}")
            for n in steps:
                v = propagate(sampler, SCHEDULES[schedule](int(n), sigma_min, sigma_max), p)  # once for both
                rows.append({"sampler": sampler, "schedule": schedule, "steps": int(n), "nfe": nfe(sampler, n),
                             "kl": compare.gaussian_kl(v, p), "spectrum": _ring_log_error(v, p)})
    return rows


def smallest_steps_below(rows, threshold, sampler, schedule, key="kl"):
    """The smallest ``steps`` of ``rows`` (for one sampler and schedule) from which on ``row[key]`` (the KL, or
    the ``'spectrum'`` bias) stays below ``threshold``.

    ``None`` if the largest step count is still above it.
    """
    mine = sorted((r["steps"], r[key]) for r in rows if r["sampler"] == sampler and r["schedule"] == schedule)
    if not mine:
        raise ValueError(f"no rows for sampler {sampler!r} with schedule {schedule!r}")
    best = None
    for steps, value in reversed(mine):
        if value >= threshold:
            break
        best = steps
    return best


def default_sigma_max(x, factor=SIGMA_MAX_FACTOR):
    """σ_max from data: ``factor · √(max_k P̂(k))``, ``P̂`` the periodogram of the images ``x``.

    ``max_k P̂`` estimates the largest variance of the data along a Fourier mode (for a stationary
    field, the largest covariance eigenvalue; at k = 0 it is N × the variance of the image
    means).  With ``factor = 3`` the initial noise's std exceeds the data's in every mode at
    least threefold, so the exact flow's start-up deficit ``P/(P + σ_max²)`` is at most 1/10
    per mode (:func:`initial_noise_kl`).  The pixel std is no substitute: for a ``1/|k|²`` spectrum
    the largest mode's std grows with the image side (0.86 at 16², ≈ 2.7 at 64² for pixel std 0.2).

    Parameters
    ----------
    x : numpy array (n, C, H, W), n >= 2 (training images)
    factor : float > 0
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 4 or x.shape[0] < 2:
        raise ValueError(f"default_sigma_max needs a batch (n >= 2, C, H, W); got shape {x.shape}")
    if not (math.isfinite(factor) and factor > 0):
        raise ValueError(f"factor must be finite and > 0; got {factor!r}")
    peak = float(compare.power_spectrum(x).max())
    if not (math.isfinite(peak) and peak > 0):
        raise ValueError("the images have no variance (or non-finite values): no σ_max can be derived from them")
    return factor * math.sqrt(peak)
