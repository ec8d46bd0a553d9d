"""Public conformance checks: every registered denoiser must pass them on every backend.

>>> from denoisebench.testing import check_denoiser, available_backends
>>> for backend in available_backends():                      # doctest: +SKIP
...     check_denoiser(make_denoiser("identity"), backend=backend)
"""
from __future__ import annotations

import numpy as np

from ._array_api import array_namespace, backend_available, device_of, from_numpy, to_numpy
from .noise import image_rng

__all__ = ["Backend", "available_backends", "check_denoiser"]


class Backend(tuple):
    """``(name, device)``, e.g. ``('torch', 'cuda')``; ``str`` gives ``'torch-cuda'``."""

    def __new__(cls, name, device=None):
        return super().__new__(cls, (name, device))

    name = property(lambda self: self[0])
    device = property(lambda self: self[1])

    def __str__(self):
        return self.name if self.device in (None, "cpu") else f"{self.name}-{self.device}"

    def asarray(self, x):
        return from_numpy(x, self.name, self.device)


_CANDIDATES = [
    Backend("numpy"),
    Backend("strict"),
    Backend("torch", "cpu"),
    Backend("torch", "cuda"),
    Backend("cupy", "cuda"),
]


def available_backends():
    """The backends usable here: numpy, array_api_strict, torch-cpu; cupy and torch-cuda with a GPU."""
    return [b for b in _CANDIDATES if backend_available(b.name, b.device)]


def _tolerance(dtype):
    return {np.dtype(np.float32): 2e-5, np.dtype(np.float64): 1e-10}[np.dtype(dtype)]


def _expect_error(fn, errors, what):
    try:
        fn()
    except errors:
        return
    except Exception as exc:  # wrong type of error is a failure too
        raise AssertionError(f"{what}: raised {type(exc).__name__} ({exc}), expected {errors}") from exc
    raise AssertionError(f"{what}: no error raised")


def _close(a, b, dtype, what, scale):
    a, b = to_numpy(a).astype(np.float64), to_numpy(b).astype(np.float64)
    err = np.max(np.abs(a - b)) / scale
    if not err <= _tolerance(dtype):
        raise AssertionError(f"{what}: max relative difference {err:.3g} > {_tolerance(dtype):g}")


def check_denoiser(denoiser, backend=Backend("numpy"), shape=(3, 1, 37, 31), dtypes=("float32", "float64"),
                   sigmas=(0.05, 0.2, 0.5), clean=None, seed=0):
    """Assert that ``denoiser`` honours the contract on ``backend``; raise ``AssertionError`` if not.

    Returns a one-line summary of what was checked (``print(check_denoiser(d))`` shows it).

    Checks, for each dtype: namespace, device, dtype and shape of the result are the
    input's; the input (``y``, σ, the clean images of a bound) is not modified; a float σ
    gives the same result as the constant per-image array; the batch gives the per-image
    loop's result (with a different σ per image); repeated calls are identical; the result
    is finite; and bad input is refused
    with a clear error: NaN or inf (ValueError), wrong ndim (ValueError), integer
    dtype (TypeError), σ ≤ 0 or non-finite (ValueError), σ array of the wrong
    length (ValueError), σ from another array namespace (TypeError).

    Parameters
    ----------
    denoiser : Denoiser
        Fitted if it learns (on images of ``shape[-2:]``).
    backend : Backend or (name, device)
    shape : tuple
        Batch shape (N, C, H, W); the default is odd-sized on purpose.
    clean : numpy array of ``shape``, optional
        Clean images to add noise to (default: a smooth random field in [0, 1]).
    """
    backend = Backend(*backend)
    n = shape[0]
    if clean is None:
        clean = _smooth_images(shape, seed)
    noise = np.stack([image_rng(seed, "check", i).standard_normal(shape[1:]) for i in range(n)])
    per_image = np.asarray(sigmas, dtype=np.float64)[np.arange(n) % len(sigmas)]
    for dtype in dtypes:
        x_np = clean.astype(dtype)
        y_np = (clean + per_image[:, None, None, None] * noise).astype(dtype)
        y = backend.asarray(y_np)
        xp = array_namespace(y)
        scale = max(float(np.max(np.abs(y_np))), 1.0)
        what = f"{backend}/{dtype}"
        # A denoiser computing internally in float32 (e.g. a compiled peer) is held to float32 tolerance.
        tol_dtype = getattr(denoiser, "internal_dtype", None) or dtype

        def call(sigma, rows=slice(None)):
            """The denoiser on rows of y (oracle bounds also get those rows' clean images); its
            inputs must come back unchanged."""
            inputs = {"y": backend.asarray(y_np[rows].copy())}
            if getattr(denoiser, "bound", False):
                inputs["clean"] = backend.asarray(x_np[rows].copy())
            if not isinstance(sigma, float):
                inputs["sigma"] = sigma
            before = {k: to_numpy(v).copy() for k, v in inputs.items()}
            out = denoiser(inputs["y"], sigma, **({"clean": inputs["clean"]} if "clean" in inputs else {}))
            for k, v in before.items():
                if not np.array_equal(to_numpy(inputs[k]), v):
                    raise AssertionError(f"{what}: the denoiser modified its input {k} in place")
            return out

        out = call(float(per_image[0]))
        _check_like(out, y, xp, backend, what=what)
        if not np.all(np.isfinite(to_numpy(out))):
            raise AssertionError(f"{what}: result has NaN or inf")
        const = backend.asarray(np.full(n, per_image[0]).astype(dtype))
        _close(out, call(const), tol_dtype, f"{what}: float sigma vs per-image array", scale)
        _close(out, call(float(per_image[0])), tol_dtype, f"{what}: determinism", scale)
        batch = call(backend.asarray(per_image.astype(dtype)))
        loop = [to_numpy(call(float(per_image[i]), slice(i, i + 1))) for i in range(n)]
        _close(batch, np.concatenate(loop), tol_dtype, f"{what}: batch vs per-image loop", scale)
        _check_rejects(lambda *a: _call_bad(denoiser, x_np, backend, *a), y_np, backend, n)
    name = getattr(denoiser, "spec", lambda: type(denoiser).__name__)
    name = name() if callable(name) else name
    return (f"check_denoiser: {name} passed on {backend} ({', '.join(map(str, dtypes))}; batch {tuple(shape)}): "
            "namespace, device, dtype, shape, inputs unchanged, float sigma = per-image array, batch = loop, "
            "deterministic, finite, bad input refused")


def _call_bad(denoiser, x_np, backend, y, sigma):
    """Call with possibly bad input; oracle bounds get matching clean images when shapes allow."""
    if getattr(denoiser, "bound", False) and tuple(getattr(y, "shape", ())) == x_np.shape:
        return denoiser(y, sigma, clean=backend.asarray(x_np))
    return denoiser(y, sigma)


def _check_like(out, y, xp, backend, what):
    if array_namespace(out) is not xp:
        raise AssertionError(f"{what}: result namespace {array_namespace(out).__name__}, expected {xp.__name__}")
    if out.dtype != y.dtype:
        raise AssertionError(f"{what}: result dtype {out.dtype}, expected {y.dtype}")
    if tuple(out.shape) != tuple(y.shape):
        raise AssertionError(f"{what}: result shape {tuple(out.shape)}, expected {tuple(y.shape)}")
    if str(device_of(out)) != str(device_of(y)):
        raise AssertionError(f"{what}: result on {device_of(out)}, input on {device_of(y)}")


def _check_rejects(denoiser, y_np, backend, n):
    y = backend.asarray(y_np)
    bad = y_np.copy()
    bad[0, 0, 0, 0] = np.nan
    _expect_error(lambda: denoiser(backend.asarray(bad), 0.1), ValueError, f"{backend}: NaN in y")
    bad[0, 0, 0, 0] = np.inf
    _expect_error(lambda: denoiser(backend.asarray(bad), 0.1), ValueError, f"{backend}: inf in y")
    _expect_error(lambda: denoiser(backend.asarray(y_np[0]), 0.1), ValueError, f"{backend}: 3-d y")
    ints = np.round(y_np * 100).astype(np.int32)
    _expect_error(lambda: denoiser(backend.asarray(ints), 0.1), TypeError, f"{backend}: integer y")
    for bad_sigma in (0.0, -0.1, float("nan"), float("inf")):
        _expect_error(lambda: denoiser(y, bad_sigma), ValueError, f"{backend}: sigma={bad_sigma}")
    _expect_error(lambda: denoiser(y, backend.asarray(np.full(n + 1, 0.1, y_np.dtype))), ValueError,
                  f"{backend}: sigma of length {n + 1}")
    if backend.name != "numpy":
        _expect_error(lambda: denoiser(y, np.full(n, 0.1)), TypeError, f"{backend}: numpy sigma with {backend} y")
    else:
        other = _other_namespace_array(np.full(n, 0.1))
        if other is not None:
            _expect_error(lambda: denoiser(y, other), TypeError, "numpy y with a sigma from another namespace")


def _other_namespace_array(values):
    try:
        import array_api_strict

        return array_api_strict.asarray(values)
    except ImportError:
        return None


def _smooth_images(shape, seed):
    """Smooth random images in [0, 1] (a test input with structure, not white noise)."""
    from ._fourier import half_plane, power_law_spectrum

    n, c, h, w = shape
    p = half_plane(power_law_spectrum((h, w), 3.0, 0.15))
    out = np.empty(shape)
    for i in range(n):
        rng = image_rng(seed, "check", 10_000 + i)
        out[i] = 0.5 + np.fft.irfft2(np.sqrt(p) * np.fft.rfft2(rng.standard_normal((c, h, w))), s=(h, w))
    return np.clip(out, 0.0, 1.0)
