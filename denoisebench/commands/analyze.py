"""``denoisebench analyze``: Jacobian analysis — effective dimension, homogeneity, SURE, adaptive basis."""
from __future__ import annotations

from ..experiments.analyze import DEFAULT_SIGMAS, analyze
from ._args import default_out, number, sigma_list

NAME = "analyze"


def add_parser(subparsers):
    """Add ``denoisebench analyze`` to an argparse ``subparsers``; its handler is ``args.handler``."""
    p = subparsers.add_parser(
        NAME, help="Jacobian analysis: effective dimension, homogeneity, SURE, adaptive basis",
        description="For each denoiser and sigma, on seeded test images of a dataset: the Jacobian trace "
        "(effective dimension), the homogeneity error, SURE against the true MSE; and a figure of the top "
        "singular vectors of the Jacobian. Writes DIR/analysis.csv, DIR/analysis.md, DIR/adaptive_basis.png.")
    p.add_argument("--dataset", required=True, metavar="SPEC", help="dataset spec")
    p.add_argument("--denoisers", required=True, nargs="+", metavar="SPEC", help="denoiser specs")
    p.add_argument("--sigmas", type=sigma_list, default=list(DEFAULT_SIGMAS), metavar="LIST",
                   help=f"comma-separated noise levels (default {','.join(map(str, DEFAULT_SIGMAS))})")
    p.add_argument("--n", type=number(int, 1), default=8, help="test images (default %(default)s)")
    p.add_argument("--seed", type=number(int, 0, hi=2**63 - 1), default=0, help="seed of images, noise and probes (default %(default)s)")
    p.add_argument("--size", type=number(int, 4, hi=4096), default=None, help="image size (default: the spec's)")
    p.add_argument("--probes", type=number(int, 0), default=16, help="Hutchinson probes per image; 0: exact trace (default %(default)s)")
    p.add_argument("--top", type=number(int, 1), default=6, help="singular vectors in the figure (default %(default)s)")
    p.add_argument("--n-train", type=number(int, 1), default=256, help="training images for denoisers that learn (default %(default)s)")
    p.add_argument("--out", default=default_out(NAME), metavar="DIR", help="output directory (default %(default)s)")
    p.set_defaults(handler=main)
    return p


def main(args):
    """Run ``denoisebench analyze`` from parsed ``args``; return the exit code (ValueError on bad input)."""
    from ..outputs import check_output_target

    check_output_target(args.out, "--out", "dir", contents=("analysis.csv", "analysis.md", "adaptive_basis.png"))
    for key in ("n", "top", "n_train"):
        if getattr(args, key) < 1:
            raise ValueError(f"--{key.replace('_', '-')} must be >= 1; got {getattr(args, key)}")
    if args.probes < 0:
        raise ValueError(f"--probes must be >= 0; got {args.probes}")
    analyze(args.dataset, args.denoisers, args.sigmas, n=args.n, seed=args.seed, probes=args.probes,
            size=args.size, top=args.top, n_train=args.n_train, out=args.out)
    print(f"wrote {args.out}/analysis.csv, {args.out}/analysis.md, {args.out}/adaptive_basis.png")
    return 0
