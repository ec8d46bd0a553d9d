"""Timing primitives of ``denoisebench perf``: medians of repeats after a warm-up, alternated calls.

Every number is the median of several timed calls after an untimed warm-up, with device
work synchronised before the clock stops (:func:`~denoisebench._array_api.synchronize`).
Ratios compare timings taken in the same process, alternated, on the same data: only such
ratios are comparable, since this machine's speed swings from run to run.

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
import time

import numpy as np

from .._array_api import synchronize, to_numpy
from ..metrics import mse_per_image, psnr

__all__ = ["SIGMA", "interleaved_seconds", "median_seconds", "noisy_batch", "profile_line"]

#: Noise level of every timed call and of the PSNRs reported.
SIGMA = 0.1


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


def noisy_batch(dataset, side, batch, seed=0, dtype="float32"):
    """``(clean, noisy)`` host batches ``(batch, 1, side, side)`` of ``dataset`` at :data:`SIGMA`."""
    from ..noise import add_noise
    from ..registry import make_dataset

    x = make_dataset(dataset, size=side).sample(batch, seed).astype(dtype)
    return x, add_noise(x, SIGMA, seed)


def _psnr(x, x_hat):
    return psnr(float(np.mean(mse_per_image(to_numpy(x), to_numpy(x_hat)))))

