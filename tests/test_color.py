"""Colour end to end: the opponent transform, the ``color`` parameter, C = 3 everywhere, RGB U-Net weights."""
import inspect
import os
import warnings

import numpy as np
import pytest

import denoisebench as db
from denoisebench import _color
from denoisebench._array_api import to_numpy
from denoisebench.base import NotApplicableError
from denoisebench.registry import denoiser_class
from denoisebench.registry.specs import SpecError
from denoisebench.testing import check_denoiser

SHAPE3 = (3, 3, 37, 31)
#: The transform as the issue states it: rows (1,1,1)/√3, (1,0,−1)/√2, (1,−2,1)/√6.
STATED = np.array([[1 / np.sqrt(3)] * 3, [1 / np.sqrt(2), 0, -1 / np.sqrt(2)],
                   [1 / np.sqrt(6), -2 / np.sqrt(6), 1 / np.sqrt(6)]])
#: Every class with a ``color`` parameter, and how to build it for a test on ``dataset``.
COLOR_CLASSES = [n for n in db.list_denoisers() if "color" in inspect.signature(denoiser_class(n).__init__).parameters]
HEAVY = {n for n in COLOR_CLASSES if getattr(denoiser_class(n), "heavy", False)}


def _build(name, dataset, train=None, **params):
    cls = denoiser_class(name)
    if name == "ffdnet":  # in a grid it applies to photographs only; called directly, to any image
        dataset = None
    d = db.make_denoiser(name, **({"dataset": dataset} if cls.needs_dataset else {}), **params)
    return d.fit(train) if d.learns else d


def _call(d, y, sigma, x):
    return d(y, sigma, clean=x) if d.bound else d(y, sigma)


@pytest.fixture(scope="module")
def gmm_odd():
    return db.make_dataset("gmm", size=SHAPE3[-2:])


def _iid_colour(dataset, n, seed):
    """``n`` colour images whose three channels are independent draws of a gray ``dataset``."""
    return dataset.sample(3 * n, seed=seed).reshape(n, 3, *dataset.shape)


# -- the transform -------------------------------------------------------------------------------
def test_the_transform_is_the_stated_orthonormal_matrix():
    np.testing.assert_allclose(_color.OPPONENT, STATED, rtol=0, atol=1e-15)
    np.testing.assert_allclose(STATED @ STATED.T, np.eye(3), rtol=0, atol=1e-15)
    x = np.random.default_rng(0).random((2, 3, 37, 31))
    np.testing.assert_allclose(_color.to_opponent(x), np.einsum("kc,nchw->nkhw", STATED, x), rtol=0, atol=1e-15)


def test_white_noise_stays_white_with_the_same_sigma():
    """Covariance of 10^5 transformed N(0, σ² I) vectors: σ² I within 3 standard errors."""
    n, sigma = 100_000, 0.1
    z = sigma * np.random.default_rng(1).standard_normal((n, 3, 1, 1))
    w = _color.to_opponent(z)[:, :, 0, 0]
    cov = w.T @ w / n  # zero mean known
    se_var, se_cov = sigma**2 * np.sqrt(2 / n), sigma**2 / np.sqrt(n)
    for i in range(3):
        for j in range(3):
            assert abs(cov[i, j] - (sigma**2 if i == j else 0.0)) < 3 * (se_var if i == j else se_cov), (i, j, cov)


@pytest.mark.parametrize("dtype,tol", [(np.float32, 1e-6), (np.float64, 1e-12)])
def test_round_trip_is_exact_on_every_backend(backend, dtype, tol):
    x_np = np.random.default_rng(2).random((2, 3, 37, 31)).astype(dtype)
    x = backend.asarray(x_np)
    there = _color.to_opponent(x)
    back = _color.from_opponent(there)
    assert type(back) is type(x) and back.dtype == x.dtype and tuple(back.shape) == x_np.shape
    np.testing.assert_allclose(to_numpy(back), x_np, rtol=0, atol=tol)
    lum = to_numpy(there)[:, 0]  # the luminance channel is (R + G + B) / √3
    np.testing.assert_allclose(lum, x_np.astype(np.float64).sum(axis=1) / np.sqrt(3), rtol=0, atol=10 * tol)


def test_bad_input_is_one_clear_line():
    with pytest.raises(ValueError, match=r"\(N, 3, H, W\); got shape \(2, 1, 8, 8\)"):
        _color.to_opponent(np.zeros((2, 1, 8, 8)))
    with pytest.raises(ValueError, match="color must be one of 'opponent', 'channels'; got 'yuv'"):
        _color.check_color("yuv")
    with pytest.raises(SpecError, match="color"):
        db.make_denoiser("wavelet:color=yuv")
    assert _color.to_color_space(np.zeros((1, 1, 4, 4)), "opponent").shape == (1, 1, 4, 4)  # C = 1: untouched


# -- every denoiser accepts C = 3 ----------------------------------------------------------------
def _unet3():
    from denoisebench.networks._bfunet import build, default_hparams
    import torch

    torch.manual_seed(0)
    return db.make_denoiser("unet", weights=build(default_hparams(4, 3)))


def _torchscript3(tmp_path):
    import torch

    class Shrink(torch.nn.Module):
        def forward(self, y, sigma):
            return y / (1 + sigma.reshape(-1, 1, 1, 1))

    path = str(tmp_path / "shrink.pt")
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*torch\.jit\.\w+.* is deprecated")
        torch.jit.save(torch.jit.script(Shrink()), path)
    return db.make_denoiser("torchscript", path=path)


def _variants(name):
    return [{}] if name not in COLOR_CLASSES else [{"color": "opponent"}, {"color": "channels"}]


CASES = [pytest.param(n, p, id=f"{n}-{p.get('color', '')}".rstrip("-"),
                      marks=[pytest.mark.slow] if n in HEAVY else [])
         for n in db.list_denoisers() if n != "deepinv" for p in _variants(n)]


@pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated")
@pytest.mark.parametrize("name,params", CASES)
def test_every_denoiser_passes_the_contract_on_colour_images(name, params, gmm_odd, tmp_path):
    if name == "unet":
        d = _unet3()
    elif name == "torchscript":
        d = _torchscript3(tmp_path)
    else:
        d = _build(name, gmm_odd, _iid_colour(gmm_odd, 16, seed=3), **params)
    check_denoiser(d, shape=SHAPE3, dtypes=("float32", "float64"))


# -- what the colour space changes, and what it does not ------------------------------------------
@pytest.mark.parametrize("name", [n for n in COLOR_CLASSES if n not in HEAVY])
def test_gray_results_do_not_depend_on_color(name, gmm_odd):
    """C = 1 is never transformed: both settings give the same bits."""
    x = gmm_odd.sample(3, seed=4)
    y = db.add_noise(x, 0.1, seed=4)
    outs = [_call(_build(name, gmm_odd, gmm_odd.sample(16, seed=3), color=c), y, np.array([0.05, 0.1, 0.3]), x)
            for c in _color.COLOR_SPACES]
    np.testing.assert_array_equal(outs[0], outs[1])


def test_fitted_wiener_on_gray_images_is_the_pooled_formula_bit_for_bit(gmm_odd):
    """The per-channel fit reduces, for C = 1, to the former pooled mean and periodogram exactly."""
    from denoisebench._fourier import wiener_filter

    train = gmm_odd.sample(16, seed=3).astype(np.float64)
    mean = float(train.mean())
    spectrum = (np.abs(np.fft.rfft2(train - mean)) ** 2 / np.prod(SHAPE3[-2:])).mean(axis=(0, 1)) + 1e-12
    for dtype in (np.float32, np.float64):
        y = db.add_noise(gmm_odd.sample(3, seed=5), 0.2, seed=5).astype(dtype)
        sigma = np.full((3, 1, 1, 1), 0.2, dtype)
        np.testing.assert_array_equal(db.make_denoiser("wiener").fit(train)(y, 0.2),
                                      wiener_filter(y, sigma, mean, spectrum, np))


@pytest.mark.parametrize("dtype,tol", [(np.float32, 1e-5), (np.float64, 1e-12)])
def test_wiener_oracle_is_the_same_in_both_spaces(gmm_odd, dtype, tol):
    """A linear filter applied identically to every channel commutes with an orthonormal mixing of
    the channels, M⁻¹ (I ⊗ F) M = I ⊗ F, once the mean is mapped too: both spaces agree."""
    x = _iid_colour(gmm_odd, 4, seed=6)
    y = db.add_noise(x, 0.2, seed=6).astype(dtype)
    sigma = np.array([0.05, 0.1, 0.2, 0.5], dtype)
    opp, chan = (_build("wiener-oracle", gmm_odd, color=c)(y, sigma) for c in ("opponent", "channels"))
    np.testing.assert_allclose(opp, chan, rtol=0, atol=tol)


def test_thresholds_keep_their_meaning_on_pure_noise():
    """On white noise of std σ, every orthonormal-wavelet coefficient in either space is N(0, σ²)
    (M z has the law of z), so hard thresholding at 3σ keeps the coarse coefficients and passes
    E[c² 1{|c| > 3σ}] = 2 σ² (3 φ(3) + Q(3)) per detail coefficient: the expected output energy,
    met within 3 standard errors in both spaces."""
    from scipy.stats import norm

    n, sigma, size, levels = 48, 0.1, 64, 3
    coarse = (size // 2**levels) ** 2
    kept = 2 * (3 * norm.pdf(3) + norm.sf(3))
    expected = 3 * sigma**2 * (coarse + (size * size - coarse) * kept)
    z = sigma * np.random.default_rng(7).standard_normal((n, 3, size, size))
    for c in _color.COLOR_SPACES:
        energy = (db.make_denoiser("wavelet", color=c, levels=levels, coarse="keep", clip=False)(z, sigma) ** 2).sum(axis=(1, 2, 3))
        se = energy.std(ddof=1) / np.sqrt(n)
        assert abs(energy.mean() - expected) < 3 * se, (c, energy.mean(), expected, se)


# -- bm3d: CBM3D from the package ----------------------------------------------------------------
@pytest.mark.slow
def test_bm3d_opponent_is_the_packages_cbm3d():
    bm3d = pytest.importorskip("bm3d")
    x = db.make_dataset("natural:color=rgb,size=32").sample(1, seed=0)
    y = db.add_noise(x, 0.1, seed=0)
    ours = db.make_denoiser("bm3d")(y, 0.1)
    ref = bm3d.bm3d_rgb(np.moveaxis(y[0].astype(np.float64), 0, -1), sigma_psd=0.1, profile="np", colorspace="opp")
    np.testing.assert_allclose(ours[0], np.moveaxis(ref, -1, 0), rtol=0, atol=1e-5)


# -- the U-Net: weights per channel count ---------------------------------------------------------
RGB_WEIGHTS = os.path.join(os.path.dirname(db.__file__), "networks", "weights", "natural-rgb.safetensors")
needs_rgb = pytest.mark.skipif(not os.path.exists(RGB_WEIGHTS), reason="natural-rgb weights not trained yet")


def test_shipped_weights_are_named_by_channel_count():
    from denoisebench.denoisers._unet import shipped_weights

    assert os.path.basename(shipped_weights("natural")) == "natural.safetensors"
    assert os.path.basename(shipped_weights("natural", 3)) == "natural-rgb.safetensors"
    assert os.path.basename(shipped_weights("natural", 4)) == "natural-c4.safetensors"


@needs_rgb
def test_unet_picks_the_rgb_weights_for_colour_datasets(tmp_path):
    import imageio.v3 as iio

    rgb = db.make_denoiser("unet:color=rgb", dataset="natural:color=rgb")
    assert rgb.trained_on == "natural:color=rgb" and rgb.torch_module().hparams["channels"] == 3
    gray = db.make_denoiser("unet", dataset="natural")
    assert gray.torch_module().hparams["channels"] == 1
    assert os.path.basename(gray.input_files()[0]) == "natural.safetensors"
    rng = np.random.default_rng(0)
    for i in range(2):
        iio.imwrite(tmp_path / f"{i}.png", (rng.random((40, 36, 3)) * 255).astype(np.uint8))
    folder = db.make_denoiser("unet:color=rgb", dataset=f"folder:path={tmp_path},color=rgb,crop=32")
    assert folder.input_files() == rgb.input_files()
    # The default, color=opponent, runs the gray network on each opponent channel: its weights.
    for spec in ("unet", "unet:color=channels"):
        assert db.make_denoiser(spec, dataset="natural:color=rgb").input_files() == gray.input_files()
        assert db.make_denoiser(spec, dataset=f"folder:path={tmp_path},color=rgb,crop=32").input_files() == \
            gray.input_files()
    x = db.make_dataset(f"folder:path={tmp_path},color=rgb,crop=32").sample(2, seed=0)
    assert folder(x, 0.1).shape == x.shape


def test_weights_for_another_channel_count_are_not_applicable(tmp_path):
    from denoisebench.networks import weights_io
    from denoisebench.networks._bfunet import build, default_hparams

    path = str(tmp_path / "gray.safetensors")
    weights_io.save_weights(path, build(default_hparams(4, 1)), {"dataset": "natural", "dataset_name": "natural"})
    d = db.make_denoiser("unet:color=rgb", weights=path, dataset="natural:color=rgb")
    with pytest.raises(NotApplicableError, match="gray.safetensors take 1-channel images; dataset .* has 3 channels"):
        d(np.zeros((1, 3, 8, 8)), 0.1)
    rgb = str(tmp_path / "rgb.safetensors")
    weights_io.save_weights(rgb, build(default_hparams(4, 3)), {"dataset": "natural", "dataset_name": "natural"})
    with pytest.raises(NotApplicableError, match="rgb.safetensors take 3-channel images; dataset .* has 1 channels"):
        db.make_denoiser("unet", weights=rgb, dataset="natural")(np.zeros((1, 1, 8, 8)), 0.1)


#: The orthonormal opponent axes, written out here (Ohta et al. 1980; Dabov et al. 2007, §2).
_AXES = np.array([[1, 1, 1], [1, 0, -1], [1, -2, 1]], dtype=np.float64)
_AXES /= np.linalg.norm(_AXES, axis=1, keepdims=True)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("variant", ["blind", "conditioned"])
def test_a_gray_network_runs_per_opponent_channel_as_written_by_hand(variant, dtype):
    """unet:color=opponent on RGB = the 1-channel network on each opponent channel, brought to the gray
    range (luminance / √3 at σ/√3, colour differences + 1/2 at σ), then mapped back — composed here
    from the 1-channel denoiser and the axes above; color=channels = the network on each RGB channel."""
    pytest.importorskip("torch")
    from test_unet_variants import random_net

    net = random_net(variant, seed=3)
    gray = db.make_denoiser("unet", weights=net)
    rng = np.random.default_rng(1)
    x = rng.random((2, 3, 37, 31)).astype(dtype)
    sigma = np.array([0.05, 0.2])
    y = (x + sigma[:, None, None, None] * rng.standard_normal(x.shape)).astype(dtype)

    z = np.einsum("kc,nchw->nkhw", _AXES, y.astype(np.float64))
    scale, shift = np.array([np.sqrt(3.0), 1.0, 1.0]), np.array([0.0, 0.5, 0.5])
    want = np.empty_like(z)
    for k in range(3):
        zk = (z[:, k:k + 1] / scale[k] + shift[k]).astype(dtype)
        want[:, k:k + 1] = (gray(zk, sigma / scale[k]).astype(np.float64) - shift[k]) * scale[k]
    want = np.einsum("kc,nkhw->nchw", _AXES, want)  # the inverse is the transpose
    got = db.make_denoiser("unet", weights=net, color="opponent")(y, sigma)
    assert got.dtype == dtype and got.shape == y.shape
    tol = 2e-5 if dtype == np.float32 else 1e-10
    np.testing.assert_allclose(got, want, rtol=0, atol=tol)

    per_rgb = np.concatenate([gray(y[:, c:c + 1], sigma) for c in range(3)], axis=1)
    np.testing.assert_allclose(db.make_denoiser("unet", weights=net, color="channels")(y, sigma), per_rgb,
                               rtol=0, atol=tol)


def test_a_bias_free_network_is_indifferent_to_the_luminance_scale():
    """For a bias-free blind network D(λy) = λD(y), so dividing the luminance by √3 changes nothing:
    color=opponent's luminance output equals the network on the raw opponent luminance."""
    pytest.importorskip("torch")
    from test_unet_variants import random_net

    net = random_net("blind", seed=4)
    gray = db.make_denoiser("unet", weights=net)
    y = np.random.default_rng(2).random((1, 3, 20, 24))
    lum = np.einsum("c,nchw->nhw", _AXES[0], y)[:, None]
    out = db.make_denoiser("unet", weights=net, color="opponent")(y, 0.1)
    np.testing.assert_allclose(np.einsum("c,nchw->nhw", _AXES[0], out)[:, None], gray(lum, 0.1), rtol=0, atol=1e-10)


def test_training_on_colour_images_writes_three_channel_weights(tmp_path):
    from denoisebench.networks import weights_io
    from denoisebench.networks.train import train

    out = tmp_path / "rgb.safetensors"
    result = train("natural:color=rgb,size=32", n_train=4, steps=2, patch=16, width=4, batch=2, n_val=2,
                   val_every=2, ckpt_every=2, out=str(out), progress=False)
    model, meta = weights_io.load_weights(str(out))
    assert result["finished"] and model.hparams["channels"] == 3
    assert meta["training"]["dataset_params"]["color"] == "rgb"


@needs_rgb
def test_the_shipped_rgb_network_denoises():
    """A guard on the shipped file (reports/color.md measures it): at σ = 25/255 on 4 test crops it
    removes most of the noise (MSE below a quarter of σ²; measured about σ² / 6)."""
    ds = db.make_dataset("natural:color=rgb")
    x = ds.sample(4, seed=0)
    sigma = 25 / 255
    y = db.add_noise(x, sigma, seed=0)
    assert float(((db.make_denoiser("unet", dataset=ds)(y, sigma) - x) ** 2).mean()) < sigma**2 / 4
