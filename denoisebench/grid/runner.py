"""The grid runner: evaluate cells, committing one store row per finished cell.

:func:`evaluate_cell` is a pure top-level function of a :class:`~denoisebench.grid.Cell`
(up to timing), so cells can run on any :class:`concurrent.futures.Executor`.
:func:`run_grid` is the driver: it skips the cells already in the store and commits
each finished one before the next starts.

Within a process, datasets, clean test batches, fitted denoisers and optima are
cached, so the σ's of one (dataset, denoiser) pair share one fit.
"""
from __future__ import annotations

import dataclasses
import functools
import itertools
import math
import time
from concurrent.futures import CancelledError, as_completed
from datetime import datetime, timezone

from .._array_api import from_numpy, synchronize, to_numpy
import numpy as np

from ..base import NotApplicableError
from .executors import ExecutorLost
from ..store.fingerprint import cell_fingerprint, library_versions, object_input_files
from ..metrics import PAIRED, gain_db, gap_db, mean_and_stderr, mse_per_image, psnr
from ..noise import add_noise
from ..registry import denoiser_class, make_dataset, make_denoiser
from ..registry.specs import parse_spec, size_arg
from ..store import KEY, MISSING, REUSABLE

__all__ = ["PROTOCOLS", "GridStatus", "classify", "clear_caches", "evaluate_cell", "fingerprint", "run_grid"]

#: Evaluation protocols: how the clean image and the estimate are treated before the MSE.
#: ``''`` as drawn (float images, the exact optima apply); ``'8bit'`` as published tables do: the
#: clean image quantised to 8 bits, the estimate clipped to [0, 1] (no exact optimum then).
PROTOCOLS = {
    "": (lambda x: x, lambda x_hat: x_hat),
    "8bit": (lambda x: (np.round(x * 255) / 255).astype(x.dtype), lambda x_hat: np.clip(x_hat, 0, 1)),
}


def _now():
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


@functools.lru_cache(maxsize=8)
def _dataset(spec, size):
    extra = {"size": size_arg(size)} if size else {}
    return make_dataset(spec, **extra)


@functools.lru_cache(maxsize=4)
def _sample(spec, size, n, seed, split, dtype):
    x = _dataset(spec, size).sample(n, seed, split=split).astype(dtype, copy=False)
    x.flags.writeable = False  # shared by every cell of the cache
    return x


@functools.lru_cache(maxsize=4)
def _test_groups(spec, size, n, seed, dtype, protocol):
    """The clean test images as ``[(start, x)]``: one batch, or, for whole images of different sizes,
    runs of consecutive images of one size (``start``: index of ``x[0]``, so noise is per image)."""
    ds = _dataset(spec, size)
    if ds.whole_images:
        images = [np.asarray(im) for im in ds.images(n, split="test")]
    else:
        images = list(_sample(spec, size, n, seed, "test", dtype)[:, None])
    quantise = PROTOCOLS[protocol][0]
    groups, start = [], 0
    for _, run in itertools.groupby(images, key=lambda im: im.shape):
        x = quantise(np.concatenate(list(run)).astype(dtype, copy=False))
        x.flags.writeable = False
        groups.append((start, x))
        start += x.shape[0]
    return groups


@functools.lru_cache(maxsize=64)
def _optimum(spec, size, sigma, protocol=""):
    ds = _dataset(spec, size)
    if protocol:  # quantised clean images and clipped estimates: the exact optimum does not apply
        return None, None
    try:
        return float(ds.mmse(sigma)), float(ds.mmse_stderr(sigma))
    except NotApplicableError:
        return None, None


@functools.lru_cache(maxsize=16)
def _paired_optimum(cell):
    """Per-image MSE of the dataset's exact optimal denoiser on the cell's own noisy images (σ, n, seed).

    Used where the optimum's MSE is a Monte Carlo estimate (``gmm``): the gap is then measured on the
    same noisy images, so test-set luck cancels (reports/unet.md's paired gap)."""
    opt = _denoiser(cell.dataset, cell.size, "optimal", 0, cell.seed, cell.dtype)
    clip = PROTOCOLS[cell.protocol][1]
    out = []
    for start, x in _test_groups(cell.dataset, cell.size, cell.n, cell.seed, cell.dtype, cell.protocol):
        y = add_noise(x, cell.sigma, cell.seed, start=start)
        out.append(mse_per_image(x, clip(to_numpy(opt(y, cell.sigma)))))
    return np.concatenate(out)


def paired_gap(per_image, per_optimal):
    """``(optimal MSE, stderr of the paired per-image difference, gap in dB)`` on the same images."""
    opt = float(np.mean(per_optimal))
    diff = np.asarray(per_image, dtype=np.float64) - per_optimal
    se = float(np.std(diff, ddof=1) / math.sqrt(diff.size)) if diff.size > 1 else None
    return opt, se, gap_db(float(np.mean(per_image)), opt)


@functools.lru_cache(maxsize=8)
def _denoiser(dataset, size, denoiser, n_train, seed, dtype):
    name, _ = parse_spec(denoiser)
    cls = denoiser_class(name)
    extra = {"dataset": _dataset(dataset, size)} if cls.needs_dataset else {}
    d = make_denoiser(denoiser, **extra)
    if cls.learns and d.is_fitted():  # a denoiser that learns only with some parameters (coarse=keep,clip=false)
        return d
    classical = ("; the classical thresholding (coarse=keep,clip=false) needs no training images"
                 if "coarse" in cls.param_rules else "")
    if cls.learns and _dataset(dataset, size).whole_images:
        raise NotApplicableError(f"{denoiser} learns from training images of one size, which whole images of "
                                 f"different sizes (crop=0) cannot provide; use crop=N{classical}")
    if cls.learns:
        try:
            x_train = _sample(dataset, size, n_train, seed, "train", dtype)
        except NotApplicableError as exc:
            raise NotApplicableError(f"{exc}{classical}") from None
        d.fit(x_train)
    return d


def clear_caches():
    """Forget this process's cached datasets, samples, optima and fitted denoisers."""
    for cached in (_dataset, _sample, _test_groups, _optimum, _denoiser, _paired_optimum):
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


def _metrics(per_image, sigma, optimal_mse):
    mse, se = mean_and_stderr(per_image)
    return {
        "mse": mse,
        "mse_stderr": None if math.isnan(se) else se,
        "psnr": psnr(mse),
        "psnr_images": float(np.mean([psnr(float(m)) for m in per_image])),
        "gain_db": gain_db(sigma, mse),
        "gap_db": gap_db(mse, optimal_mse),
    }


def _sure(d, y, cell):
    """SURE of each image of the batch (no clean image needed).

    Computed on the host copy of ``y`` (numpy); the divergence by the denoiser's autograd hook
    when it has one, else finite differences (:func:`denoisebench.analysis.sure`).
    """
    from ..analysis import sure

    return sure(d, y, cell.sigma, probes=cell.sure, seed=cell.seed).value


def _not_applicable(row, exc):
    return {**row, "status": "not_applicable", "reason": str(exc), "finished_at": _now()}


def evaluate_cell(cell):
    """Evaluate one cell and return its store row (a dict with the columns of ``store.COLUMNS``).

    A denoiser that raises :class:`~denoisebench.NotApplicableError` (at construction,
    fit or call) gives a row with ``status='not_applicable'`` and no metrics.
    """
    row = {
        **dataclasses.asdict(cell),
        **dict.fromkeys(("mse", "mse_stderr", "psnr", "psnr_images", "gain_db", "gap_db", "seconds", "reason",
                         "sure_mse", "sure_stderr")),
        "status": "done",
        "bound": bool(denoiser_class(parse_spec(cell.denoiser)[0]).bound),
        "started_at": _now(),
    }
    row["optimal_mse"], row["optimal_stderr"] = _optimum(cell.dataset, cell.size, cell.sigma, cell.protocol)
    clip = PROTOCOLS[cell.protocol][1]
    per_image, sure_values, row["seconds"] = [], [], 0.0
    try:
        _check_host(cell)
        d = _denoiser(cell.dataset, cell.size, cell.denoiser, cell.n_train, cell.seed, cell.dtype)
        for start, x in _test_groups(cell.dataset, cell.size, cell.n, cell.seed, cell.dtype, cell.protocol):
            y = add_noise(x, cell.sigma, cell.seed, start=start)
            x_hat, seconds = _timed_denoise(d, x, y, cell)
            if not np.all(np.isfinite(x_hat)):
                raise FloatingPointError(f"{cell.label()}: the denoiser returned non-finite values "
                                         "(NaN or inf) from finite input; nothing was stored")
            row["seconds"] += seconds
            per_image.append(mse_per_image(x, clip(x_hat)))
            if cell.sure:
                sure_values.append(_sure(d, y, cell))
    except NotApplicableError as exc:
        return _not_applicable(row, exc)
    per_image = np.concatenate(per_image)
    row.update(_metrics(per_image, cell.sigma, row["optimal_mse"]))
    if row["optimal_stderr"]:  # a Monte Carlo optimum: the gap is paired, on the cell's own noisy images
        row["optimal_mse"], row["optimal_stderr"], row["gap_db"] = paired_gap(per_image, _paired_optimum(
            dataclasses.replace(cell, denoiser="optimal", n_train=0, sure=0)))
        row["reason"] = PAIRED
    if cell.sure:
        mean, se = mean_and_stderr(np.concatenate(sure_values))
        row["sure_mse"], row["sure_stderr"] = mean, None if math.isnan(se) else se
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
    """Results as they complete.  Each future is dropped as soon as its result is read, so the
    executor releases it (on Dask a finished cell is no longer held by the cluster, and a lost
    worker costs only the cells it was running, not the ones already committed)."""
    futures = {executor.submit(evaluate_cell, cell): cell for cell in todo}
    try:
        for future in as_completed(futures):
            cell = futures.pop(future)
            progress.set_postfix_str(cell.label())  # the cell just finished
            try:
                result = future.result()
            except CancelledError:  # the executor went away (a lost Dask scheduler)
                raise ExecutorLost(f"the executor cancelled cell {cell.label()}: its scheduler was lost") from None
            del future
            yield result
    finally:
        for future in futures:
            future.cancel()


def fingerprint(cell):
    """The cell's :func:`~denoisebench.store.fingerprint.cell_fingerprint`: its settings, the code, the
    versions of the optional libraries its denoiser declares (``libraries``; cupy on the cupy
    backend), and the contents of every file its dataset and denoiser read (weights, image folders)."""
    ds = _dataset(cell.dataset, cell.size)
    cls = denoiser_class(parse_spec(cell.denoiser)[0])
    d = make_denoiser(cell.denoiser, **({"dataset": ds} if cls.needs_dataset else {}))
    libraries = (*getattr(cls, "libraries", ()), *(("cupy",) if cell.backend == "cupy" else ()))
    settings = {**dataclasses.asdict(cell), **({"libraries": library_versions(libraries)} if libraries else {})}
    return cell_fingerprint(settings, object_input_files(ds) + object_input_files(d))


@dataclasses.dataclass
class GridStatus:
    """Planned cells against a store: each cell's fingerprint and status, and the counts."""

    fingerprints: dict
    status: dict  # Cell → 'reusable' | 'stale' | 'invalid' | 'missing'

    def todo(self):
        return [c for c, s in self.status.items() if s != REUSABLE]

    def count(self, *kinds):
        return sum(s in kinds for s in self.status.values())

    def summary(self, computed=None):
        """One line such as ``585 cells: 12 computed, 573 reused (same code and inputs)``.

        ``computed``: the rows this run computed (:func:`run_grid`); its "not applicable" cells
        (no result, a reason instead) are then counted apart from the computed ones."""
        kinds = {c.key(): s for c, s in self.status.items()}
        na = [kinds.get(tuple(r[k] for k in KEY)) for r in computed or () if r.get("status") == "not_applicable"]
        parts = [f"{self.count(MISSING) - na.count(MISSING)} computed"]
        if na:
            parts.append(f"{len(na)} not applicable (no result, a stored reason)")
        parts.append(f"{self.count(REUSABLE)} reused (same code and inputs)")
        if self.count("stale"):
            parts.append(f"{self.count('stale')} recomputed (code or inputs changed)")
        if self.count("invalid"):
            parts.append(f"{self.count('invalid')} recomputed (bad stored row)")
        return f"{len(self.status)} cells: " + ", ".join(parts)


def classify(cells, store):
    """:class:`GridStatus` of ``cells`` against ``store`` (fingerprints computed here, in the driver)."""
    fps = {c: fingerprint(c) for c in cells}
    by_key = store.classify({c.key(): fp for c, fp in fps.items()})
    return GridStatus(fps, {c: by_key[c.key()] for c in cells})


def run_grid(cells, store, executor=None, progress=None, status=None, computed=None):
    """Evaluate the ``cells`` the store cannot reuse, committing each as it finishes.

    A stored cell is reused only when its fingerprint (:func:`fingerprint`) is unchanged and its
    row is valid; otherwise it is recomputed, and the old row moves to the store's history.

    Parameters
    ----------
    cells : sequence of Cell
    store : denoisebench.store.Store
    executor : concurrent.futures.Executor, optional
        Where cells run; serial in this process by default.  The driver (this
        function) commits every result, whichever process computed it.
    progress : tqdm-like, optional
        Receives ``set_postfix_str(cell label)`` and ``update(1)`` per finished cell.
    status : GridStatus, optional
        From :func:`classify` (computed here when not given).
    computed : list, optional
        Each row is also appended here as soon as it is committed, so a caller interrupted by an
        exception (a lost scheduler) knows how many cells were stored.

    Returns
    -------
    rows : list of dict
        The rows computed by this call.
    """
    progress = progress or _NoProgress()
    status = status or classify(cells, store)
    todo = status.todo()
    results = _serial(todo, progress) if executor is None else _parallel(todo, executor, progress)
    by_key = {c.key(): c for c in todo}
    rows = [] if computed is None else computed
    for row in results:
        cell = by_key[tuple(row[k] for k in KEY)]
        store.put(row, status.fingerprints[cell])  # its own transaction, before the next cell starts
        rows.append(row)
        progress.update(1)
    return rows

