"""Wavelet thresholding calibrated from σ: orthogonal (``wavelet``) and translation-invariant (``wavelet-ti``)."""
from __future__ import annotations

import numbers

from .._color import COLOR_SPACES
from .._params import Int, OneOf, Opt, Real, Wavelet as WaveletName
from ..base import Denoiser
from ..registry import register_denoiser
from ..transforms import dwt2, idwt2, max_levels, swt2_map_details
from ._shrink import SHRINK, THRESHOLDS, _pick

__all__ = ["Wavelet", "WaveletTI", "crop", "pad_symmetric", "resolve_levels"]

#: Largest number of levels chosen automatically (``levels=None``).
MAX_AUTO_LEVELS = 4


def resolve_levels(shape, wavelet, levels):
    """``levels``, or when ``None`` as many as fit: pywt's ``dwt_max_level(min(H, W), filter length)``
    capped at :data:`MAX_AUTO_LEVELS` (3 for db4 on 64×64, 2 on 37×31, 4 from 128×128 on)."""
    if levels is None:
        return max_levels(shape[-2:], wavelet, cap=MAX_AUTO_LEVELS)
    if isinstance(levels, bool) or not isinstance(levels, numbers.Integral) or levels < 1:
        raise ValueError(f"levels must be None (automatic) or an integer >= 1; got {levels!r}")
    return int(levels)


def pad_symmetric(y, multiple, xp):
    """Extend the last two axes at their end by their mirror image (the edge sample repeated,
    numpy's ``'symmetric'``) up to the next multiple of ``multiple``; :func:`crop` undoes it."""
    for axis in (-2, -1):
        n = y.shape[axis]
        p = -n % multiple
        if p > n:
            raise ValueError(f"an image of size {n} is too small for {multiple.bit_length() - 1} "
                             "wavelet levels; use fewer levels")
        if p:
            tail = y[..., n - p:, :] if axis == -2 else y[..., n - p:]
            y = xp.concat([y, xp.flip(tail, axis=axis)], axis=axis)
    return y


def crop(x, shape):
    """The top-left ``shape[-2:]`` of ``x`` (undoes :func:`pad_symmetric`)."""
    return x[..., : shape[-2], : shape[-1]]


class _Thresholding(Denoiser):
    """Shared parameters of the wavelet thresholding denoisers (see :class:`Wavelet`)."""

    param_rules = {"wavelet": WaveletName(), "levels": Opt(Int(1, 12), "automatic"), "mode": OneOf(*SHRINK),
                   "threshold": OneOf(*THRESHOLDS), "k": Real(0, 1e12),
                   "color": OneOf(*COLOR_SPACES)}

    def __init__(self, wavelet="db4", levels=None, mode="hard", threshold="multiple", k=3.0, color="opponent"):
        self.wavelet = wavelet
        self.levels = levels
        self.mode = mode
        self.threshold = threshold
        self.k = k
        self.color = color

    def _rules(self):
        return _pick(THRESHOLDS, self.threshold, "threshold"), _pick(SHRINK, self.mode, "mode")

    def _shrink_band(self, c, sigma, n_pixels, xp):
        rule, shrink = self._rules()
        return shrink(c, rule(c, sigma, n_pixels, self.k, self.mode, xp), xp)


@register_denoiser("wavelet")
class Wavelet(_Thresholding):
    """Thresholding in an orthonormal periodic wavelet basis, thresholds calibrated from σ.

    Each detail subband is shrunk (``mode``) at a threshold set from the image's σ (``threshold``,
    :mod:`~denoisebench.denoisers._shrink`); the coarse approximation is kept.  Sizes not divisible
    by ``2**levels`` are padded at the bottom and right by their mirror image to the next multiple,
    denoised, and cropped back; the boundaries are otherwise periodic.

    Parameters
    ----------
    wavelet : str
        An orthogonal pywt wavelet (haar, dbN, symN, coifN).
    levels : int or None
        Decomposition levels; ``None``: as many as fit, at most 4 (:func:`resolve_levels`).
    mode : {'hard', 'soft', 'garrote'}
    threshold : {'multiple', 'universal', 'sure', 'bayes'}
        ``k σ`` (default, with ``k = 3`` for hard thresholding), ``σ √(2 ln N)`` with ``N`` the
        (padded) pixel count, SureShrink per subband (hybrid rule), or BayesShrink per subband.
    k : float
        The multiple of σ for ``threshold='multiple'``.
    color : {'opponent', 'channels'}
        For colour images (C = 3): threshold in orthonormal opponent colours (default; measured
        better, reports/color.md) or each RGB channel as it is (:mod:`denoisebench._color`).
        Other channel counts are always processed per channel.

    References
    ----------
    S. Mallat, *A Wavelet Tour of Signal Processing*, 3rd ed., §11.3.1–11.3.2; D. L. Donoho,
    I. M. Johnstone, Biometrika 81, 1994 and JASA 90, 1995; S. G. Chang, B. Yu, M. Vetterli,
    IEEE TIP 9, 2000.
    """

    def _denoise(self, y, sigma, xp):
        levels = resolve_levels(y.shape, self.wavelet, self.levels)
        yp = pad_symmetric(y, 2**levels, xp)
        n_pixels = yp.shape[-2] * yp.shape[-1]
        coeffs = dwt2(yp, self.wavelet, levels)
        kept = [coeffs[0]] + [tuple(self._shrink_band(c, sigma, n_pixels, xp) for c in level)
                              for level in coeffs[1:]]
        return crop(idwt2(kept, self.wavelet), y.shape)


@register_denoiser("wavelet-ti")
class WaveletTI(_Thresholding):
    """Translation-invariant wavelet thresholding (cycle spinning over all circular shifts).

    Thresholds the detail subbands of the undecimated periodic wavelet transform
    (:func:`~denoisebench.transforms.swt2`, a tight frame) and applies its adjoint.  Each subband's
    threshold uses that subband's noise std ``σ ‖ψ_s‖`` (``σ / 2^j`` at level ``j``) in place of σ,
    and ``universal`` uses ``√(2 ln N)`` with ``N`` the image's pixel count, so on sizes divisible by
    ``2**levels`` the result equals the average of :class:`Wavelet` over all ``4**levels`` circular
    shifts for the ``multiple`` and ``universal`` rules.  Any size works (periodic boundaries).
    Parameters as :class:`Wavelet`.

    References
    ----------
    R. R. Coifman, D. L. Donoho, "Translation-invariant de-noising", in *Wavelets and
    Statistics*, Springer, 1995; S. Mallat, *A Wavelet Tour of Signal Processing*, 3rd ed., §11.3.1.
    """

    def _denoise(self, y, sigma, xp):
        levels = resolve_levels(y.shape, self.wavelet, self.levels)
        n_pixels = y.shape[-2] * y.shape[-1]
        self._rules()  # unknown names fail before any work

        def shrink_band(c, band):
            return self._shrink_band(c, sigma * band.atom_norm, n_pixels, xp)

        return swt2_map_details(y, shrink_band, self.wavelet, levels)
