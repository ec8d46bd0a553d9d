"""Argument types and defaults shared by the sub-commands.

Every parser error is a one-line message (``UsageError`` → exit 2, see :mod:`denoisebench.cli`).
Default output folders are fresh folders under the working directory
(:func:`default_out`), never the committed ``reports/``: those are regenerated only by
``scripts/regenerate_reports.sh``.
"""
from __future__ import annotations

import argparse
import math
import os

from ..grid import SIGMA_MAX, SIGMA_MIN
from ..registry.specs import parse_value, size_arg, strict_int

__all__ = ["OUT_ROOT", "UsageError", "ascii_number", "default_out", "int_list", "number", "sigma", "sigma_list", "size"]

#: Root of every command's default output folder, under the working directory.
OUT_ROOT = "denoisebench-out"


class UsageError(Exception):
    """A command-line error: reported in one line, exit code 2."""


def default_out(command, filename=None):
    """``denoisebench-out/COMMAND[/FILENAME]``: the default output of a sub-command."""
    return os.path.join(OUT_ROOT, command, *([filename] if filename else []))


def _float(text):
    value = parse_value(text)  # numbers and fractions such as 25/255
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(text)
    return float(value)


_CASTS = {int: strict_int, float: _float}


def ascii_number(cast):
    """An argparse type: an ``int`` or ``float`` written with ASCII digits (no ``1_0``, no ``３``)."""
    def parse(text):
        try:
            return _CASTS[cast](text)
        except (ValueError, OverflowError):
            kind = "an integer" if cast is int else "a number"
            raise argparse.ArgumentTypeError(f"expected {kind}; got {text!r}") from None

    parse.__name__ = cast.__name__
    return parse


def _items(text, what):
    """The comma-separated items of ``text``; an empty item (``0.1,,0.2``) is refused."""
    items = [t.strip() for t in text.split(",")]
    if any(not t for t in items):
        raise argparse.ArgumentTypeError(f"empty item in the list {text!r}: expected {what}")
    return items


def number(cast, lo, strict=False, hi=None):
    """An argparse type: ``cast(text)``, finite, ``>= lo`` (``> lo`` when ``strict``), ``<= hi``."""
    def parse(text):
        try:
            value = _CASTS[cast](text)
        except (ValueError, OverflowError):
            kind = "an integer" if cast is int else "a number"
            raise argparse.ArgumentTypeError(f"expected {kind}; got {text!r}") from None
        if not math.isfinite(value) or value < lo or (strict and value == lo):
            raise argparse.ArgumentTypeError(f"must be {'>' if strict else '>='} {lo}; got {text!r}")
        if hi is not None and value > hi:
            raise argparse.ArgumentTypeError(f"must be <= {hi:g}; got {text!r}")
        return value

    parse.__name__ = cast.__name__
    return parse


def sigma(text):
    """One noise level: a number or a fraction (``25/255``), with SIGMA_MIN <= σ <= SIGMA_MAX."""
    try:
        value = _float(text)
    except (ValueError, OverflowError):
        raise argparse.ArgumentTypeError(f"sigma must be a number > 0 (or a fraction such as 25/255); got {text.strip()!r}") from None
    if not math.isfinite(value) or not SIGMA_MIN <= value <= SIGMA_MAX:
        raise argparse.ArgumentTypeError(f"sigma must lie in [{SIGMA_MIN:g}, {SIGMA_MAX:g}]; got {text.strip()!r}")
    return value


def sigma_list(text):
    """Comma-separated noise levels (``0.05,0.1`` or ``15/255,25/255``)."""
    items = _items(text, "a comma-separated list of sigmas, e.g. 0.05,0.1,0.2 or 15/255,25/255")
    return [sigma(t) for t in items]


def int_list(lo):
    """Comma-separated integers ``>= lo``."""
    def parse(text):
        try:
            values = [strict_int(t) for t in _items(text, f"comma-separated integers >= {lo}")]
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected comma-separated integers >= {lo}; got {text!r}") from None
        if not values or min(values) < lo:
            raise argparse.ArgumentTypeError(f"expected comma-separated integers >= {lo}; got {text!r}")
        return values

    parse.__name__ = "list of integers"
    return parse


def size(text):
    """Image size ``N`` or ``HxW``."""
    return size_arg(text.strip())
