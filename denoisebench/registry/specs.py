"""The spec grammar: ``name`` or ``name:key=value,key=value``, and canonical spec strings.

Values are parsed as int, float (fractions such as ``25/255`` included), bool
(``true``/``false``), ``none``, or kept as strings.  A canonical spec lists only
the non-default parameters, sorted, with exact values, so two spellings of the
same object share their store rows.  This module knows nothing of the registries
(:mod:`denoisebench.registry` builds objects from specs).
"""
from __future__ import annotations

import inspect
import re

__all__ = ["DEFAULT_SIZE", "SpecError", "strict_int", "canonical_spec", "init_params", "parse_spec", "parse_value", "size_arg", "size_text"]


#: Image size of datasets whose spec gives none, when the caller sets none.
DEFAULT_SIZE = 64


class SpecError(ValueError):
    """A malformed spec, an unknown name or an unknown or out-of-range parameter."""


#: Numbers as the grammar writes them: ASCII digits only (no ``1_0``, no ``３`` or ``١٦``), an
#: optional sign, decimal point and exponent; ``inf`` and ``nan`` parse (and are refused by the ranges).
_INT = re.compile(r"[+-]?[0-9]+\Z", re.ASCII)
_FLOAT = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?\Z|[+-]?(?:inf|infinity|nan)\Z",
                    re.ASCII | re.IGNORECASE)


def _int(text):
    if not _INT.match(text):
        raise ValueError(text)
    return int(text)


def _float(text):
    if not _FLOAT.match(text):
        raise ValueError(text)
    return float(text)


def strict_int(text):
    """``int(text)`` for ASCII digits with an optional sign only (``ValueError`` for ``1_0``, ``３``)."""
    return _int(text.strip())


def _fraction(text):
    num, slash, den = text.partition("/")
    if not slash:
        raise ValueError(text)
    return _float(num.strip()) / _float(den.strip())


_LITERALS = {"true": True, "false": False, "none": None}


def parse_value(text):
    """Spec value text → int, float, bool, None or str (``'15/255'`` → 0.0588...).

    Numbers are ASCII only: ``1_0``, ``３`` or ``١٦`` stay strings (and are then refused where a
    number is expected)."""
    low = text.strip().lower()
    if low in _LITERALS:
        return _LITERALS[low]
    for cast in (_int, _float, _fraction):
        try:
            return cast(text.strip())
        except (ValueError, ZeroDivisionError, OverflowError):
            pass
    return text.strip()


def _check_text(spec):
    """Refuse control characters and whitespace other than plain spaces (newlines, tabs) in a spec."""
    bad = next((c for c in spec.strip() if c != " " and (c.isspace() or not c.isprintable())), None)
    if bad is not None:
        raise SpecError(f"malformed spec {spec!r}: it contains {bad!r} (no newlines, tabs or control characters)")


def parse_spec(spec):
    """``'name:key=value,...'`` → ``(name, {key: value})``.

    >>> parse_spec("gaussian:size=32,exponent=2.5")
    ('gaussian', {'size': 32, 'exponent': 2.5})
    """
    if not isinstance(spec, str) or not spec.strip():
        raise SpecError(f"empty spec {spec!r}")
    _check_text(spec)
    name, _, rest = spec.strip().partition(":")
    params = {}
    if rest.strip():
        for item in rest.split(","):
            key, eq, value = item.partition("=")
            if not eq or not key.strip() or not value.strip():
                raise SpecError(f"malformed spec {spec!r}: expected name:key=value,key=value")
            if key.strip() in params:
                raise SpecError(f"malformed spec {spec!r}: parameter {key.strip()!r} given twice")
            params[key.strip()] = parse_value(value)
    return name.strip(), params


def init_params(cls, exclude=()):
    """``{name: default}`` of ``cls.__init__``'s named parameters (``inspect.Parameter.empty``: required)."""
    sig = inspect.signature(cls.__init__).parameters.items()
    skip = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
    return {k: p.default for k, p in sig if k != "self" and k not in exclude and p.kind not in skip}


_FORMAT = {bool: lambda v: str(v).lower(), type(None): lambda v: "none", float: repr}


def _fmt(value):
    return _FORMAT.get(type(value), str)(value)


def _is_default(value, default):
    return isinstance(value, bool) == isinstance(default, bool) and value == default


def canonical_spec(name, cls, params, drop=("size", "dataset")):
    """The spec string of ``name`` with ``params``: non-default values only, sorted, exact.

    Two spellings of the same object (``'gaussian'`` and ``'gaussian:exponent=2.0'`` when
    2.0 is the default) give the same string, so they share their store rows.
    """
    defaults = init_params(cls)
    items = [
        f"{k}={_fmt(v)}"
        for k, v in sorted(params.items())
        if k not in drop and not _is_default(v, defaults.get(k, inspect.Parameter.empty))
    ]
    return name + (":" + ",".join(items) if items else "")


def size_arg(size):
    """Size text → a dataset's ``size`` argument (``'64'`` → 64, ``'37x31'`` stays)."""
    return int(size) if size.isascii() and size.isdigit() else size


def size_text(shape):
    """``(h, w)`` → the size text stored with a cell (``'64'``, ``'37x31'``)."""
    h, w = shape
    return str(h) if h == w else f"{h}x{w}"
