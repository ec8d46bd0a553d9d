"""Write the offline colour test photographs as PNG files of their natural sizes, for a folder run.

Usage::

    python scripts/export_images.py DIR
    denoisebench run --datasets folder:path=DIR,color=rgb,crop=0 --sigmas 15/255,25/255,50/255 --protocol 8bit

Writes four 8-bit RGB PNG files into ``DIR`` (created if missing), each whole, at its own size:

=================  =========  =========================================================================
file               H × W      source (every one ships inside an installed dependency: no download)
=================  =========  =========================================================================
astronaut.png      512 × 512  ``skimage.data.astronaut`` — a ``natural:color=rgb`` test photograph
coffee.png         400 × 600  ``skimage.data.coffee`` — a ``natural:color=rgb`` test photograph
grace_hopper.png   600 × 512  matplotlib's sample ``grace_hopper.jpg`` (decoded by Pillow)
motorcycle.png     500 × 741  ``skimage.data.stereo_motorcycle`` (left view; Middlebury 2014 stereo)
=================  =========  =========================================================================

None of them is in a training split: astronaut and coffee are the colour photographs of the
``natural`` *test* split (``RGB_SOURCES['test']`` in ``denoisebench/datasets/_natural.py``), on
which no shipped weights were trained; the other two are in no ``natural`` split at all, so the
shipped U-Net (``natural-rgb.safetensors``, trained on crops of the four ``RGB_SOURCES['train']``
photographs) has never seen them.  (scikit-learn's ``load_sample_images``, china and flower,
would also qualify, but scikit-learn is not a dependency of denoisebench.)

Deterministic: the same installed packages give the same pixels, and the files are rewritten
(atomically) on every call.  The PNG files are written from uint8 arrays, so ``folder:`` reads
them back exactly as ``k/255`` — the clean images are already 8-bit, as the ``8bit`` protocol
assumes.  ``DIR`` may hold nothing else that a folder dataset would read (a one-line error
names such a file), so the run covers exactly these four images.
"""
from __future__ import annotations

import argparse
import os
import sys
from fnmatch import fnmatchcase

import numpy as np

from denoisebench.datasets._folder import DEFAULT_PATTERN
from denoisebench.datasets._natural import RGB_SOURCES, SOURCES, load_source_rgb


def _natural_test(name):
    if name not in RGB_SOURCES["test"] or name in SOURCES["train"] or name in RGB_SOURCES["train"]:
        raise RuntimeError(f"{name!r} is not a natural:color=rgb test photograph")
    return np.round(np.asarray(load_source_rgb(name), dtype=np.float64) * 255).astype(np.uint8)


def _grace_hopper():
    import imageio.v3 as iio
    from matplotlib import cbook

    return np.asarray(iio.imread(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False), plugin="pillow"))


def _motorcycle():
    from skimage.data import stereo_motorcycle

    return np.asarray(stereo_motorcycle()[0])


#: File name → loader of a ``(H, W, 3)`` uint8 array.
IMAGES = {
    "astronaut.png": lambda: _natural_test("astronaut"),
    "coffee.png": lambda: _natural_test("coffee"),
    "grace_hopper.png": _grace_hopper,
    "motorcycle.png": _motorcycle,
}


def _is_image(name):
    return any(fnmatchcase(name.lower(), p) for p in DEFAULT_PATTERN.split("|"))


def export_images(directory):
    """Write :data:`IMAGES` into ``directory``; returns ``[(path, (H, W, 3))]`` in sorted order.

    Raises
    ------
    ValueError
        ``directory`` holds another file a folder dataset would read.
    """
    os.makedirs(directory, exist_ok=True)
    others = sorted(n for n in os.listdir(directory) if _is_image(n) and n not in IMAGES)
    if others:
        raise ValueError(f"{directory} holds other image files ({', '.join(others)}): a folder run would read "
                         "them too; use an empty or new directory")
    import imageio.v3 as iio

    written = []
    for name in sorted(IMAGES):
        image = IMAGES[name]()
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            raise RuntimeError(f"{name}: expected an (H, W, 3) uint8 photograph, got {image.shape} {image.dtype}")
        path = os.path.join(directory, name)
        tmp = os.path.join(directory, f".{name}.{os.getpid()}.tmp")
        iio.imwrite(tmp, image, extension=".png", plugin="pillow")
        os.replace(tmp, path)
        written.append((path, image.shape))
    return written


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("directory", help="where the PNG files go (created if missing)")
    args = parser.parse_args(argv)
    try:
        written = export_images(args.directory)
    except ValueError as exc:
        print(f"export_images: {exc}", file=sys.stderr)
        return 2
    for path, shape in written:
        print(f"{path}: {shape[0]}x{shape[1]} RGB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
