"""The machine behind ``denoisebench perf``'s numbers, and the compute threads it may use.

The report names the CPU (``/proc/cpuinfo``), the cores, the package versions (from the installed
distributions), the BLAS/OpenMP and torch thread counts, and the GPU
(``torch.cuda.get_device_name`` or cupy's device properties).

References
----------
threadpoolctl (https://github.com/joblib/threadpoolctl): limiting BLAS/OpenMP thread pools at run time;
SciPy ``scipy.fft.set_workers`` (the default ``workers`` of scipy.fft calls).
"""
from __future__ import annotations

import contextlib
import os
import platform
import re

import numpy as np

__all__ = ["THREADPOOLCTL_MISSING", "limit_threads", "machine", "on_gpu", "thread_settings"]


#: What to install when threads must be limited and threadpoolctl is absent.
THREADPOOLCTL_MISSING = ("limiting BLAS/OpenMP threads needs threadpoolctl, which is not installed: pip install "
                         "threadpoolctl (or denoisebench[bench]); or pass --threads 0 to keep the libraries' defaults")


def _threadpool_limits():
    try:
        from threadpoolctl import threadpool_limits
    except ImportError as exc:
        raise RuntimeError(THREADPOOLCTL_MISSING) from exc
    return threadpool_limits


def _our_fft():
    """The scipy.fft wrapper our numpy FFTs go through (it passes ``workers`` explicitly, so
    :func:`scipy.fft.set_workers` alone does not reach it)."""
    from .._array_api import _scipy_fft

    return _scipy_fft()


@contextlib.contextmanager
def limit_threads(n):
    """At most ``n`` compute threads inside the block, for ours and the peers alike: scipy.fft ``workers``
    (:func:`scipy.fft.set_workers`, and the workers our numpy FFTs pass), BLAS/OpenMP (threadpoolctl's
    ``threadpool_limits``) and torch (``torch.set_num_threads``); all restored on exit.

    ``None`` or 0 leaves the libraries' defaults.  Raises ``ValueError`` for a negative or non-integer
    ``n`` and ``RuntimeError`` (saying what to install) when threadpoolctl is missing.
    """
    if n is not None and (isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0):
        raise ValueError(f"threads must be an integer >= 0 or None; got {n!r}")
    if not n:
        yield
        return
    n = int(n)
    threadpool_limits = _threadpool_limits()
    import scipy.fft

    try:
        import torch
    except ImportError:
        torch = None
    fft = _our_fft()
    before = torch.get_num_threads() if torch else None, fft._workers
    try:
        if torch:
            torch.set_num_threads(n)
        fft._workers = n
        with threadpool_limits(limits=n), scipy.fft.set_workers(n):
            yield
    finally:
        if torch:
            torch.set_num_threads(before[0])
        fft._workers = before[1]


def thread_settings():
    """The compute threads in effect now, as the report states them: ``{setting: value}``.

    ``scipy.fft workers, ours`` is what our numpy FFTs pass; ``scipy.fft workers, default`` is what any
    other scipy.fft call gets (the peers'); BLAS/OpenMP per loaded pool (threadpoolctl); torch's threads.
    """
    import scipy.fft

    out = {"scipy.fft workers, ours": _our_fft()._workers, "scipy.fft workers, default": scipy.fft.get_workers(),
           "BLAS/OpenMP": _pool_threads()}
    try:
        import torch
    except ImportError:
        return out
    return {**out, "torch threads": torch.get_num_threads()}


def _pool_threads():
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return "library defaults (threadpoolctl not installed: not limited)"
    return ", ".join(f"{p['internal_api']} {p['num_threads']}" for p in threadpool_info()) or "none loaded"


def _cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            found = re.search(r"^model name\s*:\s*(.+)$", f.read(), re.M)
        return found.group(1).strip() if found else platform.processor() or "unknown"
    except OSError:
        return platform.processor() or "unknown"


def _gpu_name(backend, device):
    if backend == "torch":
        import torch

        return torch.cuda.get_device_name(torch.device(device))
    import cupy

    props = cupy.cuda.runtime.getDeviceProperties(cupy.cuda.Device().id)
    return props["name"].decode() if isinstance(props["name"], bytes) else str(props["name"])


#: Packages whose versions the report states: distribution name → module name.
_VERSIONS = {"torch": "torch", "scipy": "scipy", "PyWavelets": "pywt", "scikit-image": "skimage",
             "curvelets": "curvelets", "bm3d": "bm3d", "cupy": "cupy"}


def _version(dist, module):
    """The installed distribution's version (module ``__version__`` can lag: PyWavelets 1.9 says 1.8)."""
    from importlib import metadata

    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        try:
            return __import__(module).__version__
        except ImportError:
            return None


def machine(backend="numpy", device=None):
    """The machine and software the numbers come from (CPU model, cores, versions; GPU name)."""
    info = {"CPU": _cpu_model(), "logical cores": os.cpu_count(),
            "cores usable by this process": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else "?",
            "python": platform.python_version(), "numpy": np.__version__, "platform": platform.platform()}
    for dist, module in _VERSIONS.items():
        version = _version(dist, module)
        if version:
            info[dist] = version
    info.update({("BLAS/OpenMP threads" if k == "BLAS/OpenMP" else k): v for k, v in thread_settings().items()})
    if on_gpu(device, backend):
        info["GPU"] = _gpu_name(backend, device)
    return info


def on_gpu(device, backend):
    """Whether ``backend`` on ``device`` computes on a GPU."""
    return backend == "cupy" or str(device or "cpu").startswith("cuda")
