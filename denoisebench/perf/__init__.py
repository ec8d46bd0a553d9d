"""Performance measurement (``denoisebench perf``): timing primitives, throughput, peers, reports.

- :mod:`~denoisebench.perf.timing`: medians of repeats after a warm-up, rounds of alternated calls and
  the spread of their ratios;
- :mod:`~denoisebench.perf.measure`: throughput, Fourier filter against copy bandwidth, sampler
  rate, U-Net AMP, and :func:`run_perf` which writes the report;
- :mod:`~denoisebench.perf.peers`: ours against scikit-image, PyWavelets, UDCT and BM3D;
- :mod:`~denoisebench.perf.machine`: the machine's description and thread limits;
- :mod:`~denoisebench.perf.report`: the Markdown of the report.
"""
from .measure import MODES, build_for_timing, machine, run_perf, throughput
from .timing import (SIGMA, alternated_rounds, interleaved_seconds, median_seconds, noisy_batch, profile_line,
                     ratio_spread)

__all__ = ["MODES", "SIGMA", "alternated_rounds", "build_for_timing", "interleaved_seconds", "machine",
           "median_seconds", "noisy_batch", "profile_line", "ratio_spread", "run_perf", "throughput"]
