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

from ._array_api import all_finite, array_namespace, as_sigma, to_numpy, validate_batch
from .memory import check_fits, chunk_size
from .registry._params import ParamsMixin

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
        Working memory in multiples of the input's size; batches are split into
        chunks that fit half a GPU's free memory, or a quarter of the host's
        available memory (:mod:`denoisebench.memory`).
    ``own_color``
        True when the class handles its ``color`` parameter (``'opponent'`` or ``'channels'``)
        itself; otherwise the colour hook of :meth:`_dispatch` applies it
        (:mod:`denoisebench._color`).
    ``param_rules``
        ``{parameter: rule}`` for every ``__init__`` parameter (:mod:`denoisebench.registry._params`):
        checked when a spec is built, and again at each call.

    Each call checks its inputs (:func:`~denoisebench._array_api.validate_batch`,
    :func:`~denoisebench._array_api.as_sigma`), the parameters, that the fixed working memory
    (:meth:`setup_bytes`) fits, and that the result is finite: NaN or inf produced from finite
    input raises ``FloatingPointError`` naming the denoiser and σ, never a result.
    """

    learns = False
    bound = False
    needs_dataset = False
    #: Working memory in multiples of the input's bytes (batches are chunked to fit it).
    memory_factor = 16
    #: True when :meth:`_denoise` handles the ``color`` parameter itself (bm3d's CBM3D); otherwise a
    #: ``color`` parameter is applied by :meth:`_dispatch`'s colour hook.
    own_color = False

    def setup_bytes(self, shape):
        """Fixed working memory (bytes) for images of ``shape = (H, W)``, beside the per-image
        ``memory_factor`` (e.g. a frame's filter bank); checked against the available memory."""
        return 0

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
        sigma : float, 0-d array or array of shape (N,)
            Noise standard deviation, one for the batch or one per image, in
            ``[sigma_min(dtype), SIGMA_MAX]`` (:func:`~denoisebench._array_api.as_sigma`).
        clean : array like ``y``, optional
            The clean images; required by oracle bounds (``bound = True``) and
            refused by real denoisers, which must never see them.

        Returns
        -------
        x_hat : array like ``y``
            Same namespace, device, dtype and shape as ``y``.

        Raises
        ------
        TypeError
            ``y`` not a float array, ``sigma`` of another type or shape (see ``as_sigma``).
        ValueError
            NaN, inf or ``|y| > Y_MAX`` in ``y``; σ out of range; a bad parameter (``SpecError``)
            or a fixed working memory that cannot fit.
        FloatingPointError
            The denoiser produced NaN or inf from this finite input (a bug or a numerical limit).
        """
        xp = validate_batch(y)
        sigma_b = as_sigma(sigma, y)
        self.check_params()
        if not self.is_fitted():
            raise NotFittedError(f"{type(self).__name__} must be fit on clean images before use")
        if self.bound:
            clean = _validate_clean(clean, y)
        elif clean is not None:
            raise TypeError(f"{type(self).__name__} is a denoiser, not an oracle bound: it takes no clean image")
        h, w = y.shape[-2:]
        setup = self.setup_bytes((h, w))
        if setup:
            check_fits(setup, f"{self.spec()} on {h}x{w} images", "lower its parameters or the image size")
        n = y.shape[0]
        step = chunk_size(y, self.memory_factor)
        if step >= n:
            return self._finite(self._dispatch(y, sigma_b, xp, clean), sigma_b)
        parts = [self._finite(self._dispatch(y[i : i + step, ...], sigma_b[i : i + step, ...], xp,
                                             None if clean is None else clean[i : i + step, ...]),
                              sigma_b[i : i + step, ...])
                 for i in range(0, n, step)]
        return xp.concat(parts, axis=0)

    def _finite(self, out, sigma):
        """``out``, after checking it is finite (the input was): a NaN or inf is never a result."""
        try:
            oxp = array_namespace(out)
        except TypeError:
            return out  # not an array: the caller's contract checks say so
        if out.ndim < 2 or all_finite(out, oxp):
            return out
        import numpy as np

        bad = ~np.all(np.isfinite(np.asarray(to_numpy(out))).reshape(out.shape[0], -1), axis=1)
        sig = np.asarray(to_numpy(sigma), dtype=np.float64).reshape(-1)
        shown = ", ".join(f"{v:.3g}" for v in (sig[bad] if sig.size == bad.size else sig)[:4])
        raise FloatingPointError(
            f"{self.spec()} produced NaN or inf from finite input on {int(bad.sum())} of {bad.size} images "
            f"(sigma = {shown}{', ...' if bad.sum() > 4 else ''}); not returned as a result"
        )

    def _dispatch(self, y, sigma, xp, clean):
        """The colour hook around :meth:`_denoise`: a denoiser with a ``color`` parameter works in that
        colour space (:mod:`denoisebench._color`; only C = 3 is transformed), unless ``own_color``."""
        color = None if self.own_color else getattr(self, "color", None)
        if color is not None:
            from ._color import to_color_space

            y = to_color_space(y, color, xp)
            clean = None if clean is None else to_color_space(clean, color, xp)
        out = self._denoise(y, sigma, xp) if clean is None else self._denoise_oracle(y, sigma, xp, clean)
        if color is None:
            return out
        from ._color import from_color_space

        return from_color_space(out, color, xp)

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
    if xp is not array_namespace(y) or tuple(clean.shape) != tuple(y.shape) or clean.dtype != y.dtype:
        raise ValueError("clean must have the namespace, shape and dtype of y")
    return clean
