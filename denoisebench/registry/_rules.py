"""The vocabulary of parameter rules: small pure validators (see :mod:`denoisebench.registry._params`).

``rule.check(name, value)`` raises ``ValueError`` naming the parameter, the value and what is
allowed (``rule.describe()``); ``rule.accepts(value)`` says yes or no.
"""
from __future__ import annotations

import functools
import math
import numbers
import os
import re

import numpy as np

from .specs import strict_int

__all__ = ["AnyOf", "Bool", "Check", "Device", "Int", "MAX_SIDE", "OneOf", "Opt", "Path", "Real", "Reals", "Rule",
           "Size", "Text", "Wavelet"]

#: Largest image side a dataset accepts (a 4096 × 4096 float64 image is 128 MiB; larger
#: sizes are refused before anything is allocated).
MAX_SIDE = 4096


def _show(value):
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _is_bool(value):
    return isinstance(value, (bool, np.bool_))


def _real(value):
    return isinstance(value, numbers.Real) and not _is_bool(value)


def _fmt(x):
    return f"{x:g}" if isinstance(x, float) else str(x)


class Rule:
    """Base of the rules: :meth:`accepts` says yes or no, :meth:`describe` says what is allowed."""

    def accepts(self, value):  # pragma: no cover - abstract
        raise NotImplementedError

    def describe(self):  # pragma: no cover - abstract
        raise NotImplementedError

    def check(self, name, value):
        """Raise ``ValueError('NAME must be ...; got VALUE')`` unless ``value`` is allowed."""
        if not self.accepts(value):
            raise ValueError(self.message(name, value))

    def message(self, name, value):
        return f"{name} must be {self.describe()}; got {_show(value)}"

    def __repr__(self):
        return f"<{type(self).__name__}: {self.describe()}>"


class Real(Rule):
    """A finite real number (not a bool) in ``[lo, hi]``; ``lo_open`` / ``hi_open`` exclude an end."""

    def __init__(self, lo=-math.inf, hi=math.inf, lo_open=False, hi_open=False):
        self.lo, self.hi, self.lo_open, self.hi_open = float(lo), float(hi), lo_open, hi_open

    def accepts(self, value):
        if not _real(value):
            return False
        v = float(value)
        return (math.isfinite(v) and (v > self.lo if self.lo_open else v >= self.lo)
                and (v < self.hi if self.hi_open else v <= self.hi))

    def interval(self):
        if self.lo == -math.inf and self.hi == math.inf:
            return ""
        if self.hi == math.inf:
            return f" {'>' if self.lo_open else '>='} {_fmt(self.lo)}"
        if self.lo == -math.inf:
            return f" {'<' if self.hi_open else '<='} {_fmt(self.hi)}"
        return (f" in {'(' if self.lo_open else '['}{_fmt(self.lo)}, {_fmt(self.hi)}"
                f"{')' if self.hi_open else ']'}")

    def describe(self):
        return "a finite number" + self.interval()


class Int(Rule):
    """An integer (not a bool) in ``[lo, hi]``."""

    def __init__(self, lo, hi):
        self.lo, self.hi = int(lo), int(hi)

    def accepts(self, value):
        return (isinstance(value, numbers.Integral) and not _is_bool(value)
                and self.lo <= value <= self.hi)

    def describe(self):
        return f"an integer in [{self.lo}, {self.hi}]"


class OneOf(Rule):
    """One of the given values (compared with their type: ``0`` is not ``False``)."""

    def __init__(self, *choices):
        self.choices = tuple(choices)

    def accepts(self, value):
        return any(type(value) is type(c) and value == c for c in self.choices)

    def _names(self):
        return ", ".join("none" if c is None else str(c).lower() if isinstance(c, bool) else str(c)
                         for c in self.choices)

    def describe(self):
        return "one of " + self._names()


class Bool(Rule):
    """``True`` or ``False`` (``true`` / ``false`` in a spec)."""

    def accepts(self, value):
        return _is_bool(value)

    def describe(self):
        return "true or false"


class Text(Rule):
    """A non-empty string."""

    def accepts(self, value):
        return isinstance(value, str) and value.strip() != ""

    def describe(self):
        return "a non-empty text"


class Path(Rule):
    """A file or folder path: a non-empty string or an ``os.PathLike`` (existence is not checked)."""

    def accepts(self, value):
        return isinstance(value, os.PathLike) or (isinstance(value, str) and value.strip() != "")

    def describe(self):
        return "a file path"


class Opt(Rule):
    """``None`` (in a spec: ``none``) or a value the inner rule accepts."""

    def __init__(self, rule, meaning=None):
        self.rule, self.meaning = rule, meaning

    def accepts(self, value):
        return value is None or self.rule.accepts(value)

    def describe(self):
        return f"none{f' ({self.meaning})' if self.meaning else ''} or {self.rule.describe()}"


class AnyOf(Rule):
    """A value accepted by at least one of the rules."""

    def __init__(self, *rules):
        self.rules = rules

    def accepts(self, value):
        return any(r.accepts(value) for r in self.rules)

    def describe(self):
        return " or ".join(r.describe() for r in self.rules)


class Check(Rule):
    """A value for which ``predicate(value)`` is true (for objects: an in-memory network, ...)."""

    def __init__(self, predicate, description):
        self.predicate, self.description = predicate, description

    def accepts(self, value):
        try:
            return bool(self.predicate(value))
        except Exception:
            return False

    def describe(self):
        return self.description


def _split_x(text):
    return [p.strip() for p in text.lower().split("x")]


class Reals(Rule):
    """A sequence of ``min_len`` to ``max_len`` finite numbers, each accepted by ``Real(lo, hi, ...)``.

    ``text=True`` also accepts the spec form ``'AxBxC'`` (numbers separated by ``x``).
    """

    def __init__(self, lo=-math.inf, hi=math.inf, lo_open=False, hi_open=False, min_len=1, max_len=16, text=False):
        self.item = Real(lo, hi, lo_open, hi_open)
        self.min_len, self.max_len, self.text = int(min_len), int(max_len), text

    def _items(self, value):
        if isinstance(value, str):
            if not self.text:
                return None
            try:
                return [float(p) for p in _split_x(value)]
            except ValueError:
                return None
        if isinstance(value, (tuple, list)):
            return list(value)
        return None

    def accepts(self, value):
        items = self._items(value)
        return (items is not None and self.min_len <= len(items) <= self.max_len
                and all(self.item.accepts(v) for v in items))

    def describe(self):
        n = str(self.min_len) if self.min_len == self.max_len else f"{self.min_len} to {self.max_len}"
        form = " (a tuple, or 'AxB' in a spec)" if self.text else " (a tuple or list)"
        return f"{n} numbers{self.item.interval()}{form}"


class Size(Rule):
    """An image size: an int ``s`` (``s × s``), a pair ``(H, W)`` or ``'HxW'``, each side in ``[lo, hi]``."""

    def __init__(self, lo=4, hi=MAX_SIDE):
        self.side = Int(lo, hi)

    def _sides(self, value):
        if isinstance(value, str):
            try:
                return [strict_int(p) for p in _split_x(value)]
            except ValueError:
                return None
        if isinstance(value, (tuple, list)):
            return list(value)
        return [value, value]

    def accepts(self, value):
        sides = self._sides(value)
        return sides is not None and len(sides) == 2 and all(self.side.accepts(s) for s in sides)

    def describe(self):
        return f"an image size: an int or 'HxW' with each side an integer in [{self.side.lo}, {self.side.hi}]"


class Wavelet(Rule):
    """A pywt wavelet name: the orthogonal discrete ones (``orthogonal=True``), or any discrete one."""

    def __init__(self, orthogonal=True):
        self.orthogonal = orthogonal

    def accepts(self, value):
        return isinstance(value, str) and value in _wavelets(self.orthogonal)

    def describe(self):
        if self.orthogonal:
            return "an orthogonal pywt wavelet (haar, db1-db38, sym2-sym20, coif1-coif17, dmey)"
        return "a discrete pywt wavelet (pywt.wavelist(kind='discrete'))"

    def message(self, name, value):
        why = " (not orthogonal)" if isinstance(value, str) and value in _wavelets(False) else ""
        return super().message(name, value) + why


@functools.lru_cache(maxsize=2)
def _wavelets(orthogonal):
    import pywt

    names = pywt.wavelist(kind="discrete")
    return frozenset(n for n in names if pywt.Wavelet(n).orthogonal) if orthogonal else frozenset(names)


_DEVICE = re.compile(r"^(cpu|mps|cuda(:\d{1,3})?)$")


class Device(Rule):
    """``None`` or a torch device name: ``cpu``, ``cuda``, ``cuda:N`` (present here), ``mps``."""

    def accepts(self, value):
        if value is None:
            return True
        if not isinstance(value, str) or not _DEVICE.match(value):
            return False
        return not value.startswith("cuda") or _cuda_present(int(value.partition(":")[2] or 0))

    def describe(self):
        return "none (the cpu), cpu, mps, or cuda / cuda:N naming a CUDA device present here"


def _cuda_present(index):
    try:
        import torch
    except ImportError:
        return False
    return torch.cuda.is_available() and index < torch.cuda.device_count()
