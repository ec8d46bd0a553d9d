"""The ``denoisebench`` command: assembles the sub-commands of :mod:`denoisebench.commands`.

Every user error (unknown name, malformed spec, bad σ or n, unavailable backend, a
damaged store or weight file) is one line on stderr, ``denoisebench: error: ...``,
with exit code 2 and no traceback, and is found before anything is computed.  A
runtime fault (a denoiser producing NaN, training diverging) is one line with exit
code 1.  ``--debug`` (or ``DENOISEBENCH_DEBUG=1``) also shows the traceback (same exit code).
"""
from __future__ import annotations

import argparse
import os
import sys
import traceback

from .commands._args import UsageError
from .registry import IMPORT_ENV
from .registry.specs import SpecError

__all__ = ["build_parser", "main"]

PROG = "denoisebench"


class _Parser(argparse.ArgumentParser):
    """argparse whose errors raise :class:`UsageError` instead of printing usage and exiting."""

    def error(self, message):
        raise UsageError(message)


def build_parser():
    """The argparse parser of ``denoisebench`` and its sub-commands."""
    from .commands import COMMANDS

    parser = _Parser(prog=PROG, description="Benchmark image denoisers against the optimum, across noise levels σ.")
    parser.add_argument("--debug", action="store_true", help="show the traceback of an error (for bug reports)")
    parser.add_argument("--import", dest="imports", action="append", metavar="MODULE", default=[],
                        help="import MODULE first, so the denoisers and datasets it registers exist (repeatable; "
                        "accepted before or after the sub-command; also DENOISEBENCH_IMPORT=mod1,mod2; installed "
                        "plugins are found through the entry-point group 'denoisebench.plugins')")
    sub = parser.add_subparsers(dest="command", metavar="{" + ",".join(c.NAME for c in COMMANDS) + "}", required=True)
    for command in COMMANDS:
        command.add_parser(sub)
    return parser


#: Errors that are the user's (exit 2) and runtime faults (exit 1); both one line, no traceback.
USAGE_ERRORS = (UsageError, SpecError, FileNotFoundError, NotADirectoryError, IsADirectoryError,
                PermissionError, ValueError, TypeError, OverflowError, MemoryError)
RUNTIME_ERRORS = (RuntimeError, OSError, ArithmeticError)


def _fail(message, code):
    print(f"{PROG}: error: {' '.join(str(message).split())}", file=sys.stderr)
    return code


def _split_imports(argv):
    """``--import M`` / ``--import=M`` anywhere in ``argv`` → (modules, the other arguments)."""
    modules, rest, it = [], [], iter(argv)
    for arg in it:
        if arg == "--import":
            value = next(it, None)
            if value is None or value.startswith("-"):
                raise UsageError("--import needs a MODULE (e.g. --import mypackage.denoisers)")
            modules.append(value)
        elif arg.startswith("--import="):
            modules.append(arg.split("=", 1)[1])
        else:
            rest.append(arg)
    return modules, rest


def _load_plugins(modules):
    """Import the plugins; ``--import`` modules are added to ``DENOISEBENCH_IMPORT`` so that spawned
    worker processes (``--executor process``) import them too."""
    from .registry import load_plugins

    if modules:
        known = [m for m in os.environ.get(IMPORT_ENV, "").split(",") if m.strip()]
        os.environ[IMPORT_ENV] = ",".join(dict.fromkeys(known + modules))
    load_plugins(modules)


def main(argv=None):
    """Entry point of the ``denoisebench`` console script; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv or bool(os.environ.get("DENOISEBENCH_DEBUG"))
    saved = os.environ.get(IMPORT_ENV)
    try:
        modules, argv = _split_imports([a for a in argv if a != "--debug"])
        _load_plugins(modules)
        args = build_parser().parse_args(argv)
        return args.handler(args)
    except SystemExit as exc:  # --help
        return exc.code
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `denoisebench list | head`
        sys.stderr.close()
        return 0
    except USAGE_ERRORS + RUNTIME_ERRORS as exc:
        if debug:  # the traceback for a bug report, then the same line and exit code
            traceback.print_exc()
        return _fail(exc, 2 if isinstance(exc, USAGE_ERRORS) else 1)
    except Exception as exc:  # a bug: still one line (exit 1); --debug shows where
        if debug:
            traceback.print_exc()
        return _fail(f"internal error {type(exc).__name__}: {exc} (rerun with --debug and report the traceback)", 1)
    finally:  # --import reaches this call's workers through the environment, not later calls
        if saved is None:
            os.environ.pop(IMPORT_ENV, None)
        else:
            os.environ[IMPORT_ENV] = saved


if __name__ == "__main__":
    sys.exit(main())
