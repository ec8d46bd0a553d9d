"""The grid runner: datasets × denoisers × σ, one committed store row per cell.

A :class:`Cell` is a small picklable record of everything one evaluation needs;
:func:`evaluate_cell` is a pure top-level function of it (up to timing), so cells
can run on any :class:`concurrent.futures.Executor`.  :func:`run_grid` is the
driver: it skips the cells already in the store and commits each finished one
before the next starts.  :func:`plan` validates a whole request and expands it
into cells before anything is computed.

Within a process, datasets, clean test batches, fitted denoisers and optima are
cached, so the σ's of one (dataset, denoiser) pair share one fit.
"""
from __future__ import annotations

import dataclasses
import functools
import inspect
import math
import numbers
import time
from concurrent.futures import as_completed
from datetime import datetime, timezone

import numpy as np

from ._array_api import backend_available, from_numpy, synchronize, to_numpy
from .base import NotApplicableError
from .metrics import gain_db, gap_db, mean_and_stderr, mse_per_image, psnr
from .noise import add_noise
from .registry import (SpecError, dataset_class, denoiser_class, list_datasets, list_denoisers, make_dataset,
                       make_denoiser, parse_spec)
from .store import KEY

__all__ = ["BACKENDS", "DEFAULTS", "Cell", "canonical_spec", "clear_caches", "default_denoisers", "default_sigmas",
           "evaluate_cell", "plan", "run_grid"]

#: Array backends a run can use (``strict`` is array_api_strict, for conformance).
BACKENDS = ("numpy", "torch", "cupy", "strict")
DTYPES = ("float32", "float64")

#: Default run settings.  ``size=None``: the spec's own ``size``, else :data:`DEFAULT_SIZE`.
DEFAULTS = {"n": 64, "seed": 0, "size": None, "backend": "numpy", "device": None, "n_train": 256, "dtype": "float32",
            "sure": 0}
#: Image size of datasets whose spec gives none, when the run sets none.
DEFAULT_SIZE = 64


def default_sigmas(lo=0.01, hi=1.0, num=9):
    """``num`` log-spaced noise levels from ``lo`` to ``hi``, rounded to 4 significant digits."""
    return tuple(float(f"{s:.4g}") for s in np.geomspace(lo, hi, num))


def default_denoisers():
    """The available denoisers a default run covers: all but the ``heavy`` ones (e.g. bm3d)."""
    return [name for name in list_denoisers() if not getattr(denoiser_class(name), "heavy", False)]


# -- cells ---------------------------------------------------------------------------
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

    def key(self):
        """The store key of this cell (a tuple in :data:`denoisebench.store.KEY` order)."""
        return tuple(getattr(self, k) for k in KEY)

    def label(self):
        return f"{self.dataset} | {self.denoiser} | σ={self.sigma:g}"


def _now():
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def _size_arg(size):
    """Store text → the dataset's ``size`` argument (``'64'`` → 64, ``'37x31'`` stays)."""
    return int(size) if size.isdigit() else size


@functools.lru_cache(maxsize=8)
def _dataset(spec, size):
    extra = {"size": _size_arg(size)} if size else {}
    return make_dataset(spec, **extra)


@functools.lru_cache(maxsize=4)
def _sample(spec, size, n, seed, split, dtype):
    x = _dataset(spec, size).sample(n, seed, split=split).astype(dtype, copy=False)
    x.flags.writeable = False  # shared by every cell of the cache
    return x


@functools.lru_cache(maxsize=64)
def _optimum(spec, size, sigma):
    ds = _dataset(spec, size)
    try:
        return float(ds.mmse(sigma)), float(ds.mmse_stderr(sigma))
    except NotApplicableError:
        return None, None


@functools.lru_cache(maxsize=8)
def _denoiser(dataset, size, denoiser, n_train, seed, dtype):
    name, _ = parse_spec(denoiser)
    cls = denoiser_class(name)
    extra = {"dataset": _dataset(dataset, size)} if cls.needs_dataset else {}
    d = make_denoiser(denoiser, **extra)
    if cls.learns:
        d.fit(_sample(dataset, size, n_train, seed, "train", dtype))
    return d


def clear_caches():
    """Forget this process's cached datasets, samples, optima and fitted denoisers."""
    for cached in (_dataset, _sample, _optimum, _denoiser):
        cached.cache_clear()
    _WARMED.clear()


def _call(d, y_b, sigma, x_b):
    return d(y_b, sigma, clean=x_b) if type(d).bound else d(y_b, sigma)


_WARMED = set()  # cells (σ and n aside) whose denoiser was already called once in this process


def _warm_up(d, y_b, x_b, cell):
    """One untimed call on the first image, so the timing excludes one-off costs (GPU
    kernel compilation, FFT plans, lazy imports)."""
    key = dataclasses.replace(cell, sigma=0.0, n=0)
    if key not in _WARMED:
        synchronize(_call(d, y_b[:1], cell.sigma, None if x_b is None else x_b[:1]))
        _WARMED.add(key)


def _timed_denoise(d, x, y, cell):
    """Denoise on the cell's backend; ``(x_hat on the host, seconds of the call)``."""
    y_b = from_numpy(y, cell.backend, cell.device)
    x_b = from_numpy(x.copy(), cell.backend, cell.device) if type(d).bound else None
    _warm_up(d, y_b, x_b, cell)
    synchronize(y_b)
    start = time.perf_counter()
    x_hat = _call(d, y_b, cell.sigma, x_b)
    synchronize(x_hat)
    seconds = time.perf_counter() - start
    return to_numpy(x_hat), seconds


def _check_host(cell):
    """Host-only denoisers (``host_only = True``) do not apply to device arrays."""
    cls = denoiser_class(parse_spec(cell.denoiser)[0])
    if getattr(cls, "host_only", False) and cell.device != "cpu":
        raise NotApplicableError(f"{cls.name} runs on the host only, not on {cell.device}")


def _metrics(x, x_hat, sigma, optimal_mse):
    mse, se = mean_and_stderr(mse_per_image(x, x_hat))
    return {
        "mse": mse,
        "mse_stderr": None if math.isnan(se) else se,
        "psnr": psnr(mse),
        "gain_db": gain_db(sigma, mse),
        "gap_db": gap_db(mse, optimal_mse),
    }


def _sure(d, y, cell):
    """SURE of the batch (no clean image): mean of per-image estimates and its standard error.

    Computed on the host copy of ``y`` (numpy); the divergence by the denoiser's autograd hook
    when it has one, else finite differences (:func:`denoisebench.analysis.sure`).
    """
    from .analysis import sure

    estimate = sure(d, y, cell.sigma, probes=cell.sure, seed=cell.seed)
    mean, se = mean_and_stderr(estimate.value)
    return mean, None if math.isnan(se) else se


def _not_applicable(row, exc):
    return {**row, "status": "not_applicable", "reason": str(exc), "finished_at": _now()}


def evaluate_cell(cell):
    """Evaluate one cell and return its store row (a dict with the columns of ``store.COLUMNS``).

    A denoiser that raises :class:`~denoisebench.NotApplicableError` (at construction,
    fit or call) gives a row with ``status='not_applicable'`` and no metrics.
    """
    row = {
        **dataclasses.asdict(cell),
        **dict.fromkeys(("mse", "mse_stderr", "psnr", "gain_db", "gap_db", "seconds", "reason", "sure_mse",
                         "sure_stderr")),
        "status": "done",
        "bound": bool(denoiser_class(parse_spec(cell.denoiser)[0]).bound),
        "started_at": _now(),
    }
    row["optimal_mse"], row["optimal_stderr"] = _optimum(cell.dataset, cell.size, cell.sigma)
    try:
        _check_host(cell)
        d = _denoiser(cell.dataset, cell.size, cell.denoiser, cell.n_train, cell.seed, cell.dtype)
        x = _sample(cell.dataset, cell.size, cell.n, cell.seed, "test", cell.dtype)
        y = add_noise(x, cell.sigma, cell.seed)
        x_hat, row["seconds"] = _timed_denoise(d, x, y, cell)
    except NotApplicableError as exc:
        return _not_applicable(row, exc)
    row.update(_metrics(x, x_hat, cell.sigma, row["optimal_mse"]))
    if cell.sure:
        row["sure_mse"], row["sure_stderr"] = _sure(d, y, cell)
    row["finished_at"] = _now()
    return row


# -- the driver ------------------------------------------------------------------------
class _NoProgress:
    def update(self, n=1):
        pass

    set_postfix_str = update


def _serial(todo, progress):
    for cell in todo:
        progress.set_postfix_str(cell.label())  # the cell now running
        yield evaluate_cell(cell)


def _parallel(todo, executor, progress):
    futures = {executor.submit(evaluate_cell, cell): cell for cell in todo}
    try:
        for future in as_completed(futures):
            progress.set_postfix_str(futures[future].label())  # the cell just finished
            yield future.result()
    finally:
        for future in futures:
            future.cancel()


def run_grid(cells, store, executor=None, progress=None):
    """Evaluate the ``cells`` not yet in ``store``, committing each as it finishes.

    Parameters
    ----------
    cells : sequence of Cell
    store : denoisebench.store.Store
    executor : concurrent.futures.Executor, optional
        Where cells run; serial in this process by default.  The driver (this
        function) commits every result, whichever process computed it.
    progress : tqdm-like, optional
        Receives ``set_postfix_str(cell label)`` and ``update(1)`` per finished cell.

    Returns
    -------
    rows : list of dict
        The rows computed by this call (finished cells already stored are skipped).
    """
    progress = progress or _NoProgress()
    done = store.done_keys()
    todo = [c for c in cells if c.key() not in done]
    results = _serial(todo, progress) if executor is None else _parallel(todo, executor, progress)
    rows = []
    for row in results:
        store.put(row)  # its own transaction, before the next cell starts
        rows.append(row)
        progress.update(1)
    return rows


# -- planning and validation -----------------------------------------------------------
def _init_params(cls, exclude=()):
    sig = inspect.signature(cls.__init__).parameters.items()
    skip = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
    return {k: p.default for k, p in sig if k != "self" and k not in exclude and p.kind not in skip}


_FORMAT = {bool: lambda v: str(v).lower(), type(None): lambda v: "none", float: repr}


def _fmt(value):
    return _FORMAT.get(type(value), str)(value)


def _is_default(value, default):
    return isinstance(value, bool) == isinstance(default, bool) and value == default


def canonical_spec(name, cls, params, drop=("size", "dataset")):
    """The spec string of ``name`` with ``params``: non-default values only, sorted, exact.

    Two spellings of the same object (``'gaussian'`` and ``'gaussian:exponent=2.0'`` when
    2.0 is the default) give the same string, so they share their store rows.
    """
    defaults = _init_params(cls)
    items = [
        f"{k}={_fmt(v)}"
        for k, v in sorted(params.items())
        if k not in drop and not _is_default(v, defaults.get(k, inspect.Parameter.empty))
    ]
    return name + (":" + ",".join(items) if items else "")


def _check_params(kind, name, params, valid):
    unknown = sorted(set(params) - set(valid))
    if unknown:
        raise SpecError(
            f"{kind} {name!r} has no parameter {', '.join(unknown)}; valid: {', '.join(valid) or '(none)'}"
        )


def _unknown(kind, name, valid):
    return SpecError(f"unknown {kind} {name!r}; valid: {', '.join(valid)}")


def _format_size(shape):
    h, w = shape
    return str(h) if h == w else f"{h}x{w}"


def resolve_dataset(spec, size=None, seed=0, default_size=DEFAULT_SIZE):
    """Validate a dataset spec; return ``(canonical spec, effective size text)``.

    The size is ``size`` when given, else the spec's ``size``, else ``default_size``
    (``None``: the dataset's own default).  Builds the dataset and draws one image,
    so bad parameter values fail here, before a run.
    """
    name, params = parse_spec(spec)
    if name not in list_datasets():
        raise _unknown("dataset", name, list_datasets())
    cls = dataset_class(name)
    _check_params("dataset", name, params, _init_params(cls))
    has_size = "size" in _init_params(cls)
    if size is None and "size" not in params and has_size:
        size = default_size
    if size is not None:
        params["size"] = _size_arg(size) if isinstance(size, str) else size
    try:
        ds = make_dataset(name, **params)
        ds.sample(1, seed, split="test")
        eff = _format_size(ds.shape) if has_size else ""
    except (ValueError, TypeError) as exc:
        raise SpecError(f"dataset {spec!r}: {exc}") from None
    return canonical_spec(name, cls, params), eff


def resolve_denoiser(spec):
    """Validate a denoiser spec; return ``(canonical spec, class)``."""
    name, params = parse_spec(spec)
    available = list_denoisers()
    if name not in available:
        try:
            denoiser_class(name)
        except KeyError:
            raise _unknown("denoiser", name, available) from None
        raise SpecError(f"denoiser {name!r} is not available here (missing dependency); valid: {', '.join(available)}")
    cls = denoiser_class(name)
    _check_params("denoiser", name, params, _init_params(cls, exclude=("dataset",) if cls.needs_dataset else ()))
    if not cls.needs_dataset:
        try:
            make_denoiser(name, **params)
        except (ValueError, TypeError) as exc:
            raise SpecError(f"denoiser {spec!r}: {exc}") from None
    return canonical_spec(name, cls, params), cls


def _cpu_only(backend):
    def name(device):
        if device not in (None, "cpu"):
            raise SpecError(f"backend {backend!r} runs on the cpu only; got device {device!r}")
        return "cpu"

    return name


def _torch_device(device):
    import torch

    return str(torch.device(device or "cpu"))


def _cupy_device(device):
    return f"cuda:{0 if device in (None, 'cuda') else int(str(device).rsplit(':', 1)[-1])}"


_DEVICE_NAME = {"numpy": _cpu_only("numpy"), "strict": _cpu_only("strict"), "torch": _torch_device, "cupy": _cupy_device}


def resolve_backend(backend, device=None):
    """Validate ``backend`` on ``device``; return the device's canonical name."""
    if backend not in BACKENDS:
        raise SpecError(f"unknown backend {backend!r}; valid: {', '.join(BACKENDS)}")
    device_name = _DEVICE_NAME[backend](device)
    if not backend_available(backend, device):
        here = [b for b in BACKENDS if backend_available(b)]
        where = f" on device {device!r}" if device is not None else ""
        raise SpecError(f"backend {backend!r} is not available here{where}; available: {', '.join(here)}")
    return device_name


def _as_floats(sigmas):
    try:
        return tuple(float(v) for v in sigmas)
    except (TypeError, ValueError):
        raise SpecError(f"every sigma must be a finite number > 0; got {list(sigmas)}") from None


def _int_at_least(value, lo):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool) and value >= lo


def _check_settings(sigmas, n, seed, n_train, dtype, sure=0):
    checks = [
        (_int_at_least(sure, 0), f"sure must be a number of probes >= 0; got {sure!r}"),
        (len(sigmas) > 0, "no noise level given"),
        (all(math.isfinite(s) and s > 0 for s in sigmas), f"every sigma must be a finite number > 0; got {list(sigmas)}"),
        (_int_at_least(n, 1), f"n must be an integer >= 1; got {n!r}"),
        (_int_at_least(n_train, 1), f"n_train must be an integer >= 1; got {n_train!r}"),
        (_int_at_least(seed, 0), f"seed must be an integer >= 0; got {seed!r}"),
        (dtype in DTYPES, f"unknown dtype {dtype!r}; valid: {', '.join(DTYPES)}"),
    ]
    for ok, message in checks:
        if not ok:
            raise SpecError(message)


def plan(datasets=None, denoisers=None, sigmas=None, **settings):
    """Validate a request and expand it into the grid of cells (datasets × denoisers × σ).

    Parameters
    ----------
    datasets, denoisers : list of spec strings, optional
        Default: every registered dataset and every available denoiser but the heavy ones.
    sigmas : list of float, optional
        Default: :func:`default_sigmas`.
    **settings
        ``n, seed, size, backend, device, n_train, dtype`` (defaults in :data:`DEFAULTS`);
        ``size=None`` keeps the size in each dataset spec, else uses :data:`DEFAULT_SIZE`.

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
    _check_settings(sigmas, s["n"], s["seed"], s["n_train"], s["dtype"], s["sure"])
    s.update(n=int(s["n"]), seed=int(s["seed"]), n_train=int(s["n_train"]))
    device = resolve_backend(s["backend"], s["device"])
    resolved_dn = [resolve_denoiser(d) for d in (denoisers or default_denoisers())]
    resolved_ds = [resolve_dataset(d, s["size"], s["seed"]) for d in (datasets or list_datasets())]
    cells = [
        Cell(dataset=ds, denoiser=dn, sigma=sigma, n=s["n"], seed=s["seed"], size=size,
             backend=s["backend"], device=device, dtype=s["dtype"], n_train=s["n_train"] if cls.learns else 0,
             sure=0 if cls.bound else int(s["sure"]))
        for ds, size in resolved_ds
        for dn, cls in resolved_dn
        for sigma in sigmas
    ]
    return list(dict.fromkeys(cells))  # drop duplicates, keep the grid's order
