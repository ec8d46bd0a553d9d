"""The decimated (wrapping) curvelet frame against theory and against the undecimated frame's windows."""
import math

import numpy as np
import pytest

from denoisebench._array_api import to_numpy
from denoisebench.transforms import curvelet_frame, curvelet_wrap_frame

TOL = {np.dtype("float32"): 2e-6, np.dtype("float64"): 1e-12}


def plane_wave(shape, ky, kx, phase=0.3):
    n = np.arange(shape[0])[:, None] * ky / shape[0] + np.arange(shape[1])[None, :] * kx / shape[1]
    return np.cos(2 * np.pi * n + phase)


def subband_energy(frame, c):
    return np.bincount(frame.subband_of, weights=np.asarray(c, np.float64) ** 2, minlength=frame.n_subbands)


@pytest.mark.parametrize("shape", [(37, 31), (32, 48), (64, 64), (16, 17)])
def test_parseval_and_perfect_reconstruction(backend, dtype, shape):
    frame = curvelet_wrap_frame(shape)
    x_np = np.random.default_rng(1).standard_normal((2, 2) + shape).astype(dtype)
    c = frame.forward(backend.asarray(x_np))
    assert c.dtype == backend.asarray(x_np).dtype and tuple(c.shape) == (2, 2, frame.n_coefficients)
    back = to_numpy(frame.inverse(c)).astype(np.float64)
    x64 = x_np.astype(np.float64)
    assert np.max(np.abs(back - x64)) / np.max(np.abs(x64)) <= TOL[dtype]
    energy = (to_numpy(c).astype(np.float64) ** 2).sum(axis=-1)
    np.testing.assert_allclose(energy, (x64**2).sum(axis=(2, 3)), rtol=TOL[dtype])
    if backend.name != "numpy":  # same numbers as numpy's
        np.testing.assert_allclose(to_numpy(c), frame.forward(x_np), rtol=0, atol=50 * TOL[dtype])


@pytest.mark.parametrize("shape", [(37, 31), (24, 20)])
def test_inverse_is_the_adjoint(shape):
    """<F x, c> = <x, F* c> for random x and random coefficients c (not only c in the range of F)."""
    frame = curvelet_wrap_frame(shape, 3, 6)
    rng = np.random.default_rng(2)
    x, c = rng.standard_normal(shape), rng.standard_normal(frame.n_coefficients)
    np.testing.assert_allclose(np.dot(frame.forward(x), c), np.sum(x * frame.inverse(c)), rtol=1e-12)


@pytest.mark.parametrize("shape", [(37, 31), (32, 48), (64, 64)])
def test_plane_waves_split_as_the_undecimated_windows(shape):
    """A plane wave at frequency k puts ‖x‖² W_s(k)² in subband s (partition of unity over s, window by
    window the undecimated frame's, up to the support floor 1e-8 renormalised)."""
    wrap, und = curvelet_wrap_frame(shape), curvelet_frame(shape)
    offsets = np.cumsum((1,) + und.angles)
    rng = np.random.default_rng(3)
    for _ in range(12):
        ky, kx = int(rng.integers(0, shape[0])), int(rng.integers(0, shape[1]))
        x = plane_wave(shape, ky, kx)
        e_wrap = subband_energy(wrap, wrap.forward(x)) / np.sum(x**2)
        e_und = (und.forward(x) ** 2).sum(axis=(-2, -1)) / np.sum(x**2)
        np.testing.assert_allclose(e_wrap.sum(), 1.0, rtol=1e-12)
        expected = np.zeros(wrap.n_subbands)
        for s in range(wrap.n_subbands):
            j, theta = wrap.subband_scale[s], wrap.subband_angle[s]
            if j == 0:
                expected[s] = e_und[0]
            elif not math.isnan(theta):
                expected[s] = e_und[offsets[j - 1] + round(theta * und.angles[j - 1] / math.pi)]
        corners = np.isnan(wrap.subband_angle) & (wrap.subband_scale > 0)
        expected[corners] = e_wrap[corners]  # self-conjugate points: checked by their sum below
        np.testing.assert_allclose(e_wrap, expected, rtol=0, atol=1e-7)
        assert abs(e_wrap[corners].sum() - (1 - e_und[0]) * float((-ky) % shape[0] == ky and (-kx) % shape[1] == kx)
                   ) < 1e-9


@pytest.mark.parametrize("ky, kx", [(3, 20), (12, 9), (-7, 15), (16, -2), (20, 20)])
def test_plane_wave_lands_in_the_wedge_of_its_angle(ky, kx):
    shape = (64, 64)
    frame = curvelet_wrap_frame(shape, 4, 8)
    energy = subband_energy(frame, frame.forward(plane_wave(shape, ky, kx)))
    best = int(np.argmax(energy))
    n = int(np.sum(frame.subband_scale == frame.subband_scale[best]))
    gap = (frame.subband_angle[best] - math.atan2(ky, kx)) % math.pi
    assert min(gap, math.pi - gap) <= math.pi / (2 * n) + 1e-12


def test_noise_level_of_every_coefficient_is_the_stated_one():
    """Monte Carlo over 600 white-noise images: mean c² per subband, and separately over the real and the
    imaginary parts of the complex wedges, within 5 standard errors of atom_norms²; a 3σ threshold is
    exceeded at the Gaussian rate erfc(3/√2)."""
    shape, sigma = (24, 20), 0.3
    frame = curvelet_wrap_frame(shape, 3, 6)
    z = sigma * np.random.default_rng(4).standard_normal((600,) + shape)
    c = frame.forward(z) / sigma
    parity = np.zeros(frame.n_coefficients, int)
    parity[1::2] = 1  # (Re, Im) pairs side by side in the complex wedges (their sizes are even)
    stated = frame.atom_norms[frame.subband_of]
    np.testing.assert_allclose(np.sum(stated**2), np.prod(shape), rtol=1e-12)  # white noise keeps its energy
    for part in (0, 1):
        keys = frame.subband_of * 2 + np.where(np.isnan(frame.subband_angle[frame.subband_of]), 0, part)
        sel = (parity == part) | np.isnan(frame.subband_angle[frame.subband_of])
        count = np.bincount(keys[sel], minlength=2 * frame.n_subbands)
        per_image = np.stack([np.bincount(keys[sel], weights=ci[sel] ** 2, minlength=2 * frame.n_subbands)
                              for ci in c])
        used = count > 0
        mean = per_image[:, used].mean(axis=0) / count[used]
        se = per_image[:, used].std(axis=0, ddof=1) / count[used] / math.sqrt(c.shape[0])
        expect = np.repeat(frame.atom_norms, 2)[used] ** 2
        assert np.all(np.abs(mean - expect) <= 5 * se), np.max(np.abs(mean - expect) / se)
    rate = np.mean(np.abs(c) > 3 * stated)
    p = math.erfc(3 / math.sqrt(2))
    assert abs(rate - p) < 5 * math.sqrt(p * (1 - p) / c.size) * 3  # coefficients are correlated: 3× margin


@pytest.mark.parametrize("side", [32, 64, 128, 256])
def test_redundancy_is_low(side):
    frame = curvelet_wrap_frame((side, side))
    assert frame.redundancy <= 6.0
    assert frame.n_coefficients == frame.subband_of.size
    assert frame.redundancy < curvelet_frame((side, side)).redundancy / 4


@pytest.mark.parametrize("kwargs", [dict(scales=1), dict(scales=2.5), dict(angles=1), dict(angles=True)])
def test_bad_parameters_are_refused(kwargs):
    with pytest.raises(ValueError):
        curvelet_wrap_frame((32, 32), **kwargs)
