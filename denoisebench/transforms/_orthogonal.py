"""Orthogonal 2-D discrete wavelet transform with periodic boundaries, batched on any backend.

One level on an axis of even length ``n`` is the ``n × n`` orthogonal matrix
``W_n = [L_n; H_n]`` whose rows are the circularly shifted, decimated filters

    (L_n x)[k] = Σ_j h[j] x[(2k + L/2 − j) mod n],   (H_n x)[k] = Σ_j g[j] x[(2k + L/2 − j) mod n],

with ``h, g`` pywt's ``dec_lo, dec_hi`` of length ``L``: the offset ``L/2`` reproduces
``pywt.dwt(..., mode='periodization')`` exactly, also when ``L > n`` (taps wrap and add).
pywt stores some filters (``symN``) orthogonal only to ~5e-13, which would cap perfect
reconstruction at that level; each matrix is therefore replaced by its nearest orthogonal matrix
(the polar factor ``U Vᵀ`` of its SVD), a change below 1e-12 that makes the inverse and
Parseval's identity exact to rounding.
A level on an ``(h, w)`` block ``a`` is ``W_h · a · W_wᵀ`` — two matrix products, so the
work runs in BLAS / cuBLAS on every backend; the matrices are built once per size on the host
(float64) and moved with :func:`~denoisebench._array_api.asarray_like`.  Measured here on
(256, 1, 64, 64) db4 float32, 3 levels forward (2 CPU cores): 5.9 ms against 14 ms for circular
filtering with ``roll`` (polyphase) and 36 ms by FFT on numpy; 11.5 against 54 and 58 ms on
torch.  Its cost grows like ``n`` multiply-adds per pixel and axis, against ``L`` for filtering:
the matrices win at the sizes of this benchmark (≤ 512), not on very large images.

Coefficients use pywt's ``wavedec2`` structure: ``[cA_J, (cH_J, cV_J, cD_J), …, (cH_1, cV_1, cD_1)]``
(coarsest first; ``cH`` is high-pass along axis −2 and low-pass along axis −1, ``cV`` the
reverse, ``cD`` high-pass along both), each an array of shape ``(…, H / 2^j, W / 2^j)`` in
the input's namespace, so each subband can be thresholded on its own.

References
----------
S. Mallat, *A Wavelet Tour of Signal Processing*, 3rd ed., §7.3.1 (fast orthogonal wavelet
transform), §7.5.1 (periodic wavelets), §7.7.2 (separable 2-D bases).
"""
from __future__ import annotations

import functools

import numpy as np
import pywt

from .._array_api import array_namespace, asarray_like

__all__ = ["analysis_matrix", "check_levels", "dwt2", "idwt2", "max_levels", "orthogonal_filters"]


def orthogonal_filters(wavelet):
    """``(dec_lo, dec_hi)`` of an orthogonal pywt wavelet, as float64 numpy arrays.

    Raises ``ValueError`` for a non-orthogonal (e.g. biorthogonal) or unknown wavelet.
    """
    name = wavelet.name if isinstance(wavelet, pywt.Wavelet) else str(wavelet)
    try:
        w = pywt.Wavelet(name)
    except ValueError:
        raise ValueError(f"unknown wavelet {name!r}; valid: the orthogonal ones of pywt.wavelist(kind='discrete'),"
                         " e.g. haar, db1–db38, sym2–sym20, coif1–coif17") from None
    if not w.orthogonal:
        raise ValueError(f"wavelet {name!r} is not orthogonal (its analysis and synthesis filters differ); "
                         "use an orthogonal one: haar, dbN, symN, coifN")
    return np.asarray(w.dec_lo, dtype=np.float64), np.asarray(w.dec_hi, dtype=np.float64)


def _name(wavelet):
    return wavelet.name if isinstance(wavelet, pywt.Wavelet) else str(wavelet)


def analysis_matrix(wavelet, n):
    """The ``n × n`` orthogonal matrix of one periodic DWT level: low-pass rows, then high-pass rows."""
    return _analysis_matrix(_name(wavelet), int(n))


@functools.lru_cache(maxsize=128)
def _analysis_matrix(name, n):
    if n < 2 or n % 2:
        raise ValueError(f"one wavelet level needs an even length; got {n}")
    h, g = orthogonal_filters(name)
    taps = len(h)
    m = np.zeros((n, n))
    rows = np.arange(n // 2)[:, None]
    cols = (2 * rows + taps // 2 - np.arange(taps)[None, :]) % n
    for j in range(taps):  # add tap by tap: taps that wrap onto one column add up
        np.add.at(m, (rows[:, 0], cols[:, j]), h[j])
        np.add.at(m, (n // 2 + rows[:, 0], cols[:, j]), g[j])
    u, _, vt = np.linalg.svd(m)
    m = u @ vt  # the nearest orthogonal matrix (polar factor); see the module notes
    m.flags.writeable = False
    return m


def max_levels(shape, wavelet, cap=None):
    """Levels that fit: pywt's ``dwt_max_level(min(H, W), filter length)``, at least 1, at most ``cap``."""
    taps = len(orthogonal_filters(wavelet)[0])
    j = max(pywt.dwt_max_level(int(min(shape)), taps), 1)
    return j if cap is None else min(j, int(cap))


def check_levels(shape, levels):
    """Raise ``ValueError`` unless ``levels ≥ 1`` and both sizes of ``shape`` divide by ``2**levels``."""
    if isinstance(levels, bool) or not isinstance(levels, (int, np.integer)) or levels < 1:
        raise ValueError(f"levels must be an integer >= 1; got {levels!r}")
    h, w = (int(s) for s in shape[-2:])
    if h % 2**levels or w % 2**levels:
        raise ValueError(f"a {levels}-level periodic wavelet transform needs sizes divisible by "
                         f"2**{levels} = {2**levels}; got {h}x{w} (pad the image, or use fewer levels)")


def _matrices(wavelet, h, w, like):
    """``(W_h, W_wᵀ)`` in ``like``'s namespace, device and dtype."""
    return asarray_like(analysis_matrix(wavelet, h), like), asarray_like(analysis_matrix(wavelet, w).T, like)


def dwt2(x, wavelet="db4", levels=1):
    """Multilevel periodic orthogonal DWT over the last two axes of ``x`` (any leading axes).

    Parameters
    ----------
    x : array (…, H, W), float32 or float64, any array-API namespace
        ``H`` and ``W`` must be divisible by ``2**levels``.
    wavelet : str or pywt.Wavelet
        An orthogonal wavelet (haar, dbN, symN, coifN).
    levels : int

    Returns
    -------
    coeffs : list
        ``[cA_J, (cH_J, cV_J, cD_J), …, (cH_1, cV_1, cD_1)]`` like ``pywt.wavedec2(x, wavelet,
        mode='periodization', level=levels)``, in ``x``'s namespace.  The transform is orthonormal:
        the coefficients' energy equals ``x``'s.
    """
    check_levels(x.shape, levels)
    details = []
    a = x
    for _ in range(levels):
        h, w = a.shape[-2:]
        left, right_t = _matrices(wavelet, h, w, x)
        t = left @ a @ right_t
        a = t[..., : h // 2, : w // 2]
        details.append((t[..., h // 2:, : w // 2], t[..., : h // 2, w // 2:], t[..., h // 2:, w // 2:]))
    return [a] + details[::-1]


def idwt2(coeffs, wavelet="db4"):
    """Inverse of :func:`dwt2` (the transpose, the transform being orthogonal)."""
    xp = array_namespace(coeffs[0])
    a = coeffs[0]
    for c_h, c_v, c_d in coeffs[1:]:
        if not (a.shape == c_h.shape == c_v.shape == c_d.shape):
            raise ValueError(f"subbands of one level must share a shape; got {a.shape}, "
                             f"{c_h.shape}, {c_v.shape}, {c_d.shape}")
        block = xp.concat([xp.concat([a, c_v], axis=-1), xp.concat([c_h, c_d], axis=-1)], axis=-2)
        h, w = block.shape[-2:]
        left, right_t = _matrices(wavelet, h, w, block)
        a = xp.matrix_transpose(left) @ block @ xp.matrix_transpose(right_t)
    return a
