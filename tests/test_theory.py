"""Gaussian and Gaussian-mixture optima checked against theory by independent paths.

The independent path is dense linear algebra on small odd grids: the covariance
``C`` is built entry by entry from the autocovariance (not through the filter's
FFT code), and posteriors come from ``numpy.linalg.solve`` and scipy's
``multivariate_normal``.
"""
import numpy as np
import pytest
from scipy.stats import multivariate_normal

import denoisebench as db

SIGMAS = np.geomspace(0.01, 1.0, 9)


def dense_covariance(p):
    """Circulant covariance C[a, b] = c(a − b) from the autocovariance c = ifft2(P)."""
    h, w = p.shape
    c = np.real(np.fft.ifft2(p))
    idx = [(i, j) for i in range(h) for j in range(w)]
    return np.array([[c[(a[0] - b[0]) % h, (a[1] - b[1]) % w] for b in idx] for a in idx])


@pytest.mark.parametrize("size", [(6, 5), (7, 7), (8, 6)])
@pytest.mark.parametrize("sigma", [0.03, 0.3])
def test_gaussian_mmse_equals_dense_posterior_covariance_trace(size, sigma):
    ds = db.make_dataset("gaussian", size=size, exponent=2.5)
    _, p = ds.power_spectrum()
    c = dense_covariance(p)
    n = c.shape[0]
    posterior_cov = c - c @ np.linalg.solve(c + sigma**2 * np.eye(n), c)
    assert ds.mmse(sigma) == pytest.approx(np.trace(posterior_cov) / n, rel=1e-10)


def test_gaussian_samples_have_the_stated_covariance():
    ds = db.make_dataset("gaussian", size=(7, 5))
    mean, p = ds.power_spectrum()
    x = ds.sample(20000, seed=4)[:, 0].reshape(20000, -1).astype(np.float64)
    c = dense_covariance(p)
    assert abs(x.mean() - mean) < 5 * np.sqrt(c.sum() / c.shape[0] ** 2 / 20000)
    emp = np.cov(x, rowvar=False)
    # Standard error of a sample covariance entry ≈ sqrt((C_aa C_bb + C_ab²) / n).
    se = np.sqrt((np.outer(np.diag(c), np.diag(c)) + c**2) / x.shape[0])
    assert np.max(np.abs(emp - c) / se) < 5


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_wiener_oracle_mse_within_3_stderr_of_exact_mmse(dtype):
    ds = db.make_dataset("gaussian", size=32)
    x = ds.sample(400, seed=11)
    d = db.make_denoiser("wiener-oracle", dataset=ds)
    for sigma in SIGMAS:
        y = db.add_noise(x, sigma, seed=12).astype(dtype)
        per_image = np.mean((d(y, sigma).astype(np.float64) - x) ** 2, axis=(1, 2, 3))
        stderr = per_image.std(ddof=1) / np.sqrt(per_image.size)
        assert abs(per_image.mean() - ds.mmse(sigma)) < 3 * stderr, sigma


@pytest.mark.parametrize("size", [(9, 7), (8, 8)])
def test_tweedie_score_of_wiener_oracle_is_the_exact_gaussian_score(size):
    ds = db.make_dataset("gaussian", size=size)
    mean, p = ds.power_spectrum()
    c = dense_covariance(p)
    sigma = np.array([0.05, 0.2, 0.7])
    y = db.add_noise(ds.sample(3, seed=0).astype(np.float64), sigma, seed=0)
    score = db.tweedie_score(db.make_denoiser("wiener-oracle", dataset=ds))(y, sigma)
    for i, s in enumerate(sigma):
        exact = -np.linalg.solve(c + s**2 * np.eye(c.shape[0]), y[i].ravel() - mean)
        np.testing.assert_allclose(score[i].ravel(), exact, rtol=1e-9, atol=1e-9 * np.abs(exact).max())


def test_gmm_optimal_equals_dense_posterior_mean():
    ds = db.make_dataset("gmm", size=(6, 5))
    w, means, spectra = ds._components()
    sigma = np.array([0.02, 0.1, 0.3, 1.0])
    y = db.add_noise(ds.sample(4, seed=2).astype(np.float64), sigma, seed=2)
    x_hat = db.make_denoiser("optimal", dataset=ds)(y, sigma)
    for i, s in enumerate(sigma):
        yi = y[i].ravel()
        logs, ests = [], []
        for wk, mk, pk in zip(w, means, spectra):
            ck = dense_covariance(pk)
            cov_y = ck + s**2 * np.eye(yi.size)
            logs.append(np.log(wk) + multivariate_normal(mean=np.full(yi.size, mk), cov=cov_y).logpdf(yi))
            ests.append(mk + ck @ np.linalg.solve(cov_y, yi - mk))
        post = np.exp(np.array(logs) - max(logs))
        post /= post.sum()
        np.testing.assert_allclose(x_hat[i].ravel(), post @ np.array(ests), rtol=1e-9, atol=1e-11)


def test_gmm_spectrum_is_the_mixture_covariance():
    ds = db.make_dataset("gmm", size=(5, 6))
    mean, p = ds.power_spectrum()
    x = ds.sample(20000, seed=5)[:, 0].reshape(20000, -1).astype(np.float64)
    c = dense_covariance(p)
    assert abs(x.mean() - mean) < 0.01
    se = np.sqrt((np.outer(np.diag(c), np.diag(c)) + c**2) / x.shape[0])
    assert np.max(np.abs(np.cov(x, rowvar=False) - c) / se) < 6


def test_gmm_component_frequencies_match_weights():
    ds = db.make_dataset("gmm", size=8)
    counts = np.bincount(ds.component_of(seed=0, n=3000), minlength=3)
    expected = 3000 * np.asarray(ds.weights)
    chi2 = np.sum((counts - expected) ** 2 / expected)
    assert chi2 < 13.8  # 99.9% quantile of chi-square with 2 degrees of freedom


@pytest.mark.parametrize("sigma", [0.05, 0.1, 0.2])
def test_gmm_optimal_beats_wiener_at_mid_sigma(sigma):
    ds = db.make_dataset("gmm", size=32)
    x = ds.sample(200, seed=7)
    y = db.add_noise(x, sigma, seed=7)
    wiener = db.make_denoiser("wiener").fit(ds.sample(400, seed=7, split="train"))
    optimal = db.make_denoiser("optimal", dataset=ds)
    diff = np.mean((optimal(y, sigma) - x) ** 2, axis=(1, 2, 3)) - np.mean((wiener(y, sigma) - x) ** 2, axis=(1, 2, 3))
    assert diff.mean() + 3 * diff.std(ddof=1) / np.sqrt(diff.size) < 0


def test_gmm_monte_carlo_mmse_agrees_with_an_independent_test_set():
    ds = db.make_dataset("gmm", size=16, n_mc=1024)
    x = ds.sample(1024, seed=99)
    y = db.add_noise(x, 0.1, seed=99)
    per_image = np.mean((db.make_denoiser("optimal", dataset=ds)(y, 0.1) - x) ** 2, axis=(1, 2, 3))
    se = np.hypot(per_image.std(ddof=1) / np.sqrt(per_image.size), ds.mmse_stderr(0.1))
    assert abs(per_image.mean() - ds.mmse(0.1)) < 4 * se
    assert ds.mmse_stderr(0.1) > 0


def test_fitted_wiener_approaches_the_oracle():
    ds = db.make_dataset("gaussian", size=32)
    wiener = db.make_denoiser("wiener").fit(ds.sample(2000, seed=1, split="train"))
    x = ds.sample(200, seed=1)
    y = db.add_noise(x, 0.1, seed=1)
    mse = np.mean((wiener(y, 0.1) - x) ** 2)
    assert mse < 1.02 * ds.mmse(0.1)
    assert mse > 0.9 * ds.mmse(0.1)


def test_identity_mse_is_sigma_squared():
    ds = db.make_dataset("gaussian", size=(37, 31))
    x = ds.sample(50, seed=0)
    for sigma in (0.01, 0.5):
        y = db.add_noise(x, sigma, seed=0).astype(np.float64)
        assert np.mean((db.make_denoiser("identity")(y, sigma) - x) ** 2) == pytest.approx(sigma**2, rel=0.02)


def test_samples_do_not_depend_on_batch_size():
    for name in ("gaussian", "gmm"):
        ds = db.make_dataset(name, size=(37, 31))
        np.testing.assert_array_equal(ds.sample(3, seed=5), ds.sample(8, seed=5)[:3])
        assert not np.array_equal(ds.sample(2, seed=5), ds.sample(2, seed=6))
        assert not np.array_equal(ds.sample(2, seed=5, split="train"), ds.sample(2, seed=5))


def test_noise_is_per_image():
    x = np.zeros((5, 1, 4, 3), np.float32)
    full = db.add_noise(x, 1.0, seed=3)
    np.testing.assert_array_equal(full[2:], db.add_noise(x[2:], 1.0, seed=3, start=2))
    np.testing.assert_array_equal(full[:2], db.add_noise(x[:2], 1.0, seed=3))
