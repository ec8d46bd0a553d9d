"""Backend dispatch helpers: the input's namespace decides, never a global switch.

Every denoiser receives ``y`` as a ``(N, C, H, W)`` batch from any array-API
namespace (numpy, torch on any device, cupy, array_api_strict) and computes in
that namespace on that device.  Host-side constants (spectra, filters) are built
with numpy in float64 and moved once to the input's device and dtype with
:func:`asarray_like`.
"""
from __future__ import annotations

import functools
import numbers
import os
import weakref

import array_api_compat
import numpy as np

__all__ = [
    "array_namespace",
    "asarray_like",
    "as_sigma",
    "device_of",
    "to_numpy",
    "validate_batch",
    "backend_available",
    "from_numpy",
    "synchronize",
    "is_host",
    "fft_of",
]


def array_namespace(*arrays):
    """Array-API namespace shared by ``arrays``; a clear ``TypeError`` when they differ.

    Python scalars and ``None`` are ignored, as in :func:`array_api_compat.array_namespace`.
    """
    arrays = [a for a in arrays if a is not None and not isinstance(a, (numbers.Number, list, tuple))]
    if not arrays:
        raise TypeError("no array given: expected a numpy, torch, cupy or array-API array")
    try:
        return array_api_compat.array_namespace(*arrays)
    except TypeError as exc:
        kinds = sorted({f"{type(a).__module__}.{type(a).__qualname__}" for a in arrays})
        raise TypeError(
            f"mixed array namespaces {kinds}: pass arrays from one library "
            "(convert sigma to the same library as y, or pass a float)"
        ) from exc


def device_of(x):
    """The device ``x`` lives on (``'cpu'`` for numpy)."""
    return array_api_compat.device(x)


def asarray_like(values, like, dtype=None):
    """``values`` (numpy or Python numbers) as an array in ``like``'s namespace, device and dtype.

    This is the one place host constants cross to a device; data never goes the other way.
    A read-only numpy array is a cached constant (a spectrum, a filter bank): its copy on each
    (namespace, device, dtype) is made once and reused while the host array lives, so a GPU
    call does not re-send its constants.  The copies are shared — treat them as read-only
    (numpy copies are flagged so).
    """
    xp = array_namespace(like)
    dtype = like.dtype if dtype is None else dtype
    if isinstance(values, np.ndarray) and not values.flags.writeable:
        key = (xp.__name__, str(device_of(like)), str(dtype))
        return _cached_transfer(values, key, xp, dtype, like)
    return _transfer(np.asarray(values), xp, dtype, like)


#: id(host constant) -> (weak reference to it, {(namespace, device, dtype): its copy there}).
_CONSTANTS = {}


def _cached_transfer(host, key, xp, dtype, like):
    entry = _CONSTANTS.get(id(host))
    if entry is None or entry[0]() is not host:
        ref = weakref.ref(host, lambda _, i=id(host): _CONSTANTS.pop(i, None))
        entry = _CONSTANTS[id(host)] = (ref, {})
    copies = entry[1]
    if key not in copies:
        copies[key] = _transfer(host, xp, dtype, like, read_only=True)
    return copies[key]


def _transfer(host, xp, dtype, like, read_only=False):
    if not host.flags.writeable:  # torch wants a writable buffer
        host = host.copy()
    if array_api_compat.is_array_api_strict_namespace(xp):
        # array_api_strict takes no numpy dtype argument: cast on the host first.
        return xp.asarray(host.astype(_numpy_dtype(dtype, xp)), device=device_of(like))
    out = xp.asarray(host, dtype=dtype, device=device_of(like))
    if read_only and isinstance(out, np.ndarray):
        out.flags.writeable = False
    return out


def _numpy_dtype(dtype, xp):
    for name in ("float32", "float64", "complex64", "complex128"):
        if dtype == getattr(xp, name):
            return np.dtype(name)
    raise TypeError(f"unsupported dtype {dtype!r}")


def to_numpy(x):
    """A host numpy copy of ``x`` (for metrics and files; never used inside a denoiser)."""
    if isinstance(x, np.ndarray):
        return x
    if array_api_compat.is_torch_array(x):
        return x.detach().cpu().numpy()
    if array_api_compat.is_cupy_array(x):
        return x.get()
    return np.asarray(x)


def validate_batch(y):
    """Check ``y`` is a finite real floating ``(N, C, H, W)`` batch; return its namespace."""
    xp = array_namespace(y)
    if getattr(y, "ndim", None) != 4:
        raise ValueError(
            f"y must be a batch of shape (N, C, H, W); got shape {tuple(getattr(y, 'shape', ()))}"
        )
    if y.dtype not in (xp.float32, xp.float64):
        raise TypeError(f"y must be float32 or float64; got {y.dtype}")
    if any(s == 0 for s in y.shape):
        raise ValueError(f"y must not be empty; got shape {tuple(y.shape)}")
    if not bool(xp.all(xp.isfinite(y))):
        raise ValueError("y contains NaN or inf")
    return xp


def as_sigma(sigma, y):
    """Validate ``sigma`` and return it as an ``(N, 1, 1, 1)`` array like ``y``.

    ``sigma`` is a positive finite float (one σ for the batch) or a length-N
    sequence or array (one σ per image).  A float and the constant per-image
    array give identical results, because both become the same array here.
    """
    n = y.shape[0]
    if isinstance(sigma, bool):
        raise TypeError("sigma must be a positive float or a length-N array, not a bool")
    if isinstance(sigma, numbers.Real):
        values = np.full(n, float(sigma))
    elif isinstance(sigma, (list, tuple, np.ndarray)) and not _is_foreign(sigma, y):
        values = np.asarray(sigma, dtype=np.float64).reshape(-1)
        if np.asarray(sigma).ndim > 1:
            raise ValueError(f"sigma must be a float or a 1-d array of length {n}")
    else:
        array_namespace(y, sigma)  # raises on mixed namespaces
        return _device_sigma(sigma, y)
    _check_sigma_values(values, n)
    return array_namespace(y).reshape(asarray_like(values, y), (n, 1, 1, 1))


def _is_foreign(sigma, y):
    return isinstance(sigma, np.ndarray) and not isinstance(y, np.ndarray)


def _device_sigma(sigma, y):
    xp = array_namespace(y)
    n = y.shape[0]
    if sigma.ndim == 0:
        sigma = xp.broadcast_to(sigma, (n,))
    if sigma.ndim != 1 or sigma.shape[0] != n:
        raise ValueError(f"sigma array must have shape ({n},); got {tuple(sigma.shape)}")
    if not bool(xp.all(xp.isfinite(sigma))) or not bool(xp.all(sigma > 0)):
        raise ValueError("sigma must be finite and > 0 for every image")
    return xp.reshape(xp.astype(sigma, y.dtype), (n, 1, 1, 1))


def _check_sigma_values(values, n):
    if values.shape != (n,):
        raise ValueError(f"sigma must be a float or have length {n} (one per image); got length {values.size}")
    if not np.all(np.isfinite(values)):
        raise ValueError("sigma must be finite")
    if not np.all(values > 0):
        raise ValueError(f"sigma must be > 0; got min {values.min():g}")



def backend_available(backend, device=None):
    """Whether ``backend`` ('numpy', 'strict', 'torch', 'cupy') can run on ``device`` here."""
    try:
        from_numpy(np.zeros((1, 1, 1, 1), np.float32), backend, device)
    except (ImportError, RuntimeError, ValueError, AssertionError):
        return False
    except Exception:  # cupy raises its own CUDARuntimeError without a GPU
        return False
    return True


def from_numpy(x, backend="numpy", device=None):
    """Move a host numpy array to ``backend`` on ``device`` (the benchmark's data loader).

    ``backend`` is 'numpy', 'strict' (array_api_strict), 'torch' or 'cupy'; ``device`` is
    e.g. 'cpu', 'cuda', 'cuda:1' for torch or a device number for cupy.
    """
    x = np.ascontiguousarray(x)
    if backend == "numpy":
        if device not in (None, "cpu"):
            raise ValueError(f"numpy runs on the cpu only; got device {device!r}")
        return x
    if backend == "strict":
        import array_api_strict

        return array_api_strict.asarray(x)
    if backend == "torch":
        import torch

        return torch.from_numpy(x).to(device or "cpu")
    if backend == "cupy":
        import cupy

        if cupy.cuda.runtime.getDeviceCount() < 1:
            raise RuntimeError("cupy found no CUDA device")
        dev = 0 if device in (None, "cuda") else int(str(device).rsplit(":", 1)[-1])
        with cupy.cuda.Device(dev):
            return cupy.asarray(x)
    raise ValueError(f"unknown backend {backend!r}; valid: numpy, strict, torch, cupy")


def synchronize(x):
    """Wait for device work on ``x`` to finish (for honest timings)."""
    if array_api_compat.is_torch_array(x) and x.device.type == "cuda":
        import torch

        torch.cuda.synchronize(x.device)
    elif array_api_compat.is_cupy_array(x):
        import cupy

        cupy.cuda.get_current_stream().synchronize()


def is_host(x):
    """True when ``x`` lives in host memory (numpy, array_api_strict, CPU torch)."""
    if array_api_compat.is_cupy_array(x):
        return False
    if array_api_compat.is_torch_array(x):
        return x.device.type == "cpu"
    return True


class _ScipyFFT:
    """numpy's FFT through scipy.fft with all cores (same results up to rounding, dtype kept)."""

    def __init__(self):
        import scipy.fft

        self._fft = scipy.fft
        self._workers = os.cpu_count() or 1

    def rfftn(self, x, axes=None):
        return self._fft.rfftn(x, axes=axes, workers=self._workers)

    def irfftn(self, x, s=None, axes=None):
        return self._fft.irfftn(x, s=s, axes=axes, workers=self._workers)

    def fftn(self, x, axes=None):
        return self._fft.fftn(x, axes=axes, workers=self._workers)

    def ifftn(self, x, s=None, axes=None):
        return self._fft.ifftn(x, s=s, axes=axes, workers=self._workers)


@functools.lru_cache(maxsize=1)
def _scipy_fft():
    return _ScipyFFT()


def fft_of(xp):
    """The FFT module for namespace ``xp``: scipy.fft (multi-threaded) for numpy, else ``xp.fft``."""
    return _scipy_fft() if array_api_compat.is_numpy_namespace(xp) else xp.fft
