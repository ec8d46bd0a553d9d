"""Hamiltonian Monte Carlo with a Metropolis correction, vectorised over independent chains.

Generic: the caller gives ``energy_grad(x) -> (E, ∇E)`` for a batch ``x`` of shape ``(n, ...)``
(``E`` of shape ``(n,)``) and one numpy ``Generator`` per chain.  Every random number of chain
``i`` (momenta, step jitter, the accept/reject uniform) comes from its own generator, and each
chain adapts its own step size, so chain ``i`` is the same whatever the number of chains.

The density sampled is ``∝ exp(−E(x))``.  During burn-in each chain's step size follows a
Robbins–Monro recursion on its Metropolis acceptance probability towards ``target``; it is then
frozen (the mean of ``log ε`` over the second half of burn-in), so the sampling phase is an exact
HMC chain whose stationary law is ``exp(−E)`` (leapfrog is volume preserving and reversible, the
step jitter is drawn independently of the state; Neal 2011, §5.4.2.2, §3.2).
"""
from __future__ import annotations

import numpy as np

__all__ = ["HMCResult", "hmc", "integrated_autocorr_time", "leapfrog"]

#: Step-size jitter: each trajectory uses ε·u, u uniform in [1 − JITTER, 1 + JITTER] (Neal 2011, §5.4.2.2).
JITTER = 0.2


def _per_chain(x, values):
    """``values`` of shape ``(n,)`` shaped to broadcast against ``x`` ``(n, ...)``."""
    return values.reshape((-1,) + (1,) * (x.ndim - 1))


def leapfrog(x, p, grad, eps, n_steps, energy_grad):
    """``n_steps`` leapfrog steps of size ``eps`` (per chain) for ``H = E(x) + |p|²/2``.

    Returns ``(x, p, E, grad)`` at the end of the trajectory.  Volume preserving and
    time reversible (Neal 2011, §2.3.3), which is what makes the Metropolis test exact.
    """
    e = _per_chain(x, eps)
    p = p - 0.5 * e * grad
    for step in range(n_steps):
        x = x + e * p
        energy, grad = energy_grad(x)
        if step < n_steps - 1:
            p = p - e * grad
    p = p - 0.5 * e * grad
    return x, p, energy, grad


class HMCResult:
    """The chains' final states and the diagnostics of a run.

    Attributes
    ----------
    x : ndarray (n, ...)
        Final state of every chain.
    step : ndarray (n,)
        The frozen step size of every chain.
    accept : ndarray (n,)
        Mean Metropolis acceptance probability of each chain over the sampling phase.
    trace : ndarray (n, T) or None
        ``observe(x)`` after every trajectory of the sampling phase (when ``observe`` is given).
    samples : ndarray (n, K, ...) or None
        States kept every ``keep_every`` trajectories of the sampling phase (when asked).
    """

    def __init__(self, x, step, accept, trace, samples):
        self.x, self.step, self.accept, self.trace, self.samples = x, step, accept, trace, samples


def _draw(rngs, shape, dtype):
    """Momenta ``(n, *shape)``, jitter factors and uniforms ``(n,)``, chain ``i`` from ``rngs[i]``."""
    p = np.empty((len(rngs),) + tuple(shape), dtype=dtype)
    jitter, uniform = np.empty(len(rngs)), np.empty(len(rngs))
    for i, rng in enumerate(rngs):
        p[i] = rng.standard_normal(shape)
        jitter[i], uniform[i] = rng.random(2)
    return p, 1.0 + JITTER * (2.0 * jitter - 1.0), uniform


def _trajectory(x, energy, grad, eps, n_leapfrog, rngs, energy_grad):
    """One HMC transition of every chain: ``(x, energy, grad, acceptance probability)``."""
    p, jitter, uniform = _draw(rngs, x.shape[1:], x.dtype)
    axes = tuple(range(1, x.ndim))
    h0 = energy + 0.5 * np.sum(p * p, axis=axes)
    with np.errstate(over="ignore", invalid="ignore"):  # a diverging trajectory is rejected below
        x1, p1, e1, g1 = leapfrog(x, p, grad, eps * jitter, n_leapfrog, energy_grad)
        dh = e1 + 0.5 * np.sum(p1 * p1, axis=axes) - h0
    dh = np.where(np.isfinite(dh), dh, np.inf)
    prob = np.exp(-np.maximum(dh, 0.0))
    take = uniform < prob
    keep = _per_chain(x, take)
    return (np.where(keep, x1, x), np.where(take, e1, energy), np.where(keep, g1, grad), prob)


def hmc(energy_grad, x0, rngs, *, n_burn, n_sample, n_leapfrog=10, step=0.3, target=0.75, observe=None,
        keep_every=0, move=None):
    """Run independent HMC chains: adapt the step size during burn-in, then sample with it fixed.

    Parameters
    ----------
    energy_grad : callable
        ``x (n, ...) -> (E (n,), ∇E (n, ...))``; the target density is ``∝ exp(−E)``.
    x0 : ndarray (n, ...)
        Starting states (float64 recommended).
    rngs : sequence of numpy Generators
        One per chain; all of chain ``i``'s randomness comes from ``rngs[i]``.
    n_burn, n_sample : int
        Trajectories of burn-in (step adaptation; discarded) and of sampling (step fixed).
    n_leapfrog : int
        Leapfrog steps per trajectory.
    step : float
        Initial step size.
    target : float
        Target Metropolis acceptance probability of the adaptation (0.65–0.8 is the usual range).
    observe : callable or None
        ``x -> (n,)`` recorded after each sampling trajectory (e.g. the magnetisation).
    keep_every : int
        If > 0, keep the state every ``keep_every`` sampling trajectories.
    move : callable or None
        ``(x, rngs) -> x``: an extra transition that leaves ``exp(−E)`` invariant (e.g. a cluster
        update), applied after every trajectory; chain ``i`` must draw only from ``rngs[i]``.

    Returns
    -------
    HMCResult

    References
    ----------
    R. M. Neal, "MCMC using Hamiltonian dynamics", in *Handbook of Markov Chain Monte Carlo* (2011),
    §2.3 (leapfrog), §3.2 (the Metropolis test), §4.2 (tuning), §5.4.2.2 (step jitter).
    H. Robbins, S. Monro, Ann. Math. Stat. 22 (1951) (the adaptation recursion).
    """
    if len(rngs) != x0.shape[0]:
        raise ValueError(f"need one generator per chain; got {len(rngs)} for {x0.shape[0]} chains")
    if not 0.0 < target < 1.0:
        raise ValueError(f"target acceptance must lie in (0, 1); got {target}")
    if n_burn < 0 or n_sample < 0 or n_leapfrog < 1 or not step > 0:
        raise ValueError("n_burn and n_sample must be >= 0, n_leapfrog >= 1 and step > 0")
    x = np.array(x0, copy=True)
    energy, grad = energy_grad(x)
    log_eps = np.full(x.shape[0], np.log(step))
    averaged, count = np.zeros_like(log_eps), 0
    for t in range(n_burn):
        x, energy, grad, prob = _trajectory(x, energy, grad, np.exp(log_eps), n_leapfrog, rngs, energy_grad)
        if move is not None:
            x = move(x, rngs)
            energy, grad = energy_grad(x)
        log_eps = log_eps + (prob - target) / (t + 10.0) ** 0.6
        if t >= n_burn // 2:
            averaged, count = averaged + log_eps, count + 1
    eps = np.exp(averaged / count) if count else np.exp(log_eps)
    trace, samples, accept = [], [], np.zeros(x.shape[0])
    for t in range(n_sample):
        x, energy, grad, prob = _trajectory(x, energy, grad, eps, n_leapfrog, rngs, energy_grad)
        if move is not None:
            x = move(x, rngs)
            energy, grad = energy_grad(x)
        accept += prob
        if observe is not None:
            trace.append(np.asarray(observe(x), dtype=np.float64))
        if keep_every and (t + 1) % keep_every == 0:
            samples.append(x.copy())
    return HMCResult(x, eps, accept / max(n_sample, 1), np.stack(trace, axis=1) if trace else None,
                     np.stack(samples, axis=1) if samples else None)


def integrated_autocorr_time(trace, c=5.0):
    """Integrated autocorrelation time of ``trace`` ``(n_chains, T)`` (or ``(T,)``), in steps.

    τ_int = 1 + 2 Σ_{t=1}^{W} ρ(t), ρ the autocorrelation averaged over chains (each chain
    centred on the mean of all chains), with Sokal's automatic window: the smallest W with
    W ≥ c·τ_int(W).  The variance of a chain mean of T steps is ≈ τ_int·Var/T.

    References
    ----------
    A. D. Sokal, "Monte Carlo methods in statistical mechanics" (1997 lectures), §3;
    Madras & Sokal, J. Stat. Phys. 50 (1988).
    """
    a = np.atleast_2d(np.asarray(trace, dtype=np.float64))
    a = a - a.mean()
    T = a.shape[1]
    if T < 4:
        raise ValueError(f"need at least 4 steps to estimate an autocorrelation time; got {T}")
    f = np.fft.rfft(a, n=2 * T, axis=1)
    acov = np.fft.irfft(f * np.conj(f), axis=1)[:, :T].mean(axis=0) / np.arange(T, 0, -1)
    if acov[0] <= 0:
        return 1.0
    rho = acov / acov[0]
    tau = 2.0 * np.cumsum(rho) - 1.0
    window = np.arange(T)
    ok = window >= c * tau
    return float(tau[np.argmax(ok)] if ok.any() else tau[-1])
