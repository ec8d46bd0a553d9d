"""Tweedie's formula: a denoiser defines a score."""
from __future__ import annotations

from .._array_api import as_sigma

__all__ = ["tweedie_score"]


def tweedie_score(denoiser):
    """The score implied by ``denoiser``: ``score(y, sigma) = (D(y, sigma) - y) / sigma**2``.

    For the MMSE denoiser this is ∇ log p_σ(y), the score of the noisy density
    p_σ = p ∗ N(0, σ² I); for any other denoiser, the score of the prior it implies.

    References
    ----------
    H. Robbins, "An empirical Bayes approach to statistics", 1956; K. Miyasawa, 1961;
    B. Efron, "Tweedie's formula and selection bias", JASA 2011.
    """

    def score(y, sigma):
        x_hat = denoiser(y, sigma)
        s = as_sigma(sigma, y)
        return (x_hat - y) / (s * s)

    score.denoiser = denoiser
    return score
