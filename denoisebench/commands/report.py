"""``denoisebench report``: rebuild results.csv, table.md and the figure from a store alone."""
from __future__ import annotations

from ._args import default_out

NAME = "report"
HELP = "rebuild results.csv, table.md and the plot from DIR's store"


def add_parser(sub):
    """Add ``report`` to an argparse ``sub``-parsers object."""
    p = sub.add_parser(NAME, help=HELP, description="Rebuild DIR/results.csv, DIR/table.md and "
                       "DIR/mse_vs_sigma.png from DIR/results.sqlite alone.")
    p.add_argument("dir", nargs="?", default=default_out("run"), metavar="DIR",
                   help="output directory of a run (default %(default)s)")
    p.set_defaults(handler=main)
    return p


def main(args):
    from ..report import write_outputs

    paths = write_outputs(args.dir)
    print("wrote " + ", ".join(paths.values()))
    return 0
