"""Jacobian analysis against theory: Wiener's effective dimension, SURE's unbiasedness, homogeneity."""
import argparse

import numpy as np
import pytest

import denoisebench as db
from denoisebench.analysis import (adaptive_basis, homogeneity_error, jacobian,
                                   jacobian_trace, sure)
from denoisebench.base import Denoiser
from denoisebench.commands import analyze as analyze_command
from denoisebench.experiments.analyze import analyze


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny networks run fastest on one thread (and far faster on a busy machine)."""
    try:
        import torch
    except ImportError:
        yield
        return
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def wiener_dimension(ds, sigma):
    """docs/theory.md §2: the Wiener filter's Jacobian trace is Σ_k P(k) / (P(k) + σ²)."""
    _, p = ds.power_spectrum()
    return float(np.sum(p / (p + sigma ** 2)))


@pytest.fixture(scope="module", params=[16, (15, 13)], ids=["16x16", "15x13"])
def gaussian(request):
    return db.make_dataset("gaussian", size=request.param)


def noisy(ds, n, sigma, seed=0):
    x = ds.sample(n, seed).astype(np.float64)
    return x, db.add_noise(x, sigma, seed)


@pytest.mark.parametrize("sigma", [0.03, 0.3])
def test_exact_trace_of_wiener_is_its_effective_dimension(gaussian, sigma):
    d = db.make_denoiser("wiener-oracle", dataset=gaussian)
    _, y = noisy(gaussian, 2, sigma)
    est = jacobian_trace(d, y, sigma, probes=None)
    np.testing.assert_allclose(est.value, wiener_dimension(gaussian, sigma), rtol=1e-9)
    assert np.all(est.stderr == 0)


def test_hutchinson_trace_of_wiener_within_four_standard_errors():
    ds = db.make_dataset("gaussian", size=16)
    d = db.make_denoiser("wiener-oracle", dataset=ds)
    _, y = noisy(ds, 4, 0.1)
    est = jacobian_trace(d, y, 0.1, probes=24, seed=3)
    ref = wiener_dimension(ds, 0.1)
    assert np.all(est.stderr > 0) and np.all(np.abs(est.value - ref) <= 4 * est.stderr), (est, ref)
    again = jacobian_trace(d, y, 0.1, probes=24, seed=3)
    np.testing.assert_array_equal(est.value, again.value)  # seeded


def test_identity_has_full_dimension_and_is_homogeneous():
    y = np.random.default_rng(0).standard_normal((2, 1, 5, 7))
    d = db.make_denoiser("identity")
    est = jacobian_trace(d, y, 0.2, probes=4)
    np.testing.assert_allclose(est.value, 35, rtol=1e-9)  # bᵀ I b = M for Rademacher b
    assert np.all(homogeneity_error(d, y, 0.2) < 1e-15)


class _PlusConstant(Denoiser):
    """D(y) = y + c: D(λy) − λD(y) = (1 − λ)c, by hand."""

    def __init__(self, c=0.5):
        self.c = c

    def _denoise(self, y, sigma, xp):
        return y + self.c


def test_homogeneity_error_by_hand():
    y = np.random.default_rng(1).standard_normal((2, 1, 4, 6))
    err = homogeneity_error(_PlusConstant(0.5), y, 0.1, lambdas=(0.5, 3.0))
    for j, lam in enumerate((0.5, 3.0)):
        ref = abs(1 - lam) * 0.5 * np.sqrt(24) / (lam * np.linalg.norm((y + 0.5).reshape(2, -1), axis=1))
        np.testing.assert_allclose(err[:, j], ref, rtol=1e-12)


@pytest.mark.parametrize("sigma", [0.05, 0.2])
def test_sure_agrees_with_true_mse_for_wiener(sigma):
    """Stein: E[SURE] = E[MSE]; the per-image differences average to 0 within their standard error."""
    ds = db.make_dataset("gaussian", size=16)
    d = db.make_denoiser("wiener-oracle", dataset=ds)
    x, y = noisy(ds, 40, sigma, seed=5)
    est = sure(d, y, sigma, probes=8, seed=1)
    true = np.mean((d(y, sigma) - x) ** 2, axis=(1, 2, 3))
    diff = est.value - true
    se = diff.std(ddof=1) / np.sqrt(len(diff))
    divergence_term = 2 * sigma ** 2 * wiener_dimension(ds, sigma) / 256
    assert abs(diff.mean()) <= 4 * se and divergence_term > 10 * se  # and the test has power
    np.testing.assert_allclose(np.mean(true), ds.mmse(sigma), rtol=0.15)


def test_sure_agrees_with_true_mse_for_soft_wavelet_thresholding():
    if "wavelet" not in db.list_denoisers():
        pytest.skip("wavelet denoiser not registered")
    ds = db.make_dataset("gaussian", size=16)
    d = db.make_denoiser("wavelet", mode="soft", coarse="keep", clip=False)
    sigma = 0.1
    x, y = noisy(ds, 40, sigma, seed=6)
    est = sure(d, y, sigma, probes=8, seed=2)
    diff = est.value - np.mean((db.to_numpy(d(y, sigma)) - x) ** 2, axis=(1, 2, 3))
    assert abs(diff.mean()) <= 4 * diff.std(ddof=1) / np.sqrt(len(diff))


def test_top_singular_values_of_wiener_are_its_largest_gains():
    """Wiener's Jacobian is the symmetric Fourier multiplier P/(P+σ²): its singular values are the gains."""
    ds = db.make_dataset("gaussian", size=8)
    d = db.make_denoiser("wiener-oracle", dataset=ds)
    _, y = noisy(ds, 1, 0.2)
    s, u, v = adaptive_basis(d, y, 0.2, k=5)
    _, p = ds.power_spectrum()
    np.testing.assert_allclose(s[0], np.sort((p / (p + 0.04)).ravel())[::-1][:5], rtol=1e-8)
    np.testing.assert_allclose(np.sum(u[0] * u[0], axis=(1, 2, 3)), 1, rtol=1e-10)


class _LowRank(Denoiser):
    """D(y) = A y with A = Q diag(s) Qᵀ of rank 4: the randomized method must recover s exactly."""

    def __init__(self, seed=0):
        self.seed = seed

    def _matrix(self, m):
        rng = np.random.default_rng(self.seed)
        q = np.linalg.qr(rng.standard_normal((m, 4)))[0]
        return q @ np.diag([3.0, 2.0, 1.0, 0.5]) @ q.T

    def _denoise(self, y, sigma, xp):
        m = int(np.prod(y.shape[1:]))
        return (y.reshape(len(y), m) @ self._matrix(m).T).reshape(y.shape)


def test_randomized_singular_values_of_a_low_rank_operator():
    y = np.random.default_rng(0).standard_normal((1, 1, 12, 12))
    s, u, _ = adaptive_basis(_LowRank(), y, 0.1, k=3, exact_max=0, oversample=4, power=1)
    np.testing.assert_allclose(s[0], [3.0, 2.0, 1.0], rtol=1e-8)


# -- through autograd: the bias-free network -------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny_unet():
    torch = pytest.importorskip("torch")
    from test_unet import random_unet

    return db.make_denoiser("unet", weights=random_unet(seed=7)), torch


def test_autograd_jacobian_matches_finite_differences_and_euler(tiny_unet):
    """D(y) = J(y) y for a homogeneous network (docs/theory.md §7), and autograd's J equals finite differences."""
    d, _ = tiny_unet
    y = np.random.default_rng(2).standard_normal((1, 1, 6, 7)) + 0.5
    j_auto = jacobian(d, y, 0.1, derivative="autograd")[0]
    j_fd = jacobian(d, y, 0.1, derivative="fd", eps=1e-6)[0]
    np.testing.assert_allclose(j_auto, j_fd, atol=1e-6 * np.abs(j_auto).max())
    np.testing.assert_allclose(j_auto @ y.ravel(), d(y, 0.1).ravel(), rtol=1e-10, atol=1e-12)
    exact = jacobian_trace(d, y, 0.1, probes=None)
    np.testing.assert_allclose(exact.value[0], np.trace(j_auto), rtol=1e-10)
    s, _, _ = adaptive_basis(d, y, 0.1, k=3)
    np.testing.assert_allclose(s[0], np.linalg.svd(j_fd, compute_uv=False)[:3], rtol=1e-5)


def test_unet_is_homogeneous_by_the_analysis(tiny_unet):
    d, _ = tiny_unet
    y = np.random.default_rng(3).standard_normal((2, 1, 9, 11))
    assert np.all(homogeneity_error(d, y, 0.1, lambdas=(0.2, 5.0)) < 1e-12)


# -- the command -------------------------------------------------------------------------------------------
def test_analyze_writes_tables_and_figure(tmp_path):
    rows = analyze("gaussian:size=8", ["identity", "wiener-oracle", "oracle-wavelet"], sigmas=[0.1, 0.3], n=3,
                   probes=0, top=3, out=str(tmp_path))
    done = [r for r in rows if "sigma" in r]
    assert {r["denoiser"] for r in done} == {"identity", "wiener-oracle"}
    ds = db.make_dataset("gaussian", size=8)
    for r in done:
        ref = 64.0 if r["denoiser"] == "identity" else wiener_dimension(ds, r["sigma"])
        assert r["eff_dim"] == pytest.approx(ref, rel=1e-9)
    assert any("oracle bound" in (r.get("reason") or "") for r in rows)
    for name in ("analysis.csv", "analysis.md", "adaptive_basis.png"):
        assert (tmp_path / name).stat().st_size > 0
    assert "## σ = 0.3" in (tmp_path / "analysis.md").read_text()


def test_analyze_command(tmp_path, capsys):
    parser = argparse.ArgumentParser()
    analyze_command.add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["analyze", "--dataset", "gaussian:size=8", "--denoisers", "identity", "--sigmas", "0.1",
                              "--n", "2", "--probes", "2", "--top", "2", "--out", str(tmp_path)])
    assert args.handler(args) == 0 and "analysis.md" in capsys.readouterr().out
    with pytest.raises(SystemExit):  # argparse refuses the σ list before anything runs
        parser.parse_args(["analyze", "--dataset", "gaussian", "--denoisers", "identity", "--sigmas", "0,x"])


def test_sure_is_flagged_where_steins_lemma_does_not_apply():
    """Stein's lemma needs a weakly differentiable estimator: soft thresholding and linear filters are,
    hard thresholding is not (its jumps are missed by the divergence), so the report must not call a
    nonzero SURE − MSE an error there."""
    from denoisebench.experiments.analyze import _markdown, stein_applies

    assert stein_applies(db.make_denoiser("wavelet:mode=soft"))
    assert stein_applies(db.make_denoiser("identity"))
    assert not stein_applies(db.make_denoiser("wavelet:mode=hard"))
    assert not stein_applies(db.make_denoiser("curvelet"))  # hard by default
    row = {"denoiser": "wavelet", "sigma": 0.2, "eff_dim": 1.0, "eff_dim_stderr": 0.1, "eff_dim_fraction": 0.1,
           "homogeneity": 0.0, "sure_mse": 1e-3, "mse": 2e-3, "sure_minus_mse": -1e-3,
           "sure_minus_mse_stderr": 1e-4, "stein": False}
    text = _markdown([row])
    assert "| no |" in text and "Stein's lemma" in text


def test_a_missing_peer_says_how_to_install_it(monkeypatch):
    from denoisebench.registry import denoiser_class, resolve_denoiser
    from denoisebench.registry.specs import SpecError

    monkeypatch.setattr(denoiser_class("bm3d"), "available", staticmethod(lambda: False))
    with pytest.raises(SpecError, match="pip install bm3d"):
        resolve_denoiser("bm3d")
