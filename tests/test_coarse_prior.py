"""Thresholding with the right limit: the coarse band's fitted Wiener estimate and the training-range clip
(denoisebench/denoisers/_coarse.py), checked against pywt and against the limits theory gives."""
import numpy as np
import pytest
import pywt

import denoisebench as db
from denoisebench.base import NotFittedError
from denoisebench.noise import add_noise
from denoisebench.testing import check_denoiser

CLASSICAL = "coarse=keep,clip=false"
THRESHOLDING = ("wavelet", "wavelet-ti", "curvelet", "curvelet:frame=wrap", "wavelet:boundary=symmetric")


@pytest.fixture(scope="module")
def cartoons():
    ds = db.make_dataset("cartoon", size=32)
    return ds.sample(48, seed=0, split="train").astype(np.float64), ds.sample(6, seed=0).astype(np.float64)


def _spec(name, extra):
    return f"{name}{',' if ':' in name else ':'}{extra}"


def _wiener_coarse_reference(train, y, sigma, wavelet, levels, swt):
    """m + the coarse band of y − m times v / (v + σ² s²), details zero: written with pywt."""
    m = train.mean()
    if swt:
        def coarse(u):
            return pywt.swt2(u, wavelet, levels, axes=(-2, -1), trim_approx=True, norm=True)[0]
        s = 2.0 ** -levels  # pywt's normalised swt: the approximation's atom has norm 2^-J
    else:
        def coarse(u):
            return pywt.wavedec2(u, wavelet, mode="periodization", level=levels, axes=(-2, -1))[0]
        s = 1.0  # orthonormal
    v = np.mean(coarse(train - m) ** 2)
    g = v / (v + sigma**2 * s**2)
    c = coarse(y - m) * g
    if swt:
        zeros = [tuple(np.zeros_like(c) for _ in range(3)) for _ in range(levels)]
        return m + pywt.iswt2([c] + zeros, wavelet, axes=(-2, -1), norm=True)
    shapes = pywt.wavedec2(y - m, wavelet, mode="periodization", level=levels, axes=(-2, -1))[1:]
    zeros = [tuple(np.zeros_like(d) for d in level) for level in shapes]
    return m + pywt.waverec2([c] + zeros, wavelet, mode="periodization", axes=(-2, -1))


@pytest.mark.parametrize("name, swt", [("wavelet", False), ("wavelet-ti", True)])
@pytest.mark.parametrize("sigma", [0.05, 1.0, 30.0])
def test_coarse_band_is_the_wiener_estimate_written_with_pywt(cartoons, name, swt, sigma):
    """With every detail killed (k huge) the denoiser is m + g·L(y − m): the analytic Wiener coarse estimate."""
    train, test = cartoons
    d = db.make_denoiser(f"{name}:wavelet=db2,levels=2,k=1e9").fit(train)
    y = add_noise(test, sigma, seed=3)
    want = _wiener_coarse_reference(train, y, sigma, "db2", 2, swt)
    np.testing.assert_allclose(np.asarray(d(y, sigma)), want, atol=1e-10)


@pytest.mark.parametrize("name", THRESHOLDING)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_estimate_tends_to_the_data_mean_as_sigma_grows(name, dtype):
    """At σ = 1000 the MMSE estimate is the mean: the risk is within 5% of the mean's, on odd sizes;
    the classical estimator (coarse band kept, no clip) is off by orders of magnitude."""
    ds = db.make_dataset("cartoon", size=(37, 31))
    train, test = ds.sample(48, seed=0, split="train"), ds.sample(6, seed=0)
    y = add_noise(test, 1000.0, seed=5).astype(dtype)
    mean_risk = np.mean((train.mean() - test) ** 2)
    d = db.make_denoiser(name).fit(train)
    out = np.asarray(d(y, 1000.0), dtype=np.float64)
    assert out.dtype == np.float64 and np.mean((out - test) ** 2) <= 1.05 * mean_risk
    assert np.asarray(d(y, 1000.0)).dtype == dtype
    classical = db.make_denoiser(_spec(name, CLASSICAL))
    assert np.mean((np.asarray(classical(y, 1000.0), dtype=np.float64) - test) ** 2) > 100 * mean_risk


@pytest.mark.parametrize("sigma", [0.1, 0.3, 1.0])
def test_clip_never_increases_the_error_in_an_orthonormal_basis(cartoons, sigma):
    """Clipping each coefficient to an interval that holds the clean one is a projection: in the periodic
    (orthonormal) basis the pixel error, equal to the coefficient error, cannot grow (fit on the test images
    themselves so their coefficients lie in the training range)."""
    _, test = cartoons
    y = add_noise(test, sigma, seed=7)
    clipped = db.make_denoiser("wavelet:coarse=keep").fit(test)
    plain = db.make_denoiser(_spec("wavelet", CLASSICAL))
    err_clip = np.sum((np.asarray(clipped(y, sigma)) - test) ** 2, axis=(1, 2, 3))
    err_plain = np.sum((np.asarray(plain(y, sigma)) - test) ** 2, axis=(1, 2, 3))
    assert np.all(err_clip <= err_plain + 1e-12)
    assert np.any(err_clip < err_plain)  # the clip does act at these σ


def test_clip_bound_is_the_training_maximum_per_subband(cartoons):
    train, _ = cartoons
    d = db.make_denoiser("wavelet:wavelet=haar,levels=1").fit(train)
    u = train - train.mean()
    _, (ch, cv, cd) = pywt.wavedec2(u, "haar", mode="periodization", level=1, axes=(-2, -1))
    for got, c in zip(d.detail_max_[0], (ch, cv, cd)):
        assert float(np.ravel(got)[0]) == pytest.approx(np.abs(c).max(), rel=1e-12)


@pytest.mark.parametrize("name", THRESHOLDING)
def test_fitted_defaults_conform(name, backend):
    shape = (3, 1, 37, 31)
    x = db.make_dataset("cartoon", size=(37, 31)).sample(16, seed=0, split="train")
    check_denoiser(db.make_denoiser(name).fit(x), backend=backend, shape=shape)


@pytest.mark.parametrize("name", THRESHOLDING)
def test_unfitted_or_resized_is_refused_in_one_line(name):
    d = db.make_denoiser(name)
    with pytest.raises(NotFittedError):
        d(np.zeros((1, 1, 16, 16)), 0.1)
    d.fit(np.random.default_rng(0).random((4, 1, 16, 16)))
    with pytest.raises(ValueError, match=r"fit on 1-channel 16x16 images.*coarse=keep,clip=false") as exc:
        d(np.zeros((1, 1, 16, 20)), 0.1)
    assert "\n" not in str(exc.value)
    db.make_denoiser(_spec(name, CLASSICAL))(np.zeros((1, 1, 16, 20)), 0.1)  # the classical one needs no fit


def test_color_images_fit_in_opponent_space():
    """A colour image's mean and coarse band are fit per opponent channel; at large σ the result is the RGB mean."""
    ds = db.make_dataset("cartoon", size=32)
    train = np.concatenate([ds.sample(24, seed=s, split="train") for s in (0, 1, 2)], axis=1)
    d = db.make_denoiser("wavelet-ti").fit(train)
    y = add_noise(train[:2], 1e4, seed=1)
    out = np.asarray(d(y, 1e4))
    np.testing.assert_allclose(out.mean(axis=(0, 2, 3)), train.mean(axis=(0, 2, 3)), atol=0.05)
