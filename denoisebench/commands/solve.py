"""``denoisebench solve``: linear inverse problems (inpainting, super-resolution, deblurring) with each
denoiser's prior, against the exact Gaussian posterior where the dataset has one."""
from __future__ import annotations

from ..experiments.solve import DEFAULTS, run_solve
from ..inverse import OPERATORS, SOLVERS
from ._args import default_out, number, size

NAME = "solve"


def add_parser(subparsers):
    """Add ``solve`` to an ``add_subparsers()`` object; its handler is ``args.handler`` (:func:`main`)."""
    d = DEFAULTS
    p = subparsers.add_parser(
        NAME, help="solve linear inverse problems with each denoiser's prior; compare with the exact posterior",
        description="Measure held-out images with each operator (c = A x + s·noise), draw a posterior sample "
        "per measurement with each (solver, denoiser), and compare with the exact Gaussian posterior where "
        "known. Writes solve.md, metrics.json and grid_<operator>.png into DIR.")
    p.add_argument("--dataset", required=True, metavar="SPEC", help="dataset spec (name or name:key=value,...)")
    p.add_argument("--operators", nargs="+", required=True, metavar="SPEC",
                   help=f"operator specs ({', '.join(OPERATORS)}), e.g. inpaint:fraction=0.5 superres:factor=2 "
                   "blur:sigma=1.5,noise=0.01")
    p.add_argument("--denoisers", nargs="+", required=True, metavar="SPEC", help="denoiser specs, space separated")
    p.add_argument("--solvers", nargs="+", choices=list(SOLVERS), default=list(d["solvers"]),
                   help="(default %(default)s)")
    p.add_argument("--n", type=number(int, 1, False), default=d["n"], help="images (default %(default)s)")
    p.add_argument("--seed", type=number(int, 0, False), default=d["seed"], help="seed (default %(default)s)")
    p.add_argument("--size", type=size, default=d["size"], help="image size N or HxW (default: the spec's)")
    p.add_argument("--n-train", type=number(int, 2, False), default=d["n_train"],
                   help="training images for learning denoisers and DPS's σ_max (default %(default)s)")
    p.add_argument("--sigma0", type=number(float, 0, True), default=d["sigma0"], help="ks: σ_0 (default %(default)s)")
    p.add_argument("--h0", type=number(float, 0, True, 1), default=d["h0"], help="ks: h_0 (default %(default)s)")
    p.add_argument("--beta", type=number(float, 0, True, 1), default=d["beta"], help="ks: β (default %(default)s)")
    p.add_argument("--dps-steps", type=number(int, 1, False), default=d["dps_steps"],
                   help="dps: sampler steps (default %(default)s)")
    p.add_argument("--dps-sigma-max", type=number(float, 0, True), default=d["dps_sigma_max"],
                   help="dps: the schedule's σ_max (default: 3 × √(max_k P̂(k)) of the training images, as `sample`)")
    p.add_argument("--zeta", type=number(float, 0, True), default=d["zeta"], help="dps: guidance ζ (default %(default)s)")
    p.add_argument("--dtype", choices=("float32", "float64"), default=d["dtype"], help="(default %(default)s)")
    p.add_argument("--out", default=default_out(NAME), metavar="DIR", help="output directory (default %(default)s)")
    p.set_defaults(handler=main)
    return p


def main(args):
    """The handler: run :func:`run_solve` from parsed ``args``, print the files; exit code 0."""
    from ..outputs import check_output_target

    check_output_target(args.out, "--out", "dir", ("metrics.json", "solve.md"))
    settings = {k: getattr(args, k) for k in DEFAULTS if k != "out"}
    paths = run_solve(args.dataset, args.operators, args.denoisers, out=args.out, **settings)
    print("wrote " + ", ".join(paths))
    return 0
