"""The ``denoisebench`` command: ``run`` a grid, rebuild a ``report``, ``list`` what exists.

Every user error (unknown name, malformed spec, bad σ or n, unavailable backend)
is one line on stderr, ``denoisebench: error: ...``, with exit code 2 and no
traceback, and is found before anything is computed.
"""
from __future__ import annotations

import argparse
import importlib
import inspect
import json
import math
import os
import sys

from .registry import SpecError

__all__ = ["build_parser", "main"]

PROG = "denoisebench"
#: Sub-commands defined beside the code they drive: (module, function adding the sub-parser).
#: Each sets ``handler`` on its parser; user errors are raised as ValueError / SpecError.
EXTENSIONS = (
    (".perf", "add_perf_command"),
    (".decay", "add_decay_command"),
    ("._sample_cmd", "add_sample_command"),
    (".train", "add_train_command"),
    (".analysis", "add_analyze_command"),
    (".generalization", "add_generalization_command"),
)
DEFAULT_OUT = "reports/latest"


class UsageError(Exception):
    """A command-line error: reported in one line, exit code 2."""


class _Parser(argparse.ArgumentParser):
    """argparse whose errors raise :class:`UsageError` instead of printing usage and exiting."""

    def error(self, message):
        raise UsageError(message)


# -- argument types ------------------------------------------------------------------
def _sigma(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"sigma must be a number > 0; got {text.strip()!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"sigma must be a finite number > 0; got {text.strip()!r}")
    return value


def _sigma_list(text):
    items = [t for t in text.split(",") if t.strip()]
    if not items:
        raise argparse.ArgumentTypeError("expected a comma-separated list of sigmas, e.g. 0.05,0.1,0.2")
    return [_sigma(t) for t in items]


def _int_at_least(lo):
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer >= {lo}; got {text!r}") from None
        if value < lo:
            raise argparse.ArgumentTypeError(f"must be >= {lo}; got {value}")
        return value

    parse.__name__ = f"integer >= {lo}"
    return parse


def _size(text):
    return int(text) if text.strip().isdigit() else text.strip()


# -- the parser ------------------------------------------------------------------------
def build_parser():
    """The argparse parser of ``denoisebench`` and its sub-commands."""
    from .bench import BACKENDS, DEFAULT_SIZE, DEFAULTS

    parser = _Parser(prog=PROG, description="Benchmark image denoisers against the optimum, across noise levels σ.")
    sub = parser.add_subparsers(dest="command", metavar="{" + ",".join(["run", "report", "list"] + [a.split("_")[1] for _, a in EXTENSIONS]) + "}", required=True)

    run = sub.add_parser("run", help="evaluate datasets × denoisers × σ; write results into DIR",
                         description="Evaluate the grid datasets × denoisers × σ on n seeded test images. "
                         "Finished cells are committed to DIR/results.sqlite, so rerunning the same command "
                         "resumes. Writes DIR/results.csv, DIR/table.md and DIR/mse_vs_sigma.png.")
    run.add_argument("--datasets", nargs="+", metavar="SPEC",
                     help="dataset specs, space separated (name or name:key=value,...); default: all")
    run.add_argument("--denoisers", nargs="+", metavar="SPEC",
                     help="denoiser specs, space separated; default: all available but the heavy ones (bm3d)")
    run.add_argument("--sigmas", type=_sigma_list, metavar="LIST",
                     help="comma-separated noise levels > 0; default: 9 log-spaced from 0.01 to 1")
    run.add_argument("--n", type=_int_at_least(1), default=DEFAULTS["n"], help="test images per cell (default %(default)s)")
    run.add_argument("--seed", type=_int_at_least(0), default=DEFAULTS["seed"], help="seed of images and noise (default %(default)s)")
    run.add_argument("--size", type=_size, default=None,
                     help=f"image size N or HxW; default: the spec's size, else {DEFAULT_SIZE}")
    run.add_argument("--backend", choices=BACKENDS, default=DEFAULTS["backend"], help="array backend (default %(default)s)")
    run.add_argument("--device", default=None, help="device, e.g. cpu, cuda, cuda:1 (default: cpu, or GPU 0 for cupy)")
    run.add_argument("--n-train", type=_int_at_least(1), default=DEFAULTS["n_train"],
                     help="clean training images for denoisers that learn (default %(default)s)")
    run.add_argument("--out", default=DEFAULT_OUT, metavar="DIR", help="output directory (default %(default)s)")
    run.add_argument("--json", action="store_true", help="print the grid's rows to stdout as JSON")
    run.add_argument("--sure", type=_int_at_least(1), nargs="?", const=8, default=0, metavar="PROBES",
                     help="add sure_mse: Stein's unbiased MSE estimate without the clean image "
                     "(divergence by Hutchinson with PROBES probes per image, default 8)")
    run.add_argument("--executor", choices=("serial", "process", "dask"), default="serial",
                     help="where cells run: this process, a local process pool, or a Dask cluster "
                     "(a LocalCluster unless --scheduler is given); the driver commits each cell (default %(default)s)")
    run.add_argument("--scheduler", metavar="ADDRESS",
                     help="address of a running Dask scheduler (with --executor dask)")
    run.add_argument("--workers", type=_int_at_least(1), metavar="N",
                     help="processes of the pool or LocalCluster (default 2)")

    report = sub.add_parser("report", help="rebuild results.csv, table.md and the plot from DIR's store",
                            description="Rebuild DIR/results.csv, DIR/table.md and DIR/mse_vs_sigma.png "
                            "from DIR/results.sqlite alone.")
    report.add_argument("dir", nargs="?", default=DEFAULT_OUT, metavar="DIR", help="output directory (default %(default)s)")

    sub.add_parser("list", help="list datasets and denoisers with their parameters",
                   description="List the registered datasets and the available denoisers with their parameters.")
    for module, adder in EXTENSIONS:
        getattr(importlib.import_module(module, __package__), adder)(sub)
    return parser


# -- sub-commands ------------------------------------------------------------------------
def _interrupted(out):
    print(f"{PROG}: interrupted; finished cells are kept in {out}/results.sqlite "
          "(rerun the same command to resume)", file=sys.stderr)
    return 130


def _cmd_run(args):
    from tqdm import tqdm

    from .bench import plan, run_grid
    from .executors import ExecutorUnavailable, make_executor
    from .report import json_rows, write_outputs
    from .store import KEY, Store

    cells = plan(args.datasets, args.denoisers, args.sigmas, n=args.n, seed=args.seed, size=args.size,
                 backend=args.backend, device=args.device, n_train=args.n_train, sure=args.sure)
    try:
        executor = make_executor(args.executor, args.scheduler, args.workers)
        with Store(args.out) as store, executor as pool:
            done = store.done_keys()
            with tqdm(total=len(cells), initial=sum(c.key() in done for c in cells), file=sys.stderr,
                      unit="cell", desc=PROG, dynamic_ncols=True) as bar:
                run_grid(cells, store, executor=pool, progress=bar)
            rows = store.rows()
    except ExecutorUnavailable as exc:
        raise UsageError(str(exc)) from None
    except KeyboardInterrupt:
        return _interrupted(args.out)
    paths = write_outputs(args.out)
    if args.json:
        keys = {c.key() for c in cells}
        print(json.dumps(json_rows([r for r in rows if tuple(r[k] for k in KEY) in keys]), indent=1))
    else:
        print("wrote " + ", ".join(paths.values()))
    return 0


def _cmd_report(args):
    from .report import write_outputs

    paths = write_outputs(args.dir)
    print("wrote " + ", ".join(paths.values()))
    return 0


def _describe(cls, exclude=()):
    from .bench import _init_params

    params = _init_params(cls, exclude)
    text = ", ".join(k if v is inspect.Parameter.empty else f"{k}={v!r}" for k, v in params.items())
    doc = (inspect.getdoc(cls) or "").strip().splitlines()
    return text or "(no parameters)", doc[0] if doc else ""


_FLAGS = {"learns": "learns from clean training images", "needs_dataset": "built for the dataset it runs on",
          "bound": "oracle bound (sees the clean image)"}


def _cmd_list(args):
    from .registry import dataset_class, denoiser_class, list_datasets, list_denoisers

    print("datasets (--datasets NAME or NAME:key=value,...):")
    for name in list_datasets():
        params, doc = _describe(dataset_class(name))
        print(f"  {name:<16} {params}\n  {'':<16} {doc}".rstrip())
    print("denoisers (--denoisers NAME or NAME:key=value,...):")
    for name in list_denoisers():
        cls = denoiser_class(name)
        params, doc = _describe(cls, exclude=("dataset",) if cls.needs_dataset else ())
        flags = "; ".join(text for flag, text in _FLAGS.items() if getattr(cls, flag, False))
        print(f"  {name:<16} {params}" + (f"  [{flags}]" if flags else "") + f"\n  {'':<16} {doc}".rstrip())
    return 0


COMMANDS = {"run": _cmd_run, "report": _cmd_report, "list": _cmd_list}


def _fail(message):
    print(f"{PROG}: error: {' '.join(str(message).split())}", file=sys.stderr)
    return 2


def main(argv=None):
    """Entry point of the ``denoisebench`` console script; returns the exit code."""
    try:
        args = build_parser().parse_args(argv)
        handler = COMMANDS.get(args.command) or args.handler
        return handler(args)
    except (UsageError, SpecError, FileNotFoundError, ValueError) as exc:
        if os.environ.get("DENOISEBENCH_DEBUG"):
            raise
        return _fail(exc)
    except SystemExit as exc:  # --help
        return exc.code
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
