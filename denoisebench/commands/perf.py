"""``denoisebench perf``: throughput per denoiser beside its peers, measured in one run."""
from __future__ import annotations

import os
import sys

from ..backends import BACKENDS
from ..perf.machine import on_gpu
from ..perf.measure import run_perf
from ..outputs import check_output_target
from ._args import default_out

NAME = "perf"


def add_parser(subparsers):
    """Add ``denoisebench perf`` to an argparse ``subparsers``; its handler is ``args.handler``."""
    p = subparsers.add_parser(
        NAME, help="measure images/s per denoiser beside its peers; write a Markdown report",
        description="Time every denoiser (median of repeats after a warm-up) at 64x64 and 256x256 batches, "
        "beside the peers (skimage denoise_wavelet and cycle_spin, pywt, the curvelets UDCT, bm3d) measured in "
        "the same run, as ratios, with the machine described (regenerate the committed reports/performance.md with scripts/regenerate_reports.sh). On a GPU (--device cuda or --backend cupy) "
        "writes a GPU report instead: throughput, Fourier filter vs copy bandwidth, U-Net AMP, sampler.")
    p.add_argument("--backend", choices=BACKENDS, default="numpy", help="array backend (default %(default)s)")
    p.add_argument("--device", default=None, help="device, e.g. cpu, cuda, cuda:1 (default: cpu, or GPU 0 for cupy)")
    p.add_argument("--out", default=None, metavar="FILE",
                   help="report file (default denoisebench-out/perf/performance.md, or gpu.md there on a GPU)")
    p.add_argument("--quick", action="store_true", help="tiny sizes, few repeats: checks the pipeline, not the speed")
    p.add_argument("--denoisers", nargs="+", metavar="NAME", help="denoisers to time (default: all but the heavy ones)")
    p.add_argument("--threads", type=int, default=1, metavar="N",
                   help="compute threads during the run, for ours and the peers alike: scipy.fft workers, BLAS/OpenMP "
                   "(threadpoolctl) and torch; default 1, as the single-threaded peers; 0: the libraries' defaults")
    p.add_argument("--compare", default=None, metavar="JSON",
                   help="an earlier run's results (the .json written beside its report): the new report says how far "
                   "each ratio moved and whether the earlier median lies within this run's spread")
    p.set_defaults(handler=main)
    return p


def main(args):
    """Handler of ``denoisebench perf``: validate, measure, write, print the path."""
    from ..backends import resolve_backend
    from ..registry import SpecError, list_denoisers

    resolve_backend(args.backend, args.device)
    unknown = [n for n in args.denoisers or () if n not in list_denoisers()]
    if unknown:
        raise SpecError(f"unknown denoiser {unknown[0]!r}; valid: {', '.join(list_denoisers())}")
    parts = ["denoisebench perf", f"--backend {args.backend}", args.device and f"--device {args.device}",
             args.quick and "--quick", args.out and f"--out {args.out}",
             args.threads != 1 and f"--threads {args.threads}",
             args.denoisers and "--denoisers " + " ".join(args.denoisers),
             args.compare and f"--compare {args.compare}"]
    if args.threads < 0:
        raise SpecError(f"--threads must be >= 0; got {args.threads}")
    out = args.out or default_out(NAME, "gpu.md" if on_gpu(args.device, args.backend) else "performance.md")
    for path in (out, os.path.splitext(out)[0] + ".json", os.path.join(os.path.dirname(out), "gpu.md")):
        check_output_target(path, "--out" if path == out else "output")
    result = run_perf(args.backend, args.device, args.quick, out, args.denoisers,
                      command=" ".join(p for p in parts if p), threads=args.threads, compare=args.compare)
    print("wrote " + ", ".join(result["paths"]), file=sys.stdout)
    return 0
