"""The curvelet tight frame against theory: partition of unity, Parseval, atom norms, geometry."""
import math

import numpy as np
import pytest

from denoisebench._array_api import to_numpy
from denoisebench.transforms import curvelet_frame

SHAPES = [(37, 31), (32, 48), (16, 17)]
TOL = {np.dtype("float32"): 1e-5, np.dtype("float64"): 1e-12}


def full_grid(half, width):
    """Extend half-plane windows ``(S, H, W//2+1)`` to the full grid by W(−k) = W(k) (evenness)."""
    h = half.shape[-2]
    out = np.empty(half.shape[:-1] + (width,))
    out[..., : half.shape[-1]] = half
    for kx in range(half.shape[-1], width):
        out[..., kx] = half[..., (-np.arange(h)) % h, width - kx]
    return out


def polar(shape):
    fy = np.fft.fftfreq(shape[0])[:, None]
    fx = np.fft.fftfreq(shape[1])[None, :]
    return np.hypot(fy, fx) + 0 * fx, np.arctan2(fy, fx) % np.pi + 0 * fy


def angle_gap(a, b):
    """Distance between orientations modulo π."""
    d = (a - b) % np.pi
    return np.minimum(d, np.pi - d)


@pytest.mark.parametrize("shape", SHAPES + [(64, 64)])
@pytest.mark.parametrize("scales, angles", [(None, 8), (2, 4), (4, 6), (5, 8)])
def test_windows_are_a_partition_of_unity(shape, scales, angles):
    if scales is not None and 0.25 * 2.0 ** (2 - scales) * min(shape) < 1:
        pytest.skip("coarse window narrower than one frequency")
    frame = curvelet_frame(shape, scales, angles)
    w = frame.windows
    assert np.all(w >= 0)
    np.testing.assert_allclose((w**2).sum(axis=0), 1.0, rtol=0, atol=1e-12)


@pytest.mark.parametrize("shape", [(32, 48), (37, 31), (20, 21)])
def test_windows_are_even_so_coefficients_are_real(shape):
    """On the self-conjugate columns W(k) = W(−k); the complex full-grid subbands have no imaginary part."""
    frame = curvelet_frame(shape)
    h, w = shape
    cols = [0] + ([w // 2] if w % 2 == 0 else [])
    for c in cols:
        np.testing.assert_array_equal(frame.windows[:, :, c], frame.windows[:, (-np.arange(h)) % h, c])
    x = np.random.default_rng(0).standard_normal(shape)
    full = full_grid(frame.windows, w)
    complex_bands = np.fft.ifft2(full * np.fft.fft2(x))
    assert np.max(np.abs(complex_bands.imag)) < 1e-13
    np.testing.assert_allclose(frame.forward(x), complex_bands.real, rtol=0, atol=1e-12)


@pytest.mark.parametrize("shape", [(37, 31), (32, 48)])
def test_perfect_reconstruction_and_energy(backend, dtype, shape):
    frame = curvelet_frame(shape)
    x_np = np.random.default_rng(1).standard_normal((2, 2) + shape).astype(dtype)
    x = backend.asarray(x_np)
    c = frame.forward(x)
    assert c.dtype == x.dtype and tuple(c.shape) == (2, 2, frame.n_subbands) + shape
    back = to_numpy(frame.inverse(c)).astype(np.float64)
    x64 = x_np.astype(np.float64)
    assert np.max(np.abs(back - x64)) / np.max(np.abs(x64)) <= TOL[dtype]
    energy = (to_numpy(c).astype(np.float64) ** 2).sum(axis=(2, 3, 4))
    np.testing.assert_allclose(energy, (x64**2).sum(axis=(2, 3)), rtol=TOL[dtype])


def test_apply_in_chunks_equals_forward_then_inverse(monkeypatch):
    from denoisebench.transforms import _curvelet

    frame = curvelet_frame((24, 20), 3, 4)
    x = np.random.default_rng(2).standard_normal((3, 1, 24, 20))
    scale = 1.0 + np.arange(frame.n_subbands)[:, None, None]
    expected = frame.inverse(frame.forward(x) * scale)
    monkeypatch.setattr(_curvelet, "_CHUNK_ELEMENTS", 3 * 24 * 20 * 2)  # 2 subbands a chunk
    got = frame.apply(lambda sl, c: c * scale[sl], x)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)


def test_atom_norms_are_the_std_of_white_noise_coefficients():
    """Monte Carlo: per-subband mean of c² over 400 white-noise images vs ‖ψ_s‖² (5 standard errors)."""
    shape = (24, 20)
    frame = curvelet_frame(shape, 3, 6)
    z = np.random.default_rng(3).standard_normal((400, 1) + shape)
    power = (frame.forward(z) ** 2).mean(axis=(1, 3, 4))  # (images, subbands)
    mean, se = power.mean(axis=0), power.std(axis=0, ddof=1) / math.sqrt(power.shape[0])
    assert np.all(np.abs(mean - frame.atom_norms**2) <= 5 * se)
    np.testing.assert_allclose((frame.atom_norms**2).sum(), 1.0, rtol=1e-12)  # Parseval
    # 3σ‖ψ‖ is a Gaussian 3-sigma threshold: P(|c| > 3σ‖ψ‖) = erfc(3/√2) ≈ 0.0027
    c = frame.forward(0.3 * z) / (0.3 * frame.atom_norms[:, None, None])
    assert abs(np.mean(np.abs(c) > 3) - math.erfc(3 / math.sqrt(2))) < 0.0006


def test_radial_scales_are_dyadic_and_angles_double_every_other_scale():
    """Measured from the windows: the outer support radius halves per scale; the angular
    window (a wedge's share ``W_b² / Σ_scale W²`` of its scale) is above 1/2 over ``π/n_j``."""
    shape = (256, 256)
    frame = curvelet_frame(shape, 6, 8)
    r, theta = polar(shape)
    full = full_grid(frame.windows, shape[1]) ** 2
    outer, counts = [], np.zeros(frame.scales - 1)
    for j in range(1, frame.scales):
        bands = np.flatnonzero(frame.subband_scale == j)
        total = full[bands].sum(axis=0)
        outer.append(r[total > 1e-12].max())
        share = full[bands[0]] / np.where(total > 0.1, total, np.inf)
        centre = theta[np.unravel_index(np.argmax(share), shape)]
        half_width = angle_gap(theta[share >= 0.5], centre).max()
        counts[j - 1] = math.pi / (2 * half_width)  # n_j, from below on the discrete grid
    np.testing.assert_allclose(np.diff(np.log2(outer[:-1])), 1.0, atol=0.06)  # finest reaches the corners
    expected = np.array([8, 8, 16, 16, 32])
    assert np.all((counts >= expected - 1e-9) & (counts <= 1.15 * expected)), counts
    assert [int(np.sum(frame.subband_scale == j)) for j in range(1, 6)] == list(expected)


@pytest.mark.parametrize("angle_deg", [0.0, 22.5, 45.0, 112.5, 157.5])
def test_subband_energy_peaks_in_the_wedge_of_the_edge_normal(angle_deg):
    """A smooth straight edge with normal at θ: at every directional scale the most energetic
    wedge is the one centred on θ (mod π)."""
    n, phi = 128, math.radians(angle_deg)
    yy, xx = np.mgrid[0:n, 0:n] - (n - 1) / 2.0
    d = yy * math.sin(phi) + xx * math.cos(phi)  # signed distance along the normal (row, col)
    window = np.exp(-((yy**2 + xx**2) / (0.3 * n) ** 2) ** 2)  # taper: no periodic-boundary edges
    x = window * np.tanh(d / 1.0)
    frame = curvelet_frame((n, n), 5, 8)
    energy = (frame.forward(x) ** 2).sum(axis=(-2, -1))
    for j in range(2, frame.scales):
        bands = np.flatnonzero(frame.subband_scale == j)
        centres = np.arange(len(bands)) * math.pi / len(bands)
        best = np.argmax(energy[bands])
        assert angle_gap(centres[best], phi) < 1e-9, (j, centres[best], phi)


def test_plane_wave_lands_in_the_wedge_containing_its_frequency():
    n = 64
    frame = curvelet_frame((n, n), 4, 8)
    r, theta = polar((n, n))
    for ky, kx in [(3, 20), (12, 9), (-7, 15), (16, -2)]:
        x = np.cos(2 * np.pi * (ky * np.arange(n)[:, None] + kx * np.arange(n)[None, :]) / n)
        energy = (frame.forward(x) ** 2).sum(axis=(-2, -1))
        b = int(np.argmax(energy))
        j, band = frame.subband_scale[b], np.flatnonzero(frame.subband_scale == frame.subband_scale[b])
        nj, l = len(band), b - band[0]
        phi = math.atan2(ky, kx) % math.pi
        assert angle_gap(l * math.pi / nj, phi) <= math.pi / (2 * nj) + 1e-12
        assert j > 0


def test_frames_and_device_windows_are_cached():
    frame = curvelet_frame((40, 40))
    assert curvelet_frame((40, 40)) is frame and curvelet_frame([40, 40], None, 8) is frame
    x = np.zeros((1, 1, 40, 40), np.float32)
    assert frame.windows_like(x) is frame.windows_like(x) and frame.windows_like(x).dtype == np.float32
    assert not frame.windows.flags.writeable


@pytest.mark.parametrize("kwargs", [dict(scales=1), dict(scales=2.5), dict(angles=1), dict(angles=True)])
def test_bad_parameters_are_refused(kwargs):
    with pytest.raises(ValueError):
        curvelet_frame((32, 32), **kwargs)
