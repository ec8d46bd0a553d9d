"""scripts/gain_error.py: a denoiser's gain per ring against the exact Wiener gain, and the spectrum error of
its samples that the probability-flow ODE predicts from it (checked against the closed form)."""
from __future__ import annotations

import numpy as np
import pytest

import denoisebench as db
from conftest import load_script
from denoisebench import compare
from denoisebench.sampling import karras_sigmas


@pytest.fixture(scope="module")
def gain():
    return load_script("gain_error")


def _scaled_wiener(ds, c):
    """The Wiener filter of the spectrum c·P: gain c P / (c P + σ²) about the data mean."""
    mean, p = ds.power_spectrum()

    def denoise(y, sigma):
        g = c * p / (c * p + sigma**2)
        return mean + np.real(np.fft.ifft2(g * np.fft.fft2(y - mean)))

    return denoise


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_exact_denoiser_has_no_gain_error(gain, dtype):
    ds = db.make_dataset("gaussian", size=16)
    x = ds.sample(4, 0, split="test").astype(dtype)
    errors = gain.gain_errors(db.make_denoiser("optimal", dataset=ds), ds, x, [0.01, 0.3, 3.0])
    assert errors.shape == (3, int(np.rint(compare.frequency_radius((16, 16)).max())) + 1)
    np.testing.assert_allclose(errors, 0.0, atol=1e-5 if dtype == np.float32 else 1e-10)


def test_predicted_log_error_is_the_closed_form_for_a_wrong_spectrum(gain):
    """For the gain g = cP/(cP + σ²), 2 ∫ (g − h) d ln σ = ln((P + σ²)/(cP + σ²)) between σ_min and σ_max,
    per mode; the rings of this 17×17 grid average modes whose P differ only through their exact radius."""
    ds = db.make_dataset("gaussian", size=17)
    x = ds.sample(8, 1, split="test")
    sigmas = karras_sigmas(400, 0.002, 30.0)
    sigmas = sigmas[sigmas > 0]
    c = 0.7
    errors = gain.gain_errors(_scaled_wiener(ds, c), ds, x, sigmas)
    predicted = gain.predicted_log_error(errors, sigmas)
    _, p = ds.power_spectrum()

    def term(s):
        return np.log(p + s**2) - np.log(c * p + s**2)

    exact = compare.radial_average(term(30.0) - term(0.002))[1]
    np.testing.assert_allclose(predicted, exact, rtol=0.02, atol=2e-3)
    # g < h: too little power, ln c where P ≫ σ_min²
    assert np.all(predicted < 0) and np.median(predicted) == pytest.approx(np.log(c), abs=0.05)
