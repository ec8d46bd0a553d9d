"""Undecimated (stationary, à trous) periodic 2-D wavelet transform: a tight frame, computed by FFT.

Level ``j = 0, 1, …`` filters the previous approximation ``a_j`` (``a_0 = x``) along each axis of
length ``n`` with the orthogonal filters ``h, g`` dilated by ``2^j`` and divided by ``√2``
(pywt's ``norm=True``), without decimation, in pywt's indexing:

    c[k] = Σ_i f[i] a_j[(k + 2^j (L/2 − i)) mod n] / √2,   f = h (approximation) or g (detail).

This is a circular convolution, so in the DFT domain ``ĉ(ω) = â_j(ω) F_j(ω)`` with
``F_j(ω) = Σ_i f[i] exp(−2πi ω 2^j (i − L/2) / n) / √2``.  Each subband is the image's
spectrum times a fixed response ``R_s`` (a product of these per-axis factors), and
``Σ_s |R_s(ω)|² = 1`` at every frequency (``|H|² + |G|² = 2``): the transform is a tight
frame whose adjoint ``x = Σ_s R_s* ĉ_s`` is its exact inverse.  For sizes divisible by
``2^J`` that inverse is the average over all circular shifts of the orthogonal DWT
(Coifman–Donoho cycle spinning), and the coefficients equal ``pywt.swt2(x, wavelet, J,
norm=True, trim_approx=True)``; other sizes work too (the dilated taps wrap modulo ``n``).

White noise of std σ has std ``σ ‖ψ_s‖`` in subband ``s``, with ``‖ψ_s‖² = mean_ω |R_s(ω)|²``
(:func:`swt_noise_std`): ``2^{-j}`` for the details of level ``j = 1 … J`` and ``2^{-J}`` for
the approximation when the sizes divide by ``2^J`` — not 1: the energy of the noise is
shared between the ``3J + 1`` subbands.  The responses are renormalised so that their
squares sum to exactly 1 (pywt's ``symN`` filters are orthogonal only to ~5e-13).

References
----------
S. Mallat, *A Wavelet Tour of Signal Processing*, 3rd ed., §5.2.2 and §6.3.2 (à trous
algorithm), §11.3.1 (translation-invariant thresholding); R. R. Coifman, D. L. Donoho,
"Translation-invariant de-noising", 1995; G. P. Nason, B. W. Silverman, "The stationary
wavelet transform and some statistical applications", 1995.
"""
from __future__ import annotations

import functools
from typing import NamedTuple

import numpy as np

from .._array_api import array_namespace, asarray_like, fft_of
from ._orthogonal import _name, orthogonal_filters

__all__ = ["SwtBand", "iswt2", "swt2", "swt2_map_details", "swt2_subbands", "swt_bands", "swt_noise_std"]

_AXES = (-2, -1)
#: Orientation → (axis −2 filter, axis −1 filter), pywt's names: cH is high-pass along axis −2.
_ORIENTATIONS = {"a": ("lo", "lo"), "h": ("hi", "lo"), "v": ("lo", "hi"), "d": ("hi", "hi")}


class SwtBand(NamedTuple):
    """One subband: its level (1 = finest), orientation ('a', 'h', 'v', 'd'), rfft-plane
    response ``(H, W // 2 + 1)`` complex128, and ``‖ψ‖`` (its noise std for σ = 1)."""

    level: int
    orientation: str
    response: np.ndarray
    atom_norm: float


def _axis_factors(taps_lo, taps_hi, n, levels):
    """``{'lo': [F_0, …], 'hi': [...]}``: the per-level factors on the length-``n`` DFT grid."""
    omega = np.arange(n)[:, None]
    out = {"lo": [], "hi": []}
    for j in range(levels):
        pos = 2**j * (np.arange(len(taps_lo)) - len(taps_lo) // 2)
        phase = np.exp(-2j * np.pi * ((omega * pos) % n) / n)  # reduce mod n: exact phases
        out["lo"].append(phase @ taps_lo / np.sqrt(2))
        out["hi"].append(phase @ taps_hi / np.sqrt(2))
    return out


def _axis_band(factors, level, kind):
    """Response along one axis of a level-``level`` (1-based) band of kind 'lo' or 'hi'."""
    return np.prod(factors["lo"][: level - 1], axis=0) * factors[kind][level - 1]


def swt_bands(wavelet, shape, levels):
    """The subbands of a ``levels``-level transform of ``(H, W)`` images, pywt's order.

    ``[a_J, h_J, v_J, d_J, …, h_1, v_1, d_1]`` (``trim_approx=True``) as :class:`SwtBand` tuples;
    cached, read-only.
    """
    h, w = (int(s) for s in shape[-2:])
    if isinstance(levels, bool) or not isinstance(levels, (int, np.integer)) or levels < 1:
        raise ValueError(f"levels must be an integer >= 1; got {levels!r}")
    return _bands(_name(wavelet), h, w, int(levels))


@functools.lru_cache(maxsize=32)
def _bands(name, h, w, levels):
    lo, hi = orthogonal_filters(name)
    fy, fx = _axis_factors(lo, hi, h, levels), _axis_factors(lo, hi, w, levels)
    plan = [(levels, "a")] + [(j, o) for j in range(levels, 0, -1) for o in "hvd"]
    full = [np.outer(_axis_band(fy, j, _ORIENTATIONS[o][0]), _axis_band(fx, j, _ORIENTATIONS[o][1]))
            for j, o in plan]
    norm = np.sqrt(sum(np.abs(r) ** 2 for r in full))  # 1 up to the filters' own rounding
    bands = []
    for (j, o), r in zip(plan, full):
        r = r / norm
        half = np.ascontiguousarray(r[:, : w // 2 + 1])
        half.flags.writeable = False
        bands.append(SwtBand(j, o, half, float(np.sqrt(np.mean(np.abs(r) ** 2)))))
    return tuple(bands)


def swt_noise_std(wavelet, shape, levels):
    """Noise std per subband for σ = 1 (``‖ψ_s‖``), in :func:`swt_bands`' order, numpy float64."""
    return np.array([b.atom_norm for b in swt_bands(wavelet, shape, levels)])


def _complex(x, xp):
    return xp.complex64 if x.dtype == xp.float32 else xp.complex128


def _analyze(spectrum, band, like, xp):
    r = asarray_like(band.response, like, dtype=_complex(like, xp))
    return fft_of(xp).irfftn(spectrum * r, s=tuple(like.shape[-2:]), axes=_AXES)


def _synthesize(c, band, xp):
    r = asarray_like(np.conj(band.response), c, dtype=_complex(c, xp))
    return fft_of(xp).rfftn(c, axes=_AXES) * r


def swt2(x, wavelet="db4", levels=1):
    """Undecimated periodic wavelet transform of the last two axes of ``x``.

    Parameters
    ----------
    x : array (…, H, W), float32 or float64, any array-API namespace; any ``H, W``.
    wavelet : str or pywt.Wavelet, orthogonal
    levels : int

    Returns
    -------
    coeffs : list
        ``[cA_J, (cH_J, cV_J, cD_J), …, (cH_1, cV_1, cD_1)]``, each like ``x`` — pywt's
        ``swt2(x, wavelet, levels, norm=True, trim_approx=True)`` where pywt supports the size.
    """
    xp = array_namespace(x)
    bands = swt_bands(wavelet, x.shape, levels)
    spectrum = fft_of(xp).rfftn(x, axes=_AXES)
    c = [_analyze(spectrum, b, x, xp) for b in bands]
    return [c[0]] + [tuple(c[i: i + 3]) for i in range(1, len(c), 3)]


def iswt2(coeffs, wavelet="db4"):
    """Inverse (and adjoint) of :func:`swt2`: ``x = Σ_s R_s* ĉ_s`` in the DFT domain."""
    xp = array_namespace(coeffs[0])
    flat = [coeffs[0]] + [c for level in coeffs[1:] for c in level]
    levels = len(coeffs) - 1
    bands = swt_bands(wavelet, coeffs[0].shape, levels)
    total = sum(_synthesize(c, b, xp) for c, b in zip(flat, bands))
    return fft_of(xp).irfftn(total, s=tuple(coeffs[0].shape[-2:]), axes=_AXES)


def swt2_subbands(x, wavelet="db4", levels=1):
    """``(band, coefficients)`` of :func:`swt2`, one subband at a time (approximation first)."""
    xp = array_namespace(x)
    spectrum = fft_of(xp).rfftn(x, axes=_AXES)
    for band in swt_bands(wavelet, x.shape, levels):
        yield band, _analyze(spectrum, band, x, xp)


def swt2_map_details(x, fn, wavelet="db4", levels=1, approx_gain=None):
    """``iswt2`` of ``swt2(x)`` with every detail subband ``c`` replaced by ``fn(c, band)``.

    One subband is in memory at a time (two FFTs per subband); the approximation is kept (or
    multiplied by ``approx_gain``, an array broadcasting against ``x``'s leading axes, e.g. one
    Wiener gain per image and channel ``(N, C, 1, 1)``), its contribution ``|R_a|² x̂`` staying in
    the DFT domain.  ``band`` is the :class:`SwtBand`.
    """
    xp = array_namespace(x)
    bands = swt_bands(wavelet, x.shape, levels)
    spectrum = fft_of(xp).rfftn(x, axes=_AXES)
    gain = asarray_like(np.abs(bands[0].response) ** 2, x)
    total = spectrum * gain if approx_gain is None else spectrum * (gain * approx_gain)
    for band in bands[1:]:
        total = total + _synthesize(fn(_analyze(spectrum, band, x, xp), band), band, xp)
    return fft_of(xp).irfftn(total, s=tuple(x.shape[-2:]), axes=_AXES)
