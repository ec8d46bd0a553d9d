"""Timing primitives of ``denoisebench perf``: medians of repeats after a warm-up, alternated calls.

Every number is the median of several timed calls after an untimed warm-up, with device
work synchronised before the clock stops (:func:`~denoisebench._array_api.synchronize`).
Ratios compare timings taken in the same process, alternated, on the same data: only such
ratios are comparable, since this machine's speed swings from run to run.  Each comparison is
repeated in rounds (:func:`alternated_rounds`) and reported as the median ratio with its
spread over rounds (:func:`ratio_spread`), flagged where the spread crosses the target.

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

__all__ = ["CROSSES", "SIGMA", "alternated_rounds", "interleaved_seconds", "median_seconds", "noisy_batch",
           "profile_line", "ratio_spread"]

#: Noise level of every timed call and of the PSNRs reported.
SIGMA = 0.1


def alternated_rounds(fns, rounds=5, calls=2, budget=float("inf"), warmups=None, min_rounds=1,
                      clock=time.perf_counter):
    """Time ``fns`` in ``rounds`` rounds of alternated calls: ``fns[0]()``, ``fns[1]()``, …, repeated
    ``calls`` times within each round, so every round sees the same load on each side.

    Parameters
    ----------
    fns : sequence of callables
        What is timed; device work is synchronised inside each timing.
    rounds : int
        Rounds wanted; fewer when the timed calls pass ``budget`` seconds, but ``min_rounds`` at least.
    calls : int
        Calls of each function per round (alternated).
    warmups : sequence of callables or None, optional
        ``warmups[i]`` (default ``fns[i]``) is called once, untimed, before the rounds.
    clock : callable
        Seconds now (default :func:`time.perf_counter`); a fake clock makes the durations known in tests.

    Returns
    -------
    times : list of list of float
        ``times[i][r]``: the median seconds of ``fns[i]()`` within round ``r``.
    outs : list
        The last result of each function.
    """
    for fn, warm in zip(fns, warmups or [None] * len(fns)):
        synchronize((warm or fn)())
    times, outs = [[] for _ in fns], [None] * len(fns)
    spent = 0.0
    for r in range(max(1, int(rounds))):
        within = [[] for _ in fns]
        for _ in range(max(1, int(calls))):
            for i, fn in enumerate(fns):
                start = clock()
                outs[i] = fn()
                synchronize(outs[i])
                within[i].append(clock() - start)
        for i, t in enumerate(within):
            times[i].append(float(np.median(t)))
            spent += sum(t)
        if spent > budget and r + 1 >= min_rounds:
            break
    return times, outs


def interleaved_seconds(fns, repeats=5, budget=float("inf"), warmups=None, clock=time.perf_counter):
    """``[(median seconds, last result) for each of fns]``, the calls interleaved: each round
    times ``fns[0]()``, ``fns[1]()``, … once, so a ratio of two medians compares timings taken
    under the same load (this machine's speed drifts within a run too).

    Each ``warmups[i]`` (default ``fns[i]``) is called once untimed first; rounds stop early once
    the timed calls have used ``budget`` seconds (one round at least); see :func:`alternated_rounds`.
    """
    times, outs = alternated_rounds(fns, repeats, 1, budget, warmups, clock=clock)
    return [(float(np.median(t)), out) for t, out in zip(times, outs)]


def median_seconds(fn, repeats=5, budget=float("inf"), warmup=None):
    """``(median seconds of fn(), last result)`` over ``repeats`` calls after one untimed warm-up
    (``warmup``, default ``fn``); see :func:`interleaved_seconds`."""
    return interleaved_seconds([fn], repeats, budget, [warmup])[0]


#: Verdicts of :func:`ratio_spread` against a target; the marker flags a spread that crosses it.
CROSSES = "⚠"


def ratio_spread(slow, fast, target=None, at_most=False):
    """The per-round ratios ``slow[r] / fast[r]`` (e.g. peer seconds / our seconds) and their spread.

    Parameters
    ----------
    slow, fast : sequences of float
        Seconds per round (:func:`alternated_rounds`), same length, all > 0.
    target : float or None
        The ratio wanted (``ratio >= target``); None: no target.
    at_most : bool
        The target is an upper bound instead (``ratio <= target``, e.g. torch seconds / numpy seconds).

    Returns
    -------
    dict
        ``ratios`` (per round), ``median``, ``min``, ``max``, ``q1``, ``q3`` (interquartile range, linear
        interpolation), ``rounds``, ``target`` and ``verdict``: ``"met"`` (min ≥ target), ``"missed"``
        (max < target), ``"⚠ crosses"`` (min < target ≤ max: this run does not settle it) or ``"—"``;
        with ``at_most``, met is max ≤ target and missed min > target.
    """
    slow, fast = np.asarray(slow, float), np.asarray(fast, float)
    if slow.shape != fast.shape or slow.ndim != 1 or slow.size == 0:
        raise ValueError(f"ratio_spread needs two equal-length, non-empty sequences; got {slow.shape} and {fast.shape}")
    if not (np.all(slow > 0) and np.all(fast > 0)):
        raise ValueError(f"ratio_spread needs seconds > 0; got {slow.tolist()} and {fast.tolist()}")
    ratios = slow / fast
    q1, q3 = np.percentile(ratios, [25, 75])
    lo, hi = float(ratios.min()), float(ratios.max())
    if target is None:
        verdict = "—"
    else:
        met, missed = (hi <= target, lo > target) if at_most else (lo >= target, hi < target)
        verdict = "met" if met else "missed" if missed else f"{CROSSES} crosses"
    return {"ratios": ratios.tolist(), "median": float(np.median(ratios)), "min": lo, "max": hi,
            "q1": float(q1), "q3": float(q3), "rounds": int(ratios.size), "target": target, "at_most": bool(at_most), "verdict": verdict}


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

