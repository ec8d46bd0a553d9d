"""Plan-time memory check of a grid: every cell's estimated peak against the available memory."""
from __future__ import annotations

import math

from .. import memory as _memory
from . import _sample_bytes, check_fits, estimate_cell_bytes
from ..registry import denoiser_class, make_dataset, make_denoiser
from ..registry.specs import parse_spec, size_arg

__all__ = ["check_cells_fit"]


def _mmse_images(dataset):
    """Images of a Monte-Carlo MMSE (``n_mc``; 0 for a dataset whose MMSE is exact or unknown)."""
    n_mc = getattr(dataset, "n_mc", 0)
    return int(n_mc) if isinstance(n_mc, int) and not isinstance(n_mc, bool) else 0


def _largest_shape(ds, n):
    """The image shape a cell's memory is estimated for: the dataset's, or for whole images of
    different sizes (``folder:crop=0``) the largest of the first ``n``."""
    if ds.whole_images:
        return max((tuple(im.shape[-2:]) for im in ds.images(n, split="test")), key=math.prod)
    return tuple(ds.shape)


def check_cells_fit(cells):
    """Refuse a grid one of whose cells cannot fit in the available memory (one line, the numbers).

    ``cells`` are :class:`denoisebench.grid.Cell` records (canonical specs).  Each distinct
    (dataset, size, denoiser, n, dtype, n_train) is estimated by :func:`estimate_cell_bytes`.

    Raises
    ------
    SpecError
        Naming the cell, the estimate and the available memory.
    """
    datasets, seen = {}, set()
    available = _memory.available_bytes()
    for c in cells:
        key = (c.dataset, c.size, c.denoiser, c.n, c.dtype, c.n_train)
        if key in seen:
            continue
        seen.add(key)
        if (c.dataset, c.size) not in datasets:
            ds = make_dataset(c.dataset, **({"size": size_arg(c.size)} if c.size else {}))
            datasets[(c.dataset, c.size)] = (ds, _largest_shape(ds, c.n), int(getattr(ds, "channels", 1)))
        ds, shape, channels = datasets[(c.dataset, c.size)]
        cls = denoiser_class(parse_spec(c.denoiser)[0])
        setup = 0
        if callable(getattr(cls, "setup_bytes", None)) and not getattr(cls, "needs_dataset", False):
            setup = make_denoiser(c.denoiser).setup_bytes(shape)
        nbytes = estimate_cell_bytes(c.n, shape, c.dtype, channels, getattr(cls, "memory_factor", 16), setup,
                                     c.n_train, _sample_bytes(ds, math.prod(shape)), _mmse_images(ds))
        size = "x".join(map(str, shape))
        check_fits(nbytes, f"cell {c.dataset} | {c.denoiser} with n={c.n} images of {channels}x{size} {c.dtype}",
                   "lower --n, the image size or the denoiser's parameters", available)

