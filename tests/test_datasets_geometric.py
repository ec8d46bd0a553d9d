"""The geometric datasets: ``cartoon`` (C^alpha boundaries) and ``disks`` (a 5-d manifold)."""
import numpy as np
import pytest

from denoisebench.datasets._cartoon import Cartoon, boundary_coefficients, boundary_perturbation
from denoisebench.datasets._disks import Disks, disk_parameters, render_disk
from denoisebench.noise import image_rng
from denoisebench.registry import make_dataset

DATASETS = [Cartoon, Disks]


# -- shared contract ------------------------------------------------------------------
@pytest.mark.parametrize("cls", DATASETS)
@pytest.mark.parametrize("size, shape", [(64, (64, 64)), ((37, 31), (37, 31)), ("37x31", (37, 31))])
def test_shape_dtype_range(cls, size, shape):
    x = cls(size=size).sample(6, seed=0)
    assert x.shape == (6, 1, *shape) and x.dtype == np.float32
    assert np.isfinite(x).all() and x.min() >= 0.0 and x.max() <= 1.0
    assert (x.reshape(6, -1).std(axis=1) > 1e-3).all()  # every image has some structure
    assert not np.allclose(x[0], x[1])  # and images differ


@pytest.mark.parametrize("cls", DATASETS)
def test_deterministic_and_independent_of_n(cls):
    ds = cls(size=(37, 31))
    a = ds.sample(7, seed=3)
    np.testing.assert_array_equal(a, ds.sample(7, seed=3))
    np.testing.assert_array_equal(a[:3], ds.sample(3, seed=3))
    assert not np.allclose(a, ds.sample(7, seed=4))
    assert not np.allclose(a, ds.sample(7, seed=3, split="train"))


@pytest.mark.parametrize("name, cls", [("cartoon", Cartoon), ("disks", Disks)])
def test_registered_with_params(name, cls):
    ds = make_dataset(f"{name}:size=32,supersample=2")
    assert type(ds) is cls and ds.shape == (32, 32) and ds.get_params()["supersample"] == 2
    assert make_dataset(ds.spec()).get_params() == ds.get_params()


# -- cartoon --------------------------------------------------------------------------
def test_boundary_perturbation_is_the_fourier_series():
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((2, 9))
    theta = 2 * np.pi * np.arange(40) / 40
    j = np.arange(1, 10)[:, None]
    direct = (a[:, None] * np.cos(j * theta) + b[:, None] * np.sin(j * theta)).sum(axis=0)
    np.testing.assert_allclose(boundary_perturbation(a, b, 40), direct, atol=1e-12)


@pytest.mark.parametrize("alpha", [0.5, 1.0, 2.0, 3.0])
def test_boundary_coefficients_decay_rate(alpha):
    """E[a_j² + b_j²] ∝ j^-(2 alpha + 1): the log-log slope over many draws."""
    rng = np.random.default_rng(1)
    draws = np.array([np.stack(boundary_coefficients(rng, alpha, 48)) for _ in range(1500)])
    power = (draws**2).sum(axis=1).mean(axis=0)
    j = np.arange(1, 49)
    slope = np.polyfit(np.log(j), np.log(power), 1)[0]
    assert slope == pytest.approx(-(2 * alpha + 1), abs=0.1)


@pytest.mark.parametrize("alpha, order", [(0.6, 1), (1.5, 2)])
def test_boundary_is_holder_alpha(alpha, order):
    """Mean-square increments of order ``order > alpha`` scale as h^(2 alpha)."""
    rng = np.random.default_rng(2)
    n_terms, n_points = 1024, 4096
    lags = np.array([8, 16, 32, 64, 128])
    structure = np.zeros(len(lags))
    for _ in range(100):
        p = boundary_perturbation(*boundary_coefficients(rng, alpha, n_terms), n_points)
        for k, lag in enumerate(lags):
            d = np.roll(p, -lag) - p if order == 1 else np.roll(p, -lag) - 2 * p + np.roll(p, lag)
            structure[k] += np.mean(d**2)
    slope = np.polyfit(np.log(lags), np.log(structure), 1)[0]
    assert slope == pytest.approx(2 * alpha, abs=0.15)


def test_boundary_radius_stays_positive_and_capped():
    rng = np.random.default_rng(3)
    for alpha in (0.3, 2.0):
        for _ in range(50):
            a, b = boundary_coefficients(rng, alpha, 64)
            peak = np.abs(boundary_perturbation(a, b, 64 * 64)).max()  # dense: near the true max
            assert 0 < peak <= 0.3 * 1.02


def test_cartoon_larger_alpha_gives_smoother_boundary():
    """Same seed, same draws but the coefficient decay: the rougher curve is longer, so the
    image's total variation (dominated by the jump across the boundary) is larger."""
    def total_variation(x):
        return np.abs(np.diff(x, axis=-1)).sum(axis=(-1, -2)) + np.abs(np.diff(x, axis=-2)).sum(axis=(-1, -2))

    tv = {alpha: total_variation(Cartoon(size=48, alpha=alpha).sample(16, seed=5)[:, 0]) for alpha in (0.4, 1.0, 3.0)}
    assert tv[0.4].mean() > 1.05 * tv[1.0].mean() and tv[1.0].mean() > tv[3.0].mean()
    assert (tv[0.4] > tv[1.0]).all() and (tv[1.0] > tv[3.0]).mean() >= 0.75


@pytest.mark.parametrize("coarse, fine", [((16, 16), (32, 32)), ((18, 15), (36, 30))])
def test_cartoon_pixels_are_cell_averages_of_one_continuum_image(coarse, fine):
    """Pixel (i, j) is the mean over [i/H, (i+1)/H) x [j/W, (j+1)/W) of a continuum image
    that does not depend on the size: 2x2 blocks of the fine image average to the coarse
    one (both on the same sub-pixel grid), and more sub-pixels converge."""
    a = Cartoon(size=coarse, alpha=1.0, supersample=4).sample(3, seed=6)[:, 0].astype(np.float64)
    b = Cartoon(size=fine, alpha=1.0, supersample=2).sample(3, seed=6)[:, 0].astype(np.float64)
    blocks = b.reshape(3, coarse[0], 2, coarse[1], 2).mean(axis=(2, 4))
    np.testing.assert_allclose(blocks, a, atol=1e-6)
    ref = Cartoon(size=coarse, alpha=1.0, supersample=16).sample(3, seed=6)
    errors = [np.abs(Cartoon(size=coarse, alpha=1.0, supersample=s).sample(3, seed=6) - ref).mean() for s in (1, 4)]
    assert errors[1] < 0.5 * errors[0]


def test_cartoon_rejects_bad_alpha():
    with pytest.raises(ValueError, match="alpha"):
        Cartoon(alpha=0).sample(1)


# -- disks ----------------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(64, 64), (37, 31), (31, 37)])
def test_disk_area_and_centre_match_parameters(shape):
    """The sampled images are the drawn disks: area π r² and centroid at the centre."""
    s, seed, n = 4, 7, 40
    x = Disks(size=shape, supersample=s).sample(n, seed=seed)[:, 0].astype(np.float64)
    rows, cols = np.arange(shape[0]) + 0.5, np.arange(shape[1]) + 0.5
    checked = 0
    for i in range(n):
        p = disk_parameters(image_rng(seed, "test", i), shape)
        if abs(p["fg"] - p["bg"]) < 0.1:
            continue
        coverage = (x[i] - p["bg"]) / (p["fg"] - p["bg"])
        r = p["radius"]
        assert abs(coverage.sum() - np.pi * r**2) <= r / s  # ~ perimeter x sub-pixel / 2π
        centroid = (coverage.sum(1) @ rows / coverage.sum(), coverage.sum(0) @ cols / coverage.sum())
        np.testing.assert_allclose(centroid, p["centre"], atol=0.05)
        checked += 1
    assert checked >= 25


def test_disk_parameters_distribution():
    H, W = 37, 31
    draws = [disk_parameters(np.random.default_rng(i), (H, W), (0.1, 0.3)) for i in range(400)]
    r = np.array([d["radius"] for d in draws])
    cy, cx = np.array([d["centre"] for d in draws]).T
    fg, bg = np.array([[d["fg"], d["bg"]] for d in draws]).T
    assert r.min() >= 0.1 * 31 and r.max() <= 0.3 * 31
    assert (cy - r >= 0).all() and (cy + r <= H).all() and (cx - r >= 0).all() and (cx + r <= W).all()
    for v in (fg, bg):
        assert v.min() >= 0 and v.max() <= 1 and abs(v.mean() - 0.5) < 0.05
    assert abs(np.corrcoef(fg, bg)[0, 1]) < 0.15


def test_render_disk_exact_cases():
    # A disk covering whole pixels' sub-pixel centres: supersample 1 point-samples centres.
    img = render_disk((5, 5), centre=(2.5, 2.5), radius=0.6, fg=1.0, bg=0.25, supersample=1)
    expected = np.full((5, 5), 0.25)
    expected[2, 2] = 1.0
    np.testing.assert_array_equal(img, expected)
    # Half-plane-like check: a huge disk far to the left covers columns < 3 exactly.
    img = render_disk((4, 6), centre=(2.0, 3.0 - 1e6), radius=1e6, fg=0.0, bg=1.0, supersample=4)
    np.testing.assert_allclose(img, np.where(np.arange(6) < 3, 0.0, 1.0)[None].repeat(4, 0))


def test_disks_radius_forms_and_validation():
    fixed = disk_parameters(np.random.default_rng(0), (40, 50), "0.2x0.2")
    assert fixed["radius"] == pytest.approx(8.0)
    assert disk_parameters(np.random.default_rng(0), (40, 50), 0.2)["radius"] == pytest.approx(8.0)
    for bad in [(0.3, 0.1), (0.0, 0.2), (0.1, 0.6), "big"]:
        with pytest.raises(ValueError, match="radius"):
            Disks(radius=bad).sample(1)
