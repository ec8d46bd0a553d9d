"""Curvelet thresholding and the curvelet oracle bound, in the undecimated Fourier-domain tight frame
(default) or its decimated wrapping version (``frame=wrap``, about 4-5 real coefficients per pixel)."""
from __future__ import annotations

import math

import numpy as np

from .._array_api import asarray_like
from .._color import COLOR_SPACES
from ..memory import curvelet_frame_bytes
from ..registry._params import Bool, Int, OneOf, Opt, Real
from ..base import Denoiser
from ..registry import register_denoiser
from ..transforms._curvelet import curvelet_frame
from ..transforms._curvelet_wrap import curvelet_wrap_frame
from ._coarse import CoarsePrior, channel_mean_square
from ._shrink import SHRINK, _pick, oracle_gain, shrink

__all__ = ["Curvelet", "CurveletOracle"]


#: The two tight frames of the same windows: name → frame factory ``(shape, scales, angles)``.
FRAMES = {"undecimated": curvelet_frame, "wrap": curvelet_wrap_frame}
#: Threshold rules, in units of each subband's noise std: ``(k, n_pixels) → multiple``.
MULTIPLES = {"multiple": lambda k, n_pixels: float(k),
             "universal": lambda k, n_pixels: math.sqrt(2.0 * math.log(n_pixels))}


def _per_image(sigma, c, xp):
    """σ of shape (N, 1, 1, 1) reshaped to broadcast against coefficients ``c`` (``(N, C, …)``)."""
    return xp.reshape(sigma, (sigma.shape[0],) + (1,) * (c.ndim - 1))


def _frame_stats(frame, u):
    """Mean square of the coarse coefficients per channel and largest ``|c|`` per subband (coarse: inf)."""
    maxima = np.zeros(frame.n_subbands)
    coarse = []

    def record(sl, c):
        c = np.asarray(c)
        ids = np.broadcast_to(frame.per_coefficient(np.arange(frame.n_subbands), sl, c), c.shape[2:])
        peak = np.abs(c).max(axis=(0, 1))
        np.maximum.at(maxima, ids.astype(np.int64).ravel(), peak.ravel())
        is_coarse = np.broadcast_to(frame.per_coefficient(frame.subband_scale == 0, sl, c) > 0, c.shape[2:])
        if is_coarse.any():
            coarse.append(np.moveaxis(c[..., is_coarse], -1, 2))
        return c

    frame.apply(record, u)
    maxima[frame.subband_scale == 0] = np.inf
    return channel_mean_square(np.concatenate(coarse, axis=2)), maxima


@register_denoiser("curvelet")
class Curvelet(CoarsePrior, Denoiser):
    """Thresholding in a curvelet-style tight frame, calibrated from σ.

    Each subband ``s`` of the undecimated Fourier-domain curvelet frame
    (:mod:`denoisebench.transforms._curvelet`) is thresholded at ``k · σ · ‖ψ_s‖``, where
    ``σ ‖ψ_s‖`` is the standard deviation of the noise's coefficients there (per image σ);
    the coarse low-pass is kept when ``keep_coarse``; by default (``coarse='wiener'``) the coarse
    coefficients then get the Wiener estimate fitted on the training images, about their mean, and
    each thresholded detail coefficient is clipped to its subband's training range (``clip``;
    :mod:`~denoisebench.denoisers._coarse`), so ``D(y, σ)`` tends to the data mean as σ grows; the
    frame's adjoint (its exact inverse) maps back.  Works on any ``H × W``; the frame is translation invariant, so this is also
    the cycle-spun estimator of the decimated frame.

    Parameters
    ----------
    scales : int or None
        Number of scales including the coarse one; ``None``: ``max(2, ⌊log2 min(H, W)⌋ − 2)``.
    angles : int
        Orientations over ``[0, π)`` at the coarsest directional scale (doubled every other scale).
    k : float
        Threshold in units of the noise coefficients' std (3 for hard thresholding,
        Mallat §11.3.1), for ``threshold='multiple'``.
    threshold : {'multiple', 'universal'}
        ``k`` (default), or ``√(2 ln N)`` with N = H·W the image's pixel count (Donoho–Johnstone's
        universal threshold): a fixed ``k`` leaves a noise floor that does not fall with N, the
        universal one is what the ε^{4/3} decay rate assumes (docs/theory.md §6, `denoisebench decay`).
    mode : {'hard', 'soft', 'garrote'}
    keep_coarse : bool
        Keep the coarse scale untouched.
    color : {'opponent', 'channels'}
        Colour images (C = 3): threshold in orthonormal opponent colours (default) or per RGB channel
        (:mod:`denoisebench._color`); other channel counts are processed per channel.
    frame : {'undecimated', 'wrap'}
        The undecimated frame (``1 + Σ_j n_j`` coefficients per pixel, translation invariant) or the
        decimated wrapping frame of the same windows (:mod:`denoisebench.transforms._curvelet_wrap`,
        about 4-5 real coefficients per pixel, exact per-subband noise level); see
        ``reports/curvelet-frames.md`` for what each costs and gives.
    coarse : {'wiener', 'keep'}
        The coarse band's fitted Wiener estimate about the training mean, or the band kept (the
        classical estimator: no fit needed with ``clip=False``).
    clip : bool
        Clip each thresholded detail coefficient to its subband's training range, or not.

    References
    ----------
    .. [1] E. Candès, D. Donoho, "New tight frames of curvelets and optimal representations of
       objects with piecewise C² singularities", Comm. Pure Appl. Math. 57:219-266, 2004.
    .. [2] J.-L. Starck, E. Candès, D. Donoho, "The curvelet transform for image denoising",
       IEEE Trans. Image Process. 11(6):670-684, 2002 (per-subband kσ thresholds).
    .. [3] S. Mallat, *A Wavelet Tour of Signal Processing*, 3rd ed., §11.3.
    """

    #: Scales: at most log2 of the largest image side (4096); the frame's size for the image is
    #: checked against the memory at each call and when a grid is planned (``setup_bytes``).
    learns = True
    param_rules = {"scales": Opt(Int(2, 12), "automatic"), "angles": Int(2, 64), "k": Real(0, 1e12),
                   "mode": OneOf(*SHRINK), "keep_coarse": Bool(), "threshold": OneOf(*MULTIPLES),
                   "color": OneOf(*COLOR_SPACES), "frame": OneOf(*FRAMES), **CoarsePrior.prior_rules}
    memory_factor = 32
    setup_bytes = curvelet_frame_bytes

    def __init__(self, scales=None, angles=8, k=3.0, mode="hard", keep_coarse=True, color="opponent",
                 frame="undecimated", threshold="multiple", coarse="wiener", clip=True):
        self.scales = scales
        self.angles = angles
        self.k = k
        self.mode = mode
        self.keep_coarse = keep_coarse
        self.threshold = threshold
        self.color = color
        self.frame = frame
        self.coarse = coarse
        self.clip = clip

    def _frame(self, shape):
        return FRAMES[self.frame](shape[-2:], self.scales, self.angles)

    def _coefficient_stats(self, u):
        return _frame_stats(self._frame(u.shape), u)

    def _denoise(self, y, sigma, xp):
        if self.mode not in SHRINK:
            raise ValueError(f"unknown mode {self.mode!r}; valid: {', '.join(SHRINK)}")
        if not float(self.k) >= 0:
            raise ValueError(f"k must be >= 0; got {self.k!r}")
        self._check_fitted_shape(y)
        frame = self._frame(y.shape)
        factor = _pick(MULTIPLES, self.threshold, "threshold")(self.k, y.shape[-2] * y.shape[-1]) * frame.atom_norms
        if self.keep_coarse:
            factor = factor * (frame.subband_scale > 0)
        u, m = self._centre(y)
        coarse = (frame.subband_scale == 0).astype(np.float64)

        def threshold(sl, c):
            noise = _per_image(sigma, c, xp)
            out = shrink(c, noise * frame.per_coefficient(factor, sl, c), self.mode, xp)
            if self.clip:
                out = self._clip(out, frame.per_coefficient(self.detail_max_, sl, c))
            if m is not None and coarse[sl].any():
                v = xp.reshape(asarray_like(self.coarse_var_, c), (1, -1) + (1,) * (c.ndim - 2))
                gain = v / (v + noise * noise * frame.per_coefficient(frame.atom_norms ** 2, sl, c))
                out = out + frame.per_coefficient(coarse, sl, c) * (gain - 1) * out
            return out

        return self._uncentre(frame.apply(threshold, u), m)


@register_denoiser("oracle-curvelet")
class CurveletOracle(Denoiser):
    """Oracle attenuation in the curvelet frame (a bound: it uses the clean image).

    Every coefficient, the coarse ones included, is multiplied by
    ``|c_x|² / (|c_x|² + σ² ‖ψ_s‖²)`` (``c_x`` the clean image's coefficient, ``σ ‖ψ_s‖`` the
    noise std in subband ``s``), then the frame's adjoint maps back.  In an orthonormal basis
    this is Mallat's oracle attenuation, whose risk ``Σ σ²|x_m|² / (σ² + |x_m|²)`` lower-bounds
    every diagonal estimator; in this redundant frame it is the same rule applied to
    correlated coefficients — a reference, not a proven minimum.

    Parameters
    ----------
    scales, angles, color, frame : see :class:`Curvelet` (the clean image is mapped to the same colour space).

    References
    ----------
    .. [1] S. Mallat, *A Wavelet Tour of Signal Processing*, 3rd ed., §11.1.2 (oracle
       attenuation), §5.1 (tight frames).
    """

    bound = True
    param_rules = {"scales": Opt(Int(2, 12), "automatic"), "angles": Int(2, 64), "color": OneOf(*COLOR_SPACES),
                   "frame": OneOf(*FRAMES)}
    memory_factor = 32
    setup_bytes = curvelet_frame_bytes

    def __init__(self, scales=None, angles=8, color="opponent", frame="undecimated"):
        self.scales = scales
        self.angles = angles
        self.color = color
        self.frame = frame

    def _denoise_oracle(self, y, sigma, xp, clean):
        frame = FRAMES[self.frame](y.shape[-2:], self.scales, self.angles)

        def attenuate(sl, cy, cx):
            noise = _per_image(sigma, cy, xp) * frame.per_coefficient(frame.atom_norms, sl, cy)
            return oracle_gain(cx, noise) * cy

        return frame.apply(attenuate, y, clean)
