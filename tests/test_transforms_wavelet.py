"""Orthogonal and undecimated periodic wavelet transforms against pywt and against theory."""
import warnings

import numpy as np
import pytest
import pywt

from denoisebench._array_api import to_numpy
from denoisebench.transforms import (analysis_matrix, dwt2, idwt2, iswt2, max_levels, swt2, swt2_map_details,
                                     swt_noise_std)
from denoisebench.transforms._orthogonal import dwt2_noise_std

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


#: (levels, (H, W)) for the symmetric boundary: odd sizes and sizes not divisible by 2**levels.
SYMMETRIC_CASES = [(1, (8, 8)), (2, (37, 31)), (3, (24, 41))]


@pytest.mark.parametrize("wavelet", ["haar", "db4", "sym8"])
@pytest.mark.parametrize("levels, shape", SYMMETRIC_CASES)
def test_symmetric_dwt2_equals_pywt_and_reconstructs(wavelet, levels, shape, backend, dtype):
    """boundary='symmetric' is pywt's mode='symmetric' (coefficients and shapes); S A = I gives x back."""
    x = _images(shape, dtype, seed=2)
    ref = _flat(_pywt(pywt.wavedec2, x.astype(np.float64), wavelet, mode="symmetric", level=levels))
    coeffs = dwt2(backend.asarray(x), wavelet, levels, boundary="symmetric")
    for i, (a, b) in enumerate(zip(_flat(coeffs), ref)):
        assert tuple(a.shape) == b.shape
        _assert_rel(a, b, dtype, f"subband {i}")
    _assert_rel(idwt2(coeffs, wavelet, "symmetric", shape=x.shape), x, dtype, "reconstruction")


def test_symmetric_idwt2_without_shape_is_pywt_waverec2():
    x = _images((37, 31), "float64", seed=3)
    coeffs = dwt2(x, "db2", 2, boundary="symmetric")
    ref = pywt.waverec2(pywt.wavedec2(x, "db2", mode="symmetric", level=2), "db2", mode="symmetric")
    np.testing.assert_allclose(idwt2(coeffs, "db2", "symmetric"), ref, atol=1e-12)


@pytest.mark.parametrize("call, message", [
    (lambda: dwt2(np.zeros((1, 1, 8, 8)), "db2", 1, boundary="zero"), "unknown boundary 'zero'; valid: periodic"),
    (lambda: dwt2(np.zeros((1, 1, 8, 8)), "bior2.2", 1, boundary="symmetric"), "not orthogonal"),
    (lambda: idwt2(dwt2(np.zeros((1, 1, 9, 9)), "db2", 1, boundary="symmetric"), "db2", "symmetric", (1, 1, 20, 9)),
     "do not come from")])
def test_symmetric_boundary_refuses_bad_input(call, message):
    with pytest.raises(ValueError, match=message):
        call()


@pytest.mark.parametrize("wavelet, levels, shape", [("db4", 2, (37, 31)), ("sym8", 3, (24, 41)), ("haar", 3, (9, 14))])
def test_dwt2_noise_std_is_the_norm_of_each_coefficients_analysis_row(wavelet, levels, shape):
    """Dense reference: pywt's wavedec2 of every unit image gives the analysis operator column by
    column; a coefficient's noise std under unit white noise is its row's norm."""
    eye = np.eye(shape[0] * shape[1]).reshape((-1,) + shape)
    rows = _flat(_pywt(pywt.wavedec2, eye, wavelet, mode="symmetric", level=levels, axes=(-2, -1)))
    for i, (ours, dense) in enumerate(zip(_flat(dwt2_noise_std(shape, wavelet, levels, "symmetric")), rows)):
        np.testing.assert_allclose(ours, np.sqrt(np.sum(dense**2, axis=0)), rtol=1e-12, err_msg=f"subband {i}")
    periodic = _flat(dwt2_noise_std((24, 40), wavelet, 3, "periodic"))
    np.testing.assert_allclose(np.concatenate([s.ravel() for s in periodic]), 1.0, rtol=1e-12)  # orthonormal


def test_normalised_symmetric_noise_coefficients_have_unit_variance(dtype):
    """Monte Carlo on 37×31: Σ_draws (c/s)² ~ χ²(draws) for every coefficient; each must lie within
    the two-sided 1e-3 quantiles, Bonferroni-corrected over the coefficients.  Without the
    division by ``s`` the boundary coefficients fall outside (the check can fail)."""
    stats = pytest.importorskip("scipy.stats")
    shape, levels, draws = (37, 31), 2, 2000
    noise = np.random.default_rng(7).standard_normal((draws, 1) + shape).astype(dtype)
    coeffs = _flat(dwt2(noise, "db4", levels, boundary="symmetric"))
    std = _flat(dwt2_noise_std(shape, "db4", levels, "symmetric"))
    sums = np.concatenate([np.sum(np.asarray(c, np.float64) ** 2, axis=(0, 1)).ravel() for c in coeffs])
    scale = np.concatenate([s.ravel() for s in std])
    alpha = 1e-3 / sums.size
    lo, hi = stats.chi2.ppf(alpha / 2, draws), stats.chi2.isf(alpha / 2, draws)
    normalised = sums / scale**2
    assert lo <= normalised.min() and normalised.max() <= hi, (normalised.min(), normalised.max(), lo, hi)
    assert sums.min() < lo or sums.max() > hi  # the raw coefficients do not have unit variance


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
