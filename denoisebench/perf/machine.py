"""The machine behind ``denoisebench perf``'s numbers, and the compute threads it may use.

The report names the CPU (``/proc/cpuinfo``), the cores, the package versions (from the installed
distributions), the BLAS/OpenMP and torch thread counts, and the GPU
(``torch.cuda.get_device_name`` or cupy's device properties).

References
----------
threadpoolctl (https://github.com/joblib/threadpoolctl): limiting BLAS/OpenMP thread pools at run time.
"""
from __future__ import annotations

import contextlib
import os
import platform
import re

import numpy as np

__all__ = ["limit_threads", "machine", "on_gpu"]


@contextlib.contextmanager
def limit_threads(n):
    """Compute threads of BLAS/OpenMP (through threadpoolctl, when installed) and torch at most ``n``
    inside the block; ``None`` or 0 leaves the libraries' defaults."""
    if not n:
        yield
        return
    try:
        import torch
    except ImportError:
        torch = None
    before = torch.get_num_threads() if torch else None
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        threadpool_limits = lambda limits: contextlib.nullcontext()  # noqa: E731
    try:
        if torch:
            torch.set_num_threads(int(n))
        with threadpool_limits(limits=int(n)):
            yield
    finally:
        if torch:
            torch.set_num_threads(before)


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
    if "torch" in info:
        info["torch threads"] = __import__("torch").get_num_threads()
    info["BLAS/OpenMP threads"] = _pool_threads()
    if on_gpu(device, backend):
        info["GPU"] = _gpu_name(backend, device)
    return info


def on_gpu(device, backend):
    """Whether ``backend`` on ``device`` computes on a GPU."""
    return backend == "cupy" or str(device or "cpu").startswith("cuda")
