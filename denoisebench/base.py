"""The denoiser contract: ``D(y, sigma) -> x_hat``.

A denoiser is called on a batch ``y`` of shape ``(N, C, H, W)`` (float32 or
float64, from numpy, torch on any device, cupy or array_api_strict) and a noise
level ``sigma`` (a positive float, or one per image).  It returns ``x_hat`` in
the same namespace, on the same device, with the same dtype and shape.

Subclasses follow scikit-learn's conventions: ``__init__`` stores its keyword
arguments verbatim and does nothing else; learned state set by :meth:`fit`
ends in ``_``; :meth:`get_params` reads the ``__init__`` arguments back.  They
write only :meth:`_denoise`, which receives validated inputs.
"""
from __future__ import annotations

from ._array_api import as_sigma, validate_batch
from ._memory import chunk_size
from ._params import ParamsMixin

__all__ = ["Denoiser", "NotApplicableError", "NotFittedError", "clean_training_images"]


class NotFittedError(RuntimeError):
    """The denoiser learns from clean data and :meth:`Denoiser.fit` was not called."""


class NotApplicableError(ValueError):
    """The denoiser cannot be built for this dataset (e.g. no known optimum)."""


class Denoiser(ParamsMixin):
    """Base class of every denoiser.

    Class attributes describe the family to the runner and the report:

    ``learns``
        True when the denoiser must be :meth:`fit` on clean images first.
    ``bound``
        True for oracle bounds that need the clean image (not denoisers).
    ``needs_dataset``
        True when the constructor takes the dataset whose optimum it uses.
    ``memory_factor``
        Working memory in multiples of the input's size; on a GPU, batches are
        split into chunks that fit half the free memory (:mod:`denoisebench._memory`).
    """

    learns = False
    bound = False
    needs_dataset = False
    #: Working memory in multiples of the input's bytes (batches are chunked to fit a GPU).
    memory_factor = 16

    # -- learning -----------------------------------------------------------------
    def fit(self, x_clean):
        """Learn from clean images ``(N, C, H, W)``; returns ``self``.  No-op by default."""
        return self

    def is_fitted(self):
        return not self.learns or any(
            k.endswith("_") and not k.startswith("_") for k in vars(self)
        )

    # -- the contract -------------------------------------------------------------
    def __call__(self, y, sigma, clean=None):
        """Denoise the batch ``y`` observed at noise level ``sigma``.

        Parameters
        ----------
        y : array, shape (N, C, H, W), float32 or float64
            Noisy images ``x + sigma * z`` with ``z`` white standard normal.
        sigma : float or array of shape (N,)
            Noise standard deviation, one for the batch or one per image (> 0).
        clean : array like ``y``, optional
            The clean images; required by oracle bounds (``bound = True``) and
            refused by real denoisers, which must never see them.

        Returns
        -------
        x_hat : array like ``y``
            Same namespace, device, dtype and shape as ``y``.
        """
        xp = validate_batch(y)
        sigma_b = as_sigma(sigma, y)
        if not self.is_fitted():
            raise NotFittedError(f"{type(self).__name__} must be fit on clean images before use")
        if self.bound:
            clean = _validate_clean(clean, y)
        elif clean is not None:
            raise TypeError(f"{type(self).__name__} is a denoiser, not an oracle bound: it takes no clean image")
        step = chunk_size(y, self.memory_factor)
        if step >= y.shape[0]:
            return self._dispatch(y, sigma_b, xp, clean)
        parts = [self._dispatch(y[i : i + step, ...], sigma_b[i : i + step, ...], xp,
                                None if clean is None else clean[i : i + step, ...])
                 for i in range(0, y.shape[0], step)]
        return xp.concat(parts, axis=0)

    def _dispatch(self, y, sigma, xp, clean):
        return self._denoise(y, sigma, xp) if clean is None else self._denoise_oracle(y, sigma, xp, clean)

    denoise = __call__

    def _denoise(self, y, sigma, xp):  # pragma: no cover - abstract
        """Denoise validated ``y`` with ``sigma`` of shape (N, 1, 1, 1) like ``y``."""
        raise NotImplementedError

    def _denoise_oracle(self, y, sigma, xp, clean):  # pragma: no cover - abstract
        """For oracle bounds: like :meth:`_denoise`, with the validated clean batch."""
        raise NotImplementedError


def clean_training_images(x_clean):
    """The clean images given to :meth:`Denoiser.fit`, as host float64 ``(N, C, H, W)``; checked.

    Raises ValueError for another shape, an empty batch, or NaN / inf values.
    """
    import numpy as np

    from ._array_api import to_numpy

    x = np.asarray(to_numpy(x_clean), dtype=np.float64)
    if x.ndim != 4 or x.shape[0] < 1:
        raise ValueError(f"fit expects clean images (N, C, H, W); got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError("fit: clean images contain NaN or inf")
    return x


def _validate_clean(clean, y):
    if clean is None:
        raise TypeError("an oracle bound needs the clean images: call it as d(y, sigma, clean=x)")
    xp = validate_batch(clean)
    if xp is not validate_batch(y) or tuple(clean.shape) != tuple(y.shape) or clean.dtype != y.dtype:
        raise ValueError("clean must have the namespace, shape and dtype of y")
    return clean
