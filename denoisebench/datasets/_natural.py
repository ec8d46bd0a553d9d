"""Crops of photographs shipped inside scikit-image and PyWavelets (no download), gray or rgb."""
from __future__ import annotations

import copy
import functools

import numpy as np

from ..registry import register_dataset
from ._base import Dataset

__all__ = ["Natural", "RGB_SOURCES", "SOURCES", "load_source", "load_source_rgb"]

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

#: The colour photographs of each split (``color=rgb``): the sources stored as RGB.
#: Still disjoint, since each is a subset of its split in :data:`SOURCES`.
RGB_SOURCES = {
    "train": ("chelsea", "rocket", "immunohistochemistry", "hubble_deep_field"),
    "test": ("astronaut", "coffee"),
}

COLORS = ("gray", "rgb")


def _read(name):
    known = SOURCES["train"] + SOURCES["test"]
    if name not in known:
        raise ValueError(f"unknown source {name!r}; valid: {', '.join(known)}")
    if name in _PYWT:
        import pywt.data as module
    else:
        import skimage.data as module
    return np.asarray(getattr(module, name)())


@functools.lru_cache(maxsize=None)
def load_source(name):
    """Source ``name`` as a read-only float32 ``(H, W)`` array in ``[0, 1]``.

    Colour photographs go through ``skimage.color.rgb2gray``; ``uint8`` grayscale is
    divided by 255.  Cached: each file is read once per process.
    """
    image = _read(name)
    if image.ndim == 3:
        from skimage.color import rgb2gray

        image = rgb2gray(image)
    elif image.dtype == np.uint8:
        image = image / 255.0
    image = np.asarray(image, dtype=np.float32)
    image.setflags(write=False)
    return image


@functools.lru_cache(maxsize=None)
def load_source_rgb(name):
    """Colour source ``name`` as a read-only float32 ``(H, W, 3)`` array: ``uint8 / 255``.

    Only the sources of :data:`RGB_SOURCES`; a grayscale one is a ValueError.  Cached.
    """
    colour = RGB_SOURCES["train"] + RGB_SOURCES["test"]
    if name not in colour:
        _read(name)  # an unknown name says so
        raise ValueError(f"source {name!r} is grayscale; colour sources: {', '.join(colour)}")
    image = np.asarray(_read(name) / 255.0, dtype=np.float32)
    image.setflags(write=False)
    return image


def _window(rng, shapes, shape, names):
    """``(k, top, left)``: source ``k`` drawn uniformly among those of ``shapes`` (each
    ``(H, W)``) at least ``shape``, then a uniformly random top-left corner of a ``shape``
    window inside it.  ``names`` label the sources in the error when none fits."""
    H, W = shape
    fitting = [k for k, s in enumerate(shapes) if s[0] >= H and s[1] >= W]
    if not fitting:
        raise ValueError(f"no source image is at least {H}x{W}; sources: {', '.join(map(str, names))}")
    k = fitting[rng.integers(len(fitting))]
    top = rng.integers(shapes[k][0] - H + 1)
    left = rng.integers(shapes[k][1] - W + 1)
    return k, top, left


def _crop(rng, names, shape, load=None):
    """A uniformly random ``shape`` crop of a source drawn uniformly from ``names``.

    ``load(name)`` gives a source as an ``(H, W)`` or ``(H, W, C)`` array (default
    :func:`load_source`); sources smaller than ``shape`` are skipped.  The crop is
    float64 ``(H, W)`` or ``(H, W, C)``.
    """
    load = load_source if load is None else load
    names = list(names)
    k, top, left = _window(rng, [load(n).shape[:2] for n in names], shape, names)
    return load(names[k])[top : top + shape[0], left : left + shape[1]].astype(np.float64)


@register_dataset("natural")
class Natural(Dataset):
    """Patches of photographs, gray or colour, split into train and test by source image.

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
    color : {'gray', 'rgb'}, default 'gray'
        ``'gray'``: one channel, from all 17 sources.  ``'rgb'``: three channels
        ``(n, 3, H, W)``, from the six colour sources only (:data:`RGB_SOURCES`: test
        astronaut and coffee; train chelsea, rocket, immunohistochemistry and
        hubble_deep_field); grayscale sources are not used.

    Notes
    -----
    With ``color='gray'`` colour sources are converted with ``skimage.color.rgb2gray``
    (ITU-R BT.709 luma); ``uint8`` grayscale sources are divided by 255.  With
    ``color='rgb'`` each channel is ``uint8 / 255``.  Both draw the source and the
    position with the same generator calls, so ``color='gray'`` is the dataset as it
    was before colour existed.

    References
    ----------
    .. [1] S. van der Walt et al., "scikit-image: image processing in Python", PeerJ
       2:e453, 2014 (``skimage.data``: provenance of each photograph in its docstring).
    .. [2] G. R. Lee, R. Gommers, F. Wasilewski, K. Wohlfahrt, A. O'Leary, "PyWavelets: A
       Python package for wavelet analysis", JOSS 4(36):1237, 2019 (``pywt.data``).
    """

    scale = "[0, 1]: photographs, uint8 / 255 (gray: colour sources via skimage rgb2gray)"
    from .._params import OneOf, Size  # the rule vocabulary (not kept on the class)
    param_rules = {"size": Size(), "color": OneOf("gray", "rgb")}
    del OneOf, Size

    def __init__(self, size=64, color="gray"):
        self.size = size
        self.color = color

    @property
    def channels(self):
        return 3 if self.color == "rgb" else 1

    def sample(self, n, seed=0, split="test"):
        """``n`` clean crops ``(n, C, H, W)`` float32 from the ``split``'s source images."""
        if split not in SOURCES:
            raise ValueError(f"split must be one of {self.splits}; got {split!r}")
        if self.color not in COLORS:
            raise ValueError(f"color must be one of {', '.join(COLORS)}; got {self.color!r}")
        # The base class's seeded loop, on a copy that knows its split (``self`` is untouched).
        bound = copy.copy(self)
        bound._split = split
        return super(Natural, bound).sample(n, seed, split)

    def _image(self, rng, shape):
        split = getattr(self, "_split", "test")
        if self.color == "rgb":
            return _crop(rng, RGB_SOURCES[split], shape, load=load_source_rgb).transpose(2, 0, 1)
        return _crop(rng, SOURCES[split], shape)
