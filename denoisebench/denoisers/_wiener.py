"""Wiener filters: fitted on clean images, from the dataset's true spectrum, and the exact optimum."""
from __future__ import annotations

import numpy as np

from .._fourier import half_plane, wiener_filter
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

    ``fit(x)`` sets ``mean_`` (scalar) and ``spectrum_`` (half-plane periodogram
    averaged over images and channels); the filter assumes stationarity and
    periodic boundaries.  It is the best *linear* denoiser for the fitted second-order
    statistics.

    Parameters
    ----------
    eps : float
        Floor added to the estimated spectrum (guards empty frequencies).

    References
    ----------
    S. Mallat, *A Wavelet Tour of Signal Processing*, 3rd ed., §11.2.1.
    """

    learns = True

    def __init__(self, eps=1e-12):
        self.eps = eps

    def fit(self, x_clean):
        x = clean_training_images(x_clean)
        h, w = x.shape[-2:]
        self.mean_ = float(x.mean())
        power = np.abs(np.fft.rfft2(x - self.mean_)) ** 2 / (h * w)
        self.spectrum_ = power.mean(axis=(0, 1)) + self.eps
        self.shape_ = (h, w)
        return self

    def _denoise(self, y, sigma, xp):
        _check_shape(y, self.shape_, "this fitted wiener")
        return wiener_filter(y, sigma, self.mean_, self.spectrum_, xp)


@register_denoiser("wiener-oracle")
class WienerOracle(Denoiser):
    """Wiener filter with the dataset's true mean and spectrum (``dataset.power_spectrum()``).

    The MMSE denoiser of a stationary Gaussian field, and the best linear denoiser of
    any stationary dataset whose covariance is known (e.g. the ``gmm`` mixture).

    References
    ----------
    S. Mallat, *A Wavelet Tour of Signal Processing*, 3rd ed., §11.2.1.
    """

    needs_dataset = True

    def __init__(self, dataset=None):
        self.dataset = dataset

    def _spectrum(self):
        dataset = _resolve_dataset(self.dataset, "wiener-oracle")
        if not dataset.has_spectrum:
            raise NotApplicableError(f"dataset {dataset.name!r} has no known power spectrum")
        mean, p = dataset.power_spectrum()
        return mean, half_plane(p), p.shape

    def _denoise(self, y, sigma, xp):
        mean, p_half, shape = self._spectrum()
        _check_shape(y, shape, "wiener-oracle")
        return wiener_filter(y, sigma, mean, p_half, xp)


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
