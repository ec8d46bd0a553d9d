"""Ring gains (denoisebench.networks.calibration): against the Wiener filter, the orthogonality principle,
and the weight-file contract."""
import json
import subprocess
import sys

import numpy as np
import pytest

from denoisebench.networks.calibration import CLIP, RingGains, fit_ring_gains, sigma_grid
from denoisebench.registry import make_dataset, make_denoiser

torch = pytest.importorskip("torch")


def _rings(shape):
    h, w = shape
    k = np.hypot(*np.meshgrid(np.fft.fftfreq(h) * h, np.fft.fftfreq(w) * w, indexing="ij"))
    return np.rint(k).astype(int)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("c", [3.0, 0.7])
def test_ring_gains_turn_a_wrong_spectrum_wiener_filter_into_the_exact_one(c, dtype):
    """Gaussian field of spectrum P; the Wiener filter of c·P has gain g = cP/(cP + σ²).  Its least-squares
    ring gain is Σ g P / Σ g²(P + σ²) over the ring (by hand), and a·g is the exact gain h = P/(P + σ²)."""
    ds = make_dataset("gaussian:size=37x31")
    mean, p = ds.power_spectrum()
    x = ds.sample(512, 0, split="train").astype(dtype)
    sigmas = np.array([0.05, 0.2, 1.0])

    def wrong_wiener(y, sigma):
        g = c * p / (c * p + sigma**2)
        return (mean + np.fft.ifft2(g * np.fft.fft2(y - mean)).real).astype(y.dtype)

    table = fit_ring_gains(wrong_wiener, x, sigmas, mean, seed=1)
    ring = _rings(p.shape)
    assert table.gains.shape == (3, ring.max() + 1)
    np.testing.assert_allclose(table.frequencies, np.arange(ring.max() + 1) / 31)
    for row, s in zip(table.gains, sigmas):
        g, h = c * p / (c * p + s**2), p / (p + s**2)
        expected = np.bincount(ring.ravel(), (g * p).ravel()) / np.bincount(ring.ravel(), (g**2 * (p + s**2)).ravel())
        # Monte Carlo error of a ratio of sums over N images × m_r modes: relative s.e. ≈ √((1 + σ²/P_r)/(N m_r))
        modes = np.bincount(ring.ravel())
        p_ring = np.bincount(ring.ravel(), p.ravel()) / modes
        se = np.sqrt((1 + s**2 / p_ring) / (x.shape[0] * modes))
        assert np.all(np.abs(row / expected - 1) < 5 * se)
        off = ring > 0  # ring 0 is one mode per image: its Monte Carlo error is checked above
        assert np.abs(row[ring] * g - h)[off].max() < 0.25 * np.abs(g - h)[off].max()


def test_posterior_mean_has_unit_gains_and_a_shrunk_one_the_inverse_shrink():
    """Orthogonality principle: the error of E[x|y] is orthogonal to every function of y, so each ring's
    gain is 1 for the exact (non-linear) gmm denoiser; for m + λ(E[x|y] − m) it is 1/λ."""
    ds = make_dataset("gmm:size=16")
    d = make_denoiser("optimal", dataset=ds)
    x = ds.sample(2048, 3, split="train")
    m = float(ds.sample(256, 9, split="train").mean())
    sigmas = [0.05, 0.3]
    exact = fit_ring_gains(lambda y, s: d(y, s), x, sigmas, m, seed=2)
    np.testing.assert_allclose(exact.gains, 1.0, atol=0.03)
    shrunk = fit_ring_gains(lambda y, s: m + 0.8 * (d(y, s) - m), x, sigmas, m, seed=2)
    np.testing.assert_allclose(shrunk.gains, 1 / 0.8, atol=0.04)


def test_gains_interpolate_linearly_in_log_sigma_and_frequency():
    table = RingGains([0.1, 1.0], [0.0, 0.25, 0.5], [[1.0, 1.2, 1.4], [0.6, 0.8, 1.0]], 0.0)
    a = table.at([np.sqrt(0.1), 5.0, 0.01], (4, 4))  # halfway in ln σ; clamped above and below
    assert a.shape == (3, 4, 3)
    # |ξ| on the rfft half plane of a 4x4 image: (0,0) → 0, (0,1) → 0.25, (1,1) → √2/4, (0,2) → 0.5
    np.testing.assert_allclose(a[0, 0, :], [0.8, 1.0, 1.2])
    np.testing.assert_allclose(a[0, 1, 1], 0.8 + 0.4 * (np.sqrt(2) / 4) / 0.5)
    np.testing.assert_allclose(a[1, 0, :], [0.6, 0.8, 1.0])
    np.testing.assert_allclose(a[2, 0, :], [1.0, 1.2, 1.4])
    np.testing.assert_allclose(sigma_grid(0.01, 10.0, 2), np.exp(np.linspace(np.log(0.01), np.log(10), 15)))


def test_gains_are_not_interpolated_across_an_expert_split():
    """The grid has each split and a level 10⁻⁶ above it: at σ = split the gains are the lower expert's row."""
    grid = sigma_grid(0.01, 10.0, 1, splits=[1.0, 50.0])
    assert 1.0 in grid and 1.0 + 1e-6 in grid and 50.0 not in grid and np.all(np.diff(grid) > 0)
    gains = np.ones((grid.size, 2))
    gains[grid > 1.0] = 0.5  # a high expert whose gains differ
    table = RingGains(grid, [0.0, 0.5], gains, 0.0)
    np.testing.assert_allclose(table.at([1.0, 0.999, 1.00001, 1.5], (2, 2))[:, 0, 0], [1.0, 1.0, 0.5, 0.5])


@pytest.mark.parametrize("bad, message", [
    ({"sigmas": [1.0], "frequencies": [0.0], "gains": [[1.0]], "mean": 0.0}, "need 2 to"),
    ({"sigmas": [0.1, 1.0], "frequencies": [0.0, 0.5], "gains": [[1.0, 1.0]], "mean": 0.0}, "shape"),
    ({"sigmas": [1.0, 0.1], "frequencies": [0.0], "gains": [[1.0], [1.0]], "mean": 0.0}, "increase"),
    ({"sigmas": [0.1, 1.0], "frequencies": [0.0], "gains": [[1.0], [float("nan")]], "mean": 0.0}, "finite"),
    ({"sigmas": [0.1, 1.0], "frequencies": [0.0], "gains": [[1.0], [2.5]], "mean": 0.0}, "must lie in"),
    ({"sigmas": [0.1, 1.0], "frequencies": [0.0], "gains": [[1.0], ["x"]], "mean": 0.0}, "numbers"),
    ({"sigmas": [0.1, 1.0]}, "must be an object"),
])
def test_a_bad_table_is_refused_in_one_line(bad, message):
    with pytest.raises(ValueError, match=message) as info:
        RingGains.from_json(bad)
    assert "\n" not in str(info.value)
    with pytest.raises(ValueError, match="not valid JSON"):
        RingGains.from_text("{")


# -- the weight file and the unet denoiser --------------------------------------------------------
def _tiny_conditioned_file(path, dataset="gaussian:size=16"):
    from denoisebench.networks._bfunet import build, default_hparams
    from denoisebench.networks.weights_io import save_weights

    torch.manual_seed(0)
    m = build(default_hparams(4, 1, conditioning="edm"))
    for p in m.parameters():
        p.data.normal_(0, 0.2)
    m.mean.fill_(0.5)
    m.sigma_data.fill_(0.2)
    name = dataset.split(":")[0]
    training = {"dataset": dataset, "dataset_name": name, "dataset_params": make_dataset(dataset).get_params(),
                "sigma_min": 0.01, "sigma_max": 2.0, "steps": 1, "variant": "conditioned"}
    save_weights(path, m.eval(), training)
    return path


@pytest.fixture(scope="module")
def calibrated(tmp_path_factory):
    from denoisebench.networks.calibration import calibrate_weights

    folder = tmp_path_factory.mktemp("cal")
    raw = _tiny_conditioned_file(folder / "raw.safetensors")
    out = calibrate_weights(raw, folder / "cal.safetensors", n=32, seed=0, per_efold=1)
    return raw, out


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_unet_applies_the_files_gains_after_the_network(calibrated, dtype):
    from denoisebench.networks.weights_io import load_weights

    raw, cal = calibrated
    _, meta = load_weights(cal)
    table = meta["calibration"]
    assert load_weights(raw)[1]["calibration"] is None
    np.testing.assert_allclose(table.sigmas, sigma_grid(0.01, 2.0, 1))
    assert table.fit == {"images": "gaussian:size=16 training split", "n": 32, "seed": 0, "per_efold": 1}
    ds = make_dataset("gaussian:size=37x31")
    on = make_denoiser(f"unet:weights={cal}", dataset=ds)
    off = make_denoiser(f"unet:weights={cal},calibrated=false", dataset=ds)
    plain = make_denoiser(f"unet:weights={raw}", dataset=ds)
    assert on.calibration is table or np.array_equal(on.calibration.gains, table.gains)
    assert off.calibration is None and plain.calibration is None
    y = (ds.sample(3, 1, split="test") + 0.3 * np.random.default_rng(0).standard_normal((3, 1, 37, 31))).astype(dtype)
    sigma = float(table.sigmas[2])  # a grid level: the gains are that row, interpolated in |ξ| only
    d_off, d_on = off(y, sigma), on(y, sigma)
    assert d_on.dtype == dtype and d_on.shape == y.shape
    np.testing.assert_array_equal(d_off, plain(y, sigma))
    xi = np.hypot(np.fft.fftfreq(37)[:, None], np.fft.fftfreq(31)[None, :])
    a = np.interp(xi, table.frequencies, table.gains[2])
    by_hand = table.mean + np.fft.ifft2(a * np.fft.fft2(d_off.astype(np.float64) - table.mean)).real
    np.testing.assert_allclose(d_on, by_hand, rtol=0, atol=1e-5 if dtype == np.float32 else 1e-10)
    assert np.abs(d_on - d_off).max() > 1e-4  # the gains do something


def test_a_table_edited_in_the_file_is_refused(calibrated, tmp_path):
    from denoisebench.networks.weights_io import load_weights

    _, cal = calibrated
    blob = bytearray(open(cal, "rb").read())
    at = blob.index(b"[[", blob.index(b"gains")) + 2  # the first gain's first digit (JSON inside the header)
    blob[at] = ord("0") if blob[at] != ord("0") else ord("1")
    edited = tmp_path / "edited.safetensors"
    edited.write_bytes(bytes(blob))
    with pytest.raises(ValueError, match="checksum mismatch"):
        load_weights(edited)


def test_a_signed_but_invalid_table_is_refused(calibrated, tmp_path):
    from denoisebench.networks.weights_io import _read, _write, load_weights

    _, cal = calibrated
    metadata, meta, tensors = _read(cal, ("weights",))
    obj = json.loads(metadata["calibration"])
    obj["gains"][0][0] = CLIP[1] + 1
    bad = _write(tmp_path / "bad.safetensors", tensors, "weights", meta["architecture"], meta["training"],
                 {"calibration": json.dumps(obj)})
    with pytest.raises(ValueError, match="metadata 'calibration': gains must lie in"):
        load_weights(bad)


def test_cli_calibrate_writes_a_calibrated_file_and_refuses_bad_input(calibrated, tmp_path):
    from denoisebench.networks.weights_io import load_weights

    raw, _ = calibrated
    out = tmp_path / "cli.safetensors"
    run = lambda *a: subprocess.run([sys.executable, "-m", "denoisebench", "train", *a],  # noqa: E731
                                    capture_output=True, text=True)
    ok = run("--calibrate", str(raw), "--out", str(out), "--fit-images", "16", "--quiet")
    assert ok.returncode == 0, ok.stderr
    assert load_weights(out)[1]["calibration"].fit["n"] == 16
    for args, needle in ((("--fit-images", "0"), "need n >= 1"), (("--out", str(tmp_path)), "--out")):
        bad = run("--calibrate", str(raw), "--out", str(tmp_path / "x.safetensors"), *args)
        assert bad.returncode == 2 and needle in bad.stderr and len(bad.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "x.safetensors").exists()


def test_shipped_gaussian_ring_gains_bring_the_network_to_the_wiener_gain():
    """On ``gaussian`` the exact denoiser is the Wiener gain h: the shipped network's per-ring regression gain
    error g − h (scripts/gain_error.py, on held-out images) is smaller with its file's ring gains than without,
    at the σ where scripts/gain_error.py found it (ring 0 at σ ≈ 1, rings 1–8 at 1 < σ ≤ 3)."""
    from conftest import load_script

    gain = load_script("gain_error")
    ds = make_dataset("gaussian")
    on = make_denoiser("unet:variant=conditioned", dataset=ds)
    if on.calibration is None:
        pytest.skip("the shipped gaussian-cond file carries no ring gains")
    off = make_denoiser("unet:variant=conditioned,calibrated=false", dataset=ds)
    x = ds.sample(64, 5, split="test").astype(np.float32)
    sigmas = [0.3, 0.98, 1.24, 1.95]
    err_on, err_off = (np.abs(gain.gain_errors(d, ds, x, sigmas)[:, :9]) for d in (on, off))
    assert err_on.mean() < 0.7 * err_off.mean()  # measured 0.53×: the rest is the regression's noise on 64 images


def test_the_calibrated_unet_differentiates_through_torch_func(calibrated):
    """``analyze`` takes Jacobian-vector products with torch.func: the gains are a linear map after the network,
    so the JVP of the calibrated denoiser equals its central difference."""
    _, cal = calibrated
    d = make_denoiser(f"unet:weights={cal}", dataset=make_dataset("gaussian:size=16"))
    g = torch.Generator().manual_seed(0)
    y = 0.5 + 0.3 * torch.randn(2, 1, 16, 16, generator=g, dtype=torch.float64)
    v = torch.randn(2, 1, 16, 16, generator=g, dtype=torch.float64)
    f = lambda t: d.differentiable_denoise(t, 0.3)  # noqa: E731
    f(y)  # builds the float64 network outside the transform, as denoisebench.analysis does
    jvp = torch.func.jvp(f, (y,), (v,))[1]
    eps = 1e-5
    np.testing.assert_allclose(jvp.numpy(), ((f(y + eps * v) - f(y - eps * v)) / (2 * eps)).numpy(), rtol=1e-4, atol=1e-6)
