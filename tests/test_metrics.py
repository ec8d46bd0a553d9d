"""Metrics against hand-computed values."""
import math

import numpy as np
import pytest

from denoisebench.metrics import gain_db, gap_db, mean_and_stderr, mse_per_image, psnr, stderr


def test_mse_per_image_hand_values():
    x = np.zeros((2, 1, 2, 2), np.float32)
    x_hat = np.array([[[[1, -1], [2, 0]]], [[[3, 3], [3, 3]]]], np.float32)
    # image 0: (1 + 1 + 4 + 0) / 4 = 1.5; image 1: 9
    np.testing.assert_array_equal(mse_per_image(x, x_hat), [1.5, 9.0])
    assert mse_per_image(x, x_hat).dtype == np.float64


def test_mse_per_image_is_float64_even_for_float32_inputs():
    # in float32, 1 + 1e-4 rounds; the squared error 1e-8 must survive in float64
    x = np.ones((1, 1, 1, 1), np.float32)
    x_hat = np.full((1, 1, 1, 1), np.float32(1.0001))
    expected = (float(np.float32(1.0001)) - 1.0) ** 2
    assert mse_per_image(x, x_hat)[0] == pytest.approx(expected, rel=1e-12)


def test_mse_per_image_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="shape"):
        mse_per_image(np.zeros((2, 1, 2, 2)), np.zeros((2, 1, 2, 3)))


def test_stderr_hand_values():
    # values 1..4: mean 2.5, sample variance 5/3, stderr sqrt(5/3)/2
    mean, se = mean_and_stderr([1.0, 2.0, 3.0, 4.0])
    assert mean == 2.5
    assert se == pytest.approx(math.sqrt(5 / 3) / 2, rel=1e-12)
    assert stderr([7.0, 7.0, 7.0]) == 0.0
    assert math.isnan(stderr([1.0]))


@pytest.mark.parametrize(
    "mse, expected",
    [(1.0, 0.0), (0.01, 20.0), (1e-4, 40.0), (0.5, 3.0103), (0.0, math.inf)],
)
def test_psnr_peak_one(mse, expected):
    assert psnr(mse) == pytest.approx(expected, abs=1e-4)


def test_psnr_peak_255():
    assert psnr(255.0**2 / 100, peak=255) == pytest.approx(20.0)


def test_gain_db_hand_values():
    assert gain_db(0.1, 0.01) == pytest.approx(0.0)  # identity: MSE = σ²
    assert gain_db(0.1, 0.001) == pytest.approx(10.0)
    assert gain_db(1.0, 0.25) == pytest.approx(6.0206, abs=1e-4)


def test_gap_db_hand_values():
    assert gap_db(0.02, 0.01) == pytest.approx(3.0103, abs=1e-4)
    assert gap_db(0.01, 0.01) == 0.0
    assert gap_db(0.01, None) is None
    assert gap_db(None, 0.01) is None


def test_loglog_slope_hand_computed():
    from denoisebench.metrics import loglog_slope

    sigmas = [0.01, 0.1, 1.0]
    assert loglog_slope(sigmas, [3 * s**2 for s in sigmas]) == pytest.approx(2.0)
    # log10 points (-2, 0), (-1, 1), (0, 3): slope of the least-squares line = 1.5.
    assert loglog_slope(sigmas, [1.0, 10.0, 1000.0]) == pytest.approx(1.5)
    assert loglog_slope([0.1], [0.2]) is None
    assert loglog_slope([0.1, 0.1], [0.2, 0.3]) is None
