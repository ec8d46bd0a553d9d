"""Chunking batches to fit device memory.

A denoiser's working set is about ``memory_factor`` times its input's bytes (the
class attribute; e.g. a redundant frame holds every subband at once).  On a GPU
the batch is split so that each chunk's working set fits in half the free device
memory; on the host nothing is split unless a budget is set with
:func:`memory_budget` (used by the tests, and by users who want to cap memory).
Images are independent, so a chunked batch gives the per-image results.
"""
from __future__ import annotations

import contextlib
import math

import array_api_compat

__all__ = ["chunk_size", "free_device_bytes", "memory_budget"]

_BUDGET = [None]


@contextlib.contextmanager
def memory_budget(nbytes):
    """Within the block, split batches so each chunk's working set is at most ``nbytes``."""
    previous = _BUDGET[0]
    _BUDGET[0] = int(nbytes)
    try:
        yield
    finally:
        _BUDGET[0] = previous


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


def chunk_size(y, memory_factor):
    """Images per chunk for a working set of ``memory_factor`` × the input's bytes (≥ 1)."""
    n = y.shape[0]
    budget = _BUDGET[0]
    if budget is None:
        free = free_device_bytes(y)
        if free is None:
            return n
        budget = free // 2
    per_image = math.prod(y.shape[1:]) * (4 if str(y.dtype).endswith("32") else 8) * memory_factor
    return max(1, min(n, int(budget // max(per_image, 1))))
