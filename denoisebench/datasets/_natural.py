"""Grayscale crops of photographs shipped inside scikit-image and PyWavelets (no download)."""
from __future__ import annotations

import copy
import functools

import numpy as np

from ..registry import register_dataset
from ._base import Dataset

__all__ = ["Natural", "SOURCES", "load_source"]

#: Source photographs of each split, disjoint: about 30% of the 17 sources are held out
#: for ``test``, chosen for varied content (urban scene, portrait, still life, texture,
#: aerial view).  Every one is a file inside the installed package (no download).
SOURCES = {
    "train": (
        "moon", "coins", "brick", "gravel", "chelsea", "rocket", "text", "page", "clock",
        "immunohistochemistry", "hubble_deep_field", "ascent",
    ),
    "test": ("camera", "astronaut", "coffee", "grass", "aero"),
}

#: Where each source lives: ``skimage.data`` or ``pywt.data`` (pywt's ``camera`` is
#: skimage's, so it is left out).
_PYWT = ("aero", "ascent")


@functools.lru_cache(maxsize=None)
def load_source(name):
    """Source ``name`` as a read-only float32 ``(H, W)`` array in ``[0, 1]``.

    Colour photographs go through ``skimage.color.rgb2gray``; ``uint8`` grayscale is
    divided by 255.  Cached: each file is read once per process.
    """
    known = SOURCES["train"] + SOURCES["test"]
    if name not in known:
        raise ValueError(f"unknown source {name!r}; valid: {', '.join(known)}")
    if name in _PYWT:
        import pywt.data as module
    else:
        import skimage.data as module
    image = np.asarray(getattr(module, name)())
    if image.ndim == 3:
        from skimage.color import rgb2gray

        image = rgb2gray(image)
    elif image.dtype == np.uint8:
        image = image / 255.0
    image = np.asarray(image, dtype=np.float32)
    image.setflags(write=False)
    return image


def _crop(rng, names, shape):
    """A uniformly random ``shape`` crop of a source drawn uniformly from ``names``."""
    H, W = shape
    fitting = [n for n in names if all(np.greater_equal(load_source(n).shape, shape))]
    if not fitting:
        raise ValueError(f"no source image is at least {H}x{W}; sources: {', '.join(names)}")
    source = load_source(fitting[rng.integers(len(fitting))])
    top = rng.integers(source.shape[0] - H + 1)
    left = rng.integers(source.shape[1] - W + 1)
    return source[top : top + H, left : left + W].astype(np.float64)


@register_dataset("natural")
class Natural(Dataset):
    """Grayscale patches of photographs, split into train and test by source image.

    Each image is a crop of the requested shape, at a uniformly random position, of a
    source photograph drawn uniformly from the split's sources that are at least that
    large (each source equally likely, whatever its size; smaller ones are skipped).
    The sources are the photographs shipped inside scikit-image (``skimage.data``) and
    PyWavelets (``pywt.data``), so nothing is downloaded; see :data:`SOURCES` for the
    fixed, disjoint train and test lists.

    Parameters
    ----------
    size : int, tuple (H, W) or str 'HxW', default 64
        Crop shape; must fit in at least one source of the split.  The test sources are
        512x512 but coffee (400x600); the train sources range from 172x448 (text) to
        872x1000 (hubble_deep_field).

    Notes
    -----
    Colour sources are converted with ``skimage.color.rgb2gray`` (ITU-R BT.709 luma);
    ``uint8`` grayscale sources are divided by 255.

    References
    ----------
    .. [1] S. van der Walt et al., "scikit-image: image processing in Python", PeerJ
       2:e453, 2014 (``skimage.data``: provenance of each photograph in its docstring).
    .. [2] G. R. Lee, R. Gommers, F. Wasilewski, K. Wohlfahrt, A. O'Leary, "PyWavelets: A
       Python package for wavelet analysis", JOSS 4(36):1237, 2019 (``pywt.data``).
    """

    scale = "[0, 1]: grayscale photographs, uint8 / 255 (colour sources via skimage rgb2gray)"

    def __init__(self, size=64):
        self.size = size

    def sample(self, n, seed=0, split="test"):
        """``n`` clean crops ``(n, 1, H, W)`` float32 from the ``split``'s source images."""
        if split not in SOURCES:
            raise ValueError(f"split must be one of {self.splits}; got {split!r}")
        # The base class's seeded loop, on a copy that knows its split (``self`` is untouched).
        bound = copy.copy(self)
        bound._split = split
        return super(Natural, bound).sample(n, seed, split)

    def _image(self, rng, shape):
        return _crop(rng, SOURCES[getattr(self, "_split", "test")], shape)
