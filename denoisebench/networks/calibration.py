"""Ring gains: a least-squares, Fourier-diagonal correction of a denoiser's output at each noise level.

For a denoiser ``D`` and images ``x`` of mean ``m``, write ``X̂_k``, ``D̂_k`` for the DFT coefficients of
``x − m`` and ``D(x + σz, σ) − m``.  On each ring ``r = round(|k|)`` the gain

    a_r(σ) = Σ_{k∈r} E[Re X̂_k conj(D̂_k)] / Σ_{k∈r} E|D̂_k|²

minimises ``E|x − m − F⁻¹ a F (D − m)|²`` over Fourier-diagonal radial filters ``a``.  Two facts make it
the right correction for a prior:

- **The posterior mean needs none.**  Its error ``x − E[x|y]`` is orthogonal to every function of
  ``y``, in particular to each ``D̂_k``, so ``a_r = 1`` on every ring at every σ, whatever the data's law.
  A gain ``a_r ≠ 1`` measures how far a denoiser is from it, ring by ring.
- **On a Gaussian field it restores the exact denoiser.**  A linear denoiser of gain ``g_k`` (a Wiener
  filter of the wrong spectrum, a network that shrinks or passes too much) has ``a_k = h_k / g_k`` with
  ``h_k = P_k / (P_k + σ²)``: ``a g = h``, the Wiener gain, mode by mode where ``P`` is constant on a ring.

Why a sampler needs it: along the probability flow, a denoiser of gain ``g`` scales mode ``k`` by
``exp(−∫(1 − g) dσ/σ)``, so the samples' log power misses by ``2∫(g − h) d ln σ`` — a gain error of one
per cent over the ten e-folds of σ the sampler walks costs 0.2 in log power on every ring
(``scripts/gain_error.py``, docs/theory.md §17).  Tables do not see errors that small; samples do.

The table is fitted once on training images (:func:`fit_ring_gains`, ``denoisebench train --calibrate``),
stored in the weight file's metadata (:mod:`denoisebench.networks.weights_io`) and applied by the
``unet`` denoiser after the network (``calibrated=True``): ``D'(y, σ) = m + F⁻¹ a(σ, |ξ|) F (D(y, σ) − m)``,
``a`` interpolated linearly in ``ln σ`` and in the radial frequency ``|ξ|`` (cycles per pixel), so it
applies to any image size.  The filter is circular (the DFT's); its gains are within a few per cent of 1
wherever the output carries signal.

References
----------
S. Mallat, *A Wavelet Tour of Signal Processing*, 3rd ed., §11.2.1 (Wiener filtering; the orthogonality
principle of the minimum mean-square estimate).  T. Karras, M. Aittala, T. Aila, S. Laine, "Elucidating
the design space of diffusion-based generative models", NeurIPS 2022, §3 (the probability flow).
"""
from __future__ import annotations

import json
import math

import numpy as np

from ._ring_gains import CLIP, RingGains

__all__ = ["CLIP", "FIT_DEFAULTS", "RingGains", "calibrate_weights", "fit_ring_gains", "sigma_grid"]

#: :func:`calibrate_weights`' defaults: training-split images, their seed, σ levels per e-fold.
FIT_DEFAULTS = {"n": 512, "seed": 0, "per_efold": 4}


#: Relative step just above an expert's split where the next level is fitted (:func:`sigma_grid`).
_ABOVE = 1e-6


def sigma_grid(sigma_min, sigma_max, per_efold=4, splits=()):
    """Noise levels log-spaced over ``[sigma_min, sigma_max]``, ``per_efold`` per e-fold (at least 2 levels),
    plus each expert split ``s`` inside the range and ``s (1 + 10⁻⁶)`` just above it: the network changes
    expert at ``s``, so the gains are interpolated within one expert's range only."""
    lo, hi = math.log(float(sigma_min)), math.log(float(sigma_max))
    grid = np.exp(np.linspace(lo, hi, max(2, int(math.ceil((hi - lo) * per_efold)) + 1)))
    edges = [v for s in splits if sigma_min < s < sigma_max for v in (float(s), float(s) * (1 + _ABOVE))]
    return np.unique(np.concatenate([grid, edges]))


def _rings(shape):
    from .._fourier import frequency_radius

    return np.rint(frequency_radius(shape)).astype(int)


def fit_ring_gains(denoise, images, sigmas, mean, seed=0, batch=64, progress=None):
    """Least-squares ring gains of ``denoise`` on ``images`` at each σ of ``sigmas`` (module docstring).

    Parameters
    ----------
    denoise : callable ``(y, sigma) -> array``
        The denoiser, on numpy batches ``(n, C, H, W)``.
    images : array (n, C, H, W)
        Clean images of the denoiser's training distribution (square or not; rings are ``round(|k|)``).
    sigmas : 1-d array of increasing positive floats
    mean : float
        The level ``m`` removed before the DFT (the network's training mean).
    seed : int
        Seeds the noise: ``numpy.random.default_rng([seed, i])`` for the ``i``-th σ.
    batch : int
        Images per call of ``denoise``.
    progress : callable ``(done, total)``, optional
        Called after each σ.

    Returns
    -------
    RingGains
    """
    x = np.asarray(images)
    sigmas = np.asarray(sigmas, dtype=np.float64)
    ring = _rings(x.shape[-2:]).ravel()
    n_rings = int(ring.max()) + 1
    gains = np.empty((sigmas.size, n_rings))
    for i, s in enumerate(sigmas):
        rng = np.random.default_rng([seed, i])
        num, den = np.zeros(n_rings), np.zeros(n_rings)
        for b in range(0, x.shape[0], batch):
            clean = x[b:b + batch]
            y = (clean + s * rng.standard_normal(clean.shape)).astype(clean.dtype)
            target = np.fft.fft2(clean.astype(np.float64) - mean)
            out = np.fft.fft2(np.asarray(denoise(y, float(s)), dtype=np.float64) - mean)
            num += np.bincount(ring, (target * out.conj()).real.sum(axis=(0, 1)).ravel(), n_rings)
            den += np.bincount(ring, (np.abs(out) ** 2).sum(axis=(0, 1)).ravel(), n_rings)
        gains[i] = np.clip(np.divide(num, den, out=np.ones_like(num), where=den > 0), *CLIP)
        if progress:
            progress(i + 1, sigmas.size)
    size = min(x.shape[-2:])
    return RingGains(sigmas, np.arange(n_rings) / size, gains, float(mean))


def calibrate_weights(path, out, n=FIT_DEFAULTS["n"], seed=FIT_DEFAULTS["seed"], per_efold=FIT_DEFAULTS["per_efold"],
                      progress=None):
    """Fit the ring gains of the σ-conditioned network in ``path`` and write it with them to ``out``.

    The gains are fitted on ``n`` images of the training split of the file's dataset (``seed``) at
    :func:`sigma_grid` levels over the file's trained σ range (and at each expert split); the network's
    tensors, architecture and training metadata are copied unchanged (a table already in the file is
    replaced: the fit is of the network alone).  ``progress(i, total)`` is called after each σ.  Returns the
    path written.  A checkpoint, a blind network or a bad ``n`` is refused before any work.
    """
    import torch

    from ..registry import make_dataset
    from ._bfunet import apply_padded, expert_levels
    from .weights_io import _read, _write, load_weights

    _, _, tensors = _read(path, ("weights",))
    model, meta = load_weights(path)
    if not model.conditioned:
        raise ValueError(f"{path}: only a sigma-conditioned network can be calibrated (a blind one has no sigma)")
    if not (isinstance(n, int) and n >= 1 and isinstance(per_efold, int) and per_efold >= 1):
        raise ValueError(f"need n >= 1 images and per_efold >= 1 levels; got n={n!r}, per_efold={per_efold!r}")
    training = meta["training"]
    images = make_dataset(training["dataset"]).sample(n, seed, split="train").astype(np.float32)
    sigmas = sigma_grid(training["sigma_min"], training["sigma_max"], per_efold, expert_levels(model.hparams)[0])
    mean = float(model.mean.double().mean())

    def denoise(y, sigma):
        with torch.no_grad():
            return apply_padded(model, torch.from_numpy(y), sigma).numpy()

    table = fit_ring_gains(denoise, images, sigmas, mean, seed=seed, progress=progress)
    table.fit = {"images": f"{training['dataset']} training split", "n": n, "seed": seed, "per_efold": per_efold}
    return _write(out, tensors, "weights", meta["architecture"], training,
                  {"calibration": json.dumps(table.to_json(), sort_keys=True)})
