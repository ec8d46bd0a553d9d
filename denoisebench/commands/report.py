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
    import sys

    from ..outputs import check_output_target
    from ..report import FILES, write_outputs
    from ..store import STORE_NAME, Store

    check_output_target(args.dir, "DIR", "dir", contents=(STORE_NAME, *FILES.values()))
    with Store(args.dir, create=False, readonly=True) as store:
        invalid = store.invalid_rows()
    paths = write_outputs(args.dir)
    if invalid:
        print(f"denoisebench: {len(invalid)} stored row(s) of {args.dir}/{STORE_NAME} fail their checksum or "
              "validation and are left out of the tables (shown as —); rerun the 'denoisebench run' command "
              "that made them to recompute them", file=sys.stderr)
    print("wrote " + ", ".join(paths.values()))
    return 0
