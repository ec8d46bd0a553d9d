"""Exact posterior mean of a mixture of stationary Gaussian fields."""
from __future__ import annotations

import numpy as np

from .._array_api import asarray_like, fft_of
from .._fourier import half_plane, stationary_loglik
from ..base import Denoiser

__all__ = ["StationaryMixturePosterior"]

_AXES = (-2, -1)


class StationaryMixturePosterior(Denoiser):
    """E[x | y] for ``x ~ Σ_i π_i N(m_i 1, C_i)`` with circulant ``C_i`` (spectra ``P_i``).

    ``E[x|y] = Σ_i w_i(y) [m_i + P_i/(P_i+σ²) (y − m_i)]`` (Fourier-diagonal Wiener
    filters) with posterior weights ``w_i ∝ π_i N(y; m_i, C_i + σ² I)`` evaluated
    exactly in Fourier and normalised with log-sum-exp.

    Parameters
    ----------
    weights : sequence of float
        Mixture weights π_i (sum to 1).
    means : sequence of float
        Constant mean level m_i of each component.
    spectra : sequence of arrays (H, W)
        Full-grid covariance eigenvalues P_i of each component.

    References
    ----------
    docs/theory.md §3; C. M. Bishop, *Pattern Recognition and Machine Learning*, §2.3.3
    and §9.2 (posterior of a Gaussian mixture).
    """

    def __init__(self, weights, means, spectra):
        self.weights = weights
        self.means = means
        self.spectra = spectra

    def _components(self, y, sigma, xp):
        shape = tuple(np.shape(self.spectra[0]))
        if tuple(y.shape[-2:]) != shape:
            raise ValueError(f"this mixture lives on {shape[0]}x{shape[1]} images; got {tuple(y.shape[-2:])}")
        y_hat = fft_of(xp).rfftn(y, axes=_AXES)
        n_pix = shape[0] * shape[1]
        logw, estimates = [], []
        for pi, m, p in zip(self.weights, self.means, self.spectra):
            p_half = half_plane(np.asarray(p, dtype=np.float64))
            # rfft2(y − m) differs from rfft2(y) only at k = 0, by m·N per channel.
            shift = np.zeros_like(p_half)
            shift[0, 0] = m * n_pix
            d_hat = y_hat - asarray_like(shift, xp.real(y_hat))
            logw.append(stationary_loglik(d_hat, sigma, p_half, shape, xp) + float(np.log(pi)))
            gain = asarray_like(p_half, y)
            filtered = fft_of(xp).irfftn(d_hat * (gain / (gain + sigma * sigma)), s=shape, axes=_AXES)
            estimates.append(m + filtered)
        logw = xp.stack(logw, axis=0)
        w = xp.exp(logw - xp.max(logw, axis=0, keepdims=True))
        return w / xp.sum(w, axis=0, keepdims=True), estimates

    def _denoise(self, y, sigma, xp):
        w, estimates = self._components(y, sigma, xp)
        out = estimates[0] * w[0, :][:, None, None, None]
        for i in range(1, len(estimates)):
            out = out + w[i, :][:, None, None, None] * estimates[i]
        return out

    def responsibilities(self, y, sigma):
        """Posterior component probabilities ``w_i(y)``, shape (K, N)."""
        from .._array_api import as_sigma, validate_batch

        xp = validate_batch(y)
        return self._components(y, as_sigma(sigma, y), xp)[0]
