"""Stationary periodic Gaussian fields with a power-law spectrum: the exact optimum is Wiener."""
from __future__ import annotations

import numpy as np

from .._fourier import power_law_spectrum, sample_stationary
from ..registry._params import Real, Size
from ..registry import register_dataset
from ._base import Dataset

__all__ = ["GaussianField"]


@register_dataset("gaussian")
class GaussianField(Dataset):
    """Stationary periodic Gaussian field, spectrum ``P(k) ∝ (cutoff² + |k|²)^(-exponent/2)``.

    Parameters
    ----------
    size : int or (H, W)
    exponent : float
        Spectral decay; 2 is close to natural images' ``1/|k|²``.
    std : float
        Pixel standard deviation (the spectrum is scaled so that mean(P) = std²).
    mean : float
        Mean intensity.
    cutoff : float
        Low-frequency roll-off, in cycles per image (keeps P(0) finite).

    Notes
    -----
    Intensity scale: mean 0.5, pixel std 0.2 by default, so ~99% of pixels lie in
    [0, 1]; values are not clipped (clipping would break Gaussianity).  Since the
    covariance is circulant with eigenvalues P(k), the MMSE denoiser is the Wiener
    filter ``P/(P + σ²)`` and the MMSE per pixel is ``mean_k P σ² / (P + σ²)``.

    References
    ----------
    S. Mallat, *A Wavelet Tour of Signal Processing*, 3rd ed., §11.2.1; docs/theory.md §2.
    """

    scale = "mean 0.5, pixel std 0.2 (unclipped; ~99% of pixels in [0, 1])"
    param_rules = {"size": Size(), "exponent": Real(0, 10), "std": Real(0, 100, lo_open=True),
                   "mean": Real(-100, 100), "cutoff": Real(0, 1000, lo_open=True)}

    def __init__(self, size=64, exponent=2.0, std=0.2, mean=0.5, cutoff=1.0):
        self.size = size
        self.exponent = exponent
        self.std = std
        self.mean = mean
        self.cutoff = cutoff

    def power_spectrum(self):
        return float(self.mean), power_law_spectrum(self.shape, self.exponent, self.std, self.cutoff)

    def _image(self, rng, shape):
        mean, p = self.power_spectrum()
        return sample_stationary(rng, p, mean)

    def optimal_denoiser(self):
        from ..denoisers._wiener import WienerOracle

        return WienerOracle(dataset=self)

    def mmse(self, sigma):
        """Exact: ``(1/N) Σ_k P(k) σ² / (P(k) + σ²)``."""
        _, p = self.power_spectrum()
        s2 = float(sigma) ** 2
        return float(np.mean(p * s2 / (p + s2)))
