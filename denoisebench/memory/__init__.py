"""Memory: chunking batches to fit, and refusing before a run what cannot fit at all.

A denoiser's working set is about ``memory_factor`` times its input's bytes (a class
attribute: a redundant frame or a network's feature maps need more), plus a fixed
``setup_bytes(shape)`` (e.g. a frame's filter bank).  :meth:`Denoiser.__call__` splits every
batch, on the host too, into chunks whose working set fits a budget: half the free memory of
a GPU, or :data:`HOST_FRACTION` of the host's available memory (:func:`available_bytes`);
:func:`memory_budget` sets another (tests, users who want to cap memory).  Images are
independent, so a chunked batch gives the per-image results, and peak memory stays a small
multiple of one chunk.

:func:`estimate_cell_bytes` estimates a cell's peak (the batches a cell holds plus one chunk's
working set) and :func:`check_fits` refuses, with the numbers, what cannot fit
(:func:`denoisebench.memory._plan.check_cells_fit` does so for a planned grid).
"""
from __future__ import annotations

import contextlib
import math

import array_api_compat

__all__ = ["HOST_FRACTION", "available_bytes", "check_fits", "chunk_size",
           "check_sample_fits", "curvelet_frame_bytes", "estimate_cell_bytes", "free_device_bytes", "memory_budget"]

_BUDGET = [None]
#: Share of the host's available memory that one chunk's working set may take.
HOST_FRACTION = 0.25
#: Assumed available memory where the system does not say (no ``/proc/meminfo``).
FALLBACK_AVAILABLE = 4 * 2**30
#: Bytes per pixel of the batches one cell holds besides the denoiser's working set: the
#: clean, noisy and denoised batches in the cell's dtype (3 × itemsize) and float64
#: temporaries of the noise draw and the metrics (4 × 8).
_BATCH_FLOAT64_COPIES = 4


@contextlib.contextmanager
def memory_budget(nbytes):
    """Within the block, split batches so each chunk's working set is at most ``nbytes``."""
    previous = _BUDGET[0]
    _BUDGET[0] = int(nbytes)
    try:
        yield
    finally:
        _BUDGET[0] = previous


def _meminfo_available():
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _cgroup_available():
    """``memory.max − memory.current`` of this process's cgroup (v2), when a limit is set."""
    try:
        with open("/sys/fs/cgroup/memory.max") as f:
            limit = f.read().strip()
        if limit == "max":
            return None
        with open("/sys/fs/cgroup/memory.current") as f:
            return max(0, int(limit) - int(f.read().strip()))
    except (OSError, ValueError):
        return None


def _address_space_available():
    """``RLIMIT_AS`` (``ulimit -v``) minus this process's virtual size, when a limit is set."""
    try:
        import resource

        soft = resource.getrlimit(resource.RLIMIT_AS)[0]
        if soft == resource.RLIM_INFINITY:
            return None
        with open("/proc/self/status") as f:
            size = next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmSize:"))
        return max(0, soft - size)
    except (ImportError, OSError, ValueError, StopIteration):
        return None


def available_bytes():
    """Host memory this process may still use: the least of ``MemAvailable`` (/proc/meminfo), the
    cgroup's remaining limit and the remaining ``ulimit -v``; :data:`FALLBACK_AVAILABLE` if none is known."""
    known = [v for v in (_meminfo_available(), _cgroup_available(), _address_space_available()) if v is not None]
    return min(known) if known else FALLBACK_AVAILABLE


def free_device_bytes(x):
    """Free memory on ``x``'s GPU, or ``None`` for host arrays."""
    if array_api_compat.is_torch_array(x) and x.device.type == "cuda":
        import torch

        return torch.cuda.mem_get_info(x.device)[0]
    if array_api_compat.is_cupy_array(x):
        import cupy

        with x.device:
            return cupy.cuda.runtime.memGetInfo()[0] + cupy.get_default_memory_pool().free_bytes()
    return None


def _itemsize(dtype):
    return 4 if str(dtype).endswith("32") else 8


def chunk_size(y, memory_factor):
    """Images per chunk for a working set of ``memory_factor`` × the input's bytes (≥ 1).

    The budget is :func:`memory_budget`'s when set, else half the free memory of ``y``'s GPU,
    else :data:`HOST_FRACTION` of :func:`available_bytes`.
    """
    n = y.shape[0]
    budget = _BUDGET[0]
    if budget is None:
        free = free_device_bytes(y)
        budget = free // 2 if free is not None else int(available_bytes() * HOST_FRACTION)
    per_image = math.prod(y.shape[1:]) * _itemsize(y.dtype) * memory_factor
    return max(1, min(n, int(budget // max(per_image, 1))))


def _gb(nbytes):
    if nbytes >= 1e11:
        return f"{nbytes / 1e9:,.0f} GB"
    return f"{nbytes / 1e9:.3g} GB" if nbytes >= 1e9 else f"{nbytes / 1e6:.3g} MB"


def check_fits(nbytes, what, hint="", available=None):
    """Refuse (``MemoryError``-free, one line) a task whose estimated peak exceeds the available memory.

    Raises
    ------
    SpecError
        ``"{what} needs about X GB but Y GB of memory is available{hint}"``.
    """
    from ..registry.specs import SpecError

    available = available_bytes() if available is None else available
    if nbytes > available:
        raise SpecError(f"{what} needs about {_gb(nbytes)} but {_gb(available)} of memory is available"
                        + (f"; {hint}" if hint else ""))


def estimate_cell_bytes(n, shape, dtype="float32", channels=1, memory_factor=16, setup_bytes=0, n_train=0,
                        sample_bytes=0, mmse_images=0):
    """Estimated peak host bytes of one cell: ``n`` images of ``channels × shape`` in ``dtype``.

    The cell's batches (clean, noisy, denoised in ``dtype``; float64 temporaries of the noise
    and the metrics), the training batch of a learning denoiser (``n_train`` images, float64,
    held twice), the denoiser's working set (``memory_factor`` × the input's bytes, for at most
    one chunk: :data:`HOST_FRACTION` of the available memory), its ``setup_bytes``, the
    dataset's per-image ``sample_bytes`` and its Monte-Carlo MMSE batch (``mmse_images`` images:
    float32 draw, float64 copy, noise, estimate, error: 44 bytes a pixel).
    """
    pixels = channels * math.prod(shape)
    itemsize = _itemsize(dtype)
    batch = n * pixels * (3 * itemsize + 8 * _BATCH_FLOAT64_COPIES)
    training = n_train * pixels * 2 * 8
    one_image = pixels * itemsize * memory_factor
    working = min(n * one_image, max(one_image, int(available_bytes() * HOST_FRACTION)))
    mmse = mmse_images * pixels * 44
    return int(batch + training + working + setup_bytes + sample_bytes + mmse)


def curvelet_frame_bytes(denoiser, shape):
    """Fixed bytes of the curvelet frame of ``denoiser`` (its ``scales``, ``angles``) for ``shape``.

    The frame has ``S = 1 + angles · Σ_j 2^⌊(j−1)/2⌋`` subbands; building it holds about five
    float64 ``(S, H, W)`` stacks (the windows, their stack, the symmetrised copy, the kept half
    plane); applying it materialises the coefficients of at least one image, at most ``2**24``,
    at a time (about three float64 copies; 64 images of 128x128 measured 290 MB in all).
    """
    from ..transforms._curvelet import _CHUNK_ELEMENTS, angles_per_scale, default_scales

    h, w = (int(s) for s in shape)
    if getattr(denoiser, "frame", None) == "wrap" and h * w <= 64 * 64:  # cheap to build: refuse a too-small image now
        from ..transforms._curvelet_wrap import curvelet_wrap_frame

        curvelet_wrap_frame((h, w), denoiser.scales, denoiser.angles)
    scales = default_scales((h, w)) if denoiser.scales is None else int(denoiser.scales)
    subbands = 1 + sum(angles_per_scale(scales, int(denoiser.angles)))
    return 5 * subbands * h * w * 8 + 3 * min(_CHUNK_ELEMENTS, subbands * h * w) * 8


def _sample_bytes(dataset, pixels):
    """Working bytes of drawing one image: supersampled datasets build ``supersample²`` grids of
    about six float64 arrays (``cartoon`` at 512x512, supersample 4: 180 MB measured)."""
    s = getattr(dataset, "supersample", 1)
    s = int(s) if isinstance(s, int) and not isinstance(s, bool) else 1
    return 6 * 8 * pixels * s * s


def check_sample_fits(dataset, n):
    """Refuse (one line) ``dataset.sample(n)`` when its batch and working set exceed the available memory."""
    h, w = dataset.shape
    channels = int(getattr(dataset, "channels", 1))
    # The float32 batch, the stacked per-image arrays (float64) and one image's working set.
    nbytes = n * channels * h * w * (4 + 8) + _sample_bytes(dataset, h * w)
    check_fits(nbytes, f"{getattr(dataset, 'name', type(dataset).__name__)}: {n} images of {channels}x{h}x{w}",
               "lower n, the image size or supersample")
