"""Dataset base: seeded clean batches ``(n, C, H, W)`` float32, optimum where theory gives it."""
from __future__ import annotations

import numpy as np

from ..registry._params import ParamsMixin
from ..base import NotApplicableError
from ..noise import image_rng

__all__ = ["Dataset", "parse_size"]


def parse_size(size):
    """``64`` → ``(64, 64)``; ``(37, 31)`` or ``'37x31'`` → ``(37, 31)``."""
    if isinstance(size, str):
        parts = size.lower().split("x")
        try:
            size = tuple(int(p) for p in parts)
        except ValueError:
            raise ValueError(f"size must be an int or 'HxW'; got {size!r}") from None
    if isinstance(size, (int, np.integer)) and not isinstance(size, bool):
        size = (int(size), int(size))
    size = tuple(size)
    if len(size) != 2 or any(not isinstance(s, (int, np.integer)) or s < 4 for s in size):
        raise ValueError(f"size must be an int >= 4 or a pair (H, W); got {size!r}")
    return (int(size[0]), int(size[1]))


class Dataset(ParamsMixin):
    """Base class of datasets.

    ``sample(n, seed, split)`` returns a clean float32 batch ``(n, C, H, W)``:
    image ``i`` is drawn from its own generator ``(seed, split, i)``, so it is the
    same whatever ``n``.  Subclasses write ``_image(rng, shape)``, which returns an
    ``(H, W)`` array (``C = 1``) or a ``(C, H, W)`` one.  Those with a known optimum
    override :meth:`optimal_denoiser` and :meth:`mmse`.
    """

    #: Human description of the intensity scale (documented per dataset).
    scale = "[0, 1]"
    splits = ("train", "test")
    #: Number of channels ``C`` of :meth:`sample`'s images (1: grayscale, 3: colour).
    channels = 1
    #: Checked in every subclass, overrides included (:mod:`denoisebench.registry._params`): ``sample``'s n
    #: is an int >= 1 (and the parameters are checked), ``mmse``'s σ a finite float > 0.
    argument_guards = {"sample": "n", "mmse": "sigma", "mmse_stderr": "sigma"}
    #: Whether a run without an explicit dataset list includes this one (False for a
    #: dataset that cannot be built without arguments, such as ``folder``'s path).
    default_run = True
    #: Whether the dataset is evaluated on whole images of possibly different sizes, read with
    #: ``images(n, split)`` and ``n_images(split)`` instead of :meth:`sample` (``folder:crop=0``).
    whole_images = False

    def __init__(self, size=64):
        self.size = size

    @property
    def shape(self):
        return parse_size(self.size)

    def sample(self, n, seed=0, split="test"):
        """``n`` clean images ``(n, C, H, W)`` float32, deterministic per ``seed``."""
        n = int(n)
        if n < 1:
            raise ValueError(f"n must be >= 1; got {n}")
        if split not in self.splits and split != "mmse":
            raise ValueError(f"split must be one of {self.splits}; got {split!r}")
        shape = self.shape
        images = np.stack([self._image(image_rng(seed, split, i), shape) for i in range(n)])
        if images.ndim == 3:  # (n, H, W): one channel
            images = images[:, None]
        return images.astype(np.float32)

    def input_files(self, split=None):
        """Paths of the files the dataset reads (their contents belong in a cell's
        fingerprint); empty for datasets that are generated or ship with a package."""
        return []

    def _image(self, rng, shape):  # pragma: no cover - abstract
        raise NotImplementedError

    # -- optimum (where theory gives one) ---------------------------------------
    @property
    def has_optimum(self):
        return type(self).optimal_denoiser is not Dataset.optimal_denoiser

    @property
    def has_spectrum(self):
        return type(self).power_spectrum is not Dataset.power_spectrum

    def power_spectrum(self):
        """``(mean, P)``: the mean image level and the covariance eigenvalues ``P`` on the
        full ``(H, W)`` DFT grid, when the data is stationary with a known covariance."""
        raise NotApplicableError(f"dataset {self.name!r} has no known power spectrum")

    def optimal_denoiser(self):
        """The exact MMSE denoiser E[x | y]."""
        raise NotApplicableError(f"dataset {self.name!r} has no known optimal denoiser")

    def mmse(self, sigma):
        """MSE per pixel of the optimal denoiser at noise level ``sigma``."""
        raise NotApplicableError(f"dataset {self.name!r} has no known MMSE")

    def mmse_stderr(self, sigma):
        """Standard error of :meth:`mmse` (0 when it is exact)."""
        self.mmse(sigma)
        return 0.0
