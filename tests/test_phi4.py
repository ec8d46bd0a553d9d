"""The φ⁴ dataset and its HMC sampler, checked against theory; the on-disk sample cache.

Theory: at λ = 0 the field is Gaussian with covariance eigenvalues 1/(2 − 2β(cos k₁ + cos k₂));
at β = 0 the sites are independent with density ∝ exp(−φ² − λ(φ² − 1)²) (quadrature); the
Binder cumulant is ~0 in the disordered phase and → 2/3 in the ordered one (Binder 1981); the
integrated autocorrelation time of an AR(1) chain is (1 + ρ)/(1 − ρ).
"""
import json
import os

import numpy as np
import pytest
from scipy import integrate, stats

import denoisebench as db
from denoisebench.store import _cache
from denoisebench.sampling._hmc import hmc, integrated_autocorr_time
from denoisebench.base import NotApplicableError
from denoisebench.datasets import _phi4
from denoisebench.datasets._phi4 import Phi4, binder, binder_scan, free_spectrum, magnetisation


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    """Every test writes its samples to its own temporary cache."""
    folder = tmp_path / "cache"
    monkeypatch.setenv(_cache.CACHE_ENV, str(folder))
    return folder


def _field(ds, n, seed=0, split="test"):
    x = ds.sample(n, seed, split)[:, 0].astype(np.float64)
    return (x - _phi4.OFFSET) / _phi4.GAIN


# -- theory ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(9, 7), (16, 15)])
def test_free_field_reproduces_the_exact_spectrum(shape):
    """λ = 0: each unique Fourier mode's mean periodogram / Ĉ(k) is χ²(dof)/dof; two-sided bounds
    at 1e-4 per mode (Bonferroni), so a wrong normalisation (×2) or unequilibrated chains fail."""
    n = 256
    ds = Phi4(size=shape, beta=0.2, lam=0.0, trajectories=60)
    phi = _field(ds, n)
    H, W = shape
    ratio = np.abs(np.fft.fft2(phi)) ** 2 / (H * W) / free_spectrum(shape, 0.2)
    k1, k2 = np.meshgrid(np.arange(H), np.arange(W), indexing="ij")
    self_conj = ((2 * k1) % H == 0) & ((2 * k2) % W == 0)
    unique = (k1 * W + k2) <= ((-k1) % H * W + (-k2) % W)  # one of each pair ±k
    dof = n * np.where(self_conj, 1, 2)
    stat = dof * ratio.mean(axis=0)

    def check(mask, alpha):
        d, s = dof[mask].sum(), stat[mask].sum()
        assert stats.chi2.ppf(alpha / 2, d) < s < stats.chi2.ppf(1 - alpha / 2, d), (s / d, mask.sum())

    for i, j in zip(*np.nonzero(unique)):  # every mode (Bonferroni over modes)
        check((k1 == i) & (k2 == j), 1e-4 / unique.sum())
    low = (np.minimum(k1, H - k1) ** 2 / H**2 + np.minimum(k2, W - k2) ** 2 / W**2) < 1 / 16
    for mask in (unique, unique & low, unique & ~low):  # pooled: all modes, low and high frequencies
        check(mask, 1e-4)


def test_decoupled_sites_follow_the_single_site_law():
    """β = 0: sites are independent with density ∝ exp(−φ² − λ(φ² − 1)²), a double well at λ = 2.
    Kolmogorov–Smirnov against the quadrature CDF, and ⟨φ²⟩ within 4 standard errors."""
    lam = 2.0
    ds = Phi4(size=(8, 7), beta=0.0, lam=lam, trajectories=80)
    phi = _field(ds, 64).ravel()
    dens = lambda t: np.exp(-t * t - lam * (t * t - 1) ** 2)  # noqa: E731
    z = integrate.quad(dens, -6, 6)[0]
    second = integrate.quad(lambda t: t * t * dens(t), -6, 6)[0] / z
    fourth = integrate.quad(lambda t: t**4 * dens(t), -6, 6)[0] / z
    grid = np.linspace(-6, 6, 20001)
    cdf = np.concatenate([[0], np.cumsum((dens(grid[1:]) + dens(grid[:-1])) / 2 * np.diff(grid))]) / z
    assert stats.kstest(phi, lambda t: np.interp(t, grid, cdf)).pvalue > 1e-3
    se = np.sqrt((fourth - second**2) / phi.size)
    assert abs(np.mean(phi**2) - second) < 4 * se
    assert abs(np.mean(phi)) < 4 * np.sqrt(second / phi.size)


def test_hmc_acceptance_is_tuned_and_a_gaussian_target_is_exact():
    """A correlated 2-D Gaussian: the adapted acceptance lies near the target and the sample
    covariance matches the dense one within its Monte-Carlo error (independent chains)."""
    cov = np.array([[1.0, 0.8], [0.8, 1.0]])
    prec = np.linalg.inv(cov)

    def energy_grad(x):
        g = x @ prec
        return 0.5 * np.sum(x * g, axis=1), g

    rngs = [np.random.default_rng([7, i]) for i in range(2000)]
    res = hmc(energy_grad, np.zeros((2000, 2)), rngs, n_burn=40, n_sample=20, n_leapfrog=5, step=0.5, target=0.75)
    assert 0.65 < res.accept.mean() < 0.85
    c = np.cov(res.x.T)
    se = np.sqrt((cov**2 + np.outer(np.diag(cov), np.diag(cov))) / 2000)
    assert np.all(np.abs(c - cov) < 4 * se)


def test_leapfrog_is_reversible_and_nearly_conserves_energy():
    """Neal 2011 §2.3.3: flipping the momentum retraces the trajectory (what makes the Metropolis test
    exact); the energy error is O(ε²) per unit time."""
    from denoisebench.sampling._hmc import leapfrog

    eg = _phi4.phi4_energy_grad(0.6, 0.5)
    rng = np.random.default_rng(1)
    x, p = rng.standard_normal((3, 7, 5)), rng.standard_normal((3, 7, 5))
    e0, g0 = eg(x)
    h = lambda e, q: e + 0.5 * np.sum(q * q, axis=(1, 2))  # noqa: E731
    errors = []
    for eps in (0.04, 0.02):
        x1, p1, e1, g1 = leapfrog(x, p, g0, np.full(3, eps), int(0.4 / eps), eg)
        x2, p2, _, _ = leapfrog(x1, -p1, g1, np.full(3, eps), int(0.4 / eps), eg)
        np.testing.assert_allclose(x2, x, atol=1e-10)
        np.testing.assert_allclose(-p2, p, atol=1e-10)
        errors.append(np.abs(h(e1, p1) - h(e0, p)).max())
    assert 2.5 < errors[0] / errors[1] < 6  # second order: halving ε divides the error by ≈ 4


def test_autocorrelation_time_of_an_ar1_chain():
    rho, T = 0.8, 20000
    rng = np.random.default_rng(3)
    x = np.empty((4, T))
    x[:, 0] = rng.standard_normal(4)
    for t in range(1, T):
        x[:, t] = rho * x[:, t - 1] + np.sqrt(1 - rho**2) * rng.standard_normal(4)
    assert integrated_autocorr_time(x) == pytest.approx((1 + rho) / (1 - rho), rel=0.1)


def test_binder_cumulant_and_bimodal_magnetisation_across_the_transition():
    rows = {r["beta"]: r for r in binder_scan([8], [0.3, 1.0], n_chains=96, trajectories=160)}
    assert abs(rows[0.3]["U"]) < 0.1  # disordered: m nearly Gaussian
    assert rows[1.0]["U"] > 0.6  # ordered: → 2/3
    m = magnetisation(_phi4._chains(1.0, 0.5, (8, 8), 160, 0, "check", 0, 96).x)
    assert np.mean(np.abs(m) < 0.25 * np.abs(m).mean()) < 0.05  # two bumps, none at 0
    assert 0.2 < np.mean(m > 0) < 0.8  # both signs (symmetric start, symmetric law)
    assert binder(np.full(10, 3.0)) == pytest.approx(2 / 3)


def test_free_spectrum_refuses_an_unnormalisable_coupling():
    with pytest.raises(ValueError, match="beta"):
        free_spectrum((8, 8), 0.5)
    with pytest.raises(ValueError, match="beta"):
        Phi4(size=8, beta=0.6, lam=0.0).sample(1)


# -- the dataset ----------------------------------------------------------------------------------
def test_same_seed_same_images_and_image_i_independent_of_n():
    ds = Phi4(size=(7, 5), trajectories=6)
    a = ds.sample(3, seed=4, split="train")
    assert a.dtype == np.float32 and a.shape == (3, 1, 7, 5)
    np.testing.assert_array_equal(a, Phi4(size=(7, 5), trajectories=6).sample(70, seed=4, split="train")[:3])
    assert not np.array_equal(a, ds.sample(3, seed=5, split="train"))
    assert not np.array_equal(a, ds.sample(3, seed=4, split="test"))


def test_registered_with_named_phases_and_no_optimum():
    ds = db.make_dataset("phi4:phase=disordered,size=8")
    assert isinstance(ds, Phi4) and ds.couplings() == (0.5, 0.5, 60)
    assert db.make_dataset("phi4").couplings()[0] == _phi4.PHASES["critical"]["beta"]
    assert not ds.has_optimum and not ds.has_spectrum
    with pytest.raises(NotApplicableError):
        ds.optimal_denoiser()
    with pytest.raises(NotApplicableError):
        ds.mmse(0.1)
    with pytest.raises(ValueError, match="phase"):
        db.make_dataset("phi4:phase=hot")
    with pytest.raises(ValueError, match="split"):
        ds.sample(1, split="validation")


# -- the cache ------------------------------------------------------------------------------------
def _entries(folder):
    return sorted(p for p in (folder / "phi4").iterdir() if p.suffix == ".npy")


def test_cache_hit_miss_and_values_unchanged(cache, monkeypatch):
    ds = Phi4(size=(5, 6), trajectories=4)
    first = ds.sample(2, seed=1)
    direct = _phi4._chains(*ds.couplings()[:2], (5, 6), 4, 1, "test", 0, _phi4.BLOCK).x.astype(np.float32)
    np.testing.assert_array_equal(first[:, 0], _phi4.OFFSET + _phi4.GAIN * direct[:2])  # values as computed
    assert len(_entries(cache)) == 1

    def refuse(*args, **kwargs):
        raise AssertionError("a cache hit recomputed")

    monkeypatch.setattr(_phi4, "_chains", refuse)
    np.testing.assert_array_equal(ds.sample(2, seed=1), first)  # hit
    with pytest.raises(AssertionError, match="recomputed"):
        ds.sample(2, seed=2)  # miss


@pytest.mark.parametrize("damage", ["flip", "truncate", "foreign", "pickle", "no-meta"])
def test_a_damaged_or_foreign_entry_is_recomputed(cache, damage):
    ds = Phi4(size=(6, 5), trajectories=4)
    good = ds.sample(3)
    (npy,) = _entries(cache)
    meta = npy.with_suffix(".json")
    if damage == "flip":
        raw = bytearray(npy.read_bytes())
        raw[-3] ^= 0xFF
        npy.write_bytes(bytes(raw))
    elif damage == "truncate":
        npy.write_bytes(npy.read_bytes()[:100])
    elif damage == "foreign":
        info = json.loads(meta.read_text())
        info["key"]["seed"] = 99
        meta.write_text(json.dumps(info))
    elif damage == "pickle":
        np.save(npy, np.array([{"x": 1}], dtype=object), allow_pickle=True)
    else:
        meta.unlink()
    np.testing.assert_array_equal(ds.sample(3), good)
    assert np.load(npy, allow_pickle=False).shape == (_phi4.BLOCK, 6, 5)  # rewritten, verified


def test_cache_folder_defaults_and_unwritable_folder(tmp_path, monkeypatch):
    monkeypatch.delenv(_cache.CACHE_ENV)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert _cache.cache_dir() == os.path.join(str(tmp_path / "xdg"), "denoisebench")
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    a = _cache.cached_array({"k": 1}, lambda: np.arange(3.0), folder=str(blocker))
    np.testing.assert_array_equal(a, np.arange(3.0))


# -- the sample experiment's non-Gaussian statistics ------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_excess_kurtosis_matches_scipy(dtype):
    from denoisebench.experiments.sample import excess_kurtosis

    x = np.random.default_rng(0).laplace(size=(3, 1, 9, 7)).astype(dtype)
    assert excess_kurtosis(x) == pytest.approx(stats.kurtosis(x.ravel().astype(np.float64), fisher=True), rel=1e-9)


def test_sample_report_carries_kurtosis_and_order_parameter(tmp_path):
    from denoisebench.experiments.sample import run_sample

    paths = run_sample("phi4:size=9x7,trajectories=8", ["wiener"], out=str(tmp_path), n=4, steps=4,
                       n_train=16, n_data=16, sigma_max=2.0)
    assert any(p.endswith("order_parameter.png") for p in paths)
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    ds = Phi4(size=(9, 7), trajectories=8)
    m = ds.order_parameter(ds.sample(16, 0, "test"))
    np.testing.assert_allclose(m, magnetisation(_field(ds, 16)), rtol=1e-6)
    assert metrics["data_order_parameter"]["binder"] == pytest.approx(binder(m))
    row = metrics["rows"]["wiener"]
    assert np.isfinite(row["excess_kurtosis"]) and len(row["order_parameter"]["m"]) == 4
    assert "Binder U" in (tmp_path / "comparison.md").read_text()
