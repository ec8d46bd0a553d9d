"""Noise schedules ``(n_steps, sigma_min, sigma_max) → σ_0 > σ_1 > … > σ_{N−1} > σ_N = 0``, by name in
:data:`SCHEDULES` (kept apart from the samplers, as in k-diffusion).

References
----------
T. Karras, M. Aittala, T. Aila, S. Laine, NeurIPS 2022, eq. 5; Y. Song et al., ICLR 2021, eq. 11.
"""
from __future__ import annotations

import math

import numpy as np

__all__ = ["SCHEDULES", "geometric_sigmas", "karras_sigmas", "vp_sigmas"]


def _check_schedule_args(n_steps, sigma_min, sigma_max):
    if isinstance(n_steps, bool) or not isinstance(n_steps, (int, np.integer)) or n_steps < 1:
        raise ValueError(f"n_steps must be an integer >= 1; got {n_steps!r}")
    if not (math.isfinite(sigma_min) and math.isfinite(sigma_max) and 0 < sigma_min < sigma_max):
        raise ValueError(f"need 0 < sigma_min < sigma_max (finite); got sigma_min={sigma_min}, sigma_max={sigma_max}")


def karras_sigmas(n_steps, sigma_min=0.002, sigma_max=80.0, rho=7.0):
    """EDM's schedule: ``σ_i = (σ_max^{1/ρ} + i/(N−1) (σ_min^{1/ρ} − σ_max^{1/ρ}))^ρ``, ``σ_N = 0``.

    Returns a float64 array of ``n_steps + 1`` values from ``sigma_max`` down to
    ``sigma_min``, then 0 (with ``n_steps = 1``: ``[sigma_max, 0]``).

    References
    ----------
    Karras et al., NeurIPS 2022, eq. 5 (ρ = 7 balances the error over the steps).
    """
    _check_schedule_args(n_steps, sigma_min, sigma_max)
    if not rho > 0:
        raise ValueError(f"rho must be > 0; got {rho}")
    frac = np.linspace(0.0, 1.0, int(n_steps))
    head = (sigma_max ** (1 / rho) + frac * (sigma_min ** (1 / rho) - sigma_max ** (1 / rho))) ** rho
    return np.append(head, 0.0)


def geometric_sigmas(n_steps, sigma_min=0.002, sigma_max=80.0):
    """Log-spaced ``σ_max … σ_min`` (``n_steps`` values, as in Song et al.'s VE SDE), then ``σ_N = 0``."""
    _check_schedule_args(n_steps, sigma_min, sigma_max)
    return np.append(np.geomspace(sigma_max, sigma_min, int(n_steps)), 0.0)


def vp_sigmas(n_steps, sigma_min=0.002, sigma_max=80.0):
    """Variance-preserving Ornstein–Uhlenbeck schedule: equal steps in the OU time, ``σ_N = 0``.

    The OU diffusion ``dX = −X dt + √2 dW`` gives ``X_t = e^{−t} X_0 + √(1 − e^{−2t}) Z``, so
    ``e^{t} X_t = X_0 + σ(t) Z`` with ``σ(t) = √(e^{2t} − 1)``: the same noisy images as the
    variance-exploding process, re-timed.  The schedule takes ``n_steps`` times equally spaced
    from ``t(σ_max)`` to ``t(σ_min)``, ``t(σ) = ½ log(1 + σ²)``, then ``σ_N = 0``; the samplers run
    in the unscaled variable ``e^{t} X_t``.  Near σ_max it is geometric in σ (``t ≈ log σ``),
    near σ_min uniform in σ² (``t ≈ σ²/2``): few steps at small σ.

    References
    ----------
    Song et al., ICLR 2021, eq. 11 (VP SDE, here with constant β = 2); Karras et al.,
    NeurIPS 2022, Table 1 (a VP schedule expressed as σ(t)).
    """
    _check_schedule_args(n_steps, sigma_min, sigma_max)
    t = np.linspace(0.5 * math.log1p(sigma_max ** 2), 0.5 * math.log1p(sigma_min ** 2), int(n_steps))
    head = np.sqrt(np.expm1(2 * t))
    head[0], head[-1] = sigma_max, sigma_min  # exact ends (no round-off through log/exp)
    return np.append(head, 0.0)


#: Noise schedules by name: ``SCHEDULES[name](n_steps, sigma_min, sigma_max)``.
SCHEDULES = {"karras": karras_sigmas, "geometric": geometric_sigmas, "vp": vp_sigmas}
