"""torch-CPU against numpy, same denoiser, same data: what one array-API code path costs on torch.

Every denoiser runs one implementation on every backend (``xp = array_namespace(y)``); this
compares its seconds on a torch CPU tensor against a numpy array holding the same batch, in
rounds of alternated calls (:func:`~denoisebench.perf.timing.alternated_rounds`: numpy, torch,
numpy, torch, …) under the threads :func:`~denoisebench.perf.machine.limit_threads` set for the
run.  A round's ratio is torch seconds / numpy seconds (medians within the round); each row gives
the median ratio over rounds with its spread (min–max), judged against :data:`TARGET`
(``≤ 1.3×``, the project's target) with the verdicts of :func:`~denoisebench.perf.timing.ratio_spread`.

References
----------
Python array API standard, 2023.12 (one implementation for every conforming namespace);
array-api-compat (https://data-apis.org/array-api-compat/); Python ``timeit`` documentation
(median of repeats after a warm-up).
"""
from __future__ import annotations

import numpy as np

from .._array_api import from_numpy, to_numpy
from ..base import NotApplicableError
from .timing import SIGMA, alternated_rounds, noisy_batch, ratio_spread

__all__ = ["PLAN", "TARGET", "SKIP", "compare_torch_cpu"]

#: The ratio wanted: torch-CPU seconds / numpy seconds ≤ TARGET (the project's target).
TARGET = 1.3
#: Denoisers not compared: torch-only (no numpy run to compare with) or host-only (numpy inside).
SKIP = {"unet": "torch only", "skimage-wavelet": "numpy inside (scikit-image)", "deepinv": "torch only",
        "bm3d": "numpy inside (bm3d)", "torchscript": "torch only"}
#: Per mode: rounds wanted, alternated calls per round, the time budget (s) past which a comparison's
#: rounds stop (but ``min_rounds`` at least).
PLAN = {"full": {"rounds": 5, "calls": 2, "budget": 20.0, "min_rounds": 3},
        "quick": {"rounds": 3, "calls": 1, "budget": 2.0, "min_rounds": 2}}


def _caller(d, y, x):
    return (lambda: d(y, SIGMA, clean=x)) if type(d).bound else (lambda: d(y, SIGMA))


def compare_one(name, side, batch, plan, build):
    """One row: ``name`` on ``batch`` ``side × side`` float32 images, numpy against torch-CPU.

    ``build(name, side)`` makes the denoiser (:func:`~denoisebench.perf.measure.build_for_timing`).
    Returns ``{"denoiser", "shape", "numpy_ms", "torch_ms", "spread", "max_abs_diff"}``; ``spread`` is
    :func:`~denoisebench.perf.timing.ratio_spread` of torch seconds over numpy seconds against
    :data:`TARGET` (at most); ``max_abs_diff`` is the largest difference of the two outputs.
    """
    x, y = noisy_batch("gaussian", side, batch)
    d = build(name, side)
    calls = [_caller(d, from_numpy(y, b), from_numpy(x, b)) for b in ("numpy", "torch")]
    times, outs = alternated_rounds(calls, plan["rounds"], plan["calls"], plan["budget"],
                                    min_rounds=plan["min_rounds"])
    return {"denoiser": name, "shape": (batch, 1, side, side), "numpy_ms": 1e3 * float(np.median(times[0])),
            "torch_ms": 1e3 * float(np.median(times[1])),
            "spread": ratio_spread(times[1], times[0], TARGET, at_most=True),
            "max_abs_diff": float(np.max(np.abs(to_numpy(outs[0]) - to_numpy(outs[1]))))}


def compare_torch_cpu(names, sizes, build, quick=False):
    """torch-CPU against numpy for each denoiser of ``names`` at each ``(side, batch)`` of ``sizes``.

    ``build(name, side)`` makes each denoiser (:func:`~denoisebench.perf.measure.build_for_timing`).
    Returns a list of rows (:func:`compare_one`), or ``{"denoiser", "shape", "missing": reason}`` for a
    denoiser that is skipped (:data:`SKIP`) or does not apply; an empty list without torch.
    """
    try:
        import torch  # noqa: F401
    except ImportError:
        return []
    plan = PLAN["quick" if quick else "full"]
    rows = []
    for name in names:
        for side, batch in sizes:
            if name in SKIP:
                rows.append({"denoiser": name, "shape": (batch, 1, side, side), "missing": SKIP[name]})
                continue
            try:
                rows.append(compare_one(name, side, batch, plan, build))
            except (NotApplicableError, TypeError, ImportError) as exc:
                rows.append({"denoiser": name, "shape": (batch, 1, side, side),
                             "missing": f"{type(exc).__name__}: {exc}"})
    return rows
