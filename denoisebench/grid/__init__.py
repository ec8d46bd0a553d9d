"""The grid: a request (datasets × denoisers × σ and run settings) validated and expanded into cells.

A :class:`Cell` is a small picklable record of everything one evaluation needs.
:func:`plan` validates a whole request — names, parameters, σ, n, seed, backend —
and expands it into cells before anything is computed or written; the runner
(:mod:`denoisebench.grid.runner`) evaluates them.
"""
from __future__ import annotations

import dataclasses
import math
import numbers

import numpy as np

from ..memory._plan import check_cells_fit
from ..backends import DTYPES, resolve_backend
from .runner import PROTOCOLS
from ..registry import make_dataset, make_denoiser, dataset_class, denoiser_class, list_datasets, list_denoisers, resolve_dataset, resolve_denoiser
from ..registry.specs import DEFAULT_SIZE, SpecError
from ..store import KEY

__all__ = ["DEFAULTS", "DEFAULT_SIZE", "SEED_MAX", "SIGMA_MAX", "SIGMA_MIN", "Cell", "default_datasets", "default_denoisers", "default_sigmas", "plan"]

#: Default run settings.  ``size=None``: the spec's own ``size``, else :data:`DEFAULT_SIZE`.
DEFAULTS = {"n": None, "seed": 0, "size": None, "backend": "numpy", "device": None, "n_train": 256, "dtype": "float32",
            "sure": 0, "protocol": ""}
#: Test images per cell when ``n`` is not given (whole-image folders: every image).
DEFAULT_N = 64
#: The noise levels a run accepts.  Below 1e-6 a float32 image's rounding (≈ 6e-8 at 1) is no longer
#: small beside σ²; above 1e6, σ² · pixels overflows float32 sums.  Images live on [0, 1].
SIGMA_MIN, SIGMA_MAX = 1e-6, 1e6
#: Largest seed (seeds are stored as SQLite's 64-bit integers).
SEED_MAX = 2**63 - 1


def default_sigmas(lo=0.01, hi=1.0, num=9):
    """``num`` log-spaced noise levels from ``lo`` to ``hi``, rounded to 4 significant digits."""
    return tuple(float(f"{s:.4g}") for s in np.geomspace(lo, hi, num))


def default_datasets():
    """The datasets a default run covers: every registered one that needs no argument
    (``default_run = True``; not ``folder``, which needs a path)."""
    return [name for name in list_datasets() if getattr(dataset_class(name), "default_run", True)]


def default_denoisers():
    """The available denoisers a default run covers: all but the ``heavy`` ones (e.g. bm3d), each
    as its ``default_specs`` when the class lists several (``unet`` and its variants), else its name."""
    specs = []
    for name in list_denoisers():
        cls = denoiser_class(name)
        if not getattr(cls, "heavy", False):
            specs.extend(getattr(cls, "default_specs", (name,)))
    return specs


@dataclasses.dataclass(frozen=True)
class Cell:
    """One evaluation: a dataset, a denoiser, a noise level and the run settings.

    ``dataset`` and ``denoiser`` are canonical spec strings (see :func:`canonical_spec`);
    ``size`` is the effective image size as text (``'64'``, ``'37x31'``; ``''`` for a
    dataset without a size); ``n_train`` is 0 for denoisers that do not learn; ``sure`` is
    the number of Hutchinson probes of the SURE estimate (0: none; bounds get none).
    """

    dataset: str
    denoiser: str
    sigma: float
    n: int
    seed: int
    size: str
    backend: str
    device: str
    dtype: str = "float32"
    n_train: int = 0
    sure: int = 0
    protocol: str = ""

    def key(self):
        """The store key of this cell (a tuple in :data:`denoisebench.store.KEY` order)."""
        return tuple(getattr(self, k) for k in KEY)

    def label(self):
        return f"{self.dataset} | {self.denoiser} | σ={self.sigma:g}"


def _as_floats(sigmas):
    try:
        return tuple(float(v) for v in sigmas)
    except (TypeError, ValueError):
        raise SpecError(f"every sigma must be a finite number > 0; got {list(sigmas)}") from None


def _int_at_least(value, lo):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool) and value >= lo


def _check_settings(sigmas, n, seed, n_train, dtype, sure=0, protocol=""):
    checks = [
        (protocol in PROTOCOLS, f"unknown protocol {protocol!r}; valid: {', '.join(map(repr, PROTOCOLS))}"),
        (_int_at_least(sure, 0), f"sure must be a number of probes >= 0; got {sure!r}"),
        (len(sigmas) > 0, "no noise level given"),
        (all(math.isfinite(s) and SIGMA_MIN <= s <= SIGMA_MAX for s in sigmas),
         f"every sigma must lie in [{SIGMA_MIN:g}, {SIGMA_MAX:g}]; got {list(sigmas)}"),
        (n is None or _int_at_least(n, 1), f"n must be an integer >= 1; got {n!r}"),
        (_int_at_least(n_train, 1), f"n_train must be an integer >= 1; got {n_train!r}"),
        (_int_at_least(seed, 0) and seed <= SEED_MAX, f"seed must be an integer in [0, {SEED_MAX}]; got {seed!r}"),
        (dtype in DTYPES, f"unknown dtype {dtype!r}; valid: {', '.join(DTYPES)}"),
    ]
    for ok, message in checks:
        if not ok:
            raise SpecError(message)


def _check_input_files(spec, cls):
    """Every file a denoiser reads (a weight file, a TorchScript model) exists and is a readable
    regular file, checked at plan time (before any store is created), in one line naming it."""
    import os

    try:
        d = make_denoiser(spec)  # without a dataset: files given in the spec (not shipped weights)
        files = list(getattr(d, "input_files", lambda: [])())
    except (ValueError, TypeError) as exc:
        raise SpecError(f"denoiser {spec!r}: {exc}") from None
    for path in files:
        path = os.fspath(path)
        if not os.path.exists(path):
            raise SpecError(f"denoiser {spec!r}: no such file {path!r}")
        if not os.path.isfile(path):
            raise SpecError(f"denoiser {spec!r}: {path!r} is not a regular file")
        if not os.access(path, os.R_OK):
            raise SpecError(f"denoiser {spec!r}: cannot read {path!r} (permission denied)")


def _n_for(spec, n):
    """Test images of a cell: ``n``, or for whole-image folders every image (at most n of them)."""
    ds = make_dataset(spec)
    if not ds.whole_images:
        return DEFAULT_N if n is None else int(n)
    count = ds.n_images("test")
    if n is not None and n > count:
        raise SpecError(f"dataset {spec!r} has {count} test images; --n {n} asks for more")
    return count if n is None else int(n)


def plan(datasets=None, denoisers=None, sigmas=None, **settings):
    """Validate a request and expand it into the grid of cells (datasets × denoisers × σ).

    Parameters
    ----------
    datasets, denoisers : list of spec strings, optional
        Default: every registered dataset and every available denoiser but the heavy ones.
    sigmas : list of float, optional
        Default: :func:`default_sigmas`.
    **settings
        ``n, seed, size, backend, device, n_train, dtype, sure, protocol`` (defaults in
        :data:`DEFAULTS`); ``size=None`` keeps the size in each dataset spec, else uses
        :data:`DEFAULT_SIZE`; ``n=None`` is :data:`DEFAULT_N`, or every image of a whole-image
        folder (``folder:...,crop=0``; an explicit ``n`` takes its first n in sorted order);
        ``protocol`` is a key of :data:`~denoisebench.grid.runner.PROTOCOLS`.

    Raises
    ------
    SpecError
        With a one-line message naming the valid choices, before anything is computed.
    """
    unknown = sorted(set(settings) - set(DEFAULTS))
    if unknown:
        raise TypeError(f"unknown settings {unknown}; valid: {sorted(DEFAULTS)}")
    s = {**DEFAULTS, **settings}
    sigmas = default_sigmas() if sigmas is None else _as_floats(sigmas)
    _check_settings(sigmas, s["n"], s["seed"], s["n_train"], s["dtype"], s["sure"], s["protocol"])
    s.update(seed=int(s["seed"]), n_train=int(s["n_train"]))
    device = resolve_backend(s["backend"], s["device"])
    resolved_dn = [resolve_denoiser(d) for d in (denoisers or default_denoisers())]
    for spec, cls in resolved_dn:
        _check_input_files(spec, cls)
    resolved_ds = [resolve_dataset(d, s["size"], s["seed"], DEFAULT_SIZE) for d in (datasets or default_datasets())]
    n_of = {ds: _n_for(ds, s["n"]) for ds, _ in resolved_ds}
    cells = [
        Cell(dataset=ds, denoiser=dn, sigma=sigma, n=n_of[ds], seed=s["seed"], size=size,
             backend=s["backend"], device=device, dtype=s["dtype"], n_train=s["n_train"] if cls.learns else 0,
             sure=0 if cls.bound else int(s["sure"]), protocol=s["protocol"])
        for ds, size in resolved_ds
        for dn, cls in resolved_dn
        for sigma in sigmas
    ]
    cells = list(dict.fromkeys(cells))  # drop duplicates, keep the grid's order
    check_cells_fit(cells)  # refuses, with the numbers, what cannot fit in memory
    return cells
