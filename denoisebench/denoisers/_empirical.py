"""The posterior mean of the training set itself: the optimal denoiser that memorises."""
from __future__ import annotations

import numpy as np

from .._array_api import asarray_like
from ..base import Denoiser, clean_training_images
from ..registry import register_denoiser

__all__ = ["EmpiricalPosterior"]


@register_denoiser("empirical")
class EmpiricalPosterior(Denoiser):
    """MMSE denoiser of the empirical distribution of the training images.

    With training images ``x_1 … x_M`` (:meth:`fit`) taken as the prior ``(1/M) Σ δ_{x_m}``,
    the posterior mean is ``D(y, σ) = Σ_m w_m x_m`` with ``w = softmax(−‖y − x_m‖² / 2σ²)``.
    It is the exact minimiser of the training loss of any denoiser trained on those images, so a
    network that reaches its training optimum *is* this denoiser — and the sampler it drives
    returns training images (Kadkhodaie et al. 2024): the memorising reference of the
    generalisation experiment, and of the benchmark tables at large σ.

    Attributes
    ----------
    atoms_ : ndarray (M, C·H·W)
        The training images minus ``centre_``, their mean image (subtracted before the distances
        to keep float32 cancellation small).
    sq_norms_ : ndarray (M,)
        ``‖atoms_[m]‖²``.
    shape_ : tuple (C, H, W)

    References
    ----------
    Z. Kadkhodaie, F. Guth, E. P. Simoncelli, S. Mallat, ICLR 2024, §2 (the empirical optimum
    memorises); K. P. Murphy, *Probabilistic Machine Learning: Advanced Topics*, §25.3.
    """

    learns = True
    memory_factor = 24

    def __init__(self):
        pass

    def fit(self, x_clean):
        x = clean_training_images(x_clean)
        flat = x.reshape(x.shape[0], -1)
        self.centre_ = flat.mean(axis=0)
        self.atoms_ = flat - self.centre_
        self.sq_norms_ = np.sum(self.atoms_ ** 2, axis=1)
        for a in (self.centre_, self.atoms_, self.sq_norms_):
            a.flags.writeable = False  # constants: sent to a device once (asarray_like)
        self.shape_ = tuple(x.shape[1:])
        return self

    def _denoise(self, y, sigma, xp):
        if tuple(y.shape[1:]) != self.shape_:
            raise ValueError(f"this fitted empirical posterior works on images of shape {self.shape_}; "
                             f"got {tuple(y.shape[1:])}")
        n = y.shape[0]
        atoms, centre = asarray_like(self.atoms_, y), asarray_like(self.centre_, y)
        v = xp.reshape(y, (n, -1)) - centre
        # ‖v − a_m‖² up to the per-row constant ‖v‖², which the softmax ignores.
        d2 = asarray_like(self.sq_norms_, y) - 2.0 * (v @ xp.matrix_transpose(atoms))
        # softmax(−d2 / 2σ²) shifted by the nearest atom before dividing, and divided by σ twice:
        # no overflow to inf − inf at tiny σ (the limit is the nearest atom, not NaN).
        s = xp.reshape(sigma, (n, 1))
        w = xp.exp(-((d2 - xp.min(d2, axis=1, keepdims=True)) / (2.0 * s)) / s)
        w = w / xp.sum(w, axis=1, keepdims=True)
        out = w @ atoms + centre
        return xp.reshape(out, y.shape)
