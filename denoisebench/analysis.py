"""The Jacobian of any denoiser at an image: effective dimension, homogeneity, adaptive basis, SURE.

Every function takes a denoiser ``d`` (the contract ``d(y, sigma)``), noisy images ``y`` (numpy,
``(n, C, H, W)``; computed in float64) and ``sigma`` (float or one per image), and treats each image
separately: ``J_i = ∂D(y_i)/∂y_i`` is an ``M × M`` matrix, ``M = C·H·W``.

Products ``J v`` come from one of two derivatives:

``'autograd'``
    Exact, for denoisers with the hook ``differentiable_denoise(y, sigma)``: a torch function of a
    torch batch ``y`` that autograd (``torch.func.jvp``, ``torch.autograd.grad``) differentiates,
    and that denoises each image of a batch independently (the contract's batch = per-image loop).
    ``unet`` has it.  ``J v`` is a forward-mode product, ``Jᵀ u`` a backward one.
``'fd'``
    Central finite differences for any denoiser: ``J v ≈ (D(y + εv) − D(y − εv)) / 2ε`` with
    ``ε = eps · σ`` (exact for linear denoisers up to rounding).  No ``Jᵀ u``.

``'auto'`` picks ``'autograd'`` when the hook exists.  The trace is exact (``probes=None``: every
unit vector, for small ``M``) or Hutchinson's estimate ``mean_k b_kᵀ J b_k`` over seeded
Rademacher probes with its standard error.

References
----------
C. M. Stein, "Estimation of the mean of a multivariate normal distribution", Ann. Stat. 9, 1981.
S. Ramani, T. Blu, M. Unser, "Monte-Carlo SURE: a black-box optimization of regularization parameters
for general denoising algorithms", IEEE TIP 17(9), 2008, §III (Monte-Carlo divergence).
M. F. Hutchinson, "A stochastic estimator of the trace of the influence matrix for Laplacian smoothing
splines", Comm. Stat. Simul. Comput. 19, 1990.
N. Halko, P.-G. Martinsson, J. A. Tropp, "Finding structure with randomness", SIAM Review 53, 2011,
Alg. 4.4 and 5.3 (randomized SVD / symmetric eigendecomposition).
S. Mohan et al., ICLR 2020 (homogeneity, effective dimension); Z. Kadkhodaie et al., ICLR 2024
(adaptive basis); docs/theory.md §1, §2, §5, §7.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._array_api import to_numpy

__all__ = ["Estimate", "adaptive_basis", "homogeneity_error", "jacobian",
           "jacobian_operator", "jacobian_trace", "sure"]

_PROBE_STREAM = 0x5EED


@dataclass(frozen=True)
class Estimate:
    """Per-image ``value`` with its Monte-Carlo ``stderr`` (0 when exact) and the ``method`` used."""

    value: np.ndarray
    stderr: np.ndarray
    method: str


def _images(y):
    y = np.asarray(to_numpy(y), dtype=np.float64)
    if y.ndim != 4:
        raise ValueError(f"y must be a batch (n, C, H, W); got shape {y.shape}")
    return y


def _sigmas(sigma, n):
    s = np.broadcast_to(np.asarray(sigma, dtype=np.float64).reshape(-1), (n,)) if np.ndim(sigma) else np.full(n, float(sigma))
    if not np.all(np.isfinite(s)) or not np.all(s > 0):
        raise ValueError("sigma must be finite and > 0")
    return s


def _call(d, batch, sigma, chunk):
    """``d`` on a host batch at one σ, ``chunk`` images per call."""
    parts = [to_numpy(d(batch[i:i + chunk], sigma)) for i in range(0, len(batch), chunk)]
    return np.concatenate(parts).astype(np.float64)


# -- Jacobian-vector products -------------------------------------------------------------------
class _FiniteDifference:
    """``J v`` by central differences at one image; ``rmatvec`` is unavailable."""

    rmatvec = None

    def __init__(self, d, y1, sigma, eps, chunk):
        self.d, self.y, self.sigma, self.h, self.chunk = d, y1, sigma, eps * sigma, chunk

    def matvec(self, v):
        both = np.concatenate([self.y + self.h * v, self.y - self.h * v])
        out = _call(self.d, both, self.sigma, self.chunk)
        return (out[: len(v)] - out[len(v):]) / (2 * self.h)


class _Autograd:
    """Exact ``J v`` (forward mode) and ``Jᵀ u`` (backward mode) through ``differentiable_denoise``."""

    def __init__(self, d, y1, sigma, eps, chunk):
        import torch

        self.torch, self.chunk = torch, chunk
        self.f = lambda t: d.differentiable_denoise(t, sigma)
        self.y = torch.from_numpy(np.ascontiguousarray(y1))
        with torch.no_grad():
            self.f(self.y)  # outside any transform: lets the denoiser load and cache lazily

    def _chunks(self, v, product):
        return np.concatenate([product(self.y.expand(len(c), *self.y.shape[1:]).clone(), self.torch.from_numpy(c))
                               for c in np.array_split(v, max(1, -(-len(v) // self.chunk)))])

    def matvec(self, v):
        import warnings

        with warnings.catch_warnings():  # torch's forward-AD decompositions call the deprecated torch.jit
            warnings.simplefilter("ignore", DeprecationWarning)
            return self._chunks(v, lambda y, t: self.torch.func.jvp(self.f, (y,), (t,))[1].detach().numpy())

    def rmatvec(self, u):
        def vjp(y, t):
            y.requires_grad_(True)
            with self.torch.enable_grad():
                return self.torch.autograd.grad(self.f(y), y, t)[0].numpy()

        return self._chunks(u, vjp)


_DERIVATIVES = {"fd": _FiniteDifference, "autograd": _Autograd}


def jacobian_operator(d, y1, sigma, derivative="auto", eps=1e-3, chunk=64):
    """The Jacobian of ``d`` at one image ``y1`` (1, C, H, W): an object with ``matvec(V)``
    (``V``: (k, C, H, W) → ``J V``) and ``rmatvec`` (``Jᵀ U``, or ``None`` for finite differences)."""
    if derivative == "auto":
        derivative = "autograd" if hasattr(d, "differentiable_denoise") else "fd"
    if derivative not in _DERIVATIVES:
        raise ValueError(f"unknown derivative {derivative!r}; valid: auto, {', '.join(_DERIVATIVES)}")
    if derivative == "autograd" and not hasattr(d, "differentiable_denoise"):
        raise ValueError(f"{type(d).__name__} has no differentiable_denoise hook; use derivative='fd'")
    return _DERIVATIVES[derivative](d, _images(y1)[:1], float(sigma), eps, chunk)


def _basis(shape, start, stop):
    m = int(np.prod(shape))
    e = np.zeros((stop - start, m))
    e[np.arange(stop - start), np.arange(start, stop)] = 1.0
    return e.reshape(-1, *shape)


def _full(op, shape, chunk):
    m = int(np.prod(shape))
    cols = [op.matvec(_basis(shape, i, min(i + chunk, m))).reshape(-1, m) for i in range(0, m, chunk)]
    return np.concatenate(cols).T  # row i of the stack is J e_i, a column of J


def jacobian(d, y, sigma, derivative="auto", eps=1e-3, chunk=64):
    """The full Jacobians ``(n, M, M)`` (``M = C·H·W``; for small images): ``J[i] e_j`` column by column."""
    y = _images(y)
    s = _sigmas(sigma, len(y))
    return np.stack([_full(jacobian_operator(d, y[i:i + 1], s[i], derivative, eps, chunk), y.shape[1:], chunk)
                     for i in range(len(y))])


# -- trace (effective dimension) ---------------------------------------------------------------
def _probes(seed, i, k, shape):
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), _PROBE_STREAM, int(i)]))
    return rng.choice(np.array([-1.0, 1.0]), size=(k, *shape))


def jacobian_trace(d, y, sigma, probes=16, seed=0, derivative="auto", eps=1e-3, chunk=64):
    """Trace of the Jacobian of ``d`` at each image: its effective dimension (divergence).

    Parameters
    ----------
    probes : int or None
        Hutchinson probes per image (seeded Rademacher vectors ``b``: the estimate is the mean of
        ``bᵀ J b`` and its standard error); ``None``: exact, summing ``e_jᵀ J e_j`` over all ``M``
        unit vectors (``M`` Jacobian-vector products per image).
    seed : int
        Probe ``k`` of image ``i`` depends on ``(seed, i)`` only.
    derivative, eps, chunk
        See :func:`jacobian_operator`.

    Returns
    -------
    Estimate
        ``value`` and ``stderr`` of shape ``(n,)``.
    """
    y = _images(y)
    s = _sigmas(sigma, len(y))
    shape, m = y.shape[1:], int(np.prod(y.shape[1:]))
    values, errors = np.empty(len(y)), np.zeros(len(y))
    for i in range(len(y)):
        op = jacobian_operator(d, y[i:i + 1], s[i], derivative, eps, chunk)
        if probes is None:
            values[i] = sum(np.einsum("kj,kj->", e.reshape(-1, m), op.matvec(e).reshape(-1, m))
                            for e in (_basis(shape, a, min(a + chunk, m)) for a in range(0, m, chunk)))
            continue
        b = _probes(seed, i, int(probes), shape)
        t = np.einsum("kj,kj->k", b.reshape(len(b), m), op.matvec(b).reshape(len(b), m))
        values[i], errors[i] = t.mean(), t.std(ddof=1) / np.sqrt(len(t)) if len(t) > 1 else np.inf
    kind = "exact" if probes is None else f"hutchinson-{probes}"
    return Estimate(values, errors, f"{kind} ({type(op).__name__.strip('_').lower()})")


# -- homogeneity ---------------------------------------------------------------------------------
def homogeneity_error(d, y, sigma, lambdas=(0.5, 2.0)):
    """``‖D(λy; λσ) − λ D(y; σ)‖ / ‖λ D(y; σ)‖`` per image and λ: 0 for a bias-free (positively
    1-homogeneous) denoiser.  The noise level scales with the image; blind denoisers ignore it.

    Returns
    -------
    array (n, len(lambdas))
    """
    y = _images(y)
    s = _sigmas(sigma, len(y))
    base = to_numpy(d(y, s)).astype(np.float64)
    norm = np.sqrt(np.sum(base ** 2, axis=(1, 2, 3)))
    out = []
    for lam in lambdas:
        scaled = to_numpy(d(lam * y, lam * s)).astype(np.float64)
        out.append(np.sqrt(np.sum((scaled - lam * base) ** 2, axis=(1, 2, 3))) / (lam * np.maximum(norm, 1e-300)))
    return np.stack(out, axis=1)


# -- top singular vectors (the adaptive basis) -------------------------------------------------------
def _randomized(op, shape, k, oversample, power, rng):
    """Top-``k`` singular triplets of ``J`` from products only (Halko et al. Alg. 4.4 / 5.3)."""
    m = int(np.prod(shape))
    mat = lambda v: op.matvec(v.T.reshape(-1, *shape)).reshape(-1, m).T  # noqa: E731  (M, l) → (M, l)
    q = np.linalg.qr(mat(rng.standard_normal((m, k + oversample))))[0]
    for _ in range(power):
        if op.rmatvec is not None:
            q = np.linalg.qr(op.rmatvec(q.T.reshape(-1, *shape)).reshape(-1, m).T)[0]
        q = np.linalg.qr(mat(q))[0]
    if op.rmatvec is not None:  # B = Qᵀ J = (Jᵀ Q)ᵀ
        b = op.rmatvec(q.T.reshape(-1, *shape)).reshape(-1, m)
        ub, s, vt = np.linalg.svd(b, full_matrices=False)
        return s[:k], (q @ ub).T[:k], vt[:k]
    t = q.T @ mat(q)  # symmetric J assumed (Tweedie: J = Cov[x|y]/σ² for an MMSE denoiser)
    lam, w = np.linalg.eigh((t + t.T) / 2)
    order = np.argsort(-np.abs(lam))[:k]
    u = (q @ w[:, order]).T
    return np.abs(lam[order]), u, u * np.sign(lam[order])[:, None]


def adaptive_basis(d, y, sigma, k=8, derivative="auto", exact_max=1024, oversample=8, power=2, seed=0, eps=1e-3,
                   chunk=64):
    """Top ``k`` singular values and vectors of the Jacobian of ``d`` at each image.

    Exact (full Jacobian, SVD) when ``M ≤ exact_max``; otherwise a randomized SVD (with ``Jᵀ u``
    from autograd) or, for finite differences, a randomized eigendecomposition that assumes ``J``
    symmetric (true of MMSE denoisers, ``J = Cov[x | y]/σ²``; near-true of trained networks).

    Returns
    -------
    s : array (n, k)
    u, v : arrays (n, k, C, H, W)
        Left (output-side: the adaptive basis) and right singular vectors, as images.
    """
    y = _images(y)
    sig = _sigmas(sigma, len(y))
    shape, m = y.shape[1:], int(np.prod(y.shape[1:]))
    k = min(int(k), m)
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), _PROBE_STREAM + 1]))
    out = []
    for i in range(len(y)):
        op = jacobian_operator(d, y[i:i + 1], sig[i], derivative, eps, chunk)
        if m <= exact_max:
            u, s, vt = np.linalg.svd(_full(op, shape, chunk))
            out.append((s[:k], u.T[:k], vt[:k]))
        else:
            out.append(_randomized(op, shape, k, oversample, power, rng))
    s, u, v = (np.stack(a) for a in zip(*out))
    return s, u.reshape(len(y), k, *shape), v.reshape(len(y), k, *shape)


# -- SURE ------------------------------------------------------------------------------------------
def sure(d, y, sigma, probes=16, seed=0, derivative="auto", eps=1e-3, chunk=64):
    """Stein's unbiased estimate of each image's MSE per pixel, without the clean image.

    ``SURE = ‖y − D(y)‖²/M − σ² + (2σ²/M) div D(y)`` (docs/theory.md §5), the divergence from
    :func:`jacobian_trace` (same ``probes``, ``seed``, ``derivative``); its standard error is the
    divergence's scaled by ``2σ²/M``.  Valid for weakly differentiable denoisers (not hard
    thresholding, whose jumps bias it).

    Returns
    -------
    Estimate
        MSE estimates per image, Monte-Carlo standard errors.
    """
    y = _images(y)
    s = _sigmas(sigma, len(y))
    m = int(np.prod(y.shape[1:]))
    x_hat = to_numpy(d(y, s)).astype(np.float64)
    div = jacobian_trace(d, y, s, probes, seed, derivative, eps, chunk)
    value = np.sum((y - x_hat) ** 2, axis=(1, 2, 3)) / m - s ** 2 + 2 * s ** 2 * div.value / m
    return Estimate(value, 2 * s ** 2 * div.stderr / m, div.method)
