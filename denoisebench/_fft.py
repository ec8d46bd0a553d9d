"""The FFT behind every denoiser: scipy.fft (pocketfft) on host memory, the namespace's own on devices.

numpy arrays and torch CPU tensors (that need no gradient) go through scipy.fft with an explicit
``workers`` count (:func:`denoisebench.perf.machine.limit_threads` sets it); CUDA tensors, cupy and
array_api_strict arrays use ``xp.fft``.  Same results up to rounding, dtypes kept (float32 →
complex64).

References
----------
M. Reinecke, pocketfft (https://gitlab.mpcdf.mpg.de/mtr/pocketfft), as in SciPy's ``scipy.fft``;
PyTorch ``torch.fft`` documentation; Python array API standard, 2023.12, ``fft`` extension.
"""
from __future__ import annotations

import functools
import os

import array_api_compat

__all__ = ["fft_of"]


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


def _host_first(name):
    def call(self, x, *args, **kwargs):
        if x.device.type == "cpu" and not x.requires_grad:  # no copy either way: numpy views the tensor
            return self._torch.from_numpy(getattr(_scipy_fft(), name)(x.resolve_conj().numpy(), *args, **kwargs))
        return getattr(self._fft, name)(x, *args, **kwargs)
    return call


class _TorchFFT:
    """torch's FFT, except on CPU tensors that need no gradient: those go through :class:`_ScipyFFT`
    (pocketfft, the workers :func:`~denoisebench.perf.machine.limit_threads` sets), as numpy's do.  On one
    thread torch-CPU's ``irfftn`` took 2.4× pocketfft's on (8, 1, 25, 256, 256) complex64 (374 against
    157 ms) and 3.1× on (8, 1, 256, 256) (6.1 against 2.1 ms), alternated, 5 rounds, shared machine."""

    def __init__(self, xp):
        import torch

        self._torch, self._fft = torch, xp.fft

    rfftn, irfftn, fftn, ifftn = (_host_first(n) for n in ("rfftn", "irfftn", "fftn", "ifftn"))


@functools.lru_cache(maxsize=4)
def _torch_fft(xp):
    return _TorchFFT(xp)


def fft_of(xp):
    """The FFT module for namespace ``xp``: scipy.fft for numpy and for torch CPU tensors
    (:class:`_TorchFFT`), else ``xp.fft``."""
    if array_api_compat.is_numpy_namespace(xp):
        return _scipy_fft()
    return _torch_fft(xp) if array_api_compat.is_torch_namespace(xp) else xp.fft
