"""Posterior sampling for ``c = A x + s η`` with any denoiser's prior, through its Tweedie score.

:data:`SOLVERS` maps a name to ``solver(denoiser, op, c, shape, seed, **options) -> SampleResult``;
sample ``i`` draws its initial noise from ``image_rng(seed, "sampler", i)`` and its step noise
from ``sample_rngs(seed, n)[i]`` (:mod:`denoisebench.sampling`), so a result does not depend on
the batch size.

- ``ks``: Kadkhodaie & Simoncelli's constrained coarse-to-fine ascent: the ascent of
  :func:`denoisebench.sampling.ascent` with the step ``d_t = (I − A⁺A)(D(y) − y) + A⁺(c − A y)``
  (their Algorithm 2 with ``M Mᵀ = A⁺A``; for inpainting M = A, for block averaging M = f·A),
  started from ``y_0 = A⁺c + (I − A⁺A)(μ + σ_0 z)``.  The measurement is enforced exactly
  (through A⁺; for ``blur`` on the modes |b̂| > cut): it ignores the noise s.
- ``dps``: Chung et al.'s diffusion posterior sampling on the variance-exploding reverse SDE
  (Euler–Maruyama, as :func:`denoisebench.sampling.euler_maruyama`) with the guidance step
  ``x ← x − ζ ∇_x ‖c − A D(x, σ_i)‖`` after each update (their Algorithm 1, whose
  ``ζ_i = ζ'/‖c − A x̂_0‖`` on ``∇‖·‖²`` is this with ζ = 2ζ').  The gradient is a
  vector–Jacobian product of the denoiser, taken with torch autograd: it needs the torch
  backend and a denoiser differentiable there (its ``differentiable_denoise`` hook when it has
  one, as the U-Nets do), else :class:`NotDifferentiableError`.

References
----------
Z. Kadkhodaie, E. P. Simoncelli, "Stochastic solutions for linear inverse problems using the prior
implicit in a denoiser", NeurIPS 2021, Algorithm 2; H. Chung, J. Kim, M. T. Mccann, M. L. Klasky,
J. C. Ye, "Diffusion posterior sampling for general noisy inverse problems", ICLR 2023,
Algorithm 1; docs/theory.md, "Conditioning".
"""
from __future__ import annotations

import math
import warnings

import numpy as np

from .._array_api import array_namespace, asarray_like
from ..sampling import SampleResult, ascent, initial_noise, sample_rngs

__all__ = ["NotDifferentiableError", "SOLVERS", "dps", "ks"]


class NotDifferentiableError(ValueError):
    """The denoiser gives no vector–Jacobian product here (not torch, or not differentiable)."""


def _start(op, c, shape, sigma, seed, mean):
    n_channels = c.shape[1] if getattr(c, "ndim", 0) >= 2 else 0
    op.check_measurement(c, n_channels)
    if tuple(shape) != (n_channels, *op.shape):
        raise ValueError(f"image shape {tuple(shape)} does not match the operator's ({n_channels}, "
                         f"{op.shape[0]}, {op.shape[1]})")
    z = initial_noise(c.shape[0], shape, sigma, seed, mean=mean)
    return asarray_like(z, c)


def _check_denoiser(denoiser):
    if getattr(denoiser, "bound", False):
        raise ValueError(f"{type(denoiser).__name__} is an oracle bound (it needs the clean image): "
                         "it cannot drive a solver")


def ks(denoiser, op, c, shape, seed=0, sigma0=1.0, sigma_L=0.01, h0=0.01, beta=0.01, mean=0.5, max_iter=2000):
    """Constrained coarse-to-fine ascent (Kadkhodaie & Simoncelli, Algorithm 2); one sample per ``c``.

    Parameters
    ----------
    denoiser : callable ``(y, sigma) -> x_hat``
    op : Operator
    c : array (n, C, ...)
        Measurements (the namespace, device and dtype of the samples).
    shape : tuple (C, H, W)
    seed : int
    sigma0, sigma_L, h0, beta, max_iter
        As in :func:`denoisebench.sampling.ascent` (published for synthesis: 1, 0.01, 0.01, 0.5).
        β = 0.01 (more injected noise) is the default here: with the exact denoiser on ``gaussian``
        16×16, inpainting half the pixels, 64 samples, the sample MSE / 2·MMSE is 1.22 at β = 0.5,
        1.14 at β = 0.1 and 1.08 at β = 0.01 (h0 = 0.01; tests/test_inverse.py measures it).
    mean : float
        Centre of the initial noise (the data's mean level).

    Returns
    -------
    SampleResult
    """
    _check_denoiser(denoiser)
    if not (math.isfinite(sigma0) and math.isfinite(sigma_L) and 0 < sigma_L < sigma0):
        raise ValueError(f"need 0 < sigma_L < sigma0; got sigma0={sigma0}, sigma_L={sigma_L}")
    xp = array_namespace(c)
    z = _start(op, c, shape, sigma0, seed, mean)
    x_init = op.pinv(c) + op.null_project(z)

    def direction(d, y, index):
        c_here = xp.take(c, asarray_like(np.asarray(index), c, dtype=xp.int64), axis=0)
        return op.null_project(d) + op.pinv(c_here - op.forward(y))

    return ascent(denoiser, x_init, [float(sigma0), float(sigma_L)], rng=int(seed), h0=h0, beta=beta,
                  max_iter=max_iter, direction=direction)


def _torch_vjp_ready(c):
    import array_api_compat

    if not array_api_compat.is_torch_array(c):
        raise NotDifferentiableError("dps needs the denoiser's vector-Jacobian product: run it on the torch "
                                     "backend (--backend torch)")


def _guided_denoise(denoiser, x, sigma, op, c):
    """``D(x, σ)`` (detached) and ``∇_x Σ_i ‖c_i − A D(x_i, σ)‖`` by torch autograd."""
    import torch

    x_req = x.detach().requires_grad_(True)
    with torch.enable_grad(), warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Converting a tensor with requires_grad", UserWarning)  # input checks
        try:  # a network's autograd path (``differentiable_denoise``, the Jacobian hook) if it has one
            hook = getattr(denoiser, "differentiable_denoise", None)
            x0 = hook(x_req, sigma) if hook is not None else denoiser(x_req, sigma)
        except RuntimeError as exc:  # e.g. a host round trip of a tensor that needs grad
            raise NotDifferentiableError(f"{type(denoiser).__name__} is not differentiable on torch: "
                                         f"{str(exc).splitlines()[0]}") from None
        if not x0.requires_grad:
            raise NotDifferentiableError(f"{type(denoiser).__name__} is not differentiable on torch "
                                         "(its output carries no gradient: it runs without autograd)")
        r = c - op.forward(x0)
        norms = torch.sqrt(torch.sum(r.reshape(r.shape[0], -1) ** 2, dim=1))
        (grad,) = torch.autograd.grad(norms.sum(), x_req)
    return x0.detach(), grad


def dps(denoiser, op, c, shape, seed=0, sigmas=None, zeta=1.0, mean=0.5):
    """Diffusion posterior sampling (Chung et al., ICLR 2023) on the VE reverse SDE; one sample per ``c``.

    ``x_{i+1} = x_i + (σ_i² − σ_{i+1}²)(D(x_i, σ_i) − x_i)/σ_i² + √(σ_i² − σ_{i+1}²) z_i
    − ζ ∇_{x_i} ‖c − A D(x_i, σ_i)‖``; the last step (σ_N = 0) adds no noise.  NFE = N
    (each with a backward pass).

    Parameters
    ----------
    denoiser : callable, differentiable on torch
    op : Operator
    c : torch tensor (n, C, ...)
    shape : tuple (C, H, W)
    seed : int
    sigmas : 1-d schedule from :data:`denoisebench.sampling.SCHEDULES` (ending at 0)
    zeta : float
        Guidance step (ζ > 0).
    mean : float
        Centre of the initial noise.

    Raises
    ------
    NotDifferentiableError
        ``c`` is not a torch tensor, or the denoiser gives no gradient there.
    """
    _check_denoiser(denoiser)
    s = np.asarray(sigmas, np.float64) if sigmas is not None else None
    if s is None or s.ndim != 1 or s.size < 2 or not (np.all(s[:-1] > 0) and s[-1] >= 0 and np.all(np.diff(s) < 0)):
        raise ValueError("sigmas must be a strictly decreasing 1-d schedule of >= 2 values, all but the last > 0")
    if not (isinstance(zeta, (int, float)) and math.isfinite(zeta) and zeta > 0):
        raise ValueError(f"zeta must be a finite number > 0; got {zeta!r}")
    _torch_vjp_ready(c)
    x = _start(op, c, shape, float(s[0]), seed, mean)
    gens = sample_rngs(seed, c.shape[0])
    for i in range(s.size - 1):
        sigma, var = float(s[i]), float(s[i] ** 2 - s[i + 1] ** 2)
        x0, grad = _guided_denoise(denoiser, x, sigma, op, c)
        x_next = x + (var / sigma ** 2) * (x0 - x)
        if s[i + 1] > 0:
            z = np.stack([g.standard_normal(tuple(shape)) for g in gens])
            x_next = x_next + math.sqrt(var) * asarray_like(z, x)
        x = x_next - zeta * grad
    n = c.shape[0]
    steps = s.size - 1
    return SampleResult(x, steps, np.full(n, steps), s, np.full(n, s[-1]), np.ones(n, bool))


#: Solvers by name: ``SOLVERS[name](denoiser, op, c, shape, seed=..., **options) -> SampleResult``.
SOLVERS = {"ks": ks, "dps": dps}
