"""Crops of photographs shipped inside scikit-image, PyWavelets and scikit-learn (no download), gray or rgb."""
from __future__ import annotations

import copy
import functools

import numpy as np

from ..registry import register_dataset
from ._base import Dataset

__all__ = ["Natural", "RGB_SOURCES", "SOURCES", "load_source", "load_source_rgb"]

#: Source photographs of each split, disjoint: 5 of the 22 sources are held out for
#: ``test``, chosen for varied content (urban scene, portrait, still life, texture, aerial
#: view).  Every one is a file inside an installed package (no download).  ``train`` holds
#: every other offline photograph those packages ship (the first 12 since the start; cell,
#: retina, microaneurysms, china and flower added for the U-Net's training).  Left out:
#: skimage's synthetic images (phantom, checkerboard, colorwheel, logo, blobs, horse), the
#: 25×25 ``lfw_subset`` faces, ``cat`` (= chelsea), and the stereo ``motorcycle`` and
#: ``grace_hopper``, which ``scripts/export_images.py`` exports as whole test photographs.
SOURCES = {
    "train": (
        "moon", "coins", "brick", "gravel", "chelsea", "rocket", "text", "page", "clock",
        "immunohistochemistry", "hubble_deep_field", "ascent", "cell", "retina", "microaneurysms",
        "china", "flower",
    ),
    "test": ("camera", "astronaut", "coffee", "grass", "aero"),
}

def _sklearn_image(index):
    from sklearn.datasets import load_sample_images

    return load_sample_images().images[index]


def _package_image(module, name):
    import importlib

    return getattr(importlib.import_module(module), name)()


#: Sources not read by ``skimage.data.<name>()``: name → loader of the raw array (pywt's
#: ``camera`` is skimage's, so it is left out).
_LOADERS = {
    "aero": lambda: _package_image("pywt.data", "aero"),
    "ascent": lambda: _package_image("pywt.data", "ascent"),
    "china": lambda: _sklearn_image(0),
    "flower": lambda: _sklearn_image(1),
}

#: The colour photographs of each split (``color=rgb``): the sources stored as RGB.
#: Still disjoint, since each is a subset of its split in :data:`SOURCES`.
RGB_SOURCES = {
    "train": ("chelsea", "rocket", "immunohistochemistry", "hubble_deep_field", "retina", "china", "flower"),
    "test": ("astronaut", "coffee"),
}

COLORS = ("gray", "rgb")


def _read(name):
    known = SOURCES["train"] + SOURCES["test"]
    if name not in known:
        raise ValueError(f"unknown source {name!r}; valid: {', '.join(known)}")
    load = _LOADERS.get(name) or (lambda: _package_image("skimage.data", name))
    return np.asarray(load())


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
    The sources are the photographs shipped inside scikit-image (``skimage.data``),
    PyWavelets (``pywt.data``) and scikit-learn (``load_sample_images``), so nothing is downloaded; see :data:`SOURCES` for the
    fixed, disjoint train and test lists.

    Parameters
    ----------
    size : int, tuple (H, W) or str 'HxW', default 64
        Crop shape; must fit in at least one source of the split.  The test sources are
        512x512 but coffee (400x600); the train sources range from 102x102
        (microaneurysms) to 1411x1411 (retina).
    color : {'gray', 'rgb'}, default 'gray'
        ``'gray'``: one channel, from all 22 sources.  ``'rgb'``: three channels
        ``(n, 3, H, W)``, from the nine colour sources only (:data:`RGB_SOURCES`: test
        astronaut and coffee; train chelsea, rocket, immunohistochemistry,
        hubble_deep_field, retina, china, flower); grayscale sources are not used.

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
    .. [3] F. Pedregosa et al., "Scikit-learn: machine learning in Python", JMLR 12, 2011
       (``sklearn.datasets.load_sample_images``: china.jpg and flower.jpg).
    """

    scale = "[0, 1]: photographs, uint8 / 255 (gray: colour sources via skimage rgb2gray)"
    from ..registry._params import OneOf, Size  # the rule vocabulary (not kept on the class)
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
