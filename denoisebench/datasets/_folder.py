"""A folder of the user's own images as a dataset: ``folder:path=DIR`` (PNG, JPEG, TIFF, .npy)."""
from __future__ import annotations

import functools
import hashlib
import os
import warnings
from fnmatch import fnmatchcase
from pathlib import Path

import numpy as np

from ..base import NotApplicableError
from ..noise import image_rng
from ..registry import register_dataset
from ._base import Dataset, parse_size
from ._natural import _window

__all__ = ["DEFAULT_PATTERN", "Folder", "read_image"]

#: Files a folder dataset reads by default (case-insensitive; ``|`` separates globs).
DEFAULT_PATTERN = "*.png|*.jpg|*.jpeg|*.tif|*.tiff|*.npy"
COLORS = ("gray", "rgb")
LAYOUTS = (None, "test", "train")
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: imageio plugin per extension (others: imageio's choice, for a user ``pattern``).
_PLUGINS = {".png": "pillow", ".jpg": "pillow", ".jpeg": "pillow", ".tif": "tifffile", ".tiff": "tifffile"}


def _first_line(exc):
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")


def _png_bit_depth(path):
    """The bit depth in a PNG's IHDR header, or None for another file."""
    with open(path, "rb") as f:
        head = f.read(26)
    if head[:8] == _PNG_SIGNATURE and head[12:16] == b"IHDR":
        return head[24]
    return None


@functools.lru_cache(maxsize=1024)
def _decode(path, mtime_ns, size, inode):
    """``(array, maxval)``: ``path`` decoded, ``(H, W)`` or ``(H, W, 3)`` in its own dtype
    (read-only, alpha dropped), and the value that maps to 1.  Cached per process, keyed
    on the file's modification time, size and inode, so a replaced file is read again."""
    try:
        suffix = os.path.splitext(path)[1].lower()
        if suffix == ".npy":
            a = np.load(path, allow_pickle=False)
        else:
            import imageio.v3 as iio

            a = np.asarray(iio.imread(path, plugin=_PLUGINS.get(suffix)))
    except ValueError as exc:
        if "allow_pickle" in str(exc):
            raise ValueError(f"{path}: .npy of Python objects refused (never unpickled); save a numeric array") from None
        raise ValueError(f"cannot read image {path} ({_first_line(exc)})") from exc
    except Exception as exc:  # any reader failure (OSError, SyntaxError, zlib, tifffile) is one line
        raise ValueError(f"cannot read image {path} ({_first_line(exc)})") from exc
    if a.ndim == 3 and a.shape[-1] in (2, 4) and np.issubdtype(a.dtype, np.number):
        alpha, top = a[..., -1], (np.iinfo(a.dtype).max if np.issubdtype(a.dtype, np.integer) else 1.0)
        if np.any(alpha != top):  # said once per file (decoding is cached), not refused: the colour is kept
            warnings.warn(f"{path}: alpha channel with transparent pixels (min {alpha.min()} of {top}) dropped, "
                          "not composited: the colour values are used as they are", UserWarning, stacklevel=2)
    if a.ndim == 3 and a.shape[-1] in (1, 2, 3, 4):
        a = a[..., 0] if a.shape[-1] <= 2 else a[..., :3]  # drop an opaque alpha (lossless); (H, W, 1) → (H, W)
    if not (a.ndim == 2 or (a.ndim == 3 and a.shape[-1] == 3)) or a.size == 0:
        raise ValueError(f"{path}: expected an image H x W or H x W x C (C = 1 to 4); got shape {a.shape}")
    if a.dtype == np.bool_:
        maxval = 1.0
    elif np.issubdtype(a.dtype, np.integer):
        if np.issubdtype(a.dtype, np.signedinteger) and a.min() < 0:
            raise ValueError(f"{path}: negative values (min {a.min()}) in an integer image")
        maxval = float(np.iinfo(a.dtype).max)
    elif np.issubdtype(a.dtype, np.floating):
        lo, hi = float(np.min(a)), float(np.max(a))
        if not (np.isfinite(lo) and np.isfinite(hi)) or lo < 0.0 or hi > 1.0:
            raise ValueError(f"{path}: a float image must hold finite values in [0, 1]; got [{lo:g}, {hi:g}]")
        maxval = 1.0
    else:
        raise ValueError(f"{path}: unsupported pixel type {a.dtype}")
    if a.dtype != np.uint16 and _png_bit_depth(path) == 16:
        raise ValueError(
            f"{path}: 16-bit colour PNG, which the reader (Pillow) truncates to 8 bits; "
            "save it as a 16-bit TIFF or .npy"
        )
    a = np.ascontiguousarray(a)
    a.setflags(write=False)
    return a, maxval


def _raw(path):
    st = os.stat(path)
    return _decode(str(path), st.st_mtime_ns, st.st_size, st.st_ino)


def read_image(path):
    """Image file ``path`` as float64 in [0, 1]: ``(H, W)`` gray or ``(H, W, 3)`` colour.

    Integer pixels are divided by their type's maximum (``uint8``: 255, ``uint16``:
    65535), ``bool`` is 0 / 1, floats must already lie in [0, 1].  An alpha channel is
    dropped (a
    warning names the file when some pixel is transparent).  Any failure is a one-line ValueError naming the file.
    """
    a, maxval = _raw(path)
    return a / maxval


def _file_sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@register_dataset("folder")
class Folder(Dataset):
    """The images of a folder: random crops per seed (default) or every image whole.

    Parameters
    ----------
    path : str
        The folder.  Files are read from it directly (not from subfolders, except the
        ``test`` / ``train`` ones that ``split`` names), in sorted name order; names
        starting with ``.`` are skipped.
    color : {'gray', 'rgb'}, default 'gray'
        ``'gray'``: one channel; colour images go through ``skimage.color.rgb2gray``
        (ITU-R BT.709 luma [1]_).  ``'rgb'``: three channels; a folder of grayscale
        images has each repeated three times, and a folder mixing grayscale and colour
        images is an error.
    crop : int or str 'HxW', default 64
        ``> 0``: image ``i`` of ``sample(n, seed)`` is a crop of that shape at a uniformly
        random position of a file drawn uniformly (each file equally likely, whatever its
        size), both from the generator ``(seed, split, i)`` as in ``natural``, so the
        first ``k`` images do not depend on ``n``; every file must be at least that large.
        ``0``: whole images, the first ``n`` files in sorted order (``seed`` is unused);
        :meth:`sample` needs them all the same size, :meth:`images` does not.
    pattern : str, default ``'*.png|*.jpg|*.jpeg|*.tif|*.tiff|*.npy'``
        Glob(s) of the file names to read, separated by ``|``, case-insensitive.
    split : {None, 'test', 'train'}, default None
        Where the test and train images are (``sample(split=...)``):

        - ``None``: test images are ``path`` itself; train images are ``path/train``.
        - ``'test'``: test images are ``path/test`` when it exists, else ``path``; train
          images are ``path/train``.
        - ``'train'``: a training-only folder: train images are ``path/train`` when it
          exists, else ``path``; there are no test images.

        Train and test images are always different files.  A split without images
        (no ``path/train`` folder, or test images of ``split='train'``) raises
        :class:`~denoisebench.NotApplicableError`: crops of the test images at other
        positions would not be held out, so learned denoisers cannot be trained on a
        folder unless it has training images of its own.

    Notes
    -----
    Readers: ``imageio`` (Pillow for PNG and JPEG, tifffile for TIFF) and
    ``numpy.load(allow_pickle=False)`` for ``.npy`` (``(H, W)`` or ``(H, W, C)``).
    Integer pixels are divided by their type's maximum (``uint8`` / 255, ``uint16`` /
    65535); float pixels must lie in [0, 1]; an alpha channel is dropped, with a warning naming
    the file when some pixel is transparent (nothing is composited); a link that does not resolve is refused.  16-bit colour
    PNGs are refused (Pillow reads them as 8-bit); TIFF and ``.npy`` keep 16 bits.
    Decoded files are cached per process, keyed on path, modification time, size and
    inode.  Every problem (missing folder, no matching file, unreadable or non-image file,
    mixed channel counts with ``color='rgb'``, a file smaller than the crop) is a one-line
    ValueError naming the folder or file.  There is no known optimum (:meth:`mmse`
    raises NotApplicableError).

    References
    ----------
    .. [1] ITU-R Recommendation BT.709-6, "Parameter values for the HDTV standards for
       production and international programme exchange", 2015.
    """

    scale = "[0, 1]: integer pixels / their type's maximum (uint8 / 255, uint16 / 65535)"
    default_run = False  # needs path=DIR
    from ..registry._params import AnyOf, OneOf, Opt, Path, Size, Text  # the rule vocabulary (not kept on the class)
    param_rules = {"path": Opt(Path()), "color": OneOf("gray", "rgb"), "crop": AnyOf(OneOf(0), Size()),
                   "pattern": Text(), "split": OneOf(None, "test", "train")}
    argument_guards = {"sample": "n_or_none", "mmse": "sigma", "mmse_stderr": "sigma"}  # n=None: every file
    del AnyOf, OneOf, Opt, Path, Size, Text

    def __init__(self, path=None, color="gray", crop=64, pattern=DEFAULT_PATTERN, split=None):
        self.path = path
        self.color = color
        self.crop = crop
        self.pattern = pattern
        self.split = split

    # -- parameters and files ---------------------------------------------------
    @property
    def channels(self):
        return 3 if self.color == "rgb" else 1

    def _crop_shape(self):
        """``None`` for whole images, else ``(H, W)``."""
        crop = self.crop
        if not isinstance(crop, bool):
            if isinstance(crop, (int, np.integer)) and crop == 0:
                return None
            try:
                return parse_size(crop)
            except (ValueError, TypeError):
                pass
        raise ValueError(f"crop must be 0 (whole images), an int >= 4 or 'HxW'; got {crop!r}")

    def _root(self):
        if self.color not in COLORS:
            raise ValueError(f"color must be one of {', '.join(COLORS)}; got {self.color!r}")
        if self.split not in LAYOUTS:
            raise ValueError(f"split must be none, test or train; got {self.split!r}")
        if not isinstance(self.pattern, str) or not self.pattern.strip("| "):
            raise ValueError(f"pattern must be a glob such as '*.png' ('|' between several); got {self.pattern!r}")
        if self.path is None or str(self.path).strip() == "":
            raise ValueError("folder needs path=DIR")
        root = Path(os.path.expanduser(str(self.path)))
        if not root.exists():
            raise ValueError(f"folder {root} does not exist")
        if not root.is_dir():
            raise ValueError(f"folder path {root} is not a directory")
        return root

    def _directory(self, split):
        """The folder holding ``split``'s images."""
        if split not in self.splits:
            raise ValueError(f"split must be one of {self.splits}; got {split!r}")
        root = self._root()
        train, test = root / "train", root / "test"
        if split == "test":
            if self.split == "train":
                raise NotApplicableError(f"folder {root} with split=train holds training images only, no test images")
            return test if self.split == "test" and test.is_dir() else root
        if self.split == "train":
            return train if train.is_dir() else root
        if not train.is_dir():
            raise NotApplicableError(
                f"folder {root} has no training images held out from its test images: "
                f"put them in {train}, or give split=train for a training-only folder"
            )
        return train

    def _files(self, split):
        directory = self._directory(split)
        globs = [g.strip().lower() for g in self.pattern.split("|") if g.strip()]
        for p in directory.iterdir():  # a link that resolves to nothing (a loop, a missing target) is an error
            if p.is_symlink() and any(fnmatchcase(p.name.lower(), g) for g in globs) and not p.exists():
                raise ValueError(f"{p} is a symbolic link that does not resolve (a loop or a missing target)")
        files = sorted(
            (p for p in directory.iterdir()
             if p.is_file() and not p.name.startswith(".") and any(fnmatchcase(p.name.lower(), g) for g in globs)),
            key=lambda p: p.name,
        )
        if not files:
            subfolders = [d for d in ("test", "train") if (directory / d).is_dir()]
            hint = f" (it has {' and '.join(s + '/' for s in subfolders)}: give split={subfolders[0]})" if subfolders else ""
            raise ValueError(f"no file matching {self.pattern!r} in folder {directory}{hint}")
        return files

    def _load(self, split):
        """``(files, [(raw array, maxval)])`` of ``split``, checked against color and crop."""
        files = self._files(split)
        raws = [_raw(p) for p in files]
        if self.color == "rgb":
            kinds = {}
            for p, (a, _) in zip(files, raws):
                kinds.setdefault(a.ndim, p)
            if len(kinds) > 1:
                raise ValueError(
                    f"folder {files[0].parent} mixes grayscale ({kinds[2].name}) and colour ({kinds[3].name}) "
                    "images; with color=rgb they must be all colour or all grayscale"
                )
            if 2 in kinds:  # said, not silent: the three channels of every image are equal
                warnings.warn(f"folder {files[0].parent} holds grayscale images (e.g. {kinds[2].name}) and color=rgb: "
                              "each is repeated in the three channels", UserWarning, stacklevel=2)
        crop = self._crop_shape()
        if crop is not None:
            for p, (a, _) in zip(files, raws):
                if a.shape[0] < crop[0] or a.shape[1] < crop[1]:
                    raise ValueError(f"{p}: image {a.shape[0]}x{a.shape[1]} is smaller than crop={crop[0]}x{crop[1]}")
        return files, raws

    def input_files(self, split=None):
        """Sorted paths (str) of the files read by ``split`` (``None``: every split that
        has images).  Their contents are what :meth:`fingerprint` hashes."""
        if split is not None:
            return [str(p) for p in self._files(split)]
        paths = []
        for s in self.splits:
            try:
                paths += self.input_files(s)
            except NotApplicableError:
                pass
        return sorted(set(paths))

    def fingerprint(self, split=None):
        """sha256 (hex) of the names and contents of :meth:`input_files`: it changes when
        an image is replaced, added or removed (for a result store's cell key)."""
        root = self._root()
        h = hashlib.sha256()
        for p in self.input_files(split):
            h.update(f"{os.path.relpath(p, root)}\0{_file_sha256(p)}\n".encode())
        return h.hexdigest()

    @property
    def whole_images(self):
        """True with ``crop=0``: every image whole, each its own size (see :meth:`images`)."""
        return self._crop_shape() is None

    def n_images(self, split="test"):
        """Number of image files of ``split`` (what ``crop=0`` evaluates by default)."""
        return len(self._files(split))

    @property
    def shape(self):
        """``(H, W)`` of the images: the crop, or with ``crop=0`` the test images' common
        size (a ValueError when they differ)."""
        crop = self._crop_shape()
        if crop is not None:
            return crop
        files, raws = self._load("test")
        return self._common_shape(files, [a.shape[:2] for a, _ in raws])

    @staticmethod
    def _common_shape(files, shapes):
        for p, s in zip(files, shapes):
            if s != shapes[0]:
                raise ValueError(
                    f"crop=0: the images differ in size ({files[0].name} {shapes[0][0]}x{shapes[0][1]}, "
                    f"{p.name} {s[0]}x{s[1]}); evaluate them one by one with images(), or give crop=S"
                )
        return tuple(shapes[0])

    # -- images ---------------------------------------------------------------------
    def _convert(self, a, maxval):
        """Raw ``(H, W)`` / ``(H, W, 3)`` pixels → float64 ``(C, H, W)`` in [0, 1]."""
        x = np.asarray(a, dtype=np.float64) / maxval
        if self.color == "gray":
            if x.ndim == 3:
                from skimage.color import rgb2gray

                x = rgb2gray(x)
            return x[None]
        return np.repeat(x[None], 3, axis=0) if x.ndim == 2 else x.transpose(2, 0, 1)

    def _count(self, n, available):
        if n is None:
            return available
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise ValueError(f"n must be an int >= 1; got {n!r}")
        return int(n)

    def sample(self, n, seed=0, split="test"):
        """``n`` clean images ``(n, C, H, W)`` float32.

        With ``crop > 0``: random crops, image ``i`` from the generator
        ``(seed, split, i)``.  With ``crop=0``: the first ``n`` files whole (``n=None``:
        all), which must share one size (else a ValueError pointing to :meth:`images`).
        """
        files, raws = self._load(split)
        crop = self._crop_shape()
        if crop is None:
            files, xs = self._whole(files, raws, n)
            self._common_shape(files, [x.shape[1:] for x in xs])
            return np.stack(xs).astype(np.float32)
        if n is None:
            raise ValueError("n is required with crop > 0 (n=None means every image, with crop=0)")
        n = self._count(n, len(files))
        shapes = [a.shape[:2] for a, _ in raws]
        H, W = crop
        out = np.empty((n, self.channels, H, W), dtype=np.float32)
        for i in range(n):
            # The ``natural`` scheme: the file, then the position, from image i's generator.
            k, top, left = _window(image_rng(seed, split, i), shapes, crop, files)
            a, maxval = raws[k]
            out[i] = self._convert(a[top : top + H, left : left + W], maxval)
        return out

    def _whole(self, files, raws, n):
        """The first ``n`` files and their images, float64 ``(C, H, W)`` each."""
        n = self._count(n, len(files))
        if n > len(files):
            raise ValueError(f"n={n} but folder {files[0].parent} has {len(files)} images")
        return files[:n], [self._convert(a, m) for a, m in raws[:n]]

    def images(self, n=None, split="test", seed=0):
        """A list of ``(1, C, H, W)`` float32 images, each its own size.

        With ``crop=0``: the first ``n`` files whole, in sorted order (``n=None``: all),
        of any sizes: evaluate them one at a time (or grouped by size) and average the
        per-image metrics.  With ``crop > 0``: the crops of ``sample(n, seed, split)``.
        """
        if self._crop_shape() is not None:
            return [x[None] for x in self.sample(n, seed, split)]
        _, xs = self._whole(*self._load(split), n)
        return [x[None].astype(np.float32) for x in xs]
