"""The fitted part of a thresholding estimator: a Wiener estimate of the coarse band and the training
range of every detail subband, so that ``D(y, σ)`` tends to the data mean as σ grows.

Thresholding calibrated from σ alone has no prior on the coarse (low-pass) band: it passes it through,
so ``D(y, σ) − y`` keeps the noise's low frequencies at every σ, and when the shared sampler starts at a
σ_max above the data's largest per-mode std (docs/theory.md §13) the initial noise there is never
removed.  The MMSE estimate tends to the data mean instead.  Two fitted corrections, each a parameter
of ``wavelet``, ``wavelet-ti`` and ``curvelet``:

``coarse='wiener'`` (default; ``'keep'``: the classical estimator)
    The coarse coefficients of ``u = y − m`` (``m`` the training images' mean per channel) are
    multiplied by the scalar Wiener gain ``g = v / (v + σ² s²)``, ``v`` the training images' mean
    squared coarse coefficient per channel and ``s`` the coarse coefficients' noise std for σ = 1;
    ``m`` is added back.  Detail subbands of a constant vanish, so the details are those of ``y``.
    This is the linear MMSE estimate of the coarse band under a stationary prior of that variance
    (Mallat §11.2.1), and ``g → 0`` as σ → ∞.
``clip=True`` (default; ``False``: no clipping)
    Each thresholded detail coefficient is clipped to ``[−A, A]``, ``A`` the largest magnitude that
    subband reached on the training images (per channel).  When the clean coefficient lies in that
    range the clip is a projection onto an interval holding it, so it never increases that
    coefficient's error; and it bounds what noise coefficients above the threshold leave in the
    output: without it a hard 3σ threshold keeps 0.27 % of the noise coefficients at their full size,
    an output std of ≈ 0.17 σ that the sampler carries from σ_max to the end.

References
----------
S. Mallat, *A Wavelet Tour of Signal Processing*, 3rd ed., §11.2.1 (Wiener estimation), §11.3
(thresholding); Z. Kadkhodaie, E. P. Simoncelli, NeurIPS 2021 (the prior implicit in a denoiser).
"""
from __future__ import annotations

import numpy as np

from .._array_api import array_namespace, asarray_like
from .._color import to_color_space
from ..registry._params import Bool, OneOf
from ..base import clean_training_images

__all__ = ["COARSE", "CoarsePrior", "channel_max", "channel_mean_square"]

#: ``coarse`` values: the fitted Wiener estimate of the coarse band, or the band kept as it is.
COARSE = ("wiener", "keep")


class CoarsePrior:
    """Mixin for a thresholding denoiser with ``coarse`` and ``clip`` parameters (module docstring).

    The host class defines ``_coefficient_stats(u)`` → ``(coarse mean square per channel (C,),
    per-subband max |coefficient| (a structure the class reads back))`` on mean-free training images
    ``u`` in its colour space, padded as its ``_denoise`` pads.
    """

    prior_rules = {"coarse": OneOf(*COARSE), "clip": Bool()}

    @property
    def fits_prior(self):
        return self.coarse == "wiener" or self.clip

    def is_fitted(self):
        return not self.fits_prior or hasattr(self, "shape_")

    def fit(self, x_clean):
        """Fit the training mean, coarse-band variance and detail ranges on clean images ``(N, C, H, W)``."""
        x = to_color_space(clean_training_images(x_clean), self.color, np)
        self.mean_ = x.mean(axis=(0, 2, 3))
        self.coarse_var_, self.detail_max_ = self._coefficient_stats(x - self.mean_[:, None, None])
        self.shape_, self.channels_, self.color_ = tuple(x.shape[-2:]), x.shape[1], self.color
        return self

    def _check_fitted_shape(self, y):
        if not self.fits_prior:
            return
        if tuple(y.shape[-2:]) != self.shape_ or y.shape[1] != self.channels_ or self.color_ != self.color:
            raise ValueError(f"this {self.spec()} was fit on {self.channels_}-channel {self.shape_[0]}x{self.shape_[1]} "
                             f"images (color={self.color_!r}); got {y.shape[1]} channels {y.shape[-2]}x{y.shape[-1]} "
                             f"with color={self.color!r}: fit it on images of this size (or pass coarse=keep,clip=false)")

    def _centre(self, y):
        """``(y − m, m)`` when the coarse band is estimated; ``(y, None)`` otherwise."""
        if self.coarse != "wiener":
            return y, None
        m = asarray_like(self.mean_.reshape(1, -1, 1, 1), y)
        return y - m, m

    def _coarse_gain(self, sigma, noise_std, like):
        """``v / (v + σ² s²)`` per image and channel (``(N, C, 1, 1)``, or ``(N, C, h, w)`` for an ``s`` map)."""
        v = asarray_like(self.coarse_var_.reshape(1, -1, 1, 1), like)
        s2 = asarray_like(np.asarray(noise_std, dtype=np.float64) ** 2, like)
        return v / (v + sigma * sigma * s2)

    def _clip(self, c, bound):
        """``c`` clipped to ``[−bound, bound]`` (host or like ``c``, broadcastable to it) when ``clip``."""
        if not self.clip:
            return c
        xp = array_namespace(c)
        a = asarray_like(np.asarray(bound, dtype=np.float64), c) if isinstance(bound, (np.ndarray, float)) else bound
        return xp.minimum(xp.maximum(c, -a), a)

    @staticmethod
    def _uncentre(out, m):
        return out if m is None else out + m


def channel_max(c):
    """Largest ``|c|`` per channel of a host ``(N, C, ...)`` array, shaped ``(1, C, 1, 1)``."""
    c = np.abs(np.asarray(c))
    return c.reshape(c.shape[0], c.shape[1], -1).max(axis=(0, 2)).reshape(1, -1, 1, 1)


def channel_mean_square(c):
    """Mean of ``c²`` per channel of a host ``(N, C, ...)`` array, shape ``(C,)``."""
    c = np.asarray(c)
    return np.mean(c.reshape(c.shape[0], c.shape[1], -1) ** 2, axis=(0, 2))
