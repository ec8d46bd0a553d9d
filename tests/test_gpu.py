"""Every denoiser and the sampler give the CPU's numbers on other backends (CUDA torch, cupy; CPU torch).

The reference is the numpy run of the same code in float64; a device run must match it to
float64 round-off (the FFTs and matrix products of cuFFT/cuBLAS differ from pocketfft/BLAS by a
few ulps, far below 1e-9 of the data's scale).  Device tests are marked ``gpu`` and skip
cleanly without a device; the CPU-torch variant runs everywhere.
"""
import numpy as np
import pytest

from denoisebench import list_denoisers
from denoisebench._array_api import backend_available, from_numpy, is_host, to_numpy
from denoisebench.perf import build_for_timing, noisy_batch
from denoisebench.registry import denoiser_class

SIGMAS = np.array([0.05, 0.1, 0.2])
TOL = 1e-9  # relative to max |y|, float64


def _backends():
    out = []
    for name, device in (("torch", "cpu"), ("torch", "cuda"), ("cupy", None)):
        marks = [pytest.mark.gpu] if name == "cupy" or device == "cuda" else []
        if not backend_available(name, device):
            marks.append(pytest.mark.skip(reason=f"{name} on {device or 'its default device'} not available here"))
        out.append(pytest.param(name, device, id=f"{name}-{device or 'cuda'}", marks=marks))
    return out


def _run(d, y, x, backend, device):
    sigma = from_numpy(SIGMAS, backend, device) if backend != "numpy" else SIGMAS
    yb = from_numpy(y, backend, device)
    out = d(yb, sigma, clean=from_numpy(x, backend, device)) if type(d).bound else d(yb, sigma)
    assert is_host(out) == is_host(yb), "the result left the input's device"
    return to_numpy(out)


@pytest.mark.parametrize("backend, device", _backends())
@pytest.mark.parametrize("name", list_denoisers())
def test_denoiser_matches_the_numpy_run(name, backend, device):
    cls = denoiser_class(name)
    if getattr(cls, "heavy", False) or (getattr(cls, "host_only", False) and device != "cpu"):
        pytest.skip(f"{name} is heavy or host-only")
    x, y = (a.astype(np.float64) for a in noisy_batch("gaussian", 32, len(SIGMAS)))
    d = build_for_timing(name, 32)
    reference = _run(d, y, x, "numpy", None)
    out = _run(d, y, x, backend, device)
    err = np.max(np.abs(out - reference)) / max(np.max(np.abs(y)), 1.0)
    assert err <= TOL, f"{name} on {backend}/{device}: max relative difference {err:.2e} from numpy"


@pytest.mark.parametrize("backend, device", _backends())
def test_heun_sampler_matches_the_numpy_run(backend, device):
    from denoisebench.sampling import heun, initial_noise, karras_sigmas

    d = build_for_timing("optimal", 16)
    sigmas = karras_sigmas(4, 0.01, 1.0)
    x0 = initial_noise(2, (1, 16, 16), sigmas[0], mean=0.5)
    reference = to_numpy(heun(d, x0, sigmas).samples)
    out = heun(d, from_numpy(x0, backend, device), sigmas).samples
    assert is_host(out) == (device == "cpu")
    np.testing.assert_allclose(to_numpy(out), reference, rtol=0, atol=TOL * np.max(np.abs(x0)))
