"""``denoisebench generalization``: two U-Nets per training-set size N, same noise; memorisation → generalisation."""
from __future__ import annotations

from ..experiments.generalization import DEFAULTS, run_generalization
from ..sampling import SAMPLERS
from ._args import default_out, int_list, number

NAME = "generalization"


def add_parser(subparsers):
    """Add ``denoisebench generalization``; its handler is ``args.handler`` (:func:`cmd_generalization`)."""
    d = DEFAULTS
    p = subparsers.add_parser(
        NAME, help="two U-Nets per training-set size N, same noise: memorisation → generalisation",
        description="For each N, train two bias-free U-Nets on disjoint training sets of N images, sample both "
        "from the same noise, and report against N the cosine similarity of their samples and of each sample "
        "with its nearest training image. Writes generalization.json/.md, transition.png, samples.png; "
        "trained weights are kept in DIR/weights and reused on rerun.")
    p.add_argument("--dataset", default="cartoon:size=16", metavar="SPEC", help="dataset spec (default %(default)s)")
    p.add_argument("--sizes", type=int_list(1), default=list(d["sizes"]), metavar="LIST",
                   help=f"training-set sizes N, comma separated (default {','.join(map(str, d['sizes']))})")
    for flag, typ, lo, help_ in (("steps", int, 1, "Adam steps per U-Net"), ("width", int, 1, "U-Net width"),
                                 ("batch", int, 1, "images per step"), ("n", int, 1, "samples per model"),
                                 ("sampler-steps", int, 1, "schedule steps of the sampler"),
                                 ("n-data", int, 2, "held-out images of the reference level"),
                                 ("seed", int, 0, "seed (the two models use 2·seed and 2·seed+1)"),
                                 ("jobs", int, 1, "U-Nets trained at once, in processes sharing the cores"),
                                 ("sigma-max", float, 0, "largest σ, in training and sampling"),
                                 ("sigma-min", float, 0, "smallest σ, in training and sampling")):
        p.add_argument(f"--{flag}", type=number(typ, lo, typ is float), default=d[flag.replace("-", "_")],
                       help=f"{help_} (default %(default)s)")
    p.add_argument("--sampler", choices=list(SAMPLERS), default=d["sampler"], help="(default %(default)s)")
    p.add_argument("--out", default=default_out(NAME), metavar="DIR", help="output directory (default %(default)s)")
    p.add_argument("--weights", default=None, metavar="DIR", help="where trained weights go (default DIR/weights)")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    p.set_defaults(handler=main)
    return p


def main(args):
    """The handler: :func:`run_generalization` from parsed ``args``; prints the files written."""
    from ..outputs import check_output_target

    check_output_target(args.out, "--out", "dir", contents=())
    keys = [k for k in DEFAULTS if k != "out"]
    paths = run_generalization(args.dataset, out=args.out, progress=not args.quiet,
                               **{k: getattr(args, k) for k in keys})
    print("wrote " + ", ".join(paths))
    return 0
