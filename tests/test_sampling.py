"""Samplers, schedules and sample metrics checked against theory and independent references.

Independent paths: EDM's schedule formula written out by hand; the analytic Gaussian score
``−ifft2(fft2(y − μ) / (P + σ²))``; the stationary spectrum ``P`` of the ``gaussian`` dataset
and the weights of ``gmm``; a literal per-image loop of Kadkhodaie & Simoncelli's Algorithm 1;
dense-matrix Gaussian KL; scipy's Wasserstein distance; brute-force nearest neighbours;
Monte-Carlo expectations.
"""
import json
import math

import numpy as np
import pytest
from scipy.stats import chisquare, wasserstein_distance

import denoisebench as db
from denoisebench import compare
from denoisebench._fourier import frequency_radius
from denoisebench.base import Denoiser
from denoisebench.registry import SpecError
from denoisebench.sampling import (SAMPLERS, SCHEDULES, ascent, geometric_sigmas, heun, initial_noise,
                                   karras_sigmas, sample_rngs)

SAMPLER_NAMES = list(SAMPLERS)


class CountingDenoiser(Denoiser):
    """Wraps a denoiser and counts its calls (independently of the sampler's own count)."""

    def __init__(self, inner=None):
        self.inner = inner
        self.calls = 0

    def _denoise(self, y, sigma, xp):
        self.calls += 1
        return self.inner._denoise(y, sigma, xp)


def gaussian_setup(size=(9, 7)):
    ds = db.make_dataset("gaussian", size=size)
    return ds, db.make_denoiser("optimal", dataset=ds)


def radial_mean(p):
    """Ring average written out independently of denoisebench.compare."""
    rings = np.rint(frequency_radius(p.shape)).astype(int)
    return np.array([p[rings == r].mean() for r in range(rings.max() + 1) if np.any(rings == r)])


# -- schedules ------------------------------------------------------------------------------------
def test_karras_schedule_is_edm_equation_5():
    n, lo, hi, rho = 10, 0.002, 80.0, 7.0
    s = karras_sigmas(n, lo, hi, rho)
    assert s.shape == (n + 1,) and s[-1] == 0.0
    for i in (0, 1, 4, 9):
        by_hand = (hi ** (1 / rho) + i / (n - 1) * (lo ** (1 / rho) - hi ** (1 / rho))) ** rho
        assert s[i] == pytest.approx(by_hand, rel=1e-13)
    assert s[0] == pytest.approx(hi, rel=1e-13) and s[n - 1] == pytest.approx(lo, rel=1e-12)
    assert np.all(np.diff(s) < 0)
    np.testing.assert_array_equal(karras_sigmas(1, lo, hi), [hi, 0.0])


def test_geometric_schedule_has_constant_ratio_and_registry():
    s = geometric_sigmas(6, 0.01, 10.0)
    assert s[-1] == 0.0 and s[0] == pytest.approx(10.0) and s[-2] == pytest.approx(0.01)
    np.testing.assert_allclose(s[1:-1] / s[:-2], (0.01 / 10.0) ** (1 / 5), rtol=1e-12)
    assert SCHEDULES["karras"] is karras_sigmas and SCHEDULES["geometric"] is geometric_sigmas


@pytest.mark.parametrize("args", [(0, 0.1, 1.0), (5, 1.0, 0.1), (5, 0.0, 1.0), (5, 0.1, math.inf)])
def test_schedule_rejects_bad_arguments(args):
    for fn in SCHEDULES.values():
        with pytest.raises(ValueError):
            fn(*args)


# -- Tweedie score of the exact denoiser -----------------------------------------------------------
def test_tweedie_score_of_optimal_gaussian_is_the_analytic_score():
    ds, d = gaussian_setup((9, 7))
    mean, p = ds.power_spectrum()
    x = ds.sample(3, seed=2).astype(np.float64)
    sigma = np.array([0.05, 0.3, 1.2])
    y = db.add_noise(x, sigma, seed=3)
    analytic = -np.real(np.fft.ifft2(np.fft.fft2(y - mean) / (p + sigma[:, None, None, None] ** 2)))
    score = db.tweedie_score(d)(y, sigma)
    np.testing.assert_allclose(score, analytic, rtol=1e-10, atol=1e-12 * np.abs(analytic).max())


# -- NFE -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("steps", [1, 5, 18])
def test_heun_uses_2n_minus_1_evaluations(steps):
    ds, d = gaussian_setup()
    counted = CountingDenoiser(d)
    x0 = initial_noise(2, (1, 9, 7), 5.0, seed=0, mean=0.5)
    result = heun(counted, x0, karras_sigmas(steps, 0.01, 5.0))
    assert result.nfe == counted.calls == 2 * steps - 1
    np.testing.assert_array_equal(result.nfe_per_sample, 2 * steps - 1)


def test_euler_maruyama_and_ascent_count_evaluations():
    ds, d = gaussian_setup()
    x0 = initial_noise(2, (1, 9, 7), 5.0, seed=0, mean=0.5)
    counted = CountingDenoiser(d)
    assert SAMPLERS["euler-maruyama"](counted, x0, karras_sigmas(7, 0.01, 5.0)).nfe == counted.calls == 7
    counted = CountingDenoiser(d)
    result = ascent(counted, x0, karras_sigmas(7, 0.01, 5.0), max_iter=3)
    assert result.nfe == counted.calls == 3 and not result.converged.any()


# -- the samplers sample the right distribution ---------------------------------------------------
def test_heun_with_the_exact_denoiser_reproduces_the_gaussian_spectrum():
    ds, d = gaussian_setup(16)
    mean, p = ds.power_spectrum()
    n, sigma_max = 1024, 80 * ds.std  # σ_max ≫ √max P = 0.86 here
    x = heun(d, initial_noise(n, (1, 16, 16), sigma_max, seed=0, mean=mean), karras_sigmas(40, 0.002, sigma_max)).samples
    periodogram = np.mean(np.abs(np.fft.fft2(x[:, 0] - mean)) ** 2, axis=0) / 256
    rel = radial_mean(periodogram) / radial_mean(p) - 1
    # Statistical error per ring ≈ 1/√(n m_ring) ≲ 3 %; measured mean |rel| ≈ 0.019 (discretisation ≈ 1.3 %).
    assert np.mean(np.abs(rel)) < 0.05, rel
    assert abs(x.mean() - mean) < 5 * math.sqrt(p[0, 0] / 256 / n)


def test_heun_on_gmm_draws_components_with_their_weights():
    ds = db.make_dataset("gmm", size=16)
    mean, _ = ds.power_spectrum()
    n = 300
    x0 = initial_noise(n, (1, 16, 16), 80.0, seed=1, mean=mean)
    x = heun(db.make_denoiser("optimal", dataset=ds), x0, karras_sigmas(40, 0.002, 80.0)).samples
    resp = ds.optimal_denoiser().responsibilities(x, 0.01)  # posterior of each component at small σ
    assert np.mean(np.max(resp, axis=0) > 0.99) > 0.95  # each sample clearly belongs to one component
    counts = np.bincount(np.argmax(resp, axis=0), minlength=len(ds.weights))
    assert chisquare(counts, n * np.asarray(ds.weights)).pvalue > 0.01, counts


def test_euler_maruyama_with_many_steps_reproduces_the_gaussian_spectrum():
    ds, d = gaussian_setup(16)
    mean, p = ds.power_spectrum()
    sigma_max = 80 * ds.std
    x0 = initial_noise(512, (1, 16, 16), sigma_max, seed=5, mean=mean)
    x = SAMPLERS["euler-maruyama"](d, x0, karras_sigmas(200, 0.002, sigma_max), rng=5).samples
    periodogram = np.mean(np.abs(np.fft.fft2(x[:, 0] - mean)) ** 2, axis=0) / 256
    rel = radial_mean(periodogram) / radial_mean(p) - 1
    assert np.mean(np.abs(rel)) < 0.08, rel  # first order: error ∝ 1/steps


def test_ascent_equals_a_literal_per_image_loop_of_algorithm_1():
    ds, d = gaussian_setup((9, 7))
    h0, beta, sigma_0, sigma_L = 0.05, 0.5, 2.0, 0.02
    x0 = initial_noise(3, (1, 9, 7), sigma_0, seed=4, mean=0.5)
    result = ascent(d, x0, geometric_sigmas(4, sigma_L, sigma_0), rng=4, h0=h0, beta=beta)
    for i, rng in enumerate(sample_rngs(4, 3)):
        y, t, sigma_in = x0[i:i + 1], 0, sigma_0
        while True:
            t += 1
            h = h0 * t / (1 + h0 * (t - 1))
            res = d(y, sigma_in) - y
            sigma_t = np.sqrt(np.mean(res**2))
            gamma = sigma_t * np.sqrt((1 - beta * h) ** 2 - (1 - h) ** 2)
            y = y + h * res + gamma * rng.standard_normal(y.shape[1:])
            sigma_in = sigma_t
            if sigma_t <= sigma_L:
                break
        np.testing.assert_allclose(result.samples[i:i + 1], y, rtol=1e-12, atol=1e-12)
        assert result.nfe_per_sample[i] == t and result.final_sigma[i] == pytest.approx(sigma_t)
    assert result.converged.all() and result.nfe == result.nfe_per_sample.max()


# -- randomness: per-sample streams ---------------------------------------------------------------
def _run(name, d, x0, seed, start=0):
    return SAMPLERS[name](d, x0, karras_sigmas(6, 0.02, 3.0), rng=sample_rngs(seed, x0.shape[0], start)).samples


@pytest.mark.parametrize("name", SAMPLER_NAMES)
def test_a_sample_does_not_depend_on_its_batch(name):
    ds, d = gaussian_setup()
    x0 = initial_noise(4, (1, 9, 7), 3.0, seed=7, mean=0.5)
    np.testing.assert_array_equal(initial_noise(1, (1, 9, 7), 3.0, seed=7, mean=0.5, start=2), x0[2:3])
    batch = _run(name, d, x0, seed=7)
    alone = _run(name, d, x0[2:3], seed=7, start=2)
    np.testing.assert_allclose(alone, batch[2:3], rtol=1e-12, atol=1e-12)
    assert not np.allclose(batch[0], batch[2])


@pytest.mark.parametrize("name", SAMPLER_NAMES)
def test_same_seed_same_samples_and_int_seed_equals_its_streams(name):
    ds, d = gaussian_setup()
    x0 = initial_noise(3, (1, 9, 7), 3.0, seed=1, mean=0.5)
    sig = karras_sigmas(6, 0.02, 3.0)
    first = SAMPLERS[name](d, x0, sig, rng=11).samples
    np.testing.assert_array_equal(first, SAMPLERS[name](d, x0, sig, rng=11).samples)
    np.testing.assert_array_equal(first, _run(name, d, x0, seed=11))
    other = SAMPLERS[name](d, x0, sig, rng=12).samples
    assert (name == "heun") == np.array_equal(first, other)  # only heun is deterministic


@pytest.mark.parametrize("name", SAMPLER_NAMES)
def test_samplers_agree_across_backends(name, backend):
    ds, d = gaussian_setup()
    x0 = initial_noise(3, (1, 9, 7), 3.0, seed=2, mean=0.5)
    ref = _run(name, d, x0, seed=2)
    out = _run(name, d, backend.asarray(x0), seed=2)
    assert db.array_namespace(out) is db.array_namespace(backend.asarray(x0))
    np.testing.assert_allclose(db.to_numpy(out), ref, rtol=1e-9, atol=1e-9)


def test_float32_input_gives_float32_samples_close_to_float64():
    ds, d = gaussian_setup()
    x0 = initial_noise(2, (1, 9, 7), 3.0, seed=2, mean=0.5)
    out = heun(d, x0.astype(np.float32), karras_sigmas(6, 0.02, 3.0)).samples
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, heun(d, x0, karras_sigmas(6, 0.02, 3.0)).samples, rtol=1e-4, atol=1e-5)


def test_samplers_refuse_oracle_bounds_and_bad_schedules():
    class Bound(Denoiser):
        bound = True

    x0 = initial_noise(1, (1, 9, 7), 1.0)
    for fn in SAMPLERS.values():
        with pytest.raises(ValueError, match="oracle bound"):
            fn(Bound(), x0, karras_sigmas(3, 0.1, 1.0))
        with pytest.raises(ValueError, match="decrease"):
            fn(db.make_denoiser("identity"), x0, [1.0, 2.0, 0.0])
    for name in ("euler-maruyama", "ascent"):  # one shared Generator would couple the samples
        with pytest.raises(ValueError, match="one per sample"):
            SAMPLERS[name](db.make_denoiser("identity"), x0, [1.0, 0.5, 0.0], rng=np.random.default_rng(0))


# -- metrics ---------------------------------------------------------------------------------------
def _images(n, shape=(1, 9, 7), seed=0):
    return np.random.default_rng(seed).standard_normal((n, *shape))


def test_pixel_wasserstein_is_zero_for_identical_sets_and_the_shift_for_shifted_ones():
    x = _images(5)
    assert compare.pixel_wasserstein(x, x) == 0.0
    assert compare.pixel_wasserstein(x + 0.37, x) == pytest.approx(0.37, rel=1e-12)


def test_sliced_wasserstein_of_one_pixel_images_is_w1():
    a, b = _images(40, (1, 1, 1), 1), _images(30, (1, 1, 1), 2) + 0.5
    assert compare.sliced_wasserstein(a, b, n_projections=5) == pytest.approx(wasserstein_distance(a.ravel(), b.ravel()))
    assert compare.sliced_wasserstein(_images(8), _images(8)) == 0.0


def dense_kl(mu_hat, p_hat, mu, p):
    """KL(N(μ̂, Ĉ) ‖ N(μ, C)) by dense linear algebra, C from the autocovariance ifft2(P)."""
    h, w = p.shape

    def cov(q):
        c = np.real(np.fft.ifft2(q))
        idx = [(i, j) for i in range(h) for j in range(w)]
        return np.array([[c[(a[0] - b[0]) % h, (a[1] - b[1]) % w] for b in idx] for a in idx])

    c, c_hat = cov(p), cov(p_hat)
    n = h * w
    delta = np.full(n, mu - mu_hat)
    m = np.linalg.solve(c, c_hat)
    return 0.5 * (np.trace(m) - n - np.linalg.slogdet(m)[1] + delta @ np.linalg.solve(c, delta))


def test_gaussian_kl_is_zero_for_the_truth_and_matches_closed_form_and_dense_algebra():
    _, p = db.make_dataset("gaussian", size=(6, 5)).power_spectrum()
    assert compare.gaussian_kl(p, p, 0.5, 0.5) == 0.0
    c = 1.7
    assert compare.gaussian_kl(c * p, p) == pytest.approx(0.5 * p.size * (c - 1 - math.log(c)), rel=1e-12)
    p_hat = p * np.exp(0.3 * np.cos(2 * np.pi * frequency_radius(p.shape) / 5))  # symmetric in k
    assert compare.gaussian_kl(p_hat, p, 0.52, 0.5) == pytest.approx(dense_kl(0.52, p_hat, 0.5, p), rel=1e-9)


def test_gaussian_kl_floor_is_the_monte_carlo_mean_for_exact_samples():
    ds = db.make_dataset("gaussian", size=(6, 4))
    mean, p = ds.power_spectrum()
    n, reps = 6, 600
    x = ds.sample(n * reps, seed=9).astype(np.float64)
    kls = []
    for r in range(reps):
        m_hat, p_hat = compare.fit_stationary_gaussian(x[r * n:(r + 1) * n])
        kls.append(compare.gaussian_kl(p_hat, p, m_hat, mean))
    se = np.std(kls, ddof=1) / math.sqrt(reps)
    assert abs(np.mean(kls) - compare.gaussian_kl_floor(p.shape, n)) < 4 * se


def test_power_spectrum_obeys_parseval_and_puts_a_plane_wave_in_its_ring():
    x = _images(4, (1, 9, 8), 3)
    assert compare.power_spectrum(x).mean() == pytest.approx(np.var(x), rel=1e-12)
    h, w = 9, 8
    wave = np.cos(2 * np.pi * 3 * np.arange(w) / w)[None, None, None, :] * np.ones((1, 1, h, w))
    k, pk = compare.radial_power_spectrum(wave, mean=0.0)
    rings = np.rint(frequency_radius((h, w))).astype(int)
    expected = np.zeros(rings.max() + 1)
    expected[3] = 2 * (h * w / 2) ** 2 / (h * w) / np.sum(rings == 3)  # two frequencies ±3 of |X|² = (HW/2)²
    np.testing.assert_allclose(pk, expected[k], atol=1e-12)


def test_spectrum_log_error_of_a_doubled_contrast_is_log_4():
    x = _images(6, (1, 8, 8), 4)
    assert compare.spectrum_log_error(2 * x, x) == pytest.approx(math.log(4), rel=1e-12)
    assert compare.spectrum_log_error(x, x) == 0.0


def test_wavelet_kurtosis_is_3_for_white_noise_and_large_for_spikes():
    noise = _images(64, (1, 32, 32), 5)
    kurt = compare.wavelet_kurtosis(noise, levels=3)
    assert sorted(kurt) == sorted(f"d{j}_{o}" for j in (1, 2, 3) for o in "HVD")
    for band, value in kurt.items():
        m = 64 * (32 // 2 ** int(band[1])) ** 2
        assert abs(value - 3) < 5 * math.sqrt(24 / m), band
    spikes = np.zeros((4, 1, 32, 32))
    spikes[:, :, 5, 9] = 1.0
    spiky = compare.wavelet_kurtosis(spikes)
    assert min(spiky.values()) > 4 and min(spiky[f"d1_{o}"] for o in "HVD") > 100  # few large coefficients
    assert compare.wavelet_kurtosis_error(noise, noise) == 0.0


def test_nearest_distances_match_brute_force_and_memorisation_ratio():
    a, ref = _images(5, (1, 4, 3), 6), _images(7, (1, 4, 3), 7)
    brute = [min(np.linalg.norm(ai - rj) for rj in ref) for ai in a]
    np.testing.assert_allclose(compare.nearest_distances(a, ref), brute, rtol=1e-12)
    loo = [min(np.linalg.norm(ref[i] - ref[j]) for j in range(7) if j != i) for i in range(7)]
    np.testing.assert_allclose(compare.nearest_distances(ref, ref, exclude_self=True), loo, rtol=1e-12)
    assert compare.memorisation_ratio(ref, ref, reference=a) == 0.0
    one = lambda *v: np.array(v, dtype=float).reshape(-1, 1, 1, 1)  # noqa: E731
    # distances to train {0, 10}: samples 1 and 9.5 → median 0.75; reference 2 → 2.
    assert compare.memorisation_ratio(one(1, 9.5), one(0, 10), reference=one(2)) == pytest.approx(0.375)


def test_same_seed_cosine():
    a = _images(4, (1, 5, 5), 8)
    np.testing.assert_allclose(compare.same_seed_cosine(a, a), 1.0, rtol=1e-12)
    np.testing.assert_allclose(compare.same_seed_cosine(a, 3 * a + 0.7), 1.0, rtol=1e-12)
    np.testing.assert_allclose(compare.same_seed_cosine(a, -a), -1.0, rtol=1e-12)
    u = np.zeros((1, 1, 2, 2))
    u[0, 0] = [[1, -1], [0, 0]]
    v = np.zeros((1, 1, 2, 2))
    v[0, 0] = [[0, 0], [1, -1]]
    assert compare.same_seed_cosine(u, v)[0] == pytest.approx(0.0, abs=1e-15)


# -- the command ---------------------------------------------------------------------------------------
def test_run_sample_writes_files_and_uses_the_same_noise_for_every_denoiser(tmp_path):
    from denoisebench.experiments.sample import run_sample

    paths = run_sample("gaussian:size=8", ["optimal", "wiener"], out=str(tmp_path), n=4, steps=5, n_train=16,
                       n_data=16, dtype="float64", sigma_max=4.0, sigma_min=0.01)
    names = {p.split("/")[-1] for p in paths}
    assert {"samples_optimal.npy", "samples_wiener.npy", "grid.png", "spectra.png", "metrics.json",
            "comparison.md"} <= names
    ds = db.make_dataset("gaussian", size=8)
    x_train = ds.sample(16, 0, split="train")
    x0 = initial_noise(4, (1, 8, 8), 4.0, seed=0, mean=float(x_train.mean()))
    expected = heun(db.make_denoiser("optimal", dataset=ds), x0, karras_sigmas(5, 0.01, 4.0)).samples
    np.testing.assert_allclose(np.load(tmp_path / "samples_optimal.npy"), expected, rtol=1e-10)
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["rows"]["optimal"]["nfe"] == 9
    assert metrics["rows"]["optimal"]["gaussian_kl"]["kl_floor"] == pytest.approx(compare.gaussian_kl_floor((8, 8), 4))
    assert metrics["same_seed_cosine"]["optimal"]["optimal"] == pytest.approx(1.0)
    assert "| optimal |" in (tmp_path / "comparison.md").read_text()
    # the floor: the same distance for floor_sets (default 8) disjoint sets of n further held-out images
    sets = ds.sample(16 + 4 * 8, 0, split="test")[16:].reshape(8, 4, 1, 8, 8)
    x_test = ds.sample(16, 0, split="test")
    pixel = [compare.pixel_wasserstein(x, x_test) for x in sets]
    fl = metrics["floor"]
    assert fl["sets"] == 8
    assert fl["pixel_w1"]["mean"] == pytest.approx(np.mean(pixel), rel=1e-12)
    assert (fl["pixel_w1"]["min"], fl["pixel_w1"]["max"]) == pytest.approx((min(pixel), max(pixel)), rel=1e-12)
    assert metrics["rows"]["data (held-out)"]["vs_test"]["pixel_w1"] == pytest.approx(pixel[0], rel=1e-12)
    ratio = metrics["rows"]["wiener"]["vs_test"]["sliced_w1"] / fl["sliced_w1"]["mean"]
    row = next(line for line in (tmp_path / "comparison.md").read_text().splitlines()
               if line.startswith("| wiener |") and "units" not in line and line.count("|") == 6)
    assert row.split("|")[4].strip() == f"{ratio:.2f}"  # cells: denoiser, PSD, pixel W1, sliced W1, KL


def test_run_sample_passes_churn_to_heun_and_says_so(tmp_path):
    from denoisebench.experiments.sample import run_sample

    run_sample("gaussian:size=8", ["optimal"], out=str(tmp_path), n=3, steps=4, n_train=16, n_data=16,
               dtype="float64", sigma_max=4.0, sigma_min=0.01, churn=2.0, churn_range=(0.05, 1.0), churn_noise=1.01)
    ds = db.make_dataset("gaussian", size=8)
    x0 = initial_noise(3, (1, 8, 8), 4.0, seed=0, mean=float(ds.sample(16, 0, split="train").mean()))
    expected = heun(db.make_denoiser("optimal", dataset=ds), x0, karras_sigmas(4, 0.01, 4.0), rng=0, s_churn=2.0,
                    s_tmin=0.05, s_tmax=1.0, s_noise=1.01).samples
    np.testing.assert_allclose(np.load(tmp_path / "samples_optimal.npy"), expected, rtol=1e-10)
    settings = json.loads((tmp_path / "metrics.json").read_text())["settings"]
    assert (settings["churn"], settings["churn_range"], settings["churn_noise"]) == (2.0, [0.05, 1.0], 1.01)
    assert "S_churn 2 on σ ∈ [0.05, 1], S_noise 1.01" in (tmp_path / "comparison.md").read_text()


def test_run_sample_scores_training_sets_against_both_splits(tmp_path):
    """The training floor (further training images against the training reference) and the split shift
    (the same images against the held-out reference) recomputed from the dataset; the report's cells."""
    from denoisebench.experiments.sample import run_sample

    run_sample("natural:size=16", ["wiener"], out=str(tmp_path), n=3, steps=4, n_train=12, n_data=10,
               dtype="float64", sigma_max=2.0, floor_sets=4)
    ds = db.make_dataset("natural", size=16)
    x_train = ds.sample(12, 0, split="train")
    sets = ds.sample(12 + 3 * 4, 0, split="train")[12:].reshape(4, 3, 1, 16, 16)
    x_test = ds.sample(10, 0, split="test")
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    for key, reference in (("train_floor", x_train), ("split_shift", x_test)):
        sliced = [compare.sliced_wasserstein(x, reference) for x in sets]
        assert metrics[key]["sets"] == 4
        assert metrics[key]["sliced_w1"]["mean"] == pytest.approx(np.mean(sliced), rel=1e-12)
        assert metrics[key]["sliced_w1"]["max"] == pytest.approx(max(sliced), rel=1e-12)
    text = (tmp_path / "comparison.md").read_text()
    fl, tf = metrics["floor"], metrics["train_floor"]
    shift = metrics["split_shift"]["pixel_w1"]["mean"] / fl["pixel_w1"]["mean"]
    assert next(line for line in text.splitlines() if line.startswith("| training images:")).split("|")[3].strip() \
        .startswith(f"{shift:.2f} [")
    # the training-distance section: the samples' distance to x_train over the training floor, memorisation
    samples = np.load(tmp_path / "samples_wiener.npy").astype(np.float64)
    ratio = compare.spectrum_log_error(samples, x_train) / tf["spectrum_log_error"]["mean"]
    section = text.split("## Distances to the training images")[1]
    row = next(line for line in section.splitlines() if line.startswith("| wiener |"))
    assert row.split("|")[2].strip() == f"{ratio:.2f}"
    near = np.median(compare.nearest_distances(samples, x_train)) / np.median(
        compare.nearest_distances(sets.reshape(12, 1, 16, 16), x_train))
    assert row.split("|")[5].strip() == f"{near:.3f}"


def test_sample_floor_is_zero_for_copies_of_the_data():
    from denoisebench.experiments.sample import floor

    x = np.random.default_rng(0).random((6, 1, 9, 7))
    fl = floor(np.stack([x, x, x]), x)
    assert fl["sets"] == 3
    for key in ("pixel_w1", "sliced_w1", "spectrum_log_error"):
        assert fl[key]["mean"] == pytest.approx(0.0, abs=1e-12) and fl[key]["max"] == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("kwargs", [{"sampler": "nope"}, {"schedule": "nope"}, {"sigma_min": 100.0},
                                    {"n": 0}, {"backend": "nope"}, {"floor_sets": 0}])
def test_run_sample_refuses_bad_requests_with_spec_errors(tmp_path, kwargs):
    from denoisebench.experiments.sample import run_sample

    with pytest.raises(SpecError):
        run_sample("gaussian:size=8", ["optimal"], out=str(tmp_path), **kwargs)
    with pytest.raises(SpecError):
        run_sample("nope", ["optimal"], out=str(tmp_path))
    with pytest.raises(SpecError):
        run_sample("gaussian:size=8", ["nope"], out=str(tmp_path))


def test_run_sample_refuses_a_denoiser_not_applicable_to_the_dataset(tmp_path):
    from denoisebench.experiments.sample import run_sample

    if "disks" not in db.list_datasets():
        pytest.skip("no dataset without a known optimum registered")
    with pytest.raises(SpecError, match="optimal"):
        run_sample("disks:size=8", ["optimal"], out=str(tmp_path), n_train=4, n_data=4)


# -- EDM's stochastic steps (churn) ----------------------------------------------------------------
def test_churn_levels_follow_edm_algorithm_2():
    from denoisebench.sampling import churn_levels

    s = np.array([4.0, 2.0, 1.0, 0.0])
    np.testing.assert_allclose(churn_levels(s, 0.6), [4.8, 2.4, 1.2])  # γ = 0.6/3
    np.testing.assert_allclose(churn_levels(s, 0.6, 1.5, 3.0), [4.0, 2.4, 1.0])  # only σ_i in [S_tmin, S_tmax]
    np.testing.assert_allclose(churn_levels(s, 100.0), math.sqrt(2) * s[:-1])  # γ capped at √2 − 1


def test_heun_without_churn_is_unchanged_and_draws_no_noise():
    ds, d = gaussian_setup()
    x0 = initial_noise(3, (1, 9, 7), 5.0, seed=0, mean=0.5)
    sig = karras_sigmas(6, 0.01, 5.0)
    plain = heun(d, x0, sig).samples
    np.testing.assert_array_equal(heun(d, x0, sig, rng=123, s_churn=0.0, s_tmin=0.1, s_noise=1.5).samples, plain)
    churned = heun(d, x0, sig, rng=0, s_churn=3.0).samples
    assert np.max(np.abs(churned - plain)) > 1e-3  # churn does something


def test_one_churned_step_by_hand():
    """One step of EDM's Algorithm 2 written out: x̂ = x + S_noise √(σ̂² − σ²) z, then Heun from σ̂ to σ_1."""
    ds, d = gaussian_setup()
    x0 = initial_noise(2, (1, 9, 7), 2.0, seed=5, mean=0.5)
    sig = np.array([2.0, 0.7, 0.0])
    out = heun(d, x0, sig, rng=7, s_churn=0.5, s_noise=1.2).samples  # γ = 0.25 on both steps
    gens = sample_rngs(7, 2)
    x = x0 + 1.2 * math.sqrt(2.5 ** 2 - 4.0) * np.stack([g.standard_normal((1, 9, 7)) for g in gens])
    d1 = (x - d(x, 2.5)) / 2.5
    x1 = x + (0.7 - 2.5) * d1
    x1 = x + (0.7 - 2.5) * 0.5 * (d1 + (x1 - d(x1, 0.7)) / 0.7)
    x1 = x1 + 1.2 * math.sqrt(0.875 ** 2 - 0.49) * np.stack([g.standard_normal((1, 9, 7)) for g in gens])
    np.testing.assert_allclose(out, d(x1, 0.875), rtol=1e-10, atol=1e-12)  # last step: Euler to 0 lands on D


def test_churned_samples_do_not_depend_on_the_batch():
    ds, d = gaussian_setup()
    x0 = initial_noise(4, (1, 9, 7), 5.0, seed=2, mean=0.5)
    sig = karras_sigmas(5, 0.01, 5.0)
    whole = heun(d, x0, sig, rng=2, s_churn=2.0).samples
    part = heun(d, x0[2:], sig, rng=sample_rngs(2, 2, start=2), s_churn=2.0).samples
    np.testing.assert_allclose(part, whole[2:], rtol=1e-12)


@pytest.mark.parametrize("kw", [{"s_churn": -1.0}, {"s_churn": math.inf}, {"s_tmin": 2.0, "s_tmax": 1.0},
                                {"s_noise": 0.0}, {"s_churn": True}, {"s_churn": "1"}])
def test_bad_churn_settings_are_refused(kw):
    ds, d = gaussian_setup()
    x0 = initial_noise(1, (1, 9, 7), 5.0, seed=0, mean=0.5)
    with pytest.raises(ValueError, match="s_churn"):
        heun(d, x0, karras_sigmas(3, 0.01, 5.0), **kw)
