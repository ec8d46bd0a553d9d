"""Fourier-diagonal operations on stationary periodic fields.

Convention (numpy's unnormalised DFT): a field ``x = mean + ifft2(sqrt(P) * fft2(w))``
with ``w`` white N(0, 1) has a circulant covariance whose eigenvalues are ``P(k)``;
its pixel variance is ``mean(P)``.  Real fields are handled with ``rfft`` over the
last two axes, storing the half plane ``P[:, :W // 2 + 1]``; sums over the full
grid use :func:`rfft_multiplicity` (1 for the self-conjugate columns, 2 otherwise).

References
----------
S. Mallat, *A Wavelet Tour of Signal Processing*, 3rd ed., §11.2.1 (Wiener filtering
of stationary processes); N. Wiener, 1949.
"""
from __future__ import annotations

import functools
import math

import numpy as np

from ._array_api import asarray_like, fft_of

__all__ = [
    "frequency_radius",
    "half_plane",
    "power_law_spectrum",
    "rfft_multiplicity",
    "sample_stationary",
    "stationary_loglik",
    "wiener_filter",
]

_AXES = (-2, -1)


def frequency_radius(shape):
    """|k| on the full ``(H, W)`` DFT grid, in cycles per image (integer frequencies)."""
    h, w = shape
    ky = np.fft.fftfreq(h) * h
    kx = np.fft.fftfreq(w) * w
    return np.sqrt(ky[:, None] ** 2 + kx[None, :] ** 2)


def power_law_spectrum(shape, exponent, std, cutoff=1.0):
    """``P(k) ∝ (cutoff² + |k|²)^(-exponent/2)`` scaled so the pixel std is ``std`` (read-only)."""
    return _power_law(tuple(int(s) for s in shape), float(exponent), float(std), float(cutoff))


@functools.lru_cache(maxsize=64)
def _power_law(shape, exponent, std, cutoff):
    p = (cutoff**2 + frequency_radius(shape) ** 2) ** (-exponent / 2.0)
    p *= std**2 / p.mean()
    p.flags.writeable = False
    return p


def half_plane(p):
    """The rfft half plane ``P[..., :W // 2 + 1]`` of a full-grid spectrum."""
    return np.ascontiguousarray(p[..., : p.shape[-1] // 2 + 1])


def rfft_multiplicity(shape):
    """How many full-grid frequencies each rfft column stands for, shape ``(W // 2 + 1,)``."""
    w = shape[-1]
    m = np.full(w // 2 + 1, 2.0)
    m[0] = 1.0
    if w % 2 == 0:
        m[-1] = 1.0
    return m


def sample_stationary(rng, p, mean=0.0):
    """One real field with full-grid spectrum ``p`` and mean level ``mean`` (float64)."""
    shape = p.shape
    w = rng.standard_normal(shape)
    return mean + np.fft.irfft2(np.sqrt(half_plane(p)) * np.fft.rfft2(w), s=shape)


def wiener_filter(y, sigma, mean, p_half, xp):
    """``mean + ifft2(P / (P + σ²) · fft2(y − mean))`` in ``y``'s namespace and device.

    ``sigma`` has shape (N, 1, 1, 1) like ``y``; ``p_half`` is a host half-plane spectrum.
    """
    p = asarray_like(p_half, y)
    y0 = y - mean
    gain = p / (p + sigma * sigma)
    return mean + fft_of(xp).irfftn(fft_of(xp).rfftn(y0, axes=_AXES) * gain, s=tuple(y.shape[-2:]), axes=_AXES)


def stationary_loglik(y_hat, sigma, p_half, shape, xp):
    """log N(y; mean, C + σ² I) per image, from ``y_hat = rfft2(y − mean)``.

    ``log N = −½ Σ_k |ŷ_k|² / (N (P_k + σ²)) − ½ Σ_k log(2π (P_k + σ²))``, summed over
    the full ``shape`` grid (through :func:`rfft_multiplicity`) and over channels.
    ``sigma`` has shape (N, 1, 1, 1); the result has shape (N,).
    """
    n_pix = shape[0] * shape[1]
    real = xp.real(y_hat)
    var = asarray_like(p_half, real) + sigma * sigma
    mult = asarray_like(rfft_multiplicity(shape), real)
    power = xp.real(y_hat) ** 2 + xp.imag(y_hat) ** 2
    terms = mult * (power / (n_pix * var) + xp.log(2 * math.pi * var))
    return -0.5 * xp.sum(terms, axis=(1, 2, 3))
