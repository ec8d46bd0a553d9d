"""The periodic 2-D lattice φ⁴ Gibbs field, sampled by HMC, cached on disk.

Energy (density ∝ exp(−E)), periodic L×L lattice, μ the two lattice directions::

    E(φ) = Σ_x [ −β Σ_μ φ_x φ_{x+μ} + φ_x² + λ (φ_x² − 1)² ]

(the hopping-parameter form of Albergo, Kanwar & Shanahan 2019 with β = 2κ; up to a constant it is
Σ_x [−β Σ_μ φ_x φ_{x+μ} + (1 − 2λ) φ_x² + λ φ_x⁴]).  At λ = 0 it is a free Gaussian field with
covariance eigenvalues Ĉ(k) = 1 / (2 − 2β(cos k₁ + cos k₂)) (β < 1/2; :func:`free_spectrum`).
"""
from __future__ import annotations

import functools
import hashlib
import inspect

import numpy as np

from ..store._cache import cached_array
from ..store.fingerprint import files_sha256
from ..sampling._hmc import hmc, integrated_autocorr_time
from ..registry._params import Int, OneOf, Opt, Real, Size
from ..noise import image_rng
from ..registry import register_dataset
from ._base import Dataset

__all__ = ["PHASES", "Phi4", "binder", "binder_scan", "cluster_flip", "free_spectrum", "magnetisation", "phi4_energy_grad"]

#: Named settings: couplings and HMC trajectories per image (each image is the last state of its own
#: chain; the first half of the trajectories adapts the step, the second half samples with it fixed).
#: β_c(λ = 0.5) ≈ 0.687 is the Binder-cumulant crossing of L = 16 and 32 (docs/theory.md, "The φ⁴
#: field"); the trajectory counts are ≥ 25 integrated autocorrelation times of |m| at L = 32 (each
#: trajectory followed by a cluster update): τ ≈ 12 at β = 0.687, ≈ 1.1 at β = 0.5.
PHASES = {
    "disordered": {"beta": 0.5, "lam": 0.5, "trajectories": 60},
    "critical": {"beta": 0.687, "lam": 0.5, "trajectories": 300},
}
#: Intensity map x = OFFSET + GAIN·φ: centred, pixel std ≈ 0.23 at the critical point (the other
#: datasets' scale) but no 0.5 offset, so that the law keeps its symmetry x → −x, which a bias-free
#: denoiser (D(−y) = −D(y)) respects, and a bias-free network can follow the sampler from σ_max far
#: above the pixel range (it cannot carry a mean level there: D(λy) = λD(y)).
OFFSET, GAIN = 0.0, 0.25
#: Images per cached block (image i lives in block i // BLOCK).
BLOCK = 64
#: Leapfrog steps per trajectory, and the adaptation's target acceptance.
LEAPFROG, TARGET = 10, 0.75
#: Bumped when the sampler's meaning changes (the cache key also holds the source digests).
VERSION = 1


def phi4_energy_grad(beta, lam):
    """``x (n, H, W) -> (E (n,), ∇E (n, H, W))`` for the energy above, periodic boundaries."""

    def energy_grad(phi):
        right = np.roll(phi, -1, axis=-1) + np.roll(phi, -1, axis=-2)
        left = np.roll(phi, 1, axis=-1) + np.roll(phi, 1, axis=-2)
        phi2 = phi * phi
        energy = np.sum(-beta * phi * right + phi2 + lam * (phi2 - 1.0) ** 2, axis=(-2, -1))
        grad = -beta * (right + left) + 2.0 * phi + 4.0 * lam * phi * (phi2 - 1.0)
        return energy, grad

    return energy_grad


def cluster_flip(beta):
    """``(φ, rngs) -> φ``: one Swendsen–Wang update of the signs of φ (embedded Ising clusters).

    Writing φ_x = ε_x|φ_x|, the energy's dependence on the signs ε is the Ising model with bond
    couplings β|φ_x||φ_y|.  A bond between neighbours of equal sign is active with probability
    1 − exp(−2β φ_x φ_y); each connected cluster then flips its sign with probability 1/2 (decided
    by the uniform of its lowest-index site, drawn from its chain's generator).  Leaves exp(−E)
    invariant (Brower & Tamayo 1989) and removes most of the critical slowing down of m.
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    def move(phi, rngs):
        n, H, W = phi.shape
        uniforms = np.stack([rng.random((3, H, W)) for rng in rngs])  # two bond draws, one flip draw
        node = np.arange(n * H * W).reshape(n, H, W)
        rows, cols = [], []
        for axis, u in ((-1, uniforms[:, 0]), (-2, uniforms[:, 1])):
            bond = phi * np.roll(phi, -1, axis=axis)
            active = (bond > 0) & (u < -np.expm1(-2.0 * beta * bond))
            rows.append(node[active])
            cols.append(np.roll(node, -1, axis=axis)[active])
        rows, cols = np.concatenate(rows), np.concatenate(cols)
        graph = coo_matrix((np.ones(rows.size, dtype=np.int8), (rows, cols)), shape=(node.size, node.size))
        count, labels = connected_components(graph, directed=False)
        root = np.full(count, node.size)
        np.minimum.at(root, labels, node.ravel())
        flip = uniforms[:, 2].ravel()[root] < 0.5
        return np.where(flip[labels].reshape(phi.shape), -phi, phi)

    return move


def free_spectrum(shape, beta):
    """Covariance eigenvalues of the λ = 0 field on the ``(H, W)`` DFT grid: 1/(2 − 2β(cos k₁ + cos k₂)).

    With numpy's unnormalised FFT, E|fft2(φ)_k|² = H·W·Ĉ(k).  Requires |β| < 1/2.
    """
    if not abs(beta) < 0.5:
        raise ValueError(f"the free field (lam=0) needs |beta| < 1/2; got {beta}")
    k1 = 2 * np.pi * np.fft.fftfreq(shape[0])[:, None]
    k2 = 2 * np.pi * np.fft.fftfreq(shape[1])[None, :]
    return 1.0 / (2.0 - 2.0 * beta * (np.cos(k1) + np.cos(k2)))


def magnetisation(phi):
    """Mean field per configuration, ``m = (1/N) Σ_x φ_x`` (over the last two axes)."""
    return np.asarray(phi).mean(axis=(-2, -1))


def binder(m):
    """Binder cumulant U = 1 − ⟨m⁴⟩ / (3⟨m²⟩²): 0 for Gaussian m, 2/3 for m = ±const (Binder 1981)."""
    m = np.asarray(m, dtype=np.float64)
    return float(1.0 - np.mean(m**4) / (3.0 * np.mean(m**2) ** 2))


def _chains(beta, lam, shape, trajectories, seed, split, start, stop, observe=None):
    rngs = [image_rng(seed, split, i) for i in range(start, stop)]
    x0 = np.stack([rng.standard_normal(shape) for rng in rngs])
    n_burn = trajectories // 2
    move = cluster_flip(beta) if beta > 0 else None
    return hmc(phi4_energy_grad(beta, lam), x0, rngs, n_burn=n_burn, n_sample=trajectories - n_burn,
               n_leapfrog=LEAPFROG, step=0.1, target=TARGET, observe=observe, move=move)


def binder_scan(sizes, betas, lam=0.5, n_chains=128, trajectories=800, seed=0):
    """Binder cumulant and ⟨|m|⟩ against β for several lattice sizes (locates β_c by the crossing).

    Each (L, β) runs ``n_chains`` chains for ``trajectories`` (half burn-in); U is measured over the
    sampling half (every trajectory of every chain) with a jackknife error over chains; ``tau`` and
    ``tau_abs`` are the integrated autocorrelation times of m and |m|, in trajectories.  Returns a list
    of dicts.

    References
    ----------
    K. Binder, Z. Phys. B 43 (1981) 119 (the cumulant and its size-independent crossing at β_c).
    """
    rows = []
    for size in sizes:
        for beta in betas:
            res = _chains(beta, lam, (size, size), trajectories, seed, "check", 0, n_chains, observe=magnetisation)
            m = res.trace
            m2, m4 = (m**2).mean(axis=1), (m**4).mean(axis=1)
            jack = [1 - np.delete(m4, i).mean() / (3 * np.delete(m2, i).mean() ** 2) for i in range(n_chains)]
            err = float(np.sqrt((n_chains - 1) * np.var(jack)))
            rows.append({"L": size, "beta": beta, "U": binder(m), "U_err": err, "abs_m": float(np.abs(m).mean()),
                         "tau": integrated_autocorr_time(m), "tau_abs": integrated_autocorr_time(np.abs(m)),
                         "accept": float(res.accept.mean())})
    return rows


@register_dataset("phi4")
class Phi4(Dataset):
    """The lattice φ⁴ field on a periodic grid, one HMC chain per image, cached on disk.

    Parameters
    ----------
    size : int or (H, W)
        Lattice size (any H, W ≥ 4; odd sizes work).
    phase : {'critical', 'disordered'}
        Named setting (:data:`PHASES`): β, λ and the trajectories per image.
    beta, lam : float or None
        Coupling (ferromagnetic, ``0 <= beta <= 10``) and quartic strength; ``None``: the phase's.
        ``lam = 0`` is the free Gaussian field.
    trajectories : int or None
        HMC trajectories per image (half burn-in); ``None``: the phase's.

    Notes
    -----
    Energy E(φ) = Σ_x [−β Σ_μ φ_x φ_{x+μ} + φ_x² + λ(φ_x² − 1)²], density ∝ exp(−E).  Image ``i`` of
    ``(seed, split)`` is the last state of a chain whose every random number comes from
    ``image_rng(seed, split, i)`` (start, momenta, jitter, Metropolis uniforms; step adapted per
    chain), so it is the same whatever ``n``.  Blocks of :data:`BLOCK` images are cached
    (:mod:`denoisebench.store._cache`); the cache never changes values and is safe to delete.
    Intensity: x = 0.25·φ, centred and unclipped (see :data:`OFFSET`: the φ → −φ symmetry is kept).
    There is no closed-form optimum (no ``optimal`` row).

    References
    ----------
    M. S. Albergo, G. Kanwar, P. E. Shanahan, "Flow-based generative models for Markov chain Monte
    Carlo in lattice field theory", Phys. Rev. D 100, 034515 (2019), §IV (action, hopping form).
    F. Guth, E. Lempereur, J. Bruna, S. Mallat, "Conditionally strongly log-concave generative
    models", ICML 2023 (φ⁴ as a test field).  R. M. Neal, "MCMC using Hamiltonian dynamics" (2011).
    K. Binder, Z. Phys. B 43 (1981) 119.  docs/theory.md, "The φ⁴ field".
    """

    #: Not in a default run: on a cold cache its 64 test + 256 training images at the default run's
    #: 64² cost far more than the 30% of the run it may add (measured: docs/theory.md, "The φ⁴ field").
    default_run = False
    scale = "x = 0.25·φ (centred, unclipped; pixel std ≈ 0.23 at the critical point)"
    param_rules = {"size": Size(), "phase": OneOf(*PHASES), "beta": Opt(Real(0, 10)),
                   "lam": Opt(Real(0, 100)), "trajectories": Opt(Int(2, 100000))}

    def __init__(self, size=32, phase="critical", beta=None, lam=None, trajectories=None):
        self.size = size
        self.phase = phase
        self.beta = beta
        self.lam = lam
        self.trajectories = trajectories

    def couplings(self):
        """``(beta, lam, trajectories)`` in effect (the phase's unless overridden)."""
        self.check_params()
        chosen = PHASES[self.phase]
        pick = lambda name: float(chosen[name]) if getattr(self, name) is None else float(getattr(self, name))  # noqa: E731
        t = chosen["trajectories"] if self.trajectories is None else self.trajectories
        beta, lam = pick("beta"), pick("lam")
        if lam == 0 and not abs(beta) < 0.5:
            raise ValueError(f"phi4: with lam=0 the field is normalisable only for |beta| < 1/2; got beta={beta}")
        return beta, lam, int(t)

    def _block(self, seed, split, b):
        beta, lam, t = self.couplings()
        shape, start = self.shape, b * BLOCK

        def compute():
            return _chains(beta, lam, shape, t, seed, split, start, start + BLOCK).x.astype(np.float32)

        key = {"what": "phi4", "version": VERSION, "source": _source(), "beta": beta, "lam": lam,
               "trajectories": t, "shape": list(shape), "seed": int(seed), "split": split,
               "start": start, "stop": start + BLOCK, "leapfrog": LEAPFROG, "target": TARGET}
        return cached_array(key, compute, namespace="phi4")

    def fields(self, n, seed=0, split="test"):
        """The raw fields φ ``(n, H, W)`` float32 (:meth:`sample` maps them to intensities)."""
        blocks = [self._block(seed, split, b) for b in range(-(-n // BLOCK))]
        return np.concatenate(blocks)[:n]

    def order_parameter(self, x):
        """Magnetisation m = mean φ of each image of a batch ``x`` (n, 1, H, W) of intensities."""
        return magnetisation((np.asarray(x, dtype=np.float64)[:, 0] - OFFSET) / GAIN)

    def sample(self, n, seed=0, split="test"):
        """``n`` images ``(n, 1, H, W)`` float32: x = OFFSET + GAIN·φ = 0.25·φ."""
        if split not in self.splits and split != "mmse":
            raise ValueError(f"split must be one of {self.splits}; got {split!r}")
        return (OFFSET + GAIN * self.fields(int(n), seed, split))[:, None].astype(np.float32)


@functools.lru_cache(maxsize=1)
def _source():
    """Digest of the sampler's code: the HMC module and the functions that draw a block (editing the
    docstrings of this module does not invalidate the cache; changing the sampler does)."""
    from ..sampling import _hmc

    code = "".join(inspect.getsource(f) for f in (phi4_energy_grad, cluster_flip, _chains))
    return hashlib.sha256((files_sha256([_hmc.__file__]) + code).encode()).hexdigest()
