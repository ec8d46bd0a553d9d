"""``denoisebench decay``: risk decay on cartoons, MSE against ε = σ/√N; fitted exponents."""
from __future__ import annotations

from ..experiments.decay import DEFAULT_DENOISERS, DEFAULT_SIZES, run_decay, write_decay_report
from ._args import default_out, int_list, number

NAME = "decay"


def add_parser(subparsers):
    """Add ``denoisebench decay`` to an argparse ``subparsers``; its handler is ``args.handler``."""
    p = subparsers.add_parser(
        NAME, help="risk decay on cartoons: MSE vs ε = σ/√N sweeping the image size; fitted exponents",
        description="Sweep the image size at fixed σ on a cartoon dataset, fit the exponent r of MSE ≍ ε^r "
        "(ε = σ/√N) per denoiser and write DIR/decay.md (beside theory: Fourier 2/3, wavelets 1, curvelets 4/3) "
        "and DIR/decay.png. Cells go through the resumable store DIR/results.sqlite.")
    p.add_argument("--dataset", default="cartoon", metavar="SPEC", help="dataset spec (default %(default)s)")
    p.add_argument("--denoisers", nargs="+", default=list(DEFAULT_DENOISERS), metavar="SPEC",
                   help="denoiser specs (default: %(default)s)")
    p.add_argument("--sizes", type=int_list(8), default=list(DEFAULT_SIZES), metavar="LIST",
                   help=f"comma-separated image sizes >= 8 (default {','.join(map(str, DEFAULT_SIZES))})")
    p.add_argument("--sigma", type=number(float, 0, strict=True), default=0.1, help="pixel noise level (default %(default)s)")
    p.add_argument("--n", type=number(int, 1), default=8, help="test images per size (default %(default)s)")
    p.add_argument("--n-train", type=number(int, 1), default=64, help="training images of learning denoisers (default %(default)s)")
    p.add_argument("--seed", type=number(int, 0, hi=2**63 - 1), default=0, help="seed (default %(default)s)")
    p.add_argument("--backend", default="numpy", help="array backend (default %(default)s)")
    p.add_argument("--device", default=None, help="device, e.g. cuda")
    p.add_argument("--out", default=default_out(NAME), metavar="DIR", help="output directory (default %(default)s)")
    p.set_defaults(handler=main)
    return p


def main(args):
    """Handler of ``denoisebench decay``."""
    import shlex
    import sys

    from tqdm import tqdm

    from ..experiments.decay import check_sizes
    from ..outputs import check_output_target
    from ..store import STORE_NAME

    sizes = check_sizes(args.sizes, "--sizes")
    check_output_target(args.out, "--out", "dir", contents=(STORE_NAME, "decay.md", "decay.png"))
    from ..grid import plan

    plan([args.dataset], args.denoisers, [args.sigma], n=args.n, size=sizes[0], backend=args.backend,
         device=args.device)  # validates names and settings before anything runs
    with tqdm(total=len(sizes) * len(args.denoisers), file=sys.stderr, unit="cell", desc="decay") as bar:
        rows = run_decay(args.out, sizes=sizes, sigma=args.sigma, n=args.n, denoisers=args.denoisers,
                         dataset=args.dataset, seed=args.seed, backend=args.backend, device=args.device,
                         n_train=args.n_train, progress=bar)
    command = "denoisebench decay " + " ".join(shlex.quote(a) for a in sys.argv[2:])
    print("wrote " + ", ".join(write_decay_report(rows, args.out, command.strip())))
    return 0
