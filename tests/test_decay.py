"""The decay-rate experiment: ε = σ/√N, fitted exponents, files, errors."""
import pytest

from denoisebench.cli import main
from denoisebench.experiments.decay import decay_rows, exponent_table, run_decay
from denoisebench.metrics import loglog_slope


@pytest.fixture(scope="module")
def rows(tmp_path_factory):
    out = tmp_path_factory.mktemp("decay")
    return run_decay(str(out), sizes=(16, 32, 64), sigma=0.1, n=6, denoisers=("identity", "oracle-wavelet"))


def test_epsilon_is_sigma_over_root_n(rows):
    curves = decay_rows(rows)
    eps = sorted(p[0] for p in curves["identity"])
    assert eps == pytest.approx([0.1 / 64, 0.1 / 32, 0.1 / 16])


def test_identity_risk_does_not_decay(rows):
    """MSE per pixel of the identity is σ² whatever N: exponent 0 (theory), within noise."""
    pts = decay_rows(rows)["identity"]
    for _, mse, se, _ in pts:
        assert abs(mse - 0.01) < 4 * se
    assert abs(loglog_slope([p[0] for p in pts], [p[1] for p in pts])) < 0.05


def test_oracle_risk_decays_and_the_table_states_theory(rows):
    pts = decay_rows(rows)["oracle-wavelet"]
    assert loglog_slope([p[0] for p in pts], [p[1] for p in pts]) > 0.5
    table = exponent_table(rows)
    assert "| oracle-wavelet |" in table and "| 1.00 |" in table and "| 0.00 |" in table


@pytest.mark.parametrize("args", [["--sizes", "32"], ["--sizes", "a,b"], ["--denoisers", "nosuch"]])
def test_cli_errors_exit_2(args, tmp_path, capsys):
    assert main(["decay", "--out", str(tmp_path), *args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("denoisebench: error:")


def test_loglog_fit_interval_covers_the_true_exponent_at_its_nominal_rate():
    """Monte Carlo check of the propagated standard error: a power law y = c ε^r with independent
    multiplicative errors of known size; the ±1.96 se interval covers r in ~95% of trials, and the
    spread of the fitted slopes equals the stated se (independent reference: the simulation)."""
    import numpy as np

    from denoisebench.metrics import loglog_fit

    rng = np.random.default_rng(0)
    eps = 0.1 / np.array([32.0, 64.0, 128.0, 256.0, 512.0])
    rel = np.array([0.02, 0.03, 0.05, 0.04, 0.06])
    slopes, covered = [], 0
    for _ in range(4000):
        y = 3.0 * eps**1.25 * (1 + rel * rng.standard_normal(eps.size))
        r, se = loglog_fit(eps, y, rel * y)
        slopes.append(r)
        covered += abs(r - 1.25) <= 1.959964 * se
    assert np.mean(slopes) == pytest.approx(1.25, abs=0.005)
    assert np.std(slopes) == pytest.approx(se, rel=0.06)
    assert 0.935 < covered / 4000 < 0.965


def test_loglog_fit_two_points_is_the_pair_slope_and_rejects_too_few():
    import math

    from denoisebench.metrics import loglog_fit

    r, se = loglog_fit([1.0, 2.0], [1.0, 2.0**1.5], [0.0, 0.0])
    assert r == pytest.approx(1.5) and se == 0.0
    r, se = loglog_fit([1.0, 2.0], [1.0, 4.0], [0.1, 0.4])  # δ = 0.1 at both ends: se = √2·0.1/ln 2
    assert se == pytest.approx(math.sqrt(2) * 0.1 / math.log(2))
    assert loglog_fit([1.0], [1.0], [0.1]) == (None, None)


def test_table_shows_intervals_finest_pair_and_frame_oracle(tmp_path):
    rows = run_decay(str(tmp_path), sizes=(16, 32, 64), sigma=0.1, n=4, denoisers=("wavelet", "oracle-wavelet"))
    from denoisebench.experiments.decay import exponents

    fits = exponents(rows)
    assert fits["wavelet"]["oracle"] == "oracle-wavelet" and fits["oracle-wavelet"]["oracle"] is None
    pts = decay_rows(rows)["wavelet"]
    assert fits["wavelet"]["finest"][0] == pytest.approx(
        loglog_slope([p[0] for p in pts[-2:]], [p[1] for p in pts[-2:]]))
    line = next(x for x in exponent_table(rows).splitlines() if x.startswith("| wavelet |"))
    assert line.count("[") == 2 and "(oracle-wavelet)" in line and line.endswith("| 1.00 |")


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_fixed_multiple_hard_threshold_has_the_noise_floor_of_theory(dtype):
    """On a constant image, orthogonal hard thresholding at kσ keeps each pure-noise detail
    coefficient z with |z| > kσ: E[z² 1{|z| > kσ}] = 2σ²(k φ(k) + Q(k)) per detail coefficient,
    plus σ² on the untouched approximation band (a fraction 4^-L of the pixels). This floor does
    not fall with N: why a fixed k cannot reach the ε¹ exponent and σ√(2 ln N) can (docs/theory.md §6)."""
    import math

    import numpy as np

    from denoisebench.denoisers import Wavelet

    sigma, k, levels = 0.1, 3.0, 3
    rng = np.random.default_rng(5)
    x = np.full((8, 1, 96, 128), 0.5)
    y = (x + sigma * rng.standard_normal(x.shape)).astype(dtype)
    err = (np.asarray(Wavelet(k=k, levels=levels, coarse="keep", clip=False)(y, sigma), dtype=np.float64) - x) ** 2
    phi, q = math.exp(-k * k / 2) / math.sqrt(2 * math.pi), 0.5 * math.erfc(k / math.sqrt(2))
    expected = sigma**2 * ((1 - 4.0**-levels) * 2 * (k * phi + q) + 4.0**-levels)
    per_image = err.mean(axis=(1, 2, 3))
    se = per_image.std(ddof=1) / math.sqrt(per_image.size)
    assert abs(per_image.mean() - expected) < 4 * se + 1e-9
    assert 0.5 * expected < per_image.mean() < 1.5 * expected  # the interval is tight enough to mean something
