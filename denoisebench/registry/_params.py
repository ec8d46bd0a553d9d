"""Parameter handling shared by denoisers and datasets: scikit-learn style storage, declared rules.

Every registered class stores its ``__init__`` arguments verbatim (:class:`ParamsMixin`) and
declares a rule per parameter in ``param_rules`` (the vocabulary is :mod:`denoisebench.registry._rules`,
re-exported here), e.g.::

    param_rules = {"k": Real(0, 100), "mode": OneOf("hard", "soft", "garrote"), "levels": Opt(Int(1, 12))}

:func:`validate_params` checks a parameter dict against them; the registry calls it before
building an object from a spec, so a bad value is refused with one line when a grid is
planned, before anything runs.  A rule is a small pure object: ``rule.check(name, value)``
raises ``ValueError`` naming the parameter, the value and what is allowed.
"""
from __future__ import annotations

import functools
import inspect
import numbers

from ._rules import MAX_SIDE, AnyOf, Bool, Check, Device, Int, OneOf, Opt, Path, Real, Reals, Rule, Size, Text, Wavelet, _is_bool, _show

__all__ = [
    "AnyOf", "Bool", "Check", "Device", "Int", "OneOf", "Opt", "ParamsMixin", "Path", "Real", "Reals", "Rule",
    "Size", "Text", "Wavelet", "check_count", "guard_arguments", "validate_params", "MAX_SIDE",
]


# -- checking a parameter dict ---------------------------------------------------------
@functools.lru_cache(maxsize=None)
def _init_defaults(cls):
    sig = inspect.signature(cls.__init__).parameters.values()
    skip = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
    return {p.name: p.default for p in sig if p.name != "self" and p.kind not in skip}


def validate_params(cls, params):
    """Check ``params`` (completed by ``cls.__init__``'s defaults) against ``cls.param_rules``.

    Parameters without a rule (and classes declaring none, e.g. third-party plugins) are not
    checked; unknown parameter names are the registry's concern.

    Raises
    ------
    SpecError
        A ``ValueError`` whose one line names the class, the parameter, the value and what is
        allowed, e.g. ``wavelet: k must be a finite number in [0, 100]; got nan``.
    """
    from .specs import SpecError

    rules = getattr(cls, "param_rules", None) or {}
    merged = {**_init_defaults(cls), **params}
    for name, rule in rules.items():
        value = merged.get(name, inspect.Parameter.empty)
        if value is inspect.Parameter.empty:
            continue
        try:
            rule.check(name, value)
        except ValueError as exc:
            raise SpecError(f"{getattr(cls, 'name', cls.__name__)}: {exc}") from None


def check_count(n, what="n"):
    """``n`` as an int ≥ 1; ``TypeError`` for a non-integer (1.7, '3', True), ``ValueError`` for n < 1."""
    if _is_bool(n) or not isinstance(n, numbers.Integral):
        raise TypeError(f"{what} must be an integer >= 1; got {_show(n)}")
    if n < 1:
        raise ValueError(f"{what} must be an integer >= 1; got {n}")
    return int(n)


def guard_arguments(cls, guards):
    """Wrap the methods of ``cls`` named in ``guards`` so ``guard(self, first_argument)`` checks (and
    may convert) their first argument before they run; each method is wrapped once, also when
    inherited (a subclass calling ``super()`` reaches the unwrapped parent or a checked one)."""
    for name, guard in guards.items():
        method = getattr(cls, name, None)
        if method is None or getattr(method, "_guarded", False):
            continue

        def wrapper(self, value, *args, _method=method, _guard=guard, **kwargs):
            return _method(self, _guard(self, value), *args, **kwargs)

        functools.update_wrapper(wrapper, method)
        wrapper._guarded = True
        setattr(cls, name, wrapper)


def _guard_n(self, n):
    from ..memory import check_sample_fits

    self.check_params()
    n = check_count(n)
    check_sample_fits(self, n)
    return n


def _guard_n_or_none(self, n):
    return n if n is None else _guard_n(self, n)


def _guard_sigma(self, sigma):
    from .._array_api import check_sigma_scalar

    return check_sigma_scalar(sigma)


#: Argument checks by name, for ``argument_guards``: ``'n'`` (an int >= 1; the object's
#: parameters are checked too, and that ``n`` images fit in memory), ``'n_or_none'`` (the same, or
#: ``None``, whose meaning the method defines) and ``'sigma'`` (one finite σ > 0, as a float).
GUARDS = {"n": _guard_n, "n_or_none": _guard_n_or_none, "sigma": _guard_sigma}


# -- scikit-learn style storage ----------------------------------------------------------
class ParamsMixin:
    """``__init__`` stores its arguments verbatim; ``get_params`` reads them back.

    ``param_rules`` declares what each parameter accepts; ``argument_guards``
    (``{method: guard name}``, see :data:`GUARDS`) makes the first argument of those
    methods checked in this class and every subclass, overrides included.
    """

    #: ``{parameter: Rule}``: what each ``__init__`` parameter accepts (see :func:`validate_params`).
    param_rules: dict = {}
    #: ``{method name: key of GUARDS}``: methods whose first argument is checked.
    argument_guards: dict = {}

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if cls.argument_guards:
            guard_arguments(cls, {m: GUARDS[g] for m, g in cls.argument_guards.items()})

    @classmethod
    def _param_names(cls):
        return list(_init_defaults(cls))

    def get_params(self):
        """The constructor's parameters, as stored (what the report prints)."""
        return {name: getattr(self, name) for name in self._param_names()}

    def check_params(self):
        """Check the stored parameters against ``param_rules`` (a one-line ``SpecError`` if one is bad)."""
        validate_params(type(self), self.get_params())

    def set_params(self, **params):
        valid = self._param_names()
        for key, value in params.items():
            if key not in valid:
                raise ValueError(f"{type(self).__name__} has no parameter {key!r}; valid: {valid}")
            setattr(self, key, value)
        return self

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"

    def spec(self):
        """The spec string that rebuilds this object (non-default parameters only)."""
        sig = inspect.signature(type(self).__init__)
        items = []
        for name, value in self.get_params().items():
            default = sig.parameters[name].default
            if value is not default and value != default and _is_plain(value):
                items.append(f"{name}={_fmt_value(value)}")
        return getattr(self, "name", type(self).__name__) + (":" + ",".join(items) if items else "")


def _is_plain(value):
    return value is None or isinstance(value, (bool, int, float, str, tuple))


def _fmt_value(value):
    if isinstance(value, tuple):
        return "x".join(str(v) for v in value)
    if isinstance(value, float):
        return f"{value:g}"
    return str(value).lower() if isinstance(value, bool) or value is None else str(value)
