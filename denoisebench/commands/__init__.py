"""The sub-commands of ``denoisebench``: one module per command, each a thin call into the library.

Every module defines ``NAME``, ``add_parser(subparsers)`` (which sets ``handler=main`` on
its parser) and ``main(args) -> exit code``.  :mod:`denoisebench.cli` assembles them in
the order of :data:`COMMANDS`.  Imports run one way: commands → library, never back.
"""
from . import analyze, decay, generalization, list, perf, report, run, sample, sampler_error, solve, train

__all__ = ["COMMANDS"]

#: The sub-command modules, in the order ``denoisebench --help`` lists them.
COMMANDS = (run, report, list, sample, sampler_error, solve, train, analyze, decay, generalization, perf)
