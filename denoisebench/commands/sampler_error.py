"""``denoisebench sampler-error``: the sampler's exact KL on ``gaussian`` against evaluations (closed form)."""
from __future__ import annotations

from ..experiments.sampler_error import DEFAULTS, run_sampler_error
from ._args import default_out, int_list, number

NAME = "sampler-error"


def add_parser(subparsers):
    """Add ``sampler-error`` to an ``add_subparsers()`` object; its handler is ``args.handler`` (:func:`main`)."""
    p = subparsers.add_parser(
        NAME, help="exact KL(sampler output ‖ data) on gaussian against evaluations, per sampler and schedule",
        description="Propagate each Fourier mode's variance through Heun, Euler and Euler–Maruyama with the exact "
        "Wiener denoiser (closed form, no Monte Carlo); write DIR/README.md (KL and spectrum-bias tables, the default "
        "steps of `sample`, the σ_max rule), DIR/kl_vs_nfe.png and DIR/results.json.")
    p.add_argument("--dataset", default=DEFAULTS["dataset"], metavar="SPEC",
                   help="a gaussian dataset spec (default %(default)s)")
    p.add_argument("--steps", type=int_list(1), default=",".join(map(str, DEFAULTS["steps"])), metavar="LIST",
                   help="comma-separated step counts N (default %(default)s)")
    p.add_argument("--sigma-min", type=number(float, 0, True), default=DEFAULTS["sigma_min"],
                   help="smallest positive σ (default %(default)s)")
    p.add_argument("--n-floor", type=number(int, 2, False), default=DEFAULTS["n_floor"],
                   help="held-out images of the KL floor and of the spectrum floor's reference set, which choose "
                   "the default steps (default %(default)s)")
    p.add_argument("--n-samples", type=number(int, 2, False), default=DEFAULTS["n_samples"],
                   help="exact images per set of the spectrum log-error floor (`sample --n`) (default %(default)s)")
    p.add_argument("--floor-sets", type=number(int, 1, False), default=DEFAULTS["floor_sets"],
                   help="disjoint sets the spectrum floor is averaged over (default %(default)s)")
    p.add_argument("--out", default=default_out(NAME), metavar="DIR", help="output directory (default %(default)s)")
    p.set_defaults(handler=main)
    return p


def main(args):
    """The handler: run :func:`run_sampler_error`, print the files; exit code 0."""
    from ..outputs import check_output_target

    check_output_target(args.out, "--out", "dir", contents=())
    steps = args.steps if isinstance(args.steps, list) else int_list(1)(args.steps)
    paths = run_sampler_error(args.dataset, steps, args.sigma_min, args.n_floor, args.out, args.n_samples,
                              args.floor_sets)
    print("wrote " + ", ".join(paths))
    return 0
