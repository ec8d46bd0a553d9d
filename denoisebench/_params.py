"""scikit-learn style parameter handling shared by denoisers and datasets."""
from __future__ import annotations

import inspect


class ParamsMixin:
    """``__init__`` stores its arguments verbatim; ``get_params`` reads them back."""

    @classmethod
    def _param_names(cls):
        sig = inspect.signature(cls.__init__)
        return [
            p.name
            for p in sig.parameters.values()
            if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        ]

    def get_params(self):
        """The constructor's parameters, as stored (what the report prints)."""
        return {name: getattr(self, name) for name in self._param_names()}

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
                items.append(f"{name}={_fmt(value)}")
        return getattr(self, "name", type(self).__name__) + (":" + ",".join(items) if items else "")


def _is_plain(value):
    return value is None or isinstance(value, (bool, int, float, str, tuple))


def _fmt(value):
    if isinstance(value, tuple):
        return "x".join(str(v) for v in value)
    if isinstance(value, float):
        return f"{value:g}"
    return str(value).lower() if isinstance(value, bool) or value is None else str(value)
