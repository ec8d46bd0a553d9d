"""``denoisebench run``: evaluate datasets × denoisers × σ into a resumable store; write the tables."""
from __future__ import annotations

import json
import sys

from ..backends import BACKENDS
from ..grid import DEFAULT_N, DEFAULT_SIZE, DEFAULTS, SEED_MAX
from ..grid.runner import PROTOCOLS
from ._args import UsageError, default_out, number, sigma_list, size

NAME = "run"
HELP = "evaluate datasets × denoisers × σ; write results into DIR"


def add_parser(sub):
    """Add ``run`` to an argparse ``sub``-parsers object."""
    p = sub.add_parser(NAME, help=HELP, description=(
        "Evaluate the grid datasets × denoisers × σ on n seeded test images. Finished cells are committed to "
        "DIR/results.sqlite with a fingerprint of everything that made them (code, settings, input files), so "
        "rerunning resumes and recomputes only what changed. Writes DIR/results.csv, DIR/table.md and "
        "DIR/mse_vs_sigma.png."))
    p.add_argument("--datasets", nargs="+", metavar="SPEC",
                   help="dataset specs, space separated (name or name:key=value,...); default: all")
    p.add_argument("--denoisers", nargs="+", metavar="SPEC",
                   help="denoiser specs, space separated; default: all available but the heavy ones (bm3d)")
    p.add_argument("--sigmas", type=sigma_list, metavar="LIST",
                   help="comma-separated noise levels, numbers or fractions (15/255,25/255); "
                   "default: 9 log-spaced from 0.01 to 1")
    p.add_argument("--n", type=number(int, 1, hi=10**7), default=None,
                   help=f"test images per cell (default {DEFAULT_N}; a whole-image folder: every image)")
    p.add_argument("--seed", type=number(int, 0, hi=SEED_MAX), default=DEFAULTS["seed"],
                   help="seed of images and noise (default %(default)s)")
    p.add_argument("--size", type=size, default=None,
                   help=f"image size N or HxW; default: the spec's size, else {DEFAULT_SIZE}")
    p.add_argument("--backend", choices=BACKENDS, default=DEFAULTS["backend"], help="array backend (default %(default)s)")
    p.add_argument("--device", default=None, help="device, e.g. cpu, cuda, cuda:1 (default: cpu, or GPU 0 for cupy)")
    p.add_argument("--n-train", type=number(int, 1), default=DEFAULTS["n_train"],
                   help="clean training images for denoisers that learn (default %(default)s)")
    p.add_argument("--out", default=default_out(NAME), metavar="DIR", help="output directory (default %(default)s)")
    p.add_argument("--fresh", action="store_true",
                   help="ignore DIR's store: move it aside (results.sqlite.old-TIME) and compute every cell")
    p.add_argument("--protocol", choices=[p or "float" for p in PROTOCOLS], default="float",
                   help="float: images as drawn, exact optima apply (default); 8bit: as published tables — "
                   "clean images quantised to 8 bits, estimates clipped to [0, 1] (stated in the table)")
    p.add_argument("--json", action="store_true", help="print the grid's rows to stdout as JSON")
    p.add_argument("--sure", type=number(int, 1), nargs="?", const=8, default=0, metavar="PROBES",
                   help="add sure_mse: Stein's unbiased MSE estimate without the clean image "
                   "(divergence by Hutchinson with PROBES probes per image, default 8)")
    p.add_argument("--executor", choices=("serial", "process", "dask"), default="serial",
                   help="where cells run: this process, a local process pool, or a Dask cluster "
                   "(a LocalCluster unless --scheduler is given); the driver commits each cell (default %(default)s)")
    p.add_argument("--scheduler", metavar="ADDRESS", help="address of a running Dask scheduler (with --executor dask)")
    p.add_argument("--workers", type=number(int, 1), metavar="N",
                   help="processes of the pool or LocalCluster (with --executor process or dask; default 2)")
    p.set_defaults(handler=main)
    return p


def interrupted(out):
    """The message and exit code of an interrupted run (finished cells are kept)."""
    print(f"denoisebench: interrupted; finished cells are kept in {out}/results.sqlite "
          "(rerun the same command to resume)", file=sys.stderr)
    return 130


def main(args):
    """Plan (everything validated), run the cells not already stored, write the outputs."""
    from tqdm import tqdm

    from ..grid.executors import ExecutorLost, ExecutorUnavailable, make_executor
    from ..grid import plan
    from ..outputs import check_output_target
    from ..report import FILES, json_rows, write_outputs
    from ..grid.runner import classify, run_grid
    from ..store import KEY, REUSABLE, STORE_NAME, Store

    check_output_target(args.out, "--out", "dir", contents=(STORE_NAME, *FILES.values()))
    cells = plan(args.datasets, args.denoisers, args.sigmas, n=args.n, seed=args.seed, size=args.size,
                 backend=args.backend, device=args.device, n_train=args.n_train, sure=args.sure,
                 protocol="" if args.protocol == "float" else args.protocol)
    computed, status = [], None
    try:
        executor = make_executor(args.executor, args.scheduler, args.workers)
        with executor as pool, Store(args.out, fresh=args.fresh) as store:  # the scheduler first: no store
            if store.moved_to:                                            # is created for an unreachable one
                print(f"denoisebench: --fresh: moved the previous store to {store.moved_to}", file=sys.stderr)
            status = classify(cells, store)
            with tqdm(total=len(cells), initial=status.count(REUSABLE), file=sys.stderr,
                      unit="cell", desc="denoisebench", dynamic_ncols=True) as bar:
                run_grid(cells, store, executor=pool, progress=bar, status=status, computed=computed)
            rows = store.rows()
    except ExecutorUnavailable as exc:
        raise UsageError(str(exc)) from None
    except ExecutorLost:
        stored = (status.count(REUSABLE) if status else 0) + len(computed)
        raise ExecutorLost(f"the Dask scheduler was lost after {stored} of {len(cells)} cells; those are stored in "
                           f"{args.out}/results.sqlite: rerun the same command (with a running scheduler) to resume") from None
    except KeyboardInterrupt:
        return interrupted(args.out)
    print(status.summary(computed), file=sys.stderr)
    paths = write_outputs(args.out)
    if args.json:
        keys = {c.key() for c in cells}
        print(json.dumps(json_rows([r for r in rows if tuple(r[k] for k in KEY) in keys]), indent=1))
    else:
        print("wrote " + ", ".join(paths.values()))
    return 0
