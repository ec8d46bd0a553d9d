"""Throughput of the denoisers (images/s) beside their peers, measured in one run: ``denoisebench perf``.

Every number is the median of several timed calls after an untimed warm-up, with device
work synchronised before the clock stops (:func:`~denoisebench._array_api.synchronize`).
Each ratio compares two timings taken in the same process, one after the other, on the
same data: only such ratios are comparable, since this machine's speed swings from run
to run.  On the CPU the run writes ``reports/performance.md`` (throughput, the peer
comparisons, a sampler, where the time goes); with ``--device cuda`` it writes
``reports/gpu.md`` (throughput, a Fourier-diagonal filter against the measured copy
bandwidth, U-Net inference with and without AMP, the sampler).  Peers and the report
layout live in :mod:`denoisebench.perf.peers` and :mod:`denoisebench.perf.report`, the machine's
description and thread limits in :mod:`denoisebench.perf.machine`, the timing primitives in
:mod:`denoisebench.perf.timing`.

References
----------
Python ``timeit`` and ``cProfile`` documentation (median of repeats after a warm-up; own time
per function); asv's timing conventions (https://asv.readthedocs.io).
"""
from __future__ import annotations

import json
import os
import sys
from datetime import datetime, timezone

import numpy as np

from .._array_api import from_numpy
from ..base import NotApplicableError
from . import peers, report, reproduce, torch_cpu
from .machine import limit_threads, machine, on_gpu
from .timing import SIGMA, median_seconds, noisy_batch, profile_line

__all__ = ["MODES", "SIGMA", "build_for_timing", "machine", "median_seconds",
           "noisy_batch", "profile_line", "run_perf", "throughput"]

#: Per mode: the (image side, batch) pairs of the throughput table, the (side, batch) of the Fourier filter
#: against the copy bandwidth, timed repeats, a time budget per timing (s), the copy's size (MiB), and the
#: time budget per peer comparison (s; its rounds stop past it, 3 rounds at least).
MODES = {
    "full": {"sizes": ((64, 64), (256, 8)), "fourier": (256, 8), "repeats": 5, "budget": 20.0, "copy_mib": 256,
             "peer_budget": 90.0},
    "gpu": {"sizes": ((64, 256), (256, 32)), "fourier": (256, 256), "repeats": 10, "budget": 20.0, "copy_mib": 1024},
    "quick": {"sizes": ((16, 4), (32, 2)), "fourier": (32, 2), "repeats": 2, "budget": 2.0, "copy_mib": 4,
              "peer_budget": 5.0},
}


# -- timing -----------------------------------------------------------------------------------


# -- what is timed ----------------------------------------------------------------------------


def _random_unet():
    """A randomly initialised bias-free U-Net: its speed is the trained one's (same layers)."""
    import torch

    from ..networks._bfunet import build, default_hparams

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        return build(default_hparams())


#: Denoisers whose timing needs something the registry does not give: name → keyword arguments.
_TIMING_KWARGS = {"unet": lambda side: {"weights": _random_unet()},
                  "deepinv": lambda side: {"model": "dncnn", "weights": "random"},
                  # in a grid FFDNet applies to photographs only; timed as a plain call on any image
                  "ffdnet": lambda side: {"dataset": None}}


def build_for_timing(name, side):
    """Denoiser ``name`` ready to run on ``side × side`` images: given the ``gaussian`` dataset if it
    needs one, fit on 8 of its images if it learns, random weights for ``unet`` (speed only)."""
    from ..registry import denoiser_class, make_dataset, make_denoiser

    cls = denoiser_class(name)
    dataset = make_dataset("gaussian", size=side)
    kwargs = _TIMING_KWARGS[name](side) if name in _TIMING_KWARGS else {}
    if cls.needs_dataset:
        kwargs.setdefault("dataset", dataset)
    d = make_denoiser(name, **kwargs)
    if cls.learns:
        d.fit(dataset.sample(8, 0, split="train"))
    return d


def _caller(d, y, x):
    """The call to time: ``d(y, σ)``, with the clean batch for oracle bounds."""
    return (lambda: d(y, SIGMA, clean=x)) if type(d).bound else (lambda: d(y, SIGMA))


def throughput(names, sizes, backend="numpy", device=None, repeats=5, budget=20.0, profile=True):
    """Images/s of each denoiser at each ``(side, batch)`` on ``backend``/``device``.

    Returns a list of rows ``{"denoiser", "rates": {(side, batch): images/s or reason}, "profile"}``;
    a denoiser that does not apply (no dataset optimum, host-only on a device) gets its reason.
    """
    rows = []
    for name in names:
        row = {"denoiser": name, "rates": {}, "profile": ""}
        for side, batch in sizes:
            try:
                x, y = (from_numpy(a, backend, device) for a in noisy_batch("gaussian", side, batch))
                call = _caller(build_for_timing(name, side), y, x)
                seconds, _ = median_seconds(call, repeats, budget)
                row["rates"][(side, batch)] = batch / seconds
                if profile and (side, batch) == sizes[-1]:
                    row["profile"] = profile_line(call)
            except (NotApplicableError, TypeError, ImportError) as exc:
                row["rates"][(side, batch)] = f"n/a ({type(exc).__name__}: {exc})"
            except Exception as exc:  # a broken denoiser shows in the report; it does not stop the run
                row["rates"][(side, batch)] = f"error ({type(exc).__name__}: {exc})"
                print(f"denoisebench perf: {name} at {side}x{side} failed: {exc!r}", file=sys.stderr)
        rows.append(row)
    return rows


# -- the sampler and the GPU-specific measurements ---------------------------------------------------
def sampler_rate(name, side, batch, backend="numpy", device=None, steps=10, repeats=3, budget=20.0):
    """Samples/s of EDM's Heun sampler (``steps`` steps, 2·steps − 1 NFE) driven by ``name``."""
    from ..sampling import heun, initial_noise, karras_sigmas

    d = build_for_timing(name, side)
    sigmas = karras_sigmas(steps, 0.01, 1.0)
    x0 = from_numpy(initial_noise(batch, (1, side, side), sigmas[0], mean=0.5).astype(np.float32), backend, device)
    seconds, _ = median_seconds(lambda: heun(d, x0, sigmas).samples, repeats, budget)
    return batch / seconds


def _copy(x):
    import array_api_compat

    return x.clone() if array_api_compat.is_torch_array(x) else x.copy()


def copy_bandwidth(backend="numpy", device=None, mib=256, repeats=5):
    """Device-to-device copy bandwidth in GB/s: bytes read + written by a copy of ``mib`` MiB / time."""
    x = from_numpy(np.ones(mib * 2**18, np.float32), backend, device)
    seconds, _ = median_seconds(lambda: _copy(x), repeats)
    return 2 * mib * 2**20 / seconds / 1e9


def fourier_efficiency(side, batch, bandwidth, backend="numpy", device=None, repeats=5, budget=20.0):
    """``wiener-oracle`` (a Fourier-diagonal filter) as effective GB/s (its input read + output
    written, the least traffic any filter needs) and as a percentage of the copy ``bandwidth``."""
    x, y = (from_numpy(a, backend, device) for a in noisy_batch("gaussian", side, batch))
    seconds, _ = median_seconds(_caller(build_for_timing("wiener-oracle", side), y, x), repeats, budget)
    effective = 2 * y.shape[0] * side * side * 4 / seconds / 1e9
    return {"shape": (batch, 1, side, side), "images_per_s": batch / seconds, "gbps": effective,
            "percent": 100 * effective / bandwidth}


def unet_amp(sizes, backend, device, repeats=5, budget=20.0):
    """U-Net inference images/s with and without bfloat16 autocast, per ``(side, batch)``."""
    from ..registry import make_denoiser

    rows = []
    for side, batch in sizes:
        x, y = (from_numpy(a, backend, device) for a in noisy_batch("gaussian", side, batch))
        rates = {}
        for amp in (False, True):
            d = make_denoiser("unet", weights=_random_unet(), amp=amp)
            rates[amp] = batch / median_seconds(_caller(d, y, x), repeats, budget)[0]
        rows.append({"shape": (batch, 1, side, side), "fp32": rates[False], "amp": rates[True]})
    return rows


# -- run ---------------------------------------------------------------------------------------
def run_perf(backend="numpy", device=None, quick=False, out=None, denoisers=None, command=None, threads=1,
             compare=None):
    """Measure and write the report and its results as JSON beside it (``.json`` for ``.md``);
    returns ``{"path": ..., "paths": [report, its .json, the gpu.md placeholder if written], "results": ...}``.

    Parameters
    ----------
    backend, device : where the denoisers run (peers always run on the host CPU).
    quick : bool
        Tiny sizes and 2 repeats (:data:`MODES`): checks the pipeline, not the speed.  Otherwise
        ``MODES['full']`` on the CPU, ``MODES['gpu']`` (larger batches) on a GPU.
    out : path, optional
        Default ``denoisebench-out/perf/performance.md`` on the CPU, ``.../gpu.md`` on a GPU.
    denoisers : list of str, optional
        Default: every available denoiser but the heavy ones (bm3d is timed among the peers).
    command : str, optional
        The command line to state in the report.
    threads : int or None
        Compute threads during the run (scipy.fft workers, BLAS/OpenMP, torch:
        :func:`~denoisebench.perf.machine.limit_threads`; needs threadpoolctl); default 1, as the
        peers, which loop on one core; ``None`` or 0: the libraries' defaults.  On a shared machine, several BLAS
        threads per batched product can be much slower than one (they wait on each other).
    compare : path, optional
        An earlier run's JSON: the report gains "Two runs compared" (:mod:`denoisebench.perf.reproduce`).
    """
    previous = reproduce.load_run(compare) if compare else None  # a bad file fails before measuring
    with limit_threads(threads):
        return _run_perf(backend, device, quick, out, denoisers, command, previous)


def _run_perf(backend, device, quick, out, denoisers, command, previous=None):
    from ..grid import default_denoisers
    from ..registry.specs import parse_spec

    gpu = on_gpu(device, backend)
    mode = MODES["quick" if quick else "gpu" if gpu else "full"]
    out = out or os.path.join("denoisebench-out", "perf", "gpu.md" if gpu else "performance.md")
    # Registry names, once each: a default run's specs (unet:variant=...) time the same layers as their name.
    names = list(dict.fromkeys(parse_spec(d)[0] for d in (denoisers or default_denoisers())))
    reps, budget, sizes = mode["repeats"], mode["budget"], mode["sizes"]
    started = datetime.now(timezone.utc)
    results = {"machine": machine(backend, device), "backend": backend, "device": device or ("cuda" if backend == "cupy" else "cpu"), "sizes": sizes,
               "quick": quick, "command": command or f"denoisebench perf --backend {backend}",
               "started": started.isoformat(timespec="seconds")}
    results["throughput"] = throughput(names, sizes, backend, device, reps, budget)
    bandwidth = copy_bandwidth(backend, device, mode["copy_mib"], reps)
    results["bandwidth"] = bandwidth
    results["fourier"] = fourier_efficiency(*mode["fourier"], bandwidth, backend, device, reps, budget)
    results["sampler"] = _samplers(sizes[0], backend, device, reps, budget, names)
    if gpu:
        results["unet_amp"] = unet_amp(sizes, backend, device, reps, budget) if "unet" in names else []
    else:
        results["peers"] = peers.compare_all(quick, budget=mode["peer_budget"])
        if backend == "numpy":
            results["torch_cpu"] = torch_cpu.compare_torch_cpu(names, sizes, build_for_timing, quick)
    results["seconds"] = (datetime.now(timezone.utc) - started).total_seconds()
    text = (report.gpu_markdown if gpu else report.cpu_markdown)(results)
    if previous is not None:
        text += "\n" + "\n".join(reproduce.markdown(reproduce.compare_runs(previous, results), previous))
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    with open(out, "w") as f:
        f.write(text)
    with open(os.path.splitext(out)[0] + ".json", "w") as f:
        json.dump(reproduce.jsonable(results), f, indent=1)
    paths = [out, os.path.splitext(out)[0] + ".json"]
    gpu_path = os.path.join(os.path.dirname(out), "gpu.md")
    if not gpu and not os.path.exists(gpu_path):
        with open(gpu_path, "w") as f:
            f.write(report.gpu_placeholder(gpu_path))
        paths.append(gpu_path)
    return {"path": out, "paths": paths, "results": results}


def _samplers(size, backend, device, repeats, budget, names):
    side, batch = size
    rates = {}
    for name in [n for n in ("optimal", "wavelet", "unet") if n in names]:
        try:
            rates[name] = sampler_rate(name, side, batch, backend, device, repeats=repeats, budget=budget)
        except (NotApplicableError, TypeError, ImportError) as exc:
            rates[name] = f"n/a ({exc})"
    return {"shape": (batch, 1, side, side), "steps": 10, "nfe": 19, "rates": rates}


# -- command line -----------------------------------------------------------------------------------
