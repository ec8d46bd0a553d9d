"""Linear inverse problems: operators against dense matrices, the exact posterior against a dense
``numpy.linalg`` solve, and the denoiser-driven solvers against the exact posterior (theory §14)."""
import numpy as np
import pytest

from denoisebench.datasets import GaussianField, GaussianMixture
from denoisebench.denoisers._wiener import WienerOracle
from denoisebench.inverse import (NotDifferentiableError, dps, exact_posterior, ks, make_operator,
                                  prior_components)
from denoisebench.sampling import karras_sigmas

torch = pytest.importorskip("torch")

OPS_ODD = ["inpaint:fraction=0.5", "inpaint:fraction=0.6,mode=box,noise=0.05", "superres:factor=3,noise=0.02",
           "blur:sigma=1.5,noise=0.02", "fourier:fraction=0.3", "fourier:fraction=0.4,noise=0.1"]
SHAPE = (9, 6)  # odd height; 3 divides both for superres


def _dense(op):
    d = op.d
    eye = np.eye(d).reshape(d, 1, *op.shape)
    return op.forward(eye).reshape(d, -1).T  # (m, d)


def _dense_cov(p):
    h, w = p.shape
    eye = np.eye(h * w).reshape(h * w, h, w)
    return np.real(np.fft.ifft2(p * np.fft.fft2(eye))).reshape(h * w, h * w)


@pytest.mark.parametrize("spec", OPS_ODD)
@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-12), (np.float32, 1e-5)])
@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_adjointness_on_odd_sizes(spec, dtype, tol, backend):
    shape = (37, 31) if not spec.startswith("superres") else (39, 33)
    op = make_operator(spec, shape)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 1, *shape)).astype(dtype)
    c = rng.standard_normal(op.measurement_shape(2, 1)).astype(dtype)
    conv = (lambda a: a) if backend == "numpy" else torch.from_numpy
    ax, atc = op.forward(conv(x)), op.adjoint(conv(c))
    assert str(ax.dtype).endswith(np.dtype(dtype).name) and tuple(ax.shape) == op.measurement_shape(2, 1)
    lhs = float((np.asarray(ax, np.float64) * c).sum())
    rhs = float((x * np.asarray(atc, np.float64)).sum())
    assert abs(lhs - rhs) <= tol * max(1.0, abs(lhs)) * 10


@pytest.mark.parametrize("spec", OPS_ODD)
def test_pinv_is_the_moore_penrose_inverse(spec):
    op = make_operator(spec, SHAPE)
    a = _dense(op)
    if op.symbol is not None and spec.startswith("blur"):  # truncated inverse: compare with a filtered pinv
        pytest.skip("blur's A⁺ is truncated at |b̂| <= cut by design")
    m = a.shape[0]
    pinv = op.pinv(np.eye(m).reshape(m, 1, *op.measurement_shape(1, 1)[2:])).reshape(m, -1).T
    np.testing.assert_allclose(pinv, np.linalg.pinv(a), atol=1e-10)


@pytest.mark.parametrize("spec", OPS_ODD)
def test_exact_posterior_equals_dense_solve(spec):
    ds = GaussianField(size=SHAPE)
    mean, p = ds.power_spectrum()
    op = make_operator(spec, SHAPE)
    a, cov = _dense(op), _dense_cov(p)
    x = ds.sample(3, 1).astype(np.float64)
    c = op.measure(x, seed=0)
    k = a @ cov @ a.T + op.noise ** 2 * np.eye(a.shape[0])
    r = c.reshape(3, -1) - a @ np.full(op.d, mean)
    m_dense = mean + (cov @ a.T @ np.linalg.lstsq(k, r.T, rcond=None)[0]).T
    sigma = cov - cov @ a.T @ np.linalg.pinv(k) @ a @ cov
    post = exact_posterior(op, c, prior_components(ds))
    np.testing.assert_allclose(post.mean.reshape(3, -1), m_dense, atol=1e-9)
    assert post.mmse == pytest.approx(np.trace(sigma) / op.d, rel=1e-9)
    if op.noise > 0:  # the other form of Σ
        alt = np.linalg.inv(np.linalg.inv(cov) + a.T @ a / op.noise ** 2)
        assert post.mmse == pytest.approx(np.trace(alt) / op.d, rel=1e-6)


@pytest.mark.parametrize("spec", ["inpaint:fraction=0.5", "superres:factor=2,noise=0.03"])
def test_hutchinson_trace_is_within_its_error_of_the_exact_one(spec):
    ds = GaussianField(size=16)
    op = make_operator(spec, (16, 16))
    c = op.measure(ds.sample(2, 0).astype(np.float64), seed=0)
    exact = exact_posterior(op, c, prior_components(ds))
    est = exact_posterior(op, c, prior_components(ds), exact_limit=0, n_probes=400, seed=3)
    np.testing.assert_allclose(est.mean, exact.mean, atol=1e-8)  # the CG solve
    assert est.mmse_stderr > 0 and abs(est.mmse - exact.mmse) < 4 * est.mmse_stderr


@pytest.mark.parametrize("spec", ["inpaint:fraction=0.5", "fourier:fraction=0.3,noise=0.05"])
def test_mixture_posterior_equals_dense_mixture(spec):
    ds = GaussianMixture(size=(8, 6))
    comps = prior_components(ds)
    op = make_operator(spec, (8, 6))
    a = _dense(op)
    x = ds.sample(2, 0).astype(np.float64)
    c = op.measure(x, seed=0)
    logw, means, traces = [], [], []
    for w, mu, p in comps:
        cov = _dense_cov(p)
        k = a @ cov @ a.T + op.noise ** 2 * np.eye(a.shape[0])
        r = c.reshape(2, -1) - a @ np.full(op.d, mu)
        sol = np.linalg.solve(k, r.T).T
        logw.append(np.log(w) - 0.5 * np.sum(r * sol, axis=1) - 0.5 * np.linalg.slogdet(2 * np.pi * k)[1])
        means.append(mu + sol @ a @ cov)
        traces.append(np.trace(cov - cov @ a.T @ np.linalg.solve(k, a @ cov)))
    logw = np.array(logw)
    wts = np.exp(logw - logw.max(0))
    wts /= wts.sum(0)
    m = np.einsum("kn,knd->nd", wts, np.array(means))
    err = np.einsum("kn,kn->n", wts, np.array(traces)[:, None] + ((np.array(means) - m) ** 2).sum(-1))
    post = exact_posterior(op, c, comps)
    np.testing.assert_allclose(post.mean.reshape(2, -1), m, atol=1e-8)
    assert post.mmse == pytest.approx(err.mean() / op.d, rel=1e-8)


# -- solvers driven by the exact denoiser ---------------------------------------------------------
def _problem(spec, n, size=16):
    ds = GaussianField(size=size)
    op = make_operator(spec, (size, size))
    x = ds.sample(n, 0).astype(np.float64)
    return ds, op, x, op.measure(x, seed=0)


@pytest.mark.parametrize("spec", ["inpaint:fraction=0.5", "superres:factor=2", "fourier:fraction=0.3"])
def test_ks_samples_have_twice_the_mmse(spec):
    """E‖x̃ − x‖² = 2 tr(Σ) for an exact posterior sample; the ascent is within 10% (256 samples,
    standard error of the ratio ≈ 1.3%).  Measured ratios: inpaint 1.07, superres 1.02, fourier 1.07."""
    ds, op, x, c = _problem(spec, 256)
    post = exact_posterior(op, c, prior_components(ds))
    res = ks(WienerOracle(dataset=ds), op, c, x.shape[1:], seed=0)
    assert res.converged.all()
    # the measurement holds up to the last step's unprojected noise, γ_t ≈ σ_t ≤ σ_L = 0.01 per pixel
    assert np.sqrt(np.mean((op.forward(res.samples) - c) ** 2)) < 2 * 0.01
    ratio = np.mean((res.samples - x) ** 2) / (2 * post.mmse)
    assert abs(ratio - 1) < 0.10, ratio


def test_ks_sample_average_approaches_the_posterior_mean():
    """Averaging K samples of one measurement: ‖mean_K − m‖²/d ≈ MMSE/K + bias², falling with K."""
    ds, op, x, c = _problem("inpaint:fraction=0.5", 1)
    post = exact_posterior(op, c, prior_components(ds))
    cs = np.repeat(c, 128, axis=0)
    res = ks(WienerOracle(dataset=ds), op, cs, x.shape[1:], seed=0)
    dist = {k: float(np.mean((res.samples[:k].mean(0) - post.mean[0]) ** 2)) for k in (4, 16, 128)}
    assert dist[128] < dist[16] < dist[4]
    assert dist[4] < 3 * post.mmse / 4  # the variance term at K = 4, with room for the sampler's bias
    assert dist[128] < 0.1 * post.mmse  # 128 samples: 1/128 of the MMSE plus a small bias


def test_ks_is_batch_independent_and_seeded():
    ds, op, x, c = _problem("inpaint:fraction=0.5", 4)
    d = WienerOracle(dataset=ds)
    full = ks(d, op, c, x.shape[1:], seed=5).samples
    np.testing.assert_array_equal(ks(d, op, c[:2], x.shape[1:], seed=5).samples, full[:2])
    assert not np.allclose(ks(d, op, c, x.shape[1:], seed=6).samples, full)


def test_dps_with_the_exact_denoiser_is_close_to_posterior_samples():
    """DPS is an approximation; a loose, theory-motivated check: its samples satisfy the measurement far
    better than the prior (‖A x̃ − c‖ small) and their MSE lies between the posterior mean's (MMSE) and
    3 × 2·MMSE.  Measured here (32 samples, 100 steps, ζ = 1): MSE / 2·MMSE ≈ 1.04."""
    ds, op, x, c = _problem("inpaint:fraction=0.5", 32)
    post = exact_posterior(op, c, prior_components(ds))
    res = dps(WienerOracle(dataset=ds), op, torch.from_numpy(c), x.shape[1:], seed=0,
              sigmas=karras_sigmas(100, 0.002, 3.0))
    s = res.samples.numpy()
    mse = np.mean((s - x) ** 2)
    assert post.mmse < mse < 6 * post.mmse
    assert np.mean((op.forward(s) - c) ** 2) < 0.1 * np.mean((op.forward(ds.sample(32, 9)) - c) ** 2)
    few = dps(WienerOracle(dataset=ds), op, torch.from_numpy(c[:3]), x.shape[1:], seed=0,
              sigmas=karras_sigmas(100, 0.002, 3.0)).samples.numpy()
    np.testing.assert_allclose(few, s[:3], atol=1e-10)  # per-sample seeds


def test_dps_refuses_what_it_cannot_differentiate():
    ds, op, x, c = _problem("inpaint:fraction=0.5", 2)
    with pytest.raises(NotDifferentiableError, match="torch backend"):
        dps(WienerOracle(dataset=ds), op, c, x.shape[1:], sigmas=karras_sigmas(3, 0.01, 1.0))

    def host_denoiser(y, sigma):  # leaves torch: no gradient
        return torch.from_numpy(y.detach().numpy() * 0.5)

    with pytest.raises(NotDifferentiableError, match="not differentiable"):
        dps(host_denoiser, op, torch.from_numpy(c), x.shape[1:], sigmas=karras_sigmas(3, 0.01, 1.0))


# -- bad input ------------------------------------------------------------------------------------
@pytest.mark.parametrize("spec,match", [
    ("deblur:sigma=1", "unknown operator"), ("inpaint:fraction=1.5", r"fraction must be a number in \(0, 1\)"),
    ("inpaint:fraction=0", "fraction"), ("blur:sigma=0", "sigma must be"), ("blur:sigma=-1", "sigma must be"),
    ("superres:factor=2", "divisible"), ("inpaint:mode=ring", "mode"), ("inpaint:noise=-0.1", "noise"),
    ("inpaint:frac=0.5", "unknown parameter")])
def test_bad_operator_specs_are_one_line_value_errors(spec, match):
    with pytest.raises(ValueError, match=match) as err:
        make_operator(spec, (9, 7))
    assert "\n" not in str(err.value)


def test_shape_mismatches_are_value_errors():
    ds, op, x, c = _problem("inpaint:fraction=0.5", 2)
    with pytest.raises(ValueError, match="batches"):
        op.forward(np.zeros((2, 1, 8, 8)))
    with pytest.raises(ValueError, match="must have shape"):
        exact_posterior(op, c[..., :-1], prior_components(ds))
    with pytest.raises(ValueError, match="does not match"):
        ks(WienerOracle(dataset=ds), op, c, (1, 8, 8))
    with pytest.raises(ValueError, match="sigma_L < sigma0"):
        ks(WienerOracle(dataset=ds), op, c, x.shape[1:], sigma0=-1.0)
