"""Shrinkage of transform coefficients: thresholding rules and thresholds calibrated from σ.

Small pure functions chosen from two dicts, on arrays of any array-API namespace:

- :data:`SHRINK` — ``rule(c, t, xp)``: hard ``c·1{|c| > t}``, soft ``sign(c)(|c| − t)₊``,
  non-negative garrote ``c (1 − t²/c²)₊`` (a coefficient with ``|c| = t`` is set to 0 by all three).
- :data:`THRESHOLDS` — ``threshold(c, sigma, n_pixels, k, mode, xp)``: the threshold of one
  subband ``c`` of shape ``(N, C, h, w)`` whose noise std is ``sigma`` (``(N, 1, 1, 1)``, per
  image), returned per image and channel as ``(N, C, 1, 1)`` (or broadcastable to it):

  ``universal``  σ √(2 ln N), N = ``n_pixels`` (VisuShrink, Donoho–Johnstone 1994);
  ``multiple``   k σ (Mallat §11.3.1: k ≈ 3 for hard thresholding);
  ``bayes``      σ² / σ_x, σ_x = √max(mean(c²) − σ², 0) (BayesShrink, Chang–Yu–Vetterli 2000);
                 σ_x = 0 gives max|c|: the subband is killed;
  ``sure``       SureShrink's hybrid rule (Donoho–Johnstone 1995) on the subband's ``d`` coefficients:
                 when ``s² = mean(c²)/σ² − 1 ≤ (log₂ d)^{3/2} / √d`` (sparsity test of their §3)
                 the subband counts as sparse and gets σ√(2 ln d); otherwise the minimiser of
                 Stein's unbiased risk estimate over ``0 ≤ T ≤ σ√(2 ln d)`` (:func:`sure_candidates`).

SURE needs a weakly differentiable rule (Stein 1981).  Soft thresholding uses the soft SURE of
docs/theory.md §4; the garrote its own exact SURE (Gao 1998: ``θ'(c) = 1 + T²/c²`` for ``|c| > T``);
hard thresholding, discontinuous at ±T, has no SURE of this form and uses the soft SURE threshold.

References
----------
S. Mallat, *A Wavelet Tour of Signal Processing*, 3rd ed., §11.3 (thresholding estimators, SURE);
D. L. Donoho, I. M. Johnstone, "Ideal spatial adaptation by wavelet shrinkage", Biometrika 81, 1994;
"Adapting to unknown smoothness via wavelet shrinkage", JASA 90, 1995; S. G. Chang, B. Yu,
M. Vetterli, "Adaptive wavelet thresholding for image denoising and compression", IEEE TIP 9, 2000;
H.-Y. Gao, "Wavelet shrinkage denoising using the non-negative garrote", JCGS 7, 1998.
"""
from __future__ import annotations

import math

import numpy as np

from .._array_api import array_namespace, asarray_like

__all__ = ["SHRINK", "THRESHOLDS", "oracle_gain", "shrink", "sure_candidates", "threshold"]


def _hard(c, t, xp):
    return c * xp.astype(xp.abs(c) > t, c.dtype)


def _soft(c, t, xp):
    # c − clip(c, −t, t); minimum/maximum: numpy's clip with array bounds is ~3.5× slower (measured)
    return c - xp.minimum(xp.maximum(c, -t), t)


def _garrote(c, t, xp):
    keep = xp.abs(c) > t
    safe = xp.where(keep, c, xp.ones_like(c))
    return xp.astype(keep, c.dtype) * (c - t * t / safe)


#: Thresholding rules ``ρ_t(c)`` (Mallat §11.3.1; Gao 1998 for the garrote).
SHRINK = {"hard": _hard, "soft": _soft, "garrote": _garrote}


def _flat(c, xp):
    """``(N, C, h, w)`` → ``(N, C, h·w)``."""
    return xp.reshape(c, (*c.shape[:-2], c.shape[-2] * c.shape[-1]))


def _universal(c, sigma, n_pixels, k, mode, xp):
    return sigma * math.sqrt(2.0 * math.log(n_pixels))


def _multiple(c, sigma, n_pixels, k, mode, xp):
    return float(k) * sigma


def _bayes(c, sigma, n_pixels, k, mode, xp):
    var = xp.mean(c * c, axis=(-2, -1), keepdims=True)
    sx2 = var - sigma * sigma
    alive = sx2 > 0
    sx = xp.sqrt(xp.where(alive, sx2, xp.ones_like(sx2)))
    return xp.where(alive, sigma * sigma / sx, xp.max(xp.abs(c), axis=(-2, -1), keepdims=True))


def _soft_sure(a2, csum, n, k, sigma2, xp):
    """SURE(T = a_k) = nσ² − 2σ²k + Σ_{i≤k} a_i² + (n − k) a_k² for sorted ``a``."""
    return n * sigma2 - 2 * sigma2 * k + csum + (n - k) * a2


def _garrote_sure(a2, csum, n, k, sigma2, xp):
    """SURE(T = a_k) = Σ_{i≤k} a_i² + Σ_{i>k} [T⁴/a_i² + 2σ²(1 + T²/a_i²)] − nσ²."""
    alive = a2 > 0  # a zero coefficient is never above a threshold T >= 0
    inv = xp.where(alive, 1.0 / xp.where(alive, a2, xp.ones_like(a2)), xp.zeros_like(a2))
    tail = xp.flip(xp.cumulative_sum(xp.flip(inv, axis=-1), axis=-1), axis=-1)  # Σ_{i≥k}
    above = xp.concat([tail[..., 1:], xp.zeros_like(tail[..., :1])], axis=-1)   # Σ_{i>k}
    return csum + (a2 * a2 + 2 * sigma2 * a2) * above + 2 * sigma2 * (n - k) - n * sigma2


#: SURE of each rule at the candidate thresholds; hard thresholding borrows soft's (see above).
_SURE = {"soft": _soft_sure, "garrote": _garrote_sure, "hard": _soft_sure}


def sure_candidates(c, sigma, mode, xp):
    """Candidate thresholds and their SURE, for each image and channel of the subband ``c``.

    SURE(T) is increasing between consecutive ``|c|`` values, so its minimum over ``T ≥ 0`` lies
    at ``T = 0`` or at one of them.

    Parameters
    ----------
    c : array (N, C, h, w)
    sigma : array (N, 1, 1, 1), the noise std of ``c``
    mode : 'soft', 'garrote' or 'hard' (hard uses the soft SURE)

    Returns
    -------
    t, risk : arrays (N, C, d + 1)
        ``t = [0, |c|_(1), …, |c|_(d)]`` sorted, and SURE(t) (a risk summed over the ``d`` coefficients).
    """
    a = xp.sort(_flat(xp.abs(c), xp), axis=-1)
    d = a.shape[-1]
    a2 = a * a
    k = asarray_like(np.arange(1, d + 1), a)
    sigma2 = (sigma * sigma)[..., 0]
    risk = _pick(_SURE, mode, "mode")(a2, xp.cumulative_sum(a2, axis=-1), d, k, sigma2, xp)
    zero = xp.zeros_like(a[..., :1])
    return xp.concat([zero, a], axis=-1), xp.concat([zero + d * sigma2, risk], axis=-1)


def _sure(c, sigma, n_pixels, k, mode, xp):
    d = c.shape[-2] * c.shape[-1]
    t_max = sigma * math.sqrt(2.0 * math.log(d))
    t, risk = sure_candidates(c, sigma, mode, xp)
    risk = xp.where(t <= t_max[..., 0], risk, xp.full_like(risk, math.inf))
    best = xp.min(risk, axis=-1, keepdims=True)
    t_sure = xp.min(xp.where(risk == best, t, xp.full_like(t, math.inf)), axis=-1, keepdims=True)
    t_sure = xp.reshape(t_sure, (*t_sure.shape, 1))  # (N, C, 1) → (N, C, 1, 1)
    s2 = xp.mean(c * c, axis=(-2, -1), keepdims=True) / (sigma * sigma) - 1.0
    sparse = s2 <= math.log2(d) ** 1.5 / math.sqrt(d)
    return xp.where(sparse, t_max, t_sure)


#: Thresholds of one subband from its noise std (see the module docstring).
THRESHOLDS = {"universal": _universal, "multiple": _multiple, "bayes": _bayes, "sure": _sure}


def _pick(table, key, what):
    try:
        return table[key]
    except (KeyError, TypeError):
        raise ValueError(f"unknown {what} {key!r}; valid: {', '.join(table)}") from None


def threshold(c, sigma, rule="multiple", n_pixels=None, k=3.0, mode="hard", xp=None):
    """The threshold of subband ``c`` (``(N, C, h, w)``) with noise std ``sigma`` under ``rule``."""
    xp = array_namespace(c) if xp is None else xp
    n_pixels = c.shape[-2] * c.shape[-1] if n_pixels is None else n_pixels
    return _pick(THRESHOLDS, rule, "threshold")(c, sigma, n_pixels, k, mode, xp)


def shrink(c, t, mode="hard", xp=None):
    """``SHRINK[mode](c, t)``, with a clear error for an unknown mode."""
    xp = array_namespace(c) if xp is None else xp
    return _pick(SHRINK, mode, "mode")(c, t, xp)


def oracle_gain(cx, sigma):
    """Mallat's oracle attenuation ``|x|² / (|x|² + σ²)`` from the clean coefficients ``cx``.

    Where both vanish (a subband holding no frequency of a small image: σ‖ψ_s‖ = 0 and its
    coefficients are 0) the gain is 1, the σ → 0 limit, instead of 0/0.
    """
    xp = array_namespace(cx)
    p = cx * cx
    den = p + sigma * sigma
    alive = den > 0
    return xp.where(alive, p / xp.where(alive, den, xp.ones_like(den)), xp.ones_like(den))
