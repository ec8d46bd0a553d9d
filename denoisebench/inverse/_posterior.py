"""The exact posterior of x given ``c = A x + s η`` under a (mixture of) stationary Gaussian prior(s).

Prior ``x ~ N(μ, C)``, C circulant with eigenvalues P(k) (:meth:`GaussianField.power_spectrum`).
Posterior mean ``m = μ + C Aᵀ K⁻¹ (c − A μ)`` with ``K = A C Aᵀ + s² I``; covariance
``Σ = C − C Aᵀ K⁻¹ A C`` (= ``(C⁻¹ + AᵀA/s²)⁻¹`` when s > 0); MMSE = tr(Σ)/d per pixel.

- Fourier-diagonal A (symbol b̂): per mode, ``m̂ = μ̂ + P b̂ (b̂² P + s²)⁻¹ (ĉ − b̂ μ̂)`` and
  ``Σ_k = P − P² b̂² / (b̂² P + s²)`` (0/0, an unmeasured mode without noise, gives Σ_k = P).
- Any other A (inpainting, super-resolution): ``K u = c − Aμ`` by conjugate gradients, C
  applied by FFT, on host float64 (valid for s = 0 too: K is then a compression of C).
  tr(Σ) = tr(C) − tr(K⁻¹ A C² Aᵀ): exact, from dense K and A C² Aᵀ built column by column,
  when the measurement has at most ``exact_limit`` entries; otherwise Hutchinson's unbiased
  estimator ``tr(C) − mean_j z_jᵀ C Aᵀ K⁻¹ A C z_j`` with seeded Rademacher probes, reported
  with its standard error.
- A mixture ``Σ_i π_i N(μ_i, C_i)`` (the ``gmm`` dataset): the posterior is the mixture of the
  component posteriors with weights ``∝ π_i N(c; A μ_i, K_i)``; its mean is ``Σ w_i m_i`` and
  its expected squared error ``Σ w_i (tr Σ_i + ‖m_i − m‖²)`` (needs the exact path: log det K_i).

References
----------
C. E. Rasmussen, C. K. I. Williams, *Gaussian Processes for Machine Learning*, MIT Press 2006,
§2.2 and eq. A.6 (Gaussian conditioning); M. F. Hutchinson, "A stochastic estimator of the trace
of the influence matrix", 1990; Bishop, *Pattern Recognition and Machine Learning*, §2.3.3 and
§9.2; docs/theory.md, "Conditioning".
"""
from __future__ import annotations

import dataclasses
import math

import numpy as np
import scipy.linalg

__all__ = ["Posterior", "exact_posterior", "prior_components"]

#: Largest measurement size (entries per channel) for which tr(Σ) is computed exactly.
EXACT_LIMIT = 4096


@dataclasses.dataclass
class Posterior:
    """The exact posterior summary for a batch of measurements.

    Attributes
    ----------
    mean : numpy float64 (n, C, H, W)
        Posterior means E[x | c].
    mmse : float
        Expected squared error per pixel of the posterior mean, averaged over the batch
        (for a single Gaussian prior: tr(Σ)/d, the same for every c).
    mmse_stderr : float
        Standard error of ``mmse`` (0 when exact; Hutchinson's otherwise).
    method : str
        ``'fourier'``, ``'cg+dense trace'`` or ``'cg+hutchinson(k)'``.
    """

    mean: np.ndarray
    mmse: float
    mmse_stderr: float
    method: str


def prior_components(dataset):
    """``[(weight, mean, P)]`` of ``gaussian`` (one) or ``gmm`` (several); ``ValueError`` otherwise."""
    if hasattr(dataset, "_components") and callable(dataset._components):
        w, means, spectra = dataset._components()
        return [(float(wi), float(mi), np.asarray(pi, np.float64)) for wi, mi, pi in zip(w, means, spectra)]
    if getattr(dataset, "has_spectrum", False) and getattr(dataset, "has_optimum", False):
        mean, p = dataset.power_spectrum()
        return [(1.0, float(mean), np.asarray(p, np.float64))]
    raise ValueError(f"dataset {getattr(dataset, 'name', dataset)!r} has no exact Gaussian (mixture) prior")


def _cov(v, p):
    """C v for a batch of images ``v`` (..., H, W): ifft2(P · fft2 v)."""
    return np.fft.irfft2(np.fft.rfft2(v) * p[:, : p.shape[1] // 2 + 1], s=p.shape)


def _dot(a, b):
    axes = tuple(range(2, a.ndim))
    return np.sum(a * b, axis=axes, keepdims=True)


def _cg(apply, rhs, tol=1e-11, max_iter=5000):
    """Batched conjugate gradients for SPD ``apply`` on (n, C, ...) right-hand sides."""
    x = np.zeros_like(rhs)
    r = rhs.copy()
    z = r.copy()
    rr = _dot(r, r)
    stop = tol ** 2 * np.maximum(rr, np.finfo(np.float64).tiny)
    for it in range(max_iter):
        if np.all(rr <= stop):
            return x, it
        kz = apply(z)
        alpha = rr / np.where(rr <= stop, 1.0, _dot(z, kz))
        alpha = np.where(rr <= stop, 0.0, alpha)
        x += alpha * z
        r -= alpha * kz
        rr_new = _dot(r, r)
        z = r + (rr_new / np.where(rr == 0, 1.0, rr)) * z
        rr = rr_new
    raise ValueError(f"conjugate gradients did not converge in {max_iter} iterations")


def _fourier_component(op, c, mean, p):
    b, s2 = op.symbol, op.noise ** 2
    denom = b * b * p + s2
    gain = np.where(denom > 0, p * b / np.where(denom > 0, denom, 1.0), 0.0)
    var = p - np.where(denom > 0, p * p * b * b / np.where(denom > 0, denom, 1.0), 0.0)
    r = c - op.forward(np.full((1, 1, *op.shape), mean))
    r_hat = np.fft.fft2(r)
    m = mean + np.real(np.fft.ifft2(gain * r_hat))
    live = denom > 0  # the modes c carries: its density on that subspace (the same for every component)
    dv = np.where(live, denom, 1.0)
    quad = np.sum(np.where(live, np.abs(r_hat) ** 2 / (op.d * dv), 0.0), axis=(-2, -1))
    loglik = -0.5 * np.sum(quad + np.sum(np.where(live, np.log(2 * math.pi * dv), 0.0)), axis=1)
    return m, float(np.sum(var)), 0.0, loglik, "fourier"


def _dense_k(op, p, ch):
    """Dense K = A C Aᵀ + s² I and G = A C² Aᵀ (m × m) on one channel's measurement space."""
    m = int(np.prod(op.measurement_shape(1, 1)[2:]))
    k, g = np.empty((m, m)), np.empty((m, m))
    for lo in range(0, m, 256):
        eye = np.zeros((min(256, m - lo), m))
        eye[np.arange(eye.shape[0]), lo + np.arange(eye.shape[0])] = 1.0
        basis = eye.reshape(eye.shape[0], 1, *op.measurement_shape(1, 1)[2:])
        cv = _cov(op.adjoint(basis), p)
        k[lo:lo + eye.shape[0]] = op.forward(cv).reshape(eye.shape[0], m)
        g[lo:lo + eye.shape[0]] = op.forward(_cov(cv, p)).reshape(eye.shape[0], m)
    k = 0.5 * (k + k.T) + op.noise ** 2 * np.eye(m)
    return k, 0.5 * (g + g.T)


def _cg_component(op, c, mean, p, need_loglik, exact_limit, n_probes, seed):
    n, ch = c.shape[:2]
    r = c - op.forward(np.full((1, 1, *op.shape), mean))
    s2 = op.noise ** 2
    m_size = int(np.prod(c.shape[2:]))

    def apply_k(u):
        return op.forward(_cov(op.adjoint(u), p)) + s2 * u

    if m_size <= exact_limit:
        k, g = _dense_k(op, p, ch)
        chol = scipy.linalg.cho_factor(k)
        u = scipy.linalg.cho_solve(chol, r.reshape(n * ch, m_size).T).T.reshape(r.shape)
        trace = float(np.sum(p) - np.trace(scipy.linalg.cho_solve(chol, g)))
        loglik = None
        if need_loglik:
            logdet = 2 * np.sum(np.log(np.diag(chol[0])))
            quad = np.sum((r * u).reshape(n, -1), axis=1)
            loglik = -0.5 * (quad + ch * (logdet + m_size * math.log(2 * math.pi)))
        return mean + _cov(op.adjoint(u), p), trace, 0.0, loglik, "cg+dense trace"
    if need_loglik:
        raise ValueError(f"a mixture prior needs the exact path: the measurement has {m_size} > {exact_limit} entries")
    u, _ = _cg(apply_k, r)
    z = np.random.default_rng(np.random.SeedSequence([int(seed), 31337])).choice([-1.0, 1.0], (n_probes, 1, *op.shape))
    cz = _cov(z, p)
    w, _ = _cg(apply_k, op.forward(cz))
    terms = np.sum((op.forward(cz) * w).reshape(n_probes, -1), axis=1)  # z C Aᵀ K⁻¹ A C z
    trace = float(np.sum(p) - terms.mean())
    return mean + _cov(op.adjoint(u), p), trace, float(terms.std(ddof=1) / math.sqrt(n_probes)), None, \
        f"cg+hutchinson({n_probes})"


def exact_posterior(op, c, components, exact_limit=EXACT_LIMIT, n_probes=64, seed=0):
    """Exact posterior mean and MMSE of ``x`` given measurements ``c`` (see the module docstring).

    Parameters
    ----------
    op : Operator
        From :func:`~denoisebench.inverse.make_operator`.
    c : array (n, C, ...)
        Measurements (moved to host float64).
    components : list of (weight, mean, P)
        The prior (:func:`prior_components`); one entry for a Gaussian field.
    exact_limit : int
        Measurements with more entries per channel use Hutchinson's estimator for tr(Σ).
    n_probes, seed : int
        Hutchinson's probes and their seed.

    Returns
    -------
    Posterior
    """
    from .._array_api import to_numpy

    c = np.asarray(to_numpy(c), np.float64)
    if c.ndim < 3:
        raise ValueError(f"measurements must be a batch (n, C, ...); got shape {c.shape}")
    op.check_measurement(c, c.shape[1])
    if len(components) > 1 and c.shape[1] != 1:
        raise ValueError("a mixture prior is defined on one-channel images")
    if n_probes < 2:
        raise ValueError(f"n_probes must be >= 2; got {n_probes}")
    solve = _fourier_component if op.symbol is not None else (
        lambda o, cc, mu, p: _cg_component(o, cc, mu, p, len(components) > 1, exact_limit, n_probes, seed))
    parts = [solve(op, c, mu, p) for _, mu, p in components]
    d = op.d
    if len(parts) == 1:
        m, trace, err, _, method = parts[0]
        return Posterior(m, trace / d, err / d, method)
    logw = np.stack([math.log(w) + part[3] for (w, _, _), part in zip(components, parts)])  # (K, n)
    wts = np.exp(logw - logw.max(axis=0))
    wts /= wts.sum(axis=0)
    means = np.stack([part[0] for part in parts])  # (K, n, 1, H, W)
    m = np.einsum("kn,kn...->n...", wts, means)
    spread = np.sum((means - m) ** 2, axis=(2, 3, 4))  # (K, n)
    per_image = np.sum(wts * (np.array([part[1] for part in parts])[:, None] + spread), axis=0)
    return Posterior(m, float(per_image.mean()) / d, 0.0, parts[0][4] + " (mixture)")
