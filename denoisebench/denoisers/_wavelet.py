"""Wavelet thresholding calibrated from σ: orthogonal (``wavelet``) and translation-invariant (``wavelet-ti``)."""
from __future__ import annotations

import numbers

import numpy as np

from .._array_api import asarray_like
from .._color import COLOR_SPACES
from ..registry._params import Int, OneOf, Opt, Real, Wavelet as WaveletName
from ..base import Denoiser
from ..registry import register_denoiser
from ..transforms import dwt2, idwt2, max_levels, swt2_map_details
from ..transforms._undecimated import swt2_subbands, swt_bands
from ..transforms._orthogonal import BOUNDARIES, dwt2_noise_std, orthogonal_filters
from ._coarse import CoarsePrior, channel_max, channel_mean_square
from ._shrink import SHRINK, THRESHOLDS, _pick

__all__ = ["Wavelet", "WaveletTI", "crop", "mirror_margin", "pad_symmetric", "resolve_levels"]


def resolve_levels(shape, wavelet, levels):
    """``levels``, or when ``None`` every level at which the filter still fits in the coarse band:
    pywt's ``dwt_max_level(min(H, W), filter length)``, so the depth grows with the image
    (db4: ``log2 N − 3`` on N × N for N a power of two ≥ 8 — 3 on 64², 6 on 512²; 2 on 37×31).

    Depth that scales with the image is what the asymptotic risk ``ε¹`` of wavelet thresholding
    on cartoons assumes (docs/theory.md §6): with a fixed cap of 4 levels the decay exponent
    fell from ~1 to 0.45–0.7 at 512² (`denoisebench decay`, reports/decay); ``python
    scripts/depth_rule.py`` compares the rule with the old cap in PSNR.
    """
    if levels is None:
        return max_levels(shape[-2:], wavelet)
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


def mirror_margin(y, margin, xp):
    """``y`` extended on all four sides by ``min(margin, size)`` mirrored samples (edge repeated,
    numpy's ``'symmetric'``, pywt's symmetric extension)."""
    for axis in (-2, -1):
        m = min(margin, y.shape[axis])
        if m:
            head, tail = (y[..., :m, :], y[..., -m:, :]) if axis == -2 else (y[..., :m], y[..., -m:])
            y = xp.concat([xp.flip(head, axis=axis), y, xp.flip(tail, axis=axis)], axis=axis)
    return y


def crop(x, shape):
    """The top-left ``shape[-2:]`` of ``x`` (undoes :func:`pad_symmetric`)."""
    return x[..., : shape[-2], : shape[-1]]


def _uniform_std(shrink_band, shape, wavelet, levels, boundary):
    """Every coefficient's noise std taken as σ (skimage's ``denoise_wavelet`` convention)."""
    return lambda c, sigma, n_pixels, xp, where: shrink_band(c, sigma, n_pixels, xp)


def _exact_std(shrink_band, shape, wavelet, levels, boundary):
    """Each coefficient divided by its exact noise std ``s`` (for σ = 1), shrunk at noise std σ, times ``s``."""
    if boundary == "periodic":  # orthonormal: s = 1 to rounding
        return _uniform_std(shrink_band, shape, wavelet, levels, boundary)
    std = dwt2_noise_std(shape, wavelet, levels, boundary)

    def shrink(c, sigma, n_pixels, xp, where):
        s = std[where[0]][where[1]]
        s, inv = asarray_like(s, c), asarray_like(1.0 / np.where(s > 0, s, 1.0), c)
        return s * shrink_band(c * inv, sigma, n_pixels, xp)

    return shrink


#: ``noise_std`` → how a subband's coefficients are calibrated before a threshold rule sees them.
NOISE_STD = {"exact": _exact_std, "uniform": _uniform_std}


class _Thresholding(CoarsePrior, Denoiser):
    """Shared parameters of the wavelet thresholding denoisers (see :class:`Wavelet`)."""

    learns = True
    param_rules = {"wavelet": WaveletName(), "levels": Opt(Int(1, 12), "automatic"), "mode": OneOf(*SHRINK),
                   "threshold": OneOf(*THRESHOLDS), "k": Real(0, 1e12),
                   "color": OneOf(*COLOR_SPACES), **CoarsePrior.prior_rules}

    def __init__(self, wavelet="db4", levels=None, mode="hard", threshold="multiple", k=3.0, color="opponent",
                 coarse="wiener", clip=True):
        self.wavelet = wavelet
        self.levels = levels
        self.mode = mode
        self.threshold = threshold
        self.k = k
        self.color = color
        self.coarse = coarse
        self.clip = clip

    def _rules(self):
        return _pick(THRESHOLDS, self.threshold, "threshold"), _pick(SHRINK, self.mode, "mode")

    def _shrink_band(self, c, sigma, n_pixels, xp):
        rule, shrink = self._rules()
        return shrink(c, rule(c, sigma, n_pixels, self.k, self.mode, xp), xp)


@register_denoiser("wavelet")
class Wavelet(_Thresholding):
    """Thresholding of an orthogonal wavelet transform, thresholds calibrated from σ.

    Each detail subband is shrunk (``mode``) at a threshold set from the image's σ (``threshold``,
    :mod:`~denoisebench.denoisers._shrink`) and, by default, clipped to the range it has on the
    training images; the coarse approximation gets the Wiener estimate fitted on the training images
    (``coarse='wiener'``, so ``D(y, σ)`` tends to the data mean as σ grows) or is kept as it is
    (``coarse='keep'``, the classical estimator; :mod:`~denoisebench.denoisers._coarse`).  With the
    defaults the denoiser learns (``fit`` on clean images of the size it will denoise); with
    ``coarse='keep', clip=False`` it needs no fit.

    The boundary (``boundary``) is by default ``'periodic'``: the orthonormal periodic basis, where
    the thresholding theorems hold as stated (Mallat §11.3); sizes not divisible by ``2**levels`` are
    padded at the bottom and right by their mirror image to the next multiple, denoised, and cropped
    back.  ``'symmetric'`` is pywt's symmetric extension, scikit-image's ``denoise_wavelet``
    convention (any size; the transform is then a frame, :func:`~denoisebench.transforms.dwt2`).  Its
    folded boundary rows do not have unit norm, so with ``noise_std='exact'`` (default) each
    coefficient is divided by its exact noise std for σ = 1
    (:func:`~denoisebench.transforms._orthogonal.dwt2_noise_std`: 0.04 to 2.8 for db4's details,
    3 levels on 64²), thresholded by the rule at noise std σ (BayesShrink's σ_x and SURE are
    then estimated on the normalised subband), and multiplied back; ``'uniform'`` treats every
    coefficient as having std σ, which is what skimage does (equal to it to rounding).

    Why periodic is the default (measured, 2-core machine shared with other jobs): ``denoisebench run
    --datasets natural cartoon --denoisers wavelet:boundary=symmetric wavelet --n 16`` gives symmetric
    (exact stds) − periodic = +0.13, +0.17, +0.18, +0.26, +0.39, +0.42, +0.49, +0.25, +0.03 dB
    (natural) and +1.23, +0.98, +0.65, +0.46, +0.50, +0.21, +0.09, −0.10, −0.10 dB (cartoon) for
    σ = 0.01 … 1 (9 log-spaced); with ``--n 64 --seed 1`` cartoon's differences at σ = 0.32, 0.56, 1
    are −0.10, −0.23, −0.29 dB and natural's at σ = 1 −0.18 dB.  Symmetric is much better at small σ
    but not "no worse at every σ", the rule for a default; uniform stds were worse still at large σ
    (−0.50 dB natural, −0.66 dB cartoon at σ = 1, n = 16).  Against skimage (``denoisebench perf``'s
    peer rows: 256 natural 64², σ = 0.1, db4, 3 levels) symmetric with exact stds measured 26.33
    against 26.26 dB (BayesShrink, soft) and 24.04 against 24.03 dB (VisuShrink, hard); periodic
    25.94 and 23.53 dB.

    Parameters
    ----------
    wavelet : str
        An orthogonal pywt wavelet (haar, dbN, symN, coifN).
    levels : int or None
        Decomposition levels; ``None``: every level the filter fits (:func:`resolve_levels`; grows with the image).
    mode : {'hard', 'soft', 'garrote'}
    threshold : {'multiple', 'universal', 'sure', 'bayes'}
        ``k σ`` (default, with ``k = 3`` for hard thresholding), ``σ √(2 ln N)`` with ``N`` the
        pixel count (padded when periodic), SureShrink per subband (hybrid rule), or BayesShrink per subband.
    k : float
        The multiple of σ for ``threshold='multiple'``.
    color : {'opponent', 'channels'}
        For colour images (C = 3): threshold in orthonormal opponent colours (default; measured
        better, reports/color.md) or each RGB channel as it is (:mod:`denoisebench._color`).
        Other channel counts are always processed per channel.
    boundary : {'periodic', 'symmetric'}
        Extension at the image's edges (see above).
    noise_std : {'exact', 'uniform'}
        Symmetric boundary: each coefficient's own noise std, or σ for all (skimage's); periodic: the same.
    coarse : {'wiener', 'keep'}
        The coarse band's fitted Wiener estimate about the training mean, or the band kept.
    clip : bool
        Clip each thresholded detail coefficient to its subband's training range, or not.

    References
    ----------
    S. Mallat, *A Wavelet Tour of Signal Processing*, 3rd ed., §7.5 (boundaries), §11.3.1–11.3.2;
    D. L. Donoho, I. M. Johnstone, Biometrika 81, 1994 and JASA 90, 1995; S. G. Chang, B. Yu,
    M. Vetterli, IEEE TIP 9, 2000.
    """

    param_rules = {**_Thresholding.param_rules, "boundary": OneOf(*BOUNDARIES), "noise_std": OneOf(*NOISE_STD)}

    def __init__(self, wavelet="db4", levels=None, mode="hard", threshold="multiple", k=3.0, color="opponent",
                 boundary="periodic", noise_std="exact", coarse="wiener", clip=True):
        super().__init__(wavelet, levels, mode, threshold, k, color, coarse, clip)
        self.boundary = boundary
        self.noise_std = noise_std

    def _transform(self, u, xp):
        levels = resolve_levels(u.shape, self.wavelet, self.levels)
        up = pad_symmetric(u, 2**levels, xp) if self.boundary == "periodic" else u
        return levels, up, dwt2(up, self.wavelet, levels, self.boundary)

    def _coefficient_stats(self, u):
        _, _, coeffs = self._transform(u, np)
        return channel_mean_square(coeffs[0]), [[channel_max(c) for c in level] for level in coeffs[1:]]

    def _denoise(self, y, sigma, xp):
        self._check_fitted_shape(y)
        u, m = self._centre(y)
        levels, up, coeffs = self._transform(u, xp)
        n_pixels = up.shape[-2] * up.shape[-1]
        shrink = _pick(NOISE_STD, self.noise_std, "noise_std")(self._shrink_band, up.shape, self.wavelet, levels,
                                                               self.boundary)
        coarse = coeffs[0]
        if m is not None:
            std = 1.0 if self.boundary == "periodic" else dwt2_noise_std(up.shape, self.wavelet, levels, self.boundary)[0]
            coarse = coarse * self._coarse_gain(sigma, std, coarse)
        kept = [coarse] + [tuple(self._clip(shrink(c, sigma, n_pixels, xp, (i, o)),
                                            self.clip and self.detail_max_[i - 1][o])
                                 for o, c in enumerate(level))
                           for i, level in enumerate(coeffs[1:], start=1)]
        return self._uncentre(crop(idwt2(kept, self.wavelet, self.boundary, up.shape), y.shape), m)


@register_denoiser("wavelet-ti")
class WaveletTI(_Thresholding):
    """Translation-invariant wavelet thresholding (cycle spinning over all circular shifts).

    Thresholds the detail subbands of the undecimated periodic wavelet transform
    (:func:`~denoisebench.transforms.swt2`, a tight frame) and applies its adjoint.  Each subband's
    threshold uses that subband's noise std ``σ ‖ψ_s‖`` (``σ / 2^j`` at level ``j``) in place of σ,
    and ``universal`` uses ``√(2 ln N)`` with ``N`` the image's pixel count, so on sizes divisible by
    ``2**levels`` the result equals the average of :class:`Wavelet` over all ``4**levels`` circular
    shifts for the ``multiple`` and ``universal`` rules.  Any size works.

    ``boundary='periodic'`` (default) transforms the image as it is (circular); ``'symmetric'``
    first extends it on all four sides by ``L`` mirrored pixels (the filter length, 8 for db4;
    :func:`mirror_margin`), denoises that and crops.  Against skimage's ``cycle_spin(denoise_wavelet,
    max_shifts=3)`` (16 shifts, symmetric boundary; 8 natural 256², σ = 0.1, BayesShrink soft, db4,
    5 levels; 2-core machine shared with other jobs) periodic measured 26.38 dB against 26.42 dB, the
    same as periodic decimated thresholding averaged over those 16 shifts (26.38): the gap is the
    boundary, not the 16 against 4⁵ shifts; 16 pixels in from the edges periodic is ahead (26.55
    against 26.51).  Symmetric measured 26.51 dB (margins 16 and 32: 26.51 as well) at 1.3× the time
    (median 145 against 111 ms; skimage 437 ms).  It is not the default because, as for
    :class:`Wavelet`, the mirrored noise raises the noise of the kept coarse approximation at the
    edges: ``denoisebench run --datasets natural cartoon --denoisers wavelet-ti:boundary=symmetric
    wavelet-ti --n 16`` gave symmetric − periodic = +0.05 … +0.42 dB (natural, σ ≤ 0.32), +0.01,
    −0.39 dB at σ = 0.56, 1, and +1.00 … +0.10 dB (cartoon, σ ≤ 0.1) but −0.15, −0.39, −0.60,
    −0.73 dB at σ = 0.18 … 1.  Other parameters as :class:`Wavelet`.

    References
    ----------
    R. R. Coifman, D. L. Donoho, "Translation-invariant de-noising", in *Wavelets and
    Statistics*, Springer, 1995; S. Mallat, *A Wavelet Tour of Signal Processing*, 3rd ed., §11.3.1.
    """

    param_rules = {**_Thresholding.param_rules, "boundary": OneOf(*BOUNDARIES)}

    def __init__(self, wavelet="db4", levels=None, mode="hard", threshold="multiple", k=3.0, color="opponent",
                 boundary="periodic", coarse="wiener", clip=True):
        super().__init__(wavelet, levels, mode, threshold, k, color, coarse, clip)
        self.boundary = boundary

    def _margin(self):
        return _pick({"periodic": 0, "symmetric": len(orthogonal_filters(self.wavelet)[0])}, self.boundary,
                     "boundary")

    def _coefficient_stats(self, u):
        levels = resolve_levels(u.shape, self.wavelet, self.levels)
        approx, details = None, {}
        for band, c in swt2_subbands(mirror_margin(u, self._margin(), np), self.wavelet, levels):
            if band.orientation == "a":
                approx = channel_mean_square(c)
            else:
                details[(band.level, band.orientation)] = channel_max(c)
        return approx, details

    def _denoise(self, y, sigma, xp):
        self._check_fitted_shape(y)
        levels = resolve_levels(y.shape, self.wavelet, self.levels)
        n_pixels = y.shape[-2] * y.shape[-1]
        self._rules()  # unknown names fail before any work
        margin = self._margin()
        u, m = self._centre(y)

        def shrink_band(c, band):
            out = self._shrink_band(c, sigma * band.atom_norm, n_pixels, xp)
            return self._clip(out, self.clip and self.detail_max_[(band.level, band.orientation)])

        u = mirror_margin(u, margin, xp)
        gain = None if m is None else self._coarse_gain(sigma, swt_bands(self.wavelet, u.shape, levels)[0].atom_norm, u)
        out = swt2_map_details(u, shrink_band, self.wavelet, levels, approx_gain=gain)
        return self._uncentre(out[..., margin: margin + y.shape[-2], margin: margin + y.shape[-1]], m)
