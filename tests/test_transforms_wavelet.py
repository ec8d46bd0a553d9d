"""Orthogonal and undecimated periodic wavelet transforms against pywt and against theory."""
import warnings

import numpy as np
import pytest
import pywt

from denoisebench._array_api import to_numpy
from denoisebench.transforms import (analysis_matrix, dwt2, idwt2, iswt2, max_levels, swt2, swt2_map_details,
                                     swt_noise_std)

WAVELETS = ["haar", "db2", "db4", "sym8", "coif2"]
#: (levels, (H, W)): square, non-square, coarse sizes odd (3×5) and shorter than the filters.
CASES = [(1, (8, 8)), (3, (32, 48)), (3, (24, 40))]
TOL = {np.dtype("float32"): 1e-5, np.dtype("float64"): 1e-12}


def _flat(coeffs):
    return [coeffs[0]] + [c for level in coeffs[1:] for c in level]


def _images(shape, dtype, seed=0, n=3):
    return np.random.default_rng(seed).standard_normal((n, 1) + tuple(shape)).astype(dtype)


def _assert_rel(a, b, dtype, what=""):
    a, b = np.asarray(to_numpy(a), np.float64), np.asarray(b, np.float64)
    err = np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300)
    assert err <= TOL[np.dtype(dtype)], f"{what}: relative error {err:.2e}"


def _pywt(fn, *args, **kwargs):
    with warnings.catch_warnings():  # pywt warns that coarse levels see the boundary: intended here
        warnings.simplefilter("ignore", UserWarning)
        return fn(*args, **kwargs)


# -- orthogonal ----------------------------------------------------------------------------------
@pytest.mark.parametrize("wavelet", WAVELETS)
@pytest.mark.parametrize("levels, shape", CASES)
def test_dwt2_equals_pywt_periodization(wavelet, levels, shape, backend, dtype):
    x = _images(shape, dtype)
    ref = _flat(_pywt(pywt.wavedec2, x.astype(np.float64), wavelet, mode="periodization", level=levels))
    ours = _flat(dwt2(backend.asarray(x), wavelet, levels))
    assert len(ours) == len(ref) == 3 * levels + 1
    for i, (a, b) in enumerate(zip(ours, ref)):
        assert tuple(a.shape) == b.shape
        _assert_rel(a, b, dtype, f"subband {i}")


@pytest.mark.parametrize("wavelet", WAVELETS)
@pytest.mark.parametrize("levels, shape", CASES)
def test_dwt2_perfect_reconstruction_and_parseval(wavelet, levels, shape, backend, dtype):
    x = _images(shape, dtype, seed=1)
    coeffs = dwt2(backend.asarray(x), wavelet, levels)
    _assert_rel(idwt2(coeffs, wavelet), x, dtype, "reconstruction")
    energy = sum(np.sum(np.asarray(to_numpy(c), np.float64) ** 2, axis=(1, 2, 3)) for c in _flat(coeffs))
    _assert_rel(energy, np.sum(x.astype(np.float64) ** 2, axis=(1, 2, 3)), dtype, "Parseval")


def test_dwt2_keeps_leading_axes():
    x = _images((16, 16), "float64", n=6).reshape(2, 3, 16, 16)
    coeffs = dwt2(x, "db2", 2)
    ref = _pywt(pywt.wavedec2, x, "db2", mode="periodization", level=2)
    np.testing.assert_allclose(coeffs[1][2], ref[1][2], atol=1e-12)
    assert coeffs[0].shape == (2, 3, 4, 4)


@pytest.mark.parametrize("wavelet", WAVELETS + ["sym4", "db20"])
def test_analysis_matrix_is_orthogonal_and_matches_pywt_one_level(wavelet):
    n = 16
    m = analysis_matrix(wavelet, n)
    np.testing.assert_allclose(m @ m.T, np.eye(n), atol=1e-14)
    rows = np.concatenate(_pywt(pywt.dwt, np.eye(n), wavelet, mode="periodization", axis=0))
    np.testing.assert_allclose(m, rows, atol=1e-12)


@pytest.mark.parametrize("shape, levels", [((37, 31), 1), ((32, 48), 5), ((16, 16), 0)])
def test_dwt2_refuses_sizes_not_divisible(shape, levels):
    with pytest.raises(ValueError, match="divisible|levels must be"):
        dwt2(np.zeros((1, 1) + shape), "db4", levels)


@pytest.mark.parametrize("wavelet, message", [("bior2.2", "not orthogonal"), ("nosuch", "unknown wavelet")])
def test_non_orthogonal_or_unknown_wavelets_are_refused(wavelet, message):
    with pytest.raises(ValueError, match=message):
        dwt2(np.zeros((1, 1, 8, 8)), wavelet, 1)


def test_max_levels_follows_pywt():
    assert max_levels((64, 64), "db4") == pywt.dwt_max_level(64, 8) == 3
    assert max_levels((256, 512), "haar", cap=4) == 4
    assert max_levels((5, 5), "sym8") == 1


# -- undecimated ---------------------------------------------------------------------------------
@pytest.mark.parametrize("wavelet", WAVELETS)
@pytest.mark.parametrize("levels, shape", [(1, (8, 8)), (3, (32, 48)), (2, (12, 20))])
def test_swt2_equals_pywt_normalised(wavelet, levels, shape, backend, dtype):
    x = _images(shape, dtype, seed=2)
    ref = _flat(pywt.swt2(x.astype(np.float64), wavelet, levels, norm=True, trim_approx=True))
    ours = _flat(swt2(backend.asarray(x), wavelet, levels))
    assert len(ours) == len(ref)
    for i, (a, b) in enumerate(zip(ours, ref)):
        _assert_rel(a, b, dtype, f"subband {i}")


@pytest.mark.parametrize("wavelet", ["haar", "db4", "sym8"])
@pytest.mark.parametrize("levels, shape", [(3, (32, 48)), (2, (37, 31)), (4, (9, 14))])
def test_swt2_is_a_tight_frame(wavelet, levels, shape, backend, dtype):
    """Perfect reconstruction by the adjoint, and ‖coefficients‖² = ‖x‖², on any size."""
    x = _images(shape, dtype, seed=3)
    coeffs = swt2(backend.asarray(x), wavelet, levels)
    _assert_rel(iswt2(coeffs, wavelet), x, dtype, "reconstruction")
    energy = sum(np.sum(np.asarray(to_numpy(c), np.float64) ** 2, axis=(1, 2, 3)) for c in _flat(coeffs))
    _assert_rel(energy, np.sum(x.astype(np.float64) ** 2, axis=(1, 2, 3)), dtype, "energy")


def test_swt2_map_details_with_identity_reconstructs_and_with_zero_keeps_the_approximation(backend, dtype):
    x = _images((37, 31), dtype, seed=4)
    y = backend.asarray(x)
    _assert_rel(swt2_map_details(y, lambda c, band: c, "db2", 2), x, dtype, "identity map")
    coeffs = swt2(y, "db2", 2)
    approx_only = [coeffs[0]] + [tuple(c * 0 for c in level) for level in coeffs[1:]]
    _assert_rel(swt2_map_details(y, lambda c, band: c * 0, "db2", 2), to_numpy(iswt2(approx_only, "db2")),
                dtype, "zeroed details")


def test_swt_noise_std_is_two_to_the_minus_level():
    """σ = 1 white noise has std 2^-j in the level-j details (2^-J in the approximation)."""
    levels = 3
    expected = [2.0**-levels] + [2.0**-j for j in range(levels, 0, -1) for _ in range(3)]
    np.testing.assert_allclose(swt_noise_std("db4", (32, 48), levels), expected, rtol=1e-12)


def test_swt_noise_std_matches_the_noise_on_an_odd_size():
    z = np.random.default_rng(5).standard_normal((400, 1, 37, 31))
    measured = [np.std(c) for c in _flat(swt2(z, "db4", 3))]
    np.testing.assert_allclose(measured, swt_noise_std("db4", (37, 31), 3), rtol=0.03)  # ≥ 3 std errors


def test_swt_decimated_at_even_positions_is_the_orthogonal_transform():
    """Level-1 undecimated details at even positions, times 2 (atom norm 1/2), are the DWT's."""
    x = _images((16, 24), "float64", seed=6)
    stationary, orthogonal = swt2(x, "db4", 1), dwt2(x, "db4", 1)
    for s, o in zip(stationary[1], orthogonal[1]):
        np.testing.assert_allclose(2 * s[..., ::2, ::2], o, atol=1e-12)
