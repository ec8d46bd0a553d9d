"""C^alpha cartoon images: two smooth regions separated by a Hölder-alpha closed curve."""
from __future__ import annotations

import numpy as np

from ..registry._params import Int, Real, Size
from ..registry import register_dataset
from ._base import Dataset

__all__ = ["Cartoon", "boundary_coefficients", "boundary_perturbation"]

#: Standard deviation of the relative radius perturbation ``r(θ)/r0 - 1`` before capping.
REL_STD = 0.12
#: Cap on ``max |r(θ)/r0 - 1|`` (the radius stays in ``[0.7 r0, 1.3 r0]``, hence positive).
MAX_AMPLITUDE = 0.3
#: Fourier terms of the boundary, whatever the image size: the continuum image depends on
#: the draw only, so one seed gives the same picture at every resolution.
N_TERMS = 1024


def boundary_coefficients(rng, alpha, n_terms, rel_std=REL_STD, max_amplitude=MAX_AMPLITUDE):
    """Fourier coefficients ``(a, b)`` of the relative radius perturbation of the boundary.

    ``a_j, b_j`` (``j = 1 .. n_terms``) are independent centred Gaussians with standard
    deviation ``∝ j^-(alpha + 1/2)``, normalised so that the perturbation
    ``p(θ) = Σ_j a_j cos(jθ) + b_j sin(jθ)`` has standard deviation ``rel_std``; a draw whose
    peak ``max |p|`` exceeds ``max_amplitude`` is scaled down to that peak (this keeps the
    curve inside the image and the radius positive, and does not change the smoothness).
    """
    if not alpha > 0:
        raise ValueError(f"alpha must be > 0; got {alpha!r}")
    j = np.arange(1, int(n_terms) + 1, dtype=np.float64)
    std = j ** -(alpha + 0.5)
    std *= rel_std / np.sqrt(np.sum(std**2))
    a, b = rng.standard_normal((2, j.size)) * std
    # A trigonometric polynomial of degree J sampled at M = 16 J points: the true peak
    # exceeds the sampled one by a factor at most 1 / cos(pi J / M) < 1.02.
    peak = np.abs(boundary_perturbation(a, b, 16 * j.size)).max()
    factor = min(1.0, max_amplitude / peak) if peak > 0 else 1.0
    return a * factor, b * factor


def boundary_perturbation(a, b, n_points):
    """``p(θ_k) = Σ_j a_j cos(jθ_k) + b_j sin(jθ_k)`` at ``θ_k = 2πk / n_points`` (by FFT)."""
    m = int(n_points)
    if m <= 2 * len(a):
        raise ValueError(f"need n_points > 2 * n_terms = {2 * len(a)}; got {m}")
    spectrum = np.zeros(m // 2 + 1, dtype=np.complex128)
    spectrum[1 : len(a) + 1] = (m / 2) * (np.asarray(a) - 1j * np.asarray(b))
    return np.fft.irfft(spectrum, n=m)


def _smooth_region(rng, level, u, v):
    """``level`` plus a C^∞ variation of amplitude at most 0.15 (a ramp and a low cosine)."""
    gu, gv = rng.uniform(-0.1, 0.1, size=2)  # |ramp| <= 0.5 (|gu| + |gv|) <= 0.1
    amp = rng.uniform(0.0, 0.05)
    freq = rng.uniform(0.5, 2.0)  # cycles across the unit square
    angle, phase = rng.uniform(0.0, 2 * np.pi, size=2)
    ku, kv = 2 * np.pi * freq * np.cos(angle), 2 * np.pi * freq * np.sin(angle)
    # cos(ku u + kv v + phase) from 1-D factors (u is a column, v a row): an outer product.
    wave = np.cos(ku * u + phase) * np.cos(kv * v) - np.sin(ku * u + phase) * np.sin(kv * v)
    return level + gu * (u - 0.5) + gv * (v - 0.5) + amp * wave


def _periodic_interp(theta, values):
    """Linear interpolation of ``values`` given at ``θ_k = 2πk / m`` (period 2π)."""
    m = len(values)
    t = np.mod(theta * (m / (2 * np.pi)), m)
    k = np.minimum(t.astype(np.intp), m - 1)
    frac = t - k
    return values[k] * (1.0 - frac) + values[(k + 1) % m] * frac


@register_dataset("cartoon")
class Cartoon(Dataset):
    """Cartoon images of class C^alpha: two smooth regions split by a Hölder-alpha curve.

    The continuum image on ``[0, 1]^2`` is ``f_in`` inside a closed star-shaped curve and
    ``f_out`` outside it; pixel ``(i, j)`` of an ``H x W`` image covers
    ``[i/H, (i+1)/H) x [j/W, (j+1)/W)`` and holds the average of the continuum image over
    that cell (midpoint rule on ``supersample x supersample`` sub-pixels: anti-aliased).
    The continuum image depends on the random draw only, not on ``size``: one seed gives
    the same picture at every resolution.

    Parameters
    ----------
    size : int, tuple (H, W) or str 'HxW', default 64
    alpha : float, default 2.0
        Hölder exponent of the boundary curve (> 0).
    supersample : int, default 4
        Sub-pixels per pixel side used to average the continuum image.

    Notes
    -----
    **Boundary.** In polar coordinates around a random centre ``c`` the curve is
    ``r(θ) = r0 (1 + p(θ))`` with ``p(θ) = Σ_{j=1}^{J} a_j cos(jθ) + b_j sin(jθ)``,
    ``J = 1024`` (wavelengths along the curve down to 1/1024 of its length: below a pixel
    for images up to about 1000 pixels wide), and
    ``a_j, b_j`` independent Gaussians of standard deviation ``∝ j^-(alpha+1/2)``, i.e.
    ``E[a_j² + b_j²] ∝ j^-(2 alpha + 1)`` (see :func:`boundary_coefficients`).  A Gaussian
    random Fourier series with this decay is, as ``J → ∞``, almost surely ``C^(alpha-ε)``
    for every ``ε > 0`` and not ``C^(alpha+ε)`` (Kahane 1985, ch. 7-8; for ``alpha < 1`` it
    is a periodic fractional Brownian motion of Hurst index ``alpha``): its mean-square
    ``k``-th increments, ``k > alpha``, scale as ``h^(2 alpha)``.  The perturbation has
    standard deviation 0.12 and is capped at ``max |p| <= 0.3``, so ``r > 0``.  The centre
    is uniform in ``[0.35, 0.65]^2`` and ``1.309 r0`` (above the largest radius) is uniform
    in ``[0.6, 0.95]`` times the distance from the centre to the border of ``[0, 1]^2``, so
    the curve stays inside the image.

    **Regions.** Each region's intensity is a level plus a C^∞ variation of amplitude at
    most 0.15 (a random linear ramp and one low-frequency plane cosine).  The two levels
    differ by a contrast uniform in ``[0.2, 0.7]`` and both lie in ``[0.15, 0.85]``, so all
    values lie in ``[0, 1]``; which region is the brighter one is random.

    References
    ----------
    .. [1] Z. Kadkhodaie, F. Guth, E. P. Simoncelli, S. Mallat, "Generalization in
       diffusion models arises from geometry-adaptive harmonic representations", ICLR
       2024 (arXiv:2310.02557).
    .. [2] E. J. Candès, D. L. Donoho, "New tight frames of curvelets and optimal
       representations of objects with piecewise C² singularities", Comm. Pure Appl.
       Math. 57(2):219-266, 2004.
    .. [3] J.-P. Kahane, *Some Random Series of Functions*, 2nd ed., Cambridge University
       Press, 1985.
    """

    scale = "[0, 1]: two region levels in [0.15, 0.85] (contrast 0.2-0.7) plus smooth variations <= 0.15"
    param_rules = {"size": Size(), "alpha": Real(0, 10, lo_open=True), "supersample": Int(1, 16)}

    def __init__(self, size=64, alpha=2.0, supersample=4):
        self.size = size
        self.alpha = alpha
        self.supersample = supersample

    def _image(self, rng, shape):
        H, W = shape
        s = int(self.supersample)
        if s < 1:
            raise ValueError(f"supersample must be >= 1; got {self.supersample!r}")
        a, b = boundary_coefficients(rng, float(self.alpha), N_TERMS)

        centre = rng.uniform(0.35, 0.65, size=2)
        room = min(centre.min(), (1.0 - centre).min())
        r0 = rng.uniform(0.6, 0.95) * room / (1.0 + 1.03 * MAX_AMPLITUDE)

        contrast = rng.uniform(0.2, 0.7)
        low = rng.uniform(0.15, 0.85 - contrast)
        levels = (low, low + contrast) if rng.random() < 0.5 else (low + contrast, low)

        # Sub-pixel centres of the continuum image on [0, 1]^2 (u: rows, v: columns).
        u = ((np.arange(H * s) + 0.5) / (H * s))[:, None]
        v = ((np.arange(W * s) + 0.5) / (W * s))[None, :]
        du, dv = u - centre[0], v - centre[1]
        theta = np.arctan2(dv, du)
        radius = r0 * (1.0 + _periodic_interp(theta, boundary_perturbation(a, b, 16 * N_TERMS)))
        inside = np.hypot(du, dv) < radius

        f_in = _smooth_region(rng, levels[0], u, v)
        f_out = _smooth_region(rng, levels[1], u, v)
        fine = np.where(inside, f_in, f_out)
        image = fine.reshape(H, s, W, s).mean(axis=(1, 3))
        return np.clip(image, 0.0, 1.0)
