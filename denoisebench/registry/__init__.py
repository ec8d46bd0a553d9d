"""Name → class registries for denoisers and datasets; objects built and validated from specs; plugins.

Plugins add denoisers and datasets with :func:`register_denoiser` / :func:`register_dataset` when
they are imported.  :func:`load_plugins` imports them: every entry point of the group
``denoisebench.plugins`` of the installed distributions (the convention of pytest, asv and
flake8), and the modules named in ``DENOISEBENCH_IMPORT`` (comma separated; the command line's
``--import MODULE`` adds to it, so spawned workers see the same plugins).  The listing and
building functions load them on first use.

The spec grammar itself is :mod:`denoisebench.registry.specs`.  :func:`resolve_dataset` and
:func:`resolve_denoiser` validate a spec completely (name, parameter names and values)
and return its canonical form, before anything is computed.
"""
from __future__ import annotations

import importlib
import os
import sys
import types

from ._params import validate_params
from .specs import DEFAULT_SIZE, SpecError, canonical_spec, init_params, parse_spec, size_arg, size_text

__all__ = [
    "PLUGIN_GROUP",
    "PluginError",
    "SpecError",
    "load_plugins",
    "list_datasets",
    "list_denoisers",
    "make_dataset",
    "make_denoiser",
    "parse_spec",
    "register_dataset",
    "register_denoiser",
    "resolve_dataset",
    "resolve_denoiser",
]

_DENOISERS: dict[str, type] = {}
_DATASETS: dict[str, type] = {}

#: Entry-point group of plugin packages: ``[project.entry-points."denoisebench.plugins"]``.
PLUGIN_GROUP = "denoisebench.plugins"
#: Environment variable naming plugin modules to import (comma separated).
IMPORT_ENV = "DENOISEBENCH_IMPORT"
_LOADED: set[str] = set()


class PluginError(ValueError):
    """A plugin (entry point or ``--import`` module) that cannot be imported."""


def _import_module(name, what):
    cwd = os.getcwd()
    added = cwd not in sys.path  # a module beside the user, as `python -m` would find it
    if added:
        sys.path.append(cwd)
    try:
        return importlib.import_module(name)
    except Exception as exc:  # any failure of third-party code is one line naming it
        raise PluginError(f"{what} {name!r} failed to import: {type(exc).__name__}: {exc}") from None
    finally:
        if added:
            sys.path.remove(cwd)


def _entry_points():
    from importlib.metadata import entry_points

    return sorted(entry_points(group=PLUGIN_GROUP), key=lambda ep: ep.name)


_SCANNED: list = []  # the value of $DENOISEBENCH_IMPORT when the entry points were last scanned


def _ensure_plugins():
    """:func:`load_plugins` on first use, and again only when ``$DENOISEBENCH_IMPORT`` changed: the
    listing and building functions call this, so the installed distributions are scanned once per
    process rather than on every call."""
    env = os.environ.get(IMPORT_ENV, "")
    if _SCANNED != [env]:
        load_plugins()
        _SCANNED[:] = [env]


def load_plugins(modules=()):
    """Import the plugins: entry points of :data:`PLUGIN_GROUP`, ``$DENOISEBENCH_IMPORT`` and ``modules``.

    Each is imported once per process.  An entry point names a module (importing it registers
    its classes) or a callable ``module:function``, called once without arguments.

    Returns
    -------
    names : list of str
        What was loaded by this call (entry points as ``'name = value'``).

    Raises
    ------
    PluginError
        One line naming the plugin that failed, and why.
    """
    loaded = []
    for ep in _entry_points():
        key = f"entry point {ep.name} = {ep.value}"
        if key in _LOADED:
            continue
        _LOADED.add(key)
        try:
            obj = ep.load()
        except Exception as exc:
            raise PluginError(f"plugin entry point {ep.name!r} ({ep.value}) failed to import: "
                              f"{type(exc).__name__}: {exc}") from None
        if callable(obj) and not isinstance(obj, types.ModuleType):
            obj()
        loaded.append(key)
    env = [m.strip() for m in os.environ.get(IMPORT_ENV, "").split(",") if m.strip()]
    for name in [*env, *modules]:
        if f"module {name}" not in _LOADED:
            _import_module(name, "plugin module")
            _LOADED.add(f"module {name}")
            loaded.append(name)
    return loaded


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


def _make(table, kind, spec, params, available):
    name, spec_params = parse_spec(spec) if isinstance(spec, str) else (None, None)
    if name not in table:
        _ensure_plugins()
    if name not in table:
        raise SpecError(f"unknown {kind} {name!r}; valid: {', '.join(available())}")
    params = {**spec_params, **params}
    cls = table[name]
    valid = list(init_params(cls))
    unknown = sorted(set(params) - set(valid))
    if unknown:
        raise SpecError(f"{kind} {name!r} has no parameter {', '.join(unknown)}; valid: {', '.join(valid)}")
    validate_params(cls, params)
    return cls(**params)


def make_denoiser(spec, **params):
    """Build a denoiser from a name or spec string; keyword ``params`` override the spec's."""
    return _make(_DENOISERS, "denoiser", spec, params, list_denoisers)


def make_dataset(spec, **params):
    """Build a dataset from a name or spec string; keyword ``params`` override the spec's."""
    return _make(_DATASETS, "dataset", spec, params, list_datasets)


def list_denoisers():
    """Names of the registered denoisers whose dependencies are installed (plugins included)."""
    _ensure_plugins()
    return [n for n, c in _DENOISERS.items() if getattr(c, "available", lambda: True)()]


def list_datasets():
    """Names of the registered datasets (plugins included)."""
    _ensure_plugins()
    return list(_DATASETS)


def denoiser_class(name):
    """The class registered as ``name`` (KeyError when none is, plugins loaded)."""
    if name not in _DENOISERS:
        _ensure_plugins()
    return _DENOISERS[name]


def dataset_class(name):
    """The class registered as ``name`` (KeyError when none is, plugins loaded)."""
    if name not in _DATASETS:
        _ensure_plugins()
    return _DATASETS[name]


# -- validation and canonical forms -----------------------------------------------------
def _check_params(kind, name, params, valid):
    unknown = sorted(set(params) - set(valid))
    if unknown:
        raise SpecError(
            f"{kind} {name!r} has no parameter {', '.join(unknown)}; valid: {', '.join(valid) or '(none)'}"
        )


def _unknown(kind, name, valid):
    return SpecError(f"unknown {kind} {name!r}; valid: {', '.join(valid)}")


def resolve_dataset(spec, size=None, seed=0, default_size=DEFAULT_SIZE):
    """Validate a dataset spec; return ``(canonical spec, effective size text)``.

    The size is ``size`` when given, else the spec's ``size``, else ``default_size``
    (``None``: the dataset's own default).  Builds the dataset and draws one image,
    so bad parameter values fail here, before a run.
    """
    name, params = parse_spec(spec)
    if name not in list_datasets():
        raise _unknown("dataset", name, list_datasets())
    cls = dataset_class(name)
    _check_params("dataset", name, params, init_params(cls))
    has_size = "size" in init_params(cls)
    if size is None and "size" not in params and has_size:
        size = default_size
    if size is not None:
        params["size"] = size_arg(size) if isinstance(size, str) else size
    try:
        ds = make_dataset(name, **params)
        if ds.whole_images:  # any sizes: draw the first image whole
            ds.images(1, split="test")
        else:
            ds.sample(1, seed, split="test")
        eff = size_text(ds.shape) if has_size else ""
    except (ValueError, TypeError) as exc:
        raise SpecError(f"dataset {spec!r}: {exc}") from None
    return canonical_spec(name, cls, params), eff


def resolve_denoiser(spec):
    """Validate a denoiser spec; return ``(canonical spec, class)``."""
    name, params = parse_spec(spec)
    available = list_denoisers()
    if name not in available:
        try:
            denoiser_class(name)
        except KeyError:
            raise _unknown("denoiser", name, available) from None
        hint = getattr(denoiser_class(name), "install", None)
        raise SpecError(f"denoiser {name!r} is not available here (missing dependency"
                        + (f": {hint}" if hint else "") + f"); valid: {', '.join(available)}")
    cls = denoiser_class(name)
    _check_params("denoiser", name, params, init_params(cls, exclude=("dataset",) if cls.needs_dataset else ()))
    validate_params(cls, params)
    if not cls.needs_dataset:
        try:
            make_denoiser(name, **params)
        except (ValueError, TypeError) as exc:
            raise SpecError(f"denoiser {spec!r}: {exc}") from None
    return canonical_spec(name, cls, params), cls
