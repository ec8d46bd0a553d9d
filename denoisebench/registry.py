"""Name → class registries for denoisers and datasets, and CLI spec strings.

A spec is ``name`` or ``name:key=value,key=value``; values are parsed as
int, float, bool (``true``/``false``), ``none``, or kept as strings.
"""
from __future__ import annotations

import inspect

__all__ = [
    "SpecError",
    "list_datasets",
    "list_denoisers",
    "make_dataset",
    "make_denoiser",
    "parse_spec",
    "register_dataset",
    "register_denoiser",
]

_DENOISERS: dict[str, type] = {}
_DATASETS: dict[str, type] = {}


class SpecError(ValueError):
    """A malformed spec, an unknown name or an unknown parameter."""


def _register(table, kind):
    def decorator_factory(name):
        def decorator(cls):
            if name in table and table[name] is not cls:
                raise ValueError(f"{kind} {name!r} is already registered")
            table[name] = cls
            cls.name = name
            return cls

        return decorator

    return decorator_factory


register_denoiser = _register(_DENOISERS, "denoiser")
register_dataset = _register(_DATASETS, "dataset")


def _parse_value(text):
    low = text.strip().lower()
    literals = {"true": True, "false": False, "none": None}
    if low in literals:
        return literals[low]
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text.strip()


def parse_spec(spec):
    """``'name:key=value,...'`` → ``(name, {key: value})``.

    >>> parse_spec("gaussian:size=32,exponent=2.5")
    ('gaussian', {'size': 32, 'exponent': 2.5})
    """
    if not isinstance(spec, str) or not spec.strip():
        raise SpecError(f"empty spec {spec!r}")
    name, _, rest = spec.strip().partition(":")
    params = {}
    if rest.strip():
        for item in rest.split(","):
            key, eq, value = item.partition("=")
            if not eq or not key.strip() or not value.strip():
                raise SpecError(f"malformed spec {spec!r}: expected name:key=value,key=value")
            params[key.strip()] = _parse_value(value)
    return name.strip(), params


def _make(table, kind, spec, params, available):
    name, spec_params = parse_spec(spec) if isinstance(spec, str) else (None, None)
    if name not in table:
        raise SpecError(f"unknown {kind} {name!r}; valid: {', '.join(available())}")
    params = {**spec_params, **params}
    cls = table[name]
    valid = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
    unknown = sorted(set(params) - set(valid))
    if unknown:
        raise SpecError(f"{kind} {name!r} has no parameter {', '.join(unknown)}; valid: {', '.join(valid)}")
    return cls(**params)


def make_denoiser(spec, **params):
    """Build a denoiser from a name or spec string; keyword ``params`` override the spec's."""
    return _make(_DENOISERS, "denoiser", spec, params, list_denoisers)


def make_dataset(spec, **params):
    """Build a dataset from a name or spec string; keyword ``params`` override the spec's."""
    return _make(_DATASETS, "dataset", spec, params, list_datasets)


def list_denoisers():
    """Names of the registered denoisers whose dependencies are installed."""
    return [n for n, c in _DENOISERS.items() if getattr(c, "available", lambda: True)()]


def list_datasets():
    """Names of the registered datasets."""
    return list(_DATASETS)


def denoiser_class(name):
    return _DENOISERS[name]


def dataset_class(name):
    return _DATASETS[name]
