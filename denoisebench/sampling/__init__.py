"""Sampling from the prior a denoiser implies: noise schedules and samplers, kept apart.

A denoiser ``D(y, σ)`` defines the score ``∇ log p_σ(y) = (D(y, σ) − y) / σ²`` (Tweedie,
:func:`denoisebench.tweedie_score`), and the score defines a generator.  Schedules are
functions ``(n_steps, sigma_min, sigma_max) → σ_0 > σ_1 > … > σ_{N−1} > σ_N = 0`` chosen
from :data:`SCHEDULES`; samplers share one signature, chosen from :data:`SAMPLERS`::

    result = SAMPLERS[name](denoiser, x_init, sigmas, rng=seed)   # -> SampleResult

``x_init`` is a ``(n, C, H, W)`` batch from any array namespace (numpy, torch on any
device, cupy, array_api_strict) at noise level ``sigmas[0]``, typically
:func:`initial_noise` moved with :func:`denoisebench._array_api.from_numpy`; the
samples come back in that namespace, on that device, with that dtype.

Randomness is per sample, never per batch: sample ``i`` draws its initial noise from
``image_rng(seed, "sampler", i)`` and its step noise from a child of that stream
(:func:`sample_rngs`), so a sample does not depend on the batch size or on its position
in the batch, and the same initial noise can be given to several denoisers.  ``rng`` is
an int seed (sample ``i`` of the batch uses stream ``i``) or a list of one numpy
``Generator`` per sample (``sample_rngs(seed, n, start)`` for a chunk).  Step noise
is drawn on the host with numpy, per sample, and moved to the device once per step with
:func:`~denoisebench._array_api.asarray_like` (the price of batch-independent streams).

References
----------
T. Karras, M. Aittala, T. Aila, S. Laine, "Elucidating the design space of diffusion-based
generative models", NeurIPS 2022 (EDM), eq. 5 and Algorithm 2.
Y. Song, J. Sohl-Dickstein, D. P. Kingma, A. Kumar, S. Ermon, B. Poole, "Score-based generative
modeling through stochastic differential equations", ICLR 2021, eq. 6 and Appendix E.
Z. Kadkhodaie, E. P. Simoncelli, "Stochastic solutions for linear inverse problems using the
prior implicit in a denoiser", NeurIPS 2021, Algorithm 1.  docs/theory.md §8–§9.
"""
from __future__ import annotations

import dataclasses
import math

import numpy as np

from .._array_api import asarray_like, device_of, to_numpy, validate_batch
from ..noise import STREAMS, image_rng
from ._schedules import SCHEDULES, geometric_sigmas, karras_sigmas, vp_sigmas
from .score import tweedie_score

__all__ = [
    "SAMPLERS",
    "SCHEDULES",
    "SampleResult",
    "ascent",
    "churn_levels",
    "euler",
    "euler_maruyama",
    "geometric_sigmas",
    "heun",
    "initial_noise",
    "karras_sigmas",
    "sample_rngs",
    "validate_churn",
    "vp_sigmas",
]


# -- randomness ----------------------------------------------------------------------------
def initial_noise(n, shape, sigma_max, seed=0, mean=0.0, start=0):
    """``x_i = mean + σ_max z_i`` with ``z_i`` from ``image_rng(seed, "sampler", start + i)``.

    Parameters
    ----------
    n : int
        Number of samples.
    shape : tuple (C, H, W)
    sigma_max : float
    seed : int
    mean : float
        Centre of the noise: the data's mean level (p_σ is centred there, not at 0).
    start : int
        Index of the first sample in the seeded sequence (a chunk draws what the whole draws).

    Returns
    -------
    numpy float64 array (n, C, H, W)
    """
    z = [image_rng(seed, "sampler", start + i).standard_normal(tuple(shape)) for i in range(int(n))]
    return mean + float(sigma_max) * np.stack(z)


def sample_rngs(seed, n, start=0):
    """The step-noise generators of samples ``start … start + n − 1``: one per sample.

    Each is the spawned child ``SeedSequence([seed, STREAMS['sampler'], i], spawn_key=(1,))``
    of the stream :func:`initial_noise` uses, hence independent of the initial noise.
    """
    return [
        np.random.default_rng(np.random.SeedSequence([int(seed), STREAMS["sampler"], start + i], spawn_key=(1,)))
        for i in range(int(n))
    ]


def _generators(rng, n):
    """``rng``: None (seed 0), an int seed, or ``n`` numpy Generators, one per sample."""
    if rng is None or (isinstance(rng, (int, np.integer)) and not isinstance(rng, bool)):
        return sample_rngs(0 if rng is None else rng, n)
    gens = list(rng) if isinstance(rng, (list, tuple)) else []
    if len(gens) != n or not all(isinstance(g, np.random.Generator) for g in gens):
        raise ValueError(f"rng must be an int seed or a list of {n} numpy Generators, one per sample "
                         "(a single shared Generator would make a sample depend on its batch)")
    return gens


def _step_noise(gens, like):
    """One standard normal field per sample, drawn on the host, moved once."""
    z = np.stack([g.standard_normal(tuple(like.shape[1:])) for g in gens])
    return asarray_like(z, like)


# -- shared plumbing -------------------------------------------------------------------------
@dataclasses.dataclass
class SampleResult:
    """What a sampler returns.

    Attributes
    ----------
    samples : array like ``x_init``
    nfe : int
        Denoiser evaluations per sample (the most any sample used).
    nfe_per_sample : numpy int array (n,)
    sigmas : numpy float64 array
        The schedule given.
    final_sigma : numpy float64 array (n,)
        Noise level each sample stopped at (``sigmas[-1]``; the residual σ for ``ascent``).
    converged : numpy bool array (n,)
        False where ``ascent`` hit ``max_iter`` before reaching σ_L.
    """

    samples: object
    nfe: int
    nfe_per_sample: np.ndarray
    sigmas: np.ndarray
    final_sigma: np.ndarray
    converged: np.ndarray


class _Counted:
    """Wraps a denoiser; counts batched calls (each is one evaluation per sample)."""

    def __init__(self, denoiser):
        if getattr(denoiser, "bound", False):
            raise ValueError(f"{type(denoiser).__name__} is an oracle bound (it needs the clean image): "
                             "it cannot drive a sampler")
        self.denoiser, self.calls = denoiser, 0

    def __call__(self, y, sigma):
        self.calls += 1
        return self.denoiser(y, sigma)


def _check_sigmas(sigmas):
    s = np.asarray(sigmas, dtype=np.float64)
    if s.ndim != 1 or s.size < 2 or not np.all(np.isfinite(s)):
        raise ValueError("sigmas must be a 1-d schedule of at least 2 finite values")
    if not (np.all(s[:-1] > 0) and s[-1] >= 0 and np.all(np.diff(s) < 0)):
        raise ValueError("sigmas must decrease strictly, with all but the last > 0 (and the last >= 0)")
    return s


def _fixed_result(x, count, s, n):
    return SampleResult(x, count.calls, np.full(n, count.calls), s, np.full(n, s[-1]), np.ones(n, bool))


# -- samplers --------------------------------------------------------------------------------
def heun(denoiser, x_init, sigmas, rng=None, s_churn=0.0, s_tmin=0.0, s_tmax=math.inf, s_noise=1.0):
    """EDM's sampler: Heun's 2nd-order method on the probability-flow ODE, deterministic or stochastic.

    ``dx/dσ = (x − D(x; σ)) / σ = −σ ∇ log p_σ(x)``, from ``σ_0`` down to ``σ_N``; the last
    step, to σ = 0, is a plain Euler step (which lands on ``D(x; σ_{N−1})``).  NFE = 2N − 1
    when σ_N = 0 (2N otherwise).

    With ``s_churn > 0`` (EDM's Algorithm 2), each step whose ``σ_i`` lies in ``[s_tmin, s_tmax]``
    first raises the noise level to ``σ̂_i = (1 + γ) σ_i``, ``γ = min(s_churn/N, √2 − 1)``, by adding
    fresh noise of std ``s_noise √(σ̂_i² − σ_i²)`` (a draw of p_σ̂ if ``x`` was one of p_σ_i), then
    steps from ``σ̂_i`` to ``σ_{i+1}``.  The fresh noise is a Langevin-like correction: errors an
    inexact denoiser made at larger σ are partly forgotten instead of carried along the
    deterministic flow.  Step noise is per sample from ``rng`` (drawn only when ``s_churn > 0``).

    Parameters
    ----------
    s_churn : float
        Total stochasticity (0: the deterministic sampler, bit for bit).
    s_tmin, s_tmax : float
        The σ range where noise is added.
    s_noise : float
        Scale of the added noise (EDM: slightly above 1 offsets a denoiser's excess smoothing).

    References
    ----------
    Karras et al., NeurIPS 2022, Algorithm 2 and §4 ("Stochastic sampling"); docs/theory.md §8.
    """
    churn = validate_churn(s_churn, s_tmin, s_tmax, s_noise)
    return _probability_flow(denoiser, x_init, sigmas, second_order=True, churn=churn, rng=rng)


def validate_churn(s_churn, s_tmin, s_tmax, s_noise):
    """Validated ``(s_churn, s_tmin, s_tmax, s_noise)`` as floats, or None for the deterministic sampler."""
    values = (s_churn, s_tmin, s_tmax, s_noise)
    numbers = all(isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool) for v in values)
    if not numbers or not (0 <= s_churn < math.inf and 0 <= s_tmin <= s_tmax and 0 < s_noise < math.inf):
        raise ValueError("need 0 <= s_churn < inf, 0 <= s_tmin <= s_tmax and 0 < s_noise < inf; got "
                         f"s_churn={s_churn!r}, s_tmin={s_tmin!r}, s_tmax={s_tmax!r}, s_noise={s_noise!r}")
    return None if s_churn == 0 else tuple(float(v) for v in values)


def churn_levels(sigmas, s_churn, s_tmin=0.0, s_tmax=math.inf):
    """EDM's raised levels ``σ̂_i = (1 + γ_i) σ_i``, one per step of the schedule ``sigmas`` (:func:`heun`)."""
    s = np.asarray(sigmas, dtype=np.float64)[:-1]
    gamma = min(float(s_churn) / s.size, math.sqrt(2) - 1)
    return np.where((s >= s_tmin) & (s <= s_tmax), (1 + gamma) * s, s)


def euler(denoiser, x_init, sigmas, rng=None):
    """Euler's 1st-order method on the probability-flow ODE of :func:`heun` (NFE = N).

    ``x_{i+1} = x_i + (σ_{i+1} − σ_i)(x_i − D(x_i; σ_i))/σ_i``; the last step, to σ = 0, lands
    on ``D(x; σ_{N−1})``.  Deterministic; ``rng`` is accepted and unused.  Not in
    :data:`SAMPLERS` (the sampler-error report, :mod:`denoisebench.sampling.sampler_error`, uses it).

    References
    ----------
    Karras et al., NeurIPS 2022, Algorithm 1 (Euler) / Algorithm 2 without the correction.
    """
    return _probability_flow(denoiser, x_init, sigmas, second_order=False)


def _probability_flow(denoiser, x_init, sigmas, second_order, churn=None, rng=None):
    s = _check_sigmas(sigmas)
    validate_batch(x_init)
    t, D = [float(v) for v in s], _Counted(denoiser)
    score = tweedie_score(D)
    raised = [float(v) for v in churn_levels(s, *churn[:3])] if churn else t[:-1]
    gens = _generators(rng, x_init.shape[0]) if churn else None

    def d(x, sigma):  # dx/dσ = (x − D(x; σ)) / σ
        return -sigma * score(x, sigma)

    x = x_init
    for i in range(len(t) - 1):
        t_hat = raised[i]
        if t_hat != t[i]:  # EDM's churn: raise the noise level to t_hat with fresh noise
            x = x + churn[3] * math.sqrt(t_hat ** 2 - t[i] ** 2) * _step_noise(gens, x)
        d_i = d(x, t_hat)
        x_next = x + (t[i + 1] - t_hat) * d_i  # Euler step
        if second_order and t[i + 1] != 0:  # Heun's 2nd-order correction
            x_next = x + (t[i + 1] - t_hat) * (0.5 * d_i + 0.5 * d(x_next, t[i + 1]))
        x = x_next
    return _fixed_result(x, D, s, x_init.shape[0])


def euler_maruyama(denoiser, x_init, sigmas, rng=None):
    """Euler–Maruyama on the reverse-time SDE of the variance-exploding process.

    ``x_{i+1} = x_i + (σ_i² − σ_{i+1}²) ∇ log p_{σ_i}(x_i) + √(σ_i² − σ_{i+1}²) z_i``: the reverse
    of ``dx = √(dσ²/dt) dw`` (Song et al.'s "reverse diffusion" predictor, no corrector).  The
    last step, to σ_N = 0, adds no noise and so returns ``D(x; σ_{N−1})`` (the usual final
    denoising step).  NFE = N.  Step noise ``z_i`` is per sample from ``rng``.

    References
    ----------
    Song et al., ICLR 2021, eq. 6 (reverse SDE) and Appendix E (VE reverse diffusion).
    """
    s = _check_sigmas(sigmas)
    validate_batch(x_init)
    gens = _generators(rng, x_init.shape[0])
    D = _Counted(denoiser)
    score = tweedie_score(D)
    x = x_init
    for i in range(s.size - 1):
        var = float(s[i] ** 2 - s[i + 1] ** 2)
        x_next = x + var * score(x, float(s[i]))
        if s[i + 1] > 0:
            x_next = x_next + math.sqrt(var) * _step_noise(gens, x)
        x = x_next
    return _fixed_result(x, D, s, x_init.shape[0])


def ascent(denoiser, x_init, sigmas, rng=None, h0=0.01, beta=0.5, max_iter=1000, direction=None):
    """Coarse-to-fine stochastic gradient ascent on log p, with per-image stopping.

    For t = 1, 2, …: ``d_t = D(y_{t−1}) − y_{t−1}``, ``σ_t = ‖d_t‖/√N`` (per image),
    ``h_t = h0 t / (1 + h0 (t − 1))``, ``γ_t = σ_t √((1 − β h_t)² − (1 − h_t)²)``,
    ``y_t = y_{t−1} + h_t d_t + γ_t z_t``; an image stops after the update in which
    ``σ_t ≤ σ_L`` (or after ``max_iter`` updates, with ``converged`` False).

    Only ``sigmas[0]`` (σ_0, the noise of ``x_init``) and σ_L (the smallest positive entry
    of ``sigmas``) are used.  A σ-taking denoiser is called at t = 1 with σ_0, then with
    σ_{t−1}, read from the previous residual (docs/theory.md §9); a blind denoiser ignores it.  One
    NFE per update; β = 1 is deterministic.  Needs ``x_init.shape[0]`` host values per
    update (the residual σ) to decide the stopping, and evaluates only images still running.

    ``direction``, if given, is a hook ``direction(d, y, index) -> d`` applied to each
    residual before σ_t and the step are computed (``index``: the original positions of the
    rows of ``y``); the constrained ascent of :mod:`denoisebench.inverse` passes the
    projection ``(I − A⁺A) d + A⁺(c − A y)`` here (Kadkhodaie & Simoncelli, Algorithm 2).

    Notes
    -----
    The algorithm is approximate, and more so with σ-taking denoisers: the residual of a
    good denoiser underestimates the noise where the signal is strong (for the MMSE
    denoiser of a Gaussian, ``E‖d‖²/N = σ² mean_k σ²/(P_k + σ²) < σ²``), so the σ given
    back is too small, the denoiser removes too little, and high frequencies keep noise.
    The low frequencies keep the variance of ``x_init`` where ``P_k ≫ σ_0²``, so σ_0 must
    exceed the data's largest standard deviation in Fourier (as for :func:`heun`).
    Measured on ``gaussian`` 16×16 with the exact denoiser (σ_0 = 16, σ_L = 0.01, 512
    samples, ~53 NFE): mean relative error of the ring-averaged power spectrum ≈ 0.22,
    against ≈ 0.02 for :func:`heun` with 40 steps.

    References
    ----------
    Kadkhodaie & Simoncelli, NeurIPS 2021, Algorithm 1 (published: h0 = 0.01, β = 0.5,
    σ_0 = 1, σ_L = 0.01); docs/theory.md §9.
    """
    s = _check_sigmas(sigmas)
    if not (0 < h0 <= 1 and 0 < beta <= 1):
        raise ValueError(f"need 0 < h0 <= 1 and 0 < beta <= 1; got h0={h0}, beta={beta}")
    xp = validate_batch(x_init)
    n = x_init.shape[0]
    gens, D = _generators(rng, n), _Counted(denoiser)
    sigma_L = float(s[s > 0][-1])
    alive = np.arange(n)  # original indices of the images still running, in y's order
    sigma_in, sigma_t = np.full(n, s[0]), np.full(n, np.inf)
    iters, done, y = np.zeros(n, int), {}, x_init
    for t in range(1, int(max_iter) + 1):
        h = h0 * t / (1 + h0 * (t - 1))
        d = D(y, [float(v) for v in sigma_in[alive]]) - y
        if direction is not None:
            d = direction(d, y, alive)
        sigma_t[alive] = to_numpy(xp.sqrt(xp.mean(d * d, axis=(1, 2, 3))))
        gamma = sigma_t[alive] * math.sqrt((1 - beta * h) ** 2 - (1 - h) ** 2)
        noise = _step_noise([gens[i] for i in alive], y) * asarray_like(gamma[:, None, None, None], y)
        y = y + h * d + noise
        iters[alive], sigma_in[alive] = t, sigma_t[alive]
        y, alive = _retire(y, alive, sigma_t[alive] <= sigma_L, done, xp)
        if alive.size == 0:
            break
    _retire(y, alive, np.ones(alive.size, bool), done, xp)
    samples = xp.concat([done[i] for i in range(n)], axis=0)
    return SampleResult(samples, int(iters.max()), iters, s, sigma_t, sigma_t <= sigma_L)


def _retire(y, alive, stop, done, xp):
    """Move the stopped images of ``y`` into ``done`` (by original index); keep the others."""
    if not np.any(stop):
        return y, alive
    for local in np.flatnonzero(stop):
        done[int(alive[local])] = y[int(local):int(local) + 1, ...]
    keep = np.flatnonzero(~stop)
    if keep.size == 0:
        return y, alive[keep]
    return xp.take(y, xp.asarray(keep, device=device_of(y)), axis=0), alive[keep]


#: Samplers by name, all ``(denoiser, x_init, sigmas, rng=None) -> SampleResult``.
SAMPLERS = {"heun": heun, "euler-maruyama": euler_maruyama, "ascent": ascent}
