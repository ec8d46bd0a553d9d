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
