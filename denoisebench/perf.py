"""Throughput of the denoisers (images/s) beside their peers, measured in one run: ``denoisebench perf``.

Every number is the median of several timed calls after an untimed warm-up, with device
work synchronised before the clock stops (:func:`~denoisebench._array_api.synchronize`).
Each ratio compares two timings taken in the same process, one after the other, on the
same data: only such ratios are comparable, since this machine's speed swings from run
to run.  On the CPU the run writes ``reports/performance.md`` (throughput, the peer
comparisons, a sampler, where the time goes); with ``--device cuda`` it writes
``reports/gpu.md`` (throughput, a Fourier-diagonal filter against the measured copy
bandwidth, U-Net inference with and without AMP, the sampler).  Peers and the report
layout live in :mod:`denoisebench._perf_peers` and :mod:`denoisebench._perf_report`, the machine's
description and thread limits in :mod:`denoisebench._perf_machine`.

References
----------
Python ``timeit`` and ``cProfile`` documentation (median of repeats after a warm-up; own time
per function); asv's timing conventions (https://asv.readthedocs.io).
"""
from __future__ import annotations

import cProfile
import os
import pstats
import re
import sys
import time
from datetime import datetime, timezone

import numpy as np

from ._array_api import from_numpy, synchronize, to_numpy
from ._perf_machine import limit_threads, machine, on_gpu
from .base import NotApplicableError
from .metrics import mse_per_image, psnr

__all__ = ["MODES", "SIGMA", "add_perf_command", "build_for_timing", "cmd_perf", "machine", "median_seconds",
           "noisy_batch", "profile_line", "run_perf", "throughput"]

#: Noise level of every timed call and of the PSNRs reported.
SIGMA = 0.1
#: Per mode: the (image side, batch) pairs of the throughput table, the (side, batch) of the Fourier filter
#: against the copy bandwidth, timed repeats, a time budget per timing (s), and the copy's size (MiB).
MODES = {
    "full": {"sizes": ((64, 64), (256, 8)), "fourier": (256, 8), "repeats": 5, "budget": 20.0, "copy_mib": 256},
    "gpu": {"sizes": ((64, 256), (256, 32)), "fourier": (256, 256), "repeats": 10, "budget": 20.0, "copy_mib": 1024},
    "quick": {"sizes": ((16, 4), (32, 2)), "fourier": (32, 2), "repeats": 2, "budget": 2.0, "copy_mib": 4},
}


# -- timing -----------------------------------------------------------------------------------
def interleaved_seconds(fns, repeats=5, budget=float("inf"), warmups=None):
    """``[(median seconds, last result) for each of fns]``, the calls interleaved: each round
    times ``fns[0]()``, ``fns[1]()``, … once, so a ratio of two medians compares timings taken
    under the same load (this machine's speed drifts within a run too).

    Each ``warmups[i]`` (default ``fns[i]``) is called once untimed first; rounds stop early once
    the timed calls have used ``budget`` seconds (one round at least).  Device work is
    synchronised inside each timing.
    """
    for fn, warm in zip(fns, warmups or [None] * len(fns)):
        synchronize((warm or fn)())
    times, outs = [[] for _ in fns], [None] * len(fns)
    for _ in range(max(1, int(repeats))):
        for i, fn in enumerate(fns):
            start = time.perf_counter()
            outs[i] = fn()
            synchronize(outs[i])
            times[i].append(time.perf_counter() - start)
        if sum(map(sum, times)) > budget:
            break
    return [(float(np.median(t)), out) for t, out in zip(times, outs)]


def median_seconds(fn, repeats=5, budget=float("inf"), warmup=None):
    """``(median seconds of fn(), last result)`` over ``repeats`` calls after one untimed warm-up
    (``warmup``, default ``fn``); see :func:`interleaved_seconds`."""
    return interleaved_seconds([fn], repeats, budget, [warmup])[0]


def _label(key):
    """A short name for a cProfile key ``(file, line, function)``."""
    file, _, name = key
    if file == "~":  # "<built-in method torch._C._fft.fft_rfftn>", "<method 'sort' of 'numpy.ndarray' objects>"
        m = re.match(r"<method '(\w+)' of '[\w.]*?(\w+)' objects>", name)
        if m:
            return f"{m.group(2)}.{m.group(1)}"
        return re.sub(r"^<built-in (method|function) |>$", "", name).split(".")[-1]
    return f"{os.path.splitext(os.path.basename(file))[0]}.{name}"


def profile_line(fn, top=3, calls=3):
    """Where ``calls`` calls of ``fn`` spend their time: the ``top`` functions by own time, in %."""
    prof = cProfile.Profile()
    prof.enable()
    for _ in range(calls):
        synchronize(fn())
    prof.disable()
    stats = pstats.Stats(prof).stats
    total = sum(v[2] for v in stats.values()) or 1e-12
    best = sorted(stats.items(), key=lambda kv: -kv[1][2])[:top]
    return ", ".join(f"{_label(k)} {100 * v[2] / total:.0f}%" for k, v in best)


# -- what is timed ----------------------------------------------------------------------------
def noisy_batch(dataset, side, batch, seed=0, dtype="float32"):
    """``(clean, noisy)`` host batches ``(batch, 1, side, side)`` of ``dataset`` at :data:`SIGMA`."""
    from .noise import add_noise
    from .registry import make_dataset

    x = make_dataset(dataset, size=side).sample(batch, seed).astype(dtype)
    return x, add_noise(x, SIGMA, seed)


def _random_unet():
    """A randomly initialised bias-free U-Net: its speed is the trained one's (same layers)."""
    import torch

    from ._bfunet import build, default_hparams

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        return build(default_hparams())


#: Denoisers whose timing needs something the registry does not give: name → keyword arguments.
_TIMING_KWARGS = {"unet": lambda side: {"weights": _random_unet()}}


def build_for_timing(name, side):
    """Denoiser ``name`` ready to run on ``side × side`` images: given the ``gaussian`` dataset if it
    needs one, fit on 8 of its images if it learns, random weights for ``unet`` (speed only)."""
    from .registry import denoiser_class, make_dataset, make_denoiser

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


def _psnr(x, x_hat):
    return psnr(float(np.mean(mse_per_image(to_numpy(x), to_numpy(x_hat)))))


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
    from .sampling import heun, initial_noise, karras_sigmas

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
    from .registry import make_denoiser

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
def run_perf(backend="numpy", device=None, quick=False, out=None, denoisers=None, command=None, threads=1):
    """Measure and write the report; returns ``{"path": ..., "results": ...}``.

    Parameters
    ----------
    backend, device : where the denoisers run (peers always run on the host CPU).
    quick : bool
        Tiny sizes and 2 repeats (:data:`MODES`): checks the pipeline, not the speed.  Otherwise
        ``MODES['full']`` on the CPU, ``MODES['gpu']`` (larger batches) on a GPU.
    out : path, optional
        Default ``reports/performance.md`` on the CPU, ``reports/gpu.md`` on a GPU.
    denoisers : list of str, optional
        Default: every available denoiser but the heavy ones (bm3d is timed among the peers).
    command : str, optional
        The command line to state in the report.
    threads : int or None
        Compute threads (BLAS, OpenMP, torch) during the run; default 1, as the peers, which loop
        on one core; ``None`` or 0: the libraries' defaults.  On a shared machine, several BLAS
        threads per batched product can be much slower than one (they wait on each other).
    """
    with limit_threads(threads):
        return _run_perf(backend, device, quick, out, denoisers, command)


def _run_perf(backend, device, quick, out, denoisers, command):
    from . import _perf_peers, _perf_report
    from .bench import default_denoisers

    gpu = on_gpu(device, backend)
    mode = MODES["quick" if quick else "gpu" if gpu else "full"]
    out = out or os.path.join("reports", "gpu.md" if gpu else "performance.md")
    names = list(denoisers or default_denoisers())
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
        results["peers"] = _perf_peers.compare_all(quick, repeats=max(2, min(reps, 3)), budget=budget)
    results["seconds"] = (datetime.now(timezone.utc) - started).total_seconds()
    text = (_perf_report.gpu_markdown if gpu else _perf_report.cpu_markdown)(results)
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    with open(out, "w") as f:
        f.write(text)
    gpu_path = os.path.join(os.path.dirname(os.path.abspath(out)), "gpu.md")
    if not gpu and not os.path.exists(gpu_path):
        with open(gpu_path, "w") as f:
            f.write(_perf_report.gpu_placeholder())
    return {"path": out, "results": results}


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
def add_perf_command(subparsers):
    """Add ``denoisebench perf`` to an argparse ``subparsers``; its handler is ``args.handler``."""
    from .bench import BACKENDS

    p = subparsers.add_parser(
        "perf", help="measure images/s per denoiser beside its peers; write reports/performance.md",
        description="Time every denoiser (median of repeats after a warm-up) at 64x64 and 256x256 batches, "
        "beside the peers (skimage denoise_wavelet and cycle_spin, pywt, the curvelets UDCT, bm3d) measured in "
        "the same run, as ratios, with the machine described. On a GPU (--device cuda or --backend cupy) "
        "writes reports/gpu.md instead: throughput, Fourier filter vs copy bandwidth, U-Net AMP, sampler.")
    p.add_argument("--backend", choices=BACKENDS, default="numpy", help="array backend (default %(default)s)")
    p.add_argument("--device", default=None, help="device, e.g. cpu, cuda, cuda:1 (default: cpu, or GPU 0 for cupy)")
    p.add_argument("--out", default=None, metavar="FILE",
                   help="report file (default reports/performance.md, or reports/gpu.md on a GPU)")
    p.add_argument("--quick", action="store_true", help="tiny sizes, 2 repeats: checks the pipeline, not the speed")
    p.add_argument("--denoisers", nargs="+", metavar="NAME", help="denoisers to time (default: all but the heavy ones)")
    p.add_argument("--threads", type=int, default=1, metavar="N",
                   help="compute threads (BLAS, OpenMP, torch) during the run; default 1, as the single-threaded "
                   "peers; 0: the libraries' defaults")
    p.set_defaults(handler=cmd_perf)
    return p


def cmd_perf(args):
    """Handler of ``denoisebench perf``: validate, measure, write, print the path."""
    from .bench import resolve_backend
    from .registry import SpecError, list_denoisers

    resolve_backend(args.backend, args.device)
    unknown = [n for n in args.denoisers or () if n not in list_denoisers()]
    if unknown:
        raise SpecError(f"unknown denoiser {unknown[0]!r}; valid: {', '.join(list_denoisers())}")
    parts = ["denoisebench perf", f"--backend {args.backend}", args.device and f"--device {args.device}",
             args.quick and "--quick", args.out and f"--out {args.out}",
             args.threads != 1 and f"--threads {args.threads}",
             args.denoisers and "--denoisers " + " ".join(args.denoisers)]
    if args.threads < 0:
        raise SpecError(f"--threads must be >= 0; got {args.threads}")
    result = run_perf(args.backend, args.device, args.quick, args.out, args.denoisers,
                      command=" ".join(p for p in parts if p), threads=args.threads)
    print(f"wrote {result['path']}", file=sys.stdout)
    return 0
