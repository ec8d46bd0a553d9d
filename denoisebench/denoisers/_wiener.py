"""Wiener filters: fitted on clean images, from the dataset's true spectrum, and the exact optimum."""
from __future__ import annotations

import numpy as np

from .._array_api import asarray_like
from .._color import COLOR_SPACES, mean_in_color_space, to_color_space
from .._fourier import half_plane, wiener_filter
from ..registry._params import OneOf, Real
from ..base import Denoiser, NotApplicableError, clean_training_images
from ..registry import register_denoiser

__all__ = ["OptimalDenoiser", "Wiener", "WienerOracle"]


def _check_shape(y, shape, who):
    if tuple(y.shape[-2:]) != tuple(shape):
        raise ValueError(f"{who} works on {shape[0]}x{shape[1]} images; got {y.shape[-2]}x{y.shape[-1]}")


def _resolve_dataset(dataset, who):
    if dataset is None:
        raise NotApplicableError(f"{who} needs dataset=...: the dataset whose prior it uses")
    if isinstance(dataset, str):
        from ..registry import make_dataset

        return make_dataset(dataset)
    return dataset


@register_denoiser("wiener")
class Wiener(Denoiser):
    """Wiener filter with the mean and power spectrum estimated from clean images.

    ``fit(x)`` sets, per channel of the colour space, ``mean_`` (shape (C,)) and ``spectrum_``
    (half-plane periodogram averaged over images, shape (C, H, W // 2 + 1)); the filter assumes
    stationarity, periodic boundaries and channels independent in that space.  It is the best
    *linear* denoiser for the fitted second-order statistics (per channel).

    Parameters
    ----------
    eps : float
        Floor added to the estimated spectrum (guards empty frequencies).
    color : {'opponent', 'channels'}
        Colour images (C = 3): fit and filter in orthonormal opponent colours (default), where the
        channels are nearly uncorrelated, or per RGB channel (:mod:`denoisebench._color`).  A
        denoiser is applied to images of the channel count and ``color`` it was fit with.

    References
    ----------
    S. Mallat, *A Wavelet Tour of Signal Processing*, 3rd ed., §11.2.1.
    """

    learns = True
    param_rules = {"eps": Real(0, 1e6), "color": OneOf(*COLOR_SPACES)}

    def __init__(self, eps=1e-12, color="opponent"):
        self.eps = eps
        self.color = color

    def fit(self, x_clean):
        x = to_color_space(clean_training_images(x_clean), self.color, np)
        h, w = x.shape[-2:]
        self.mean_ = x.mean(axis=(0, 2, 3))
        power = np.abs(np.fft.rfft2(x - self.mean_[:, None, None])) ** 2 / (h * w)
        self.spectrum_ = power.mean(axis=0) + self.eps
        self.shape_, self.color_ = (h, w), self.color
        return self

    def _denoise(self, y, sigma, xp):
        _check_shape(y, self.shape_, "this fitted wiener")
        channels = self.mean_.shape[0]
        if y.shape[1] != channels or self.color_ != self.color:
            raise ValueError(f"this wiener was fit on {channels}-channel images with color={self.color_!r}; "
                             f"got {y.shape[1]} channels with color={self.color!r} (fit it again)")
        return wiener_filter(y, sigma, asarray_like(self.mean_.reshape(-1, 1, 1), y), self.spectrum_, xp)


@register_denoiser("wiener-oracle")
class WienerOracle(Denoiser):
    """Wiener filter with the dataset's true mean and spectrum (``dataset.power_spectrum()``).

    The MMSE denoiser of a stationary Gaussian field, and the best linear denoiser of
    any stationary dataset whose covariance is known (e.g. the ``gmm`` mixture).

    Parameters
    ----------
    dataset : Dataset or spec
    color : {'opponent', 'channels'}
        Colour images (C = 3), each channel a draw of the dataset: filter per RGB channel or in
        orthonormal opponent colours (default), where the mean is mapped too.  The two agree up
        to rounding: the filter is the same linear filter on every channel, and the transform is
        orthonormal (:mod:`denoisebench._color`).

    References
    ----------
    S. Mallat, *A Wavelet Tour of Signal Processing*, 3rd ed., §11.2.1.
    """

    needs_dataset = True
    param_rules = {"color": OneOf(*COLOR_SPACES)}

    def __init__(self, dataset=None, color="opponent"):
        self.dataset = dataset
        self.color = color

    def _spectrum(self):
        dataset = _resolve_dataset(self.dataset, "wiener-oracle")
        if not dataset.has_spectrum:
            raise NotApplicableError(f"dataset {dataset.name!r} has no known power spectrum")
        mean, p = dataset.power_spectrum()
        return mean, half_plane(p), p.shape

    def _denoise(self, y, sigma, xp):
        mean, p_half, shape = self._spectrum()
        _check_shape(y, shape, "wiener-oracle")
        channels = y.shape[1]
        mean = mean_in_color_space(mean, channels, self.color).reshape(channels, 1, 1)
        return wiener_filter(y, sigma, asarray_like(mean, y), p_half, xp)


@register_denoiser("optimal")
class OptimalDenoiser(Denoiser):
    """The dataset's exact MMSE denoiser E[x | y] (``dataset.optimal_denoiser()``)."""

    needs_dataset = True

    def __init__(self, dataset=None):
        self.dataset = dataset

    def _denoise(self, y, sigma, xp):
        dataset = _resolve_dataset(self.dataset, "optimal")
        if not dataset.has_optimum:
            raise NotApplicableError(f"dataset {dataset.name!r} has no known optimal denoiser")
        return dataset.optimal_denoiser()._denoise(y, sigma, xp)
