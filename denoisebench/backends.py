"""Array backends and devices: which exist, which are usable here, and canonical device names.

A run names a backend (``numpy``, ``torch``, ``cupy``, ``strict`` for array_api_strict) and
optionally a device; :func:`resolve_backend` checks both before anything is computed and
returns the device's canonical name (the one stored in the results).
"""
from __future__ import annotations

from ._array_api import backend_available
from .registry.specs import SpecError

__all__ = ["BACKENDS", "DTYPES", "resolve_backend"]

#: Array backends a run can use (``strict`` is array_api_strict, for conformance).
BACKENDS = ("numpy", "torch", "cupy", "strict")
#: Floating dtypes a run can use.
DTYPES = ("float32", "float64")


def _cpu_only(backend):
    def name(device):
        if device not in (None, "cpu"):
            raise SpecError(f"backend {backend!r} runs on the cpu only; got device {device!r}")
        return "cpu"

    return name


#: torch device types that hold no data: nothing would be computed on them.
_NO_DATA_DEVICES = ("meta",)


def _torch_device(device):
    import torch

    try:
        name = torch.device(device or "cpu")
    except (RuntimeError, TypeError, ValueError):  # torch.device('nosuch') raises RuntimeError
        raise SpecError(f"unknown torch device {device!r}; e.g. cpu, cuda, cuda:1, mps") from None
    if name.type in _NO_DATA_DEVICES:
        raise SpecError(f"torch device {device!r} holds no data and computes nothing; use cpu or cuda")
    return str(name)


def _cupy_device(device):
    return f"cuda:{0 if device in (None, 'cuda') else int(str(device).rsplit(':', 1)[-1])}"


_DEVICE_NAME = {"numpy": _cpu_only("numpy"), "strict": _cpu_only("strict"), "torch": _torch_device, "cupy": _cupy_device}


def resolve_backend(backend, device=None):
    """Validate ``backend`` on ``device``; return the device's canonical name."""
    if backend not in BACKENDS:
        raise SpecError(f"unknown backend {backend!r}; valid: {', '.join(BACKENDS)}")
    device_name = _DEVICE_NAME[backend](device)
    if not backend_available(backend, device):
        here = [b for b in BACKENDS if backend_available(b)]
        where = f" on device {device!r}" if device is not None else ""
        raise SpecError(f"backend {backend!r} is not available here{where}; available: {', '.join(here)}")
    return device_name
