"""Closed-form sampler error checked against the real samplers, dense covariances and theory.

Independent paths: the linear map of the real :func:`heun` / :func:`euler` read off column by
column on basis images; the general dense Gaussian KL ``½[tr(C⁻¹Σ) − N − log det(C⁻¹Σ)]``;
Monte Carlo from the real :func:`euler_maruyama` and :func:`heun` with the ``optimal`` denoiser;
the OU time σ(t) = √(e^{2t} − 1) written out by hand.
"""
import math
import warnings

import numpy as np
import pytest

import denoisebench as db
from denoisebench import compare
from denoisebench.sampling import sampler_error as se
from denoisebench.sampling import (SCHEDULES, euler, euler_maruyama, heun, initial_noise, karras_sigmas,
                                   vp_sigmas)

REAL = {"heun": heun, "euler": euler, "euler-maruyama": euler_maruyama}


def _dense_covariance(p):
    """Covariance of the stationary field with spectrum p, built from its pixel autocovariance."""
    h, w = p.shape
    acov = np.real(np.fft.ifft2(p))  # c(Δ) = (1/N) Σ_k P_k e^{2πi kΔ}
    idx = np.indices((h, w)).reshape(2, -1)
    return acov[(idx[0][:, None] - idx[0][None]) % h, (idx[1][:, None] - idx[1][None]) % w]


def _dense_kl(sigma, c):
    m = np.linalg.solve(c, sigma)
    return 0.5 * (np.trace(m) - c.shape[0] - np.linalg.slogdet(m)[1])


@pytest.mark.parametrize("sampler", ["heun", "euler"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_propagation_equals_the_real_deterministic_sampler_as_a_dense_map(sampler, dtype):
    ds = db.make_dataset("gaussian", size=(7, 5))
    mean, p = ds.power_spectrum()
    d = db.make_denoiser("optimal", dataset=ds)
    sigmas = karras_sigmas(6, 0.01, 3 * math.sqrt(p.max()))
    n = p.size
    basis = np.eye(n).reshape(n, 1, 7, 5)
    a = (REAL[sampler](d, (mean + basis).astype(dtype), sigmas).samples.astype(np.float64) - mean).reshape(n, n).T
    cov = sigmas[0] ** 2 * a @ a.T  # x_0 − μ ~ N(0, σ_0² I)
    c = _dense_covariance(p)
    expected = _dense_kl(cov, c)
    rtol = 1e-8 if dtype == np.float64 else 2e-2
    assert se.sampler_kl(sampler, sigmas, p) == pytest.approx(expected, rel=rtol)
    # per mode: the dense covariance is diagonal in the unitary DFT with the propagated variances
    f = np.fft.fft2(np.eye(n).reshape(n, 7, 5)).reshape(n, n) / math.sqrt(n)
    diag = np.real(np.einsum("ki,ij,kj->k", f.conj(), cov, f))
    np.testing.assert_allclose(diag, se.propagate(sampler, sigmas, p).ravel(), rtol=10 * rtol)
    assert expected > 0.05  # few steps: the check is not trivial


@pytest.mark.parametrize("sampler,n", [("euler-maruyama", 400), ("heun", 300)])
def test_propagated_variance_matches_monte_carlo_from_the_real_sampler(sampler, n):
    ds = db.make_dataset("gaussian", size=16)
    mean, p = ds.power_spectrum()
    d = db.make_denoiser("optimal", dataset=ds)
    sigmas = karras_sigmas(5, 0.01, 3 * math.sqrt(p.max()))
    x0 = initial_noise(n, (1, 16, 16), sigmas[0], seed=3, mean=mean)
    x = REAL[sampler](d, x0, sigmas, rng=3).samples[:, 0]
    v_hat = np.mean(np.abs(np.fft.fft2(x - mean)) ** 2, axis=0) / 256  # E = v_k (mean exact)
    v = se.propagate(sampler, sigmas, p)
    # |X_k|²/N ~ v_k χ²_2/2 at a generic k (rel. sd 1/√n), v_k χ²_1 where k ≡ −k (rel. sd √(2/n))
    self_conj = np.zeros((16, 16), bool)
    self_conj[::8, ::8] = True
    z = (v_hat / v - 1) / np.where(self_conj, math.sqrt(2 / n), 1 / math.sqrt(n))
    assert np.max(np.abs(z)) < 4.5, np.max(np.abs(z))
    assert 0.7 < np.mean(z ** 2) < 1.4
    assert np.max(np.abs(v / p - 1)) > 10 / math.sqrt(n)  # the sampler's error is resolved, not zero


def test_many_steps_reach_the_exact_flow_limit_and_kl_falls_with_steps():
    ds = db.make_dataset("gaussian", size=(37, 31))
    _, p = ds.power_spectrum()
    smax = 3 * math.sqrt(p.max())
    limit = se.limit_kl(p, smax, 0.002)
    for sampler in ("heun", "euler", "euler-maruyama"):
        kls = [se.sampler_kl(sampler, karras_sigmas(n, 0.002, smax), p) for n in (10, 40, 160)]
        assert kls[0] > kls[1] > kls[2]
    assert se.sampler_kl("heun", karras_sigmas(2000, 0.002, smax), p) == pytest.approx(limit, rel=1e-2)
    # theory §13: exact flow from N(μ, σ²) gives variance Pσ²/(P + σ²); ≤ 1/10 deficit per mode by the rule
    r = smax ** 2 / (p + smax ** 2)
    assert se.initial_noise_kl(p, smax) == pytest.approx(0.5 * np.sum(r - 1 - np.log(r)), rel=1e-12)
    assert r.min() >= 0.9 - 1e-12


def test_vp_schedule_has_equal_ou_time_steps():
    s = vp_sigmas(7, 0.01, 5.0)
    assert s[-1] == 0 and s[0] == 5.0 and s[-2] == 0.01 and SCHEDULES["vp"] is vp_sigmas
    t = 0.5 * np.log(1 + s[:-1] ** 2)  # σ(t) = √(e^{2t} − 1)
    np.testing.assert_allclose(np.diff(t), (0.5 * math.log(1 + 1e-4) - 0.5 * math.log(26)) / 6, rtol=1e-10)


def test_default_sigma_max_is_three_largest_mode_stds():
    ds = db.make_dataset("gaussian", size=16)
    _, p = ds.power_spectrum()
    x = ds.sample(400, 0, split="train")
    # the peak is at k = 0, estimated by N var(image means): relative sd ≈ 1/√(2·400) on the std
    assert se.default_sigma_max(x) == pytest.approx(3 * math.sqrt(p.max()), rel=0.15)


def test_spectrum_bias_is_the_log_power_error_of_exact_samples():
    # white data: every mode and ring alike, so the bias is one mode's |log v/P| (Heun's gain by hand)
    c, sig = 0.3, karras_sigmas(4, 0.01, 2.0)
    v = sig[0] ** 2
    for hi, lo in zip(sig[:-1], sig[1:]):
        a = lambda s: s / (c + s * s)  # noqa: E731
        g = 1 + (lo - hi) * a(hi)
        g = 1 + 0.5 * (lo - hi) * (a(hi) + a(lo) * g) if lo > 0 else g
        v *= g * g
    assert se.spectrum_bias("heun", sig, np.full((7, 5), c)) == pytest.approx(abs(math.log(v / c)), rel=1e-12)
    # a real spectrum: the metric of many real samples (an independent computation, Monte Carlo) agrees
    ds = db.make_dataset("gaussian", size=(16, 16))
    mean, p = ds.power_spectrum()
    d = db.make_denoiser("optimal", dataset=ds)
    sigmas = karras_sigmas(6, 0.01, 3 * math.sqrt(p.max()))
    x = heun(d, initial_noise(4000, (1, 16, 16), sigmas[0], seed=5, mean=mean), sigmas, rng=5).samples
    bias = se.spectrum_bias("heun", sigmas, p)
    data = np.fft.ifft2(np.sqrt(p) * np.fft.fft2(np.random.default_rng(6).standard_normal((4000, 1, 16, 16)))).real
    assert bias > 0.05  # 6 steps: resolved, not zero
    assert compare.spectrum_log_error(x, data + mean) == pytest.approx(bias, abs=0.02)


def test_sample_default_steps_are_the_rule_of_the_sampler_error_report(tmp_path):
    import json

    from denoisebench.experiments.sample import DEFAULTS
    from denoisebench.experiments.sampler_error import run_sampler_error

    run_sampler_error(out=str(tmp_path))  # the report's defaults: gaussian 64², floors at 256 and 64 images
    r = json.loads((tmp_path / "results.json").read_text())
    assert DEFAULTS["steps"] == r["chosen_steps"] == max(r["steps_by_kl"], r["steps_by_spectrum"])
    assert r["steps_by_spectrum"] > r["steps_by_kl"]  # the spectrum is the stricter of the two on gaussian


def test_smallest_steps_below_needs_the_kl_to_stay_below():
    rows = [{"sampler": "heun", "schedule": "karras", "steps": n, "kl": kl}
            for n, kl in [(5, 9.0), (10, 0.5), (15, 2.0), (20, 0.4), (25, 0.1)]]
    assert se.smallest_steps_below(rows, 1.0, "heun", "karras") == 20
    assert se.smallest_steps_below(rows, 0.05, "heun", "karras") is None
    rows = [{**r, "spectrum": 1 / r["steps"]} for r in rows]
    assert se.smallest_steps_below(rows, 0.15, "heun", "karras", key="spectrum") == 10


@pytest.mark.parametrize("call,match", [
    (lambda p: se.propagate("ascent", [1.0, 0.0], p), "not affine"),
    (lambda p: se.propagate("nope", [1.0, 0.0], p), "unknown sampler"),
    (lambda p: se.propagate("heun", [1.0, 2.0, 0.0], p), "decreasing"),
    (lambda p: se.sampler_kl("heun", [1.0, 0.0], -p), "> 0"),
    (lambda p: se.initial_noise_kl(p, float("nan")), "sigma_max"),
    (lambda p: se.default_sigma_max(np.zeros((4, 1, 5, 5))), "no variance"),
])
def test_bad_input_gives_a_clear_error(call, match):
    with pytest.raises(ValueError, match=match):
        call(np.ones((5, 4)))


def test_sample_warns_when_sigma_max_is_outside_the_unet_training_range(tmp_path):
    from denoisebench.experiments.sample import run_sample, trained_sigma_range

    unet = db.make_denoiser("unet", dataset=db.make_dataset("gaussian", size=8))
    lo, hi = trained_sigma_range(unet)  # the shipped weights' metadata
    assert 0 < lo < hi
    settings = dict(n=2, steps=2, n_train=4, n_data=4, dtype="float64", sigma_min=0.01)
    with pytest.warns(UserWarning, match="outside the σ range 'unet'"):
        run_sample("gaussian:size=8", ["unet", "optimal"], out=str(tmp_path / "a"), sigma_max=4 * hi, **settings)
    text = (tmp_path / "a" / "comparison.md").read_text()
    assert "**Warning:**" in text and "'unet'" in text and "'optimal'" not in text.split("| denoiser")[0]
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        run_sample("gaussian:size=8", ["unet"], out=str(tmp_path / "b"), sigma_max=hi, **settings)
    assert "**Warning:**" not in (tmp_path / "b" / "comparison.md").read_text()


def test_sample_default_sigma_max_follows_the_rule(tmp_path):
    import json

    from denoisebench.experiments.sample import run_sample

    run_sample("gaussian:size=8", ["optimal"], out=str(tmp_path), n=2, steps=2, n_train=16, n_data=4)
    settings = json.loads((tmp_path / "metrics.json").read_text())["settings"]
    x_train = db.make_dataset("gaussian", size=8).sample(16, 0, split="train")
    assert settings["sigma_max"] == pytest.approx(se.default_sigma_max(x_train))
    assert settings["sigma_max"] != 80 and "training images" in settings["sigma_max_rule"]


def test_report_writer_chooses_the_smallest_steps_below_the_floor(tmp_path):
    import json

    from denoisebench.experiments.sampler_error import run_sampler_error

    run_sampler_error("gaussian:size=16", steps=(4, 8, 16), n_floor=64, n_samples=64, floor_sets=8, out=str(tmp_path))
    r = json.loads((tmp_path / "results.json").read_text())
    _, p = db.make_dataset("gaussian", size=16).power_spectrum()
    floor = compare.gaussian_kl_floor((16, 16), 64)
    smax = 3 * math.sqrt(p.max())
    kl = [se.sampler_kl("heun", karras_sigmas(n, 0.002, smax), p) for n in range(1, 17)]
    assert kl[r["steps_by_kl"] - 1] < floor <= kl[r["steps_by_kl"] - 2]
    ds = db.make_dataset("gaussian", size=16)
    data = ds.sample(64, 0, split="test")
    psd_floor = np.mean([compare.spectrum_log_error(ds.sample(64, 1 + i, split="test"), data) for i in range(8)])
    assert r["spectrum_floor"] == pytest.approx(psd_floor, rel=1e-12)
    bias = [se.spectrum_bias("heun", karras_sigmas(n, 0.002, smax), p) for n in range(1, 17)]
    assert bias[r["steps_by_spectrum"] - 1] < psd_floor <= bias[r["steps_by_spectrum"] - 2]
    assert r["chosen_steps"] == max(r["steps_by_kl"], r["steps_by_spectrum"])
    assert (tmp_path / "kl_vs_nfe.png").stat().st_size > 0 and "N = " in (tmp_path / "README.md").read_text()


# -- EDM's stochastic Heun (churn) -----------------------------------------------------------------
CHURN = (30.0, 0.05, 2.0, 1.1)  # (s_churn, s_tmin, s_tmax, s_noise): noise on some steps, not all


def test_churned_heun_variance_matches_monte_carlo_from_the_real_sampler():
    ds = db.make_dataset("gaussian", size=16)
    mean, p = ds.power_spectrum()
    d = db.make_denoiser("optimal", dataset=ds)
    sigmas = karras_sigmas(5, 0.01, 3 * math.sqrt(p.max()))
    assert 0 < np.sum((sigmas[:-1] >= 0.05) & (sigmas[:-1] <= 2.0)) < 5  # churn on part of the schedule
    n = 300
    x0 = initial_noise(n, (1, 16, 16), sigmas[0], seed=4, mean=mean)
    kw = dict(zip(("s_churn", "s_tmin", "s_tmax", "s_noise"), CHURN))
    x = heun(d, x0, sigmas, rng=4, **kw).samples[:, 0]
    v_hat = np.mean(np.abs(np.fft.fft2(x - mean)) ** 2, axis=0) / 256
    v = se.propagate("heun", sigmas, p, churn=CHURN)
    self_conj = np.zeros((16, 16), bool)
    self_conj[::8, ::8] = True
    z = (v_hat / v - 1) / np.where(self_conj, math.sqrt(2 / n), 1 / math.sqrt(n))
    assert np.max(np.abs(z)) < 4.5, np.max(np.abs(z))
    assert 0.7 < np.mean(z ** 2) < 1.4
    # the churn changes the law: the deterministic closed form is far off the same samples
    z_plain = (v_hat / se.propagate("heun", sigmas, p) - 1) * math.sqrt(n)
    assert np.mean(z_plain ** 2) > 5


def test_churned_heun_tends_to_the_exact_flow_limit_with_steps():
    ds = db.make_dataset("gaussian", size=(37, 31))
    _, p = ds.power_spectrum()
    smax = 3 * math.sqrt(p.max())
    limit = se.limit_kl(p, smax, 0.002)
    churn = (40.0, 0.0, math.inf, 1.0)
    kls = [se.sampler_kl("heun", karras_sigmas(n, 0.002, smax), p, churn=churn) for n in (19, 80, 2000)]
    assert kls[0] > kls[1] > kls[2]
    # Many steps: below even the deterministic flow's limit.  Per mode, the exact flow from σ to σ' maps the
    # variance error v − (P + σ²) to ×(P + σ'²)/(P + σ²); fresh noise keeps the error and the flow then starts
    # at σ̂ > σ, so each churned step adds a factor (P + σ²)/(P + σ̂²) < 1: the start-up deficit of
    # N(μ, σ_max²) against N(μ, C + σ_max²) (limit_kl) is forgotten, geometrically in the steps.
    assert kls[2] < 0.05 * limit
    assert kls[0] > se.sampler_kl("heun", karras_sigmas(19, 0.002, smax), p)  # churn costs at few steps


def test_churn_is_a_setting_of_heun_only():
    p = np.ones((4, 4))
    with pytest.raises(ValueError, match="churn"):
        se.propagate("euler", karras_sigmas(3, 0.01, 1.0), p, churn=CHURN)


def test_cli_passes_the_spectrum_floor_settings_and_refuses_bad_ones(tmp_path, capsys):
    import json

    from denoisebench.cli import main

    out = tmp_path / "se"
    argv = ["sampler-error", "--dataset", "gaussian:size=16", "--steps", "4,8", "--n-floor", "32", "--out", str(out)]
    assert main([*argv, "--n-samples", "8", "--floor-sets", "2"]) == 0
    r = json.loads((out / "results.json").read_text())
    ds = db.make_dataset("gaussian", size=16)
    data = ds.sample(32, 0, split="test")
    expected = np.mean([compare.spectrum_log_error(ds.sample(8, 1 + i, split="test"), data) for i in range(2)])
    assert (r["n_samples"], r["floor_sets"]) == (8, 2) and r["spectrum_floor"] == pytest.approx(expected, rel=1e-12)
    capsys.readouterr()
    for bad in (["--floor-sets", "0"], ["--n-samples", "1"], ["--n-samples", "x"]):
        rc = main([*argv, *bad])
        err = capsys.readouterr().err.strip().splitlines()
        assert rc == 2 and len(err) == 1 and bad[0] in err[0] and repr(bad[1]) in err[0], err
