"""A mixture of stationary Gaussian fields: non-Gaussian, yet the optimum is exact."""
from __future__ import annotations

import numpy as np

from .._fourier import power_law_spectrum, sample_stationary
from ..registry._params import Int, Real, Reals, Size
from ..noise import add_noise
from ..registry import register_dataset
from ._base import Dataset

__all__ = ["GaussianMixture"]


@register_dataset("gmm")
class GaussianMixture(Dataset):
    """Mixture of stationary periodic Gaussian fields with different spectra and means.

    Image ``x`` is drawn by picking component ``i`` with probability ``weights[i]``, then
    ``x = means[i] + field`` with a power-law spectrum of exponent ``exponents[i]`` and
    pixel std ``stds[i]``.  The exact posterior mean is a posterior-weighted sum of
    Wiener filters (:class:`~denoisebench.denoisers.StationaryMixturePosterior`), so the
    optimum is known although the prior is not Gaussian.  Its MSE has no closed form:
    :meth:`mmse` is a Monte-Carlo average over ``n_mc`` images with that denoiser,
    reported with its standard error by :meth:`mmse_stderr`.

    Notes
    -----
    Intensity scale: component means 0.5 / 0.25 / 0.75 with pixel stds 0.2 / 0.05 / 0.1
    by default, so most pixels lie in [0, 1] (unclipped).

    References
    ----------
    docs/theory.md §3; Bishop, *Pattern Recognition and Machine Learning*, §9.2.
    """

    scale = "component means 0.5/0.25/0.75, pixel stds 0.2/0.05/0.1 (unclipped, mostly in [0, 1])"
    param_rules = {"size": Size(), "weights": Reals(0, 1, lo_open=True), "means": Reals(-100, 100),
                   "stds": Reals(0, 100, lo_open=True), "exponents": Reals(0, 10),
                   "cutoff": Real(0, 1000, lo_open=True), "n_mc": Int(2, 100_000)}

    def __init__(
        self,
        size=64,
        weights=(0.5, 0.3, 0.2),
        means=(0.5, 0.25, 0.75),
        stds=(0.2, 0.05, 0.1),
        exponents=(2.0, 3.0, 1.0),
        cutoff=1.0,
        n_mc=1024,
    ):
        self.size = size
        self.weights = weights
        self.means = means
        self.stds = stds
        self.exponents = exponents
        self.cutoff = cutoff
        self.n_mc = n_mc

    def _components(self):
        k = len(self.weights)
        if not (len(self.means) == len(self.stds) == len(self.exponents) == k):
            raise ValueError("weights, means, stds and exponents must have the same length")
        w = np.asarray(self.weights, dtype=np.float64)
        if np.any(w <= 0) or abs(w.sum() - 1) > 1e-9:
            raise ValueError(f"weights must be positive and sum to 1; got {self.weights}")
        spectra = [power_law_spectrum(self.shape, e, s, self.cutoff) for e, s in zip(self.exponents, self.stds)]
        return w, [float(m) for m in self.means], spectra

    def _image(self, rng, shape):
        w, means, spectra = self._components()
        i = rng.choice(len(w), p=w)
        return sample_stationary(rng, spectra[i], means[i])

    def component_of(self, seed, n, split="test"):
        """Which component each of the first ``n`` images of ``(seed, split)`` came from."""
        from ..noise import image_rng

        w, _, _ = self._components()
        return np.array([image_rng(seed, split, i).choice(len(w), p=w) for i in range(n)])

    def power_spectrum(self):
        """Mean and covariance eigenvalues of the mixture (its best linear denoiser's prior).

        ``Cov = Σ π_i C_i + Σ π_i (m_i − m̄)² 11ᵀ``; ``11ᵀ`` has eigenvalue N at k = 0.
        """
        w, means, spectra = self._components()
        m_bar = float(np.dot(w, means))
        p = sum(wi * pi for wi, pi in zip(w, spectra))
        p[0, 0] += p.size * float(np.dot(w, (np.asarray(means) - m_bar) ** 2))
        return m_bar, p

    def optimal_denoiser(self):
        from ..denoisers._mixture import StationaryMixturePosterior

        w, means, spectra = self._components()
        return StationaryMixturePosterior(weights=tuple(w), means=tuple(means), spectra=spectra)

    def _mmse_mc(self, sigma):
        cache = self.__dict__.setdefault("_mmse_cache", {})
        key = (float(sigma), self.shape, self.n_mc)
        if key not in cache:
            x = self.sample(self.n_mc, seed=0, split="mmse").astype(np.float64)
            y = add_noise(x, float(sigma), seed=0)
            x_hat = self.optimal_denoiser()(y, float(sigma))
            per_image = np.mean((x_hat - x) ** 2, axis=(1, 2, 3))
            cache[key] = (float(per_image.mean()), float(per_image.std(ddof=1) / np.sqrt(per_image.size)))
        return cache[key]

    def mmse(self, sigma):
        """Monte-Carlo MSE per pixel of the exact posterior mean (``n_mc`` images, fixed seed)."""
        return self._mmse_mc(sigma)[0]

    def mmse_stderr(self, sigma):
        return self._mmse_mc(sigma)[1]
