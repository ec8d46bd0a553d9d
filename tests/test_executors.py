"""The grid on other executors gives the serial run's results; bad executor requests fail early."""
import pytest

from denoisebench.bench import clear_caches, plan, run_grid
from denoisebench.cli import main
from denoisebench.executors import ExecutorUnavailable, make_executor
from denoisebench.store import KEY, Store

# Three families (exact filter, oracle bound, thresholding) × 2 σ on tiny images: cheap, not trivial.
GRID = dict(datasets=["gaussian"], denoisers=["identity", "wiener-oracle", "oracle-wavelet", "wavelet"],
            sigmas=[0.1, 0.3], n=3, size=16, seed=0)
METRICS = ("mse", "mse_stderr", "psnr", "gap_db", "optimal_mse", "status")


def _results(directory, kind, **options):
    clear_caches()
    cells = plan(**GRID)
    with Store(directory) as store, make_executor(kind, **options) as executor:
        computed = run_grid(cells, store, executor=executor)
        rows = store.rows()
    assert len(computed) == len(cells) == len(rows)  # every cell committed by the driver
    return {tuple(r[k] for k in KEY): tuple(r[m] for m in METRICS) for r in rows}


@pytest.fixture(scope="module")
def serial(tmp_path_factory):
    return _results(tmp_path_factory.mktemp("serial"), "serial")


def test_serial_executor_is_none():
    with make_executor("serial") as executor:
        assert executor is None


def test_process_pool_gives_the_serial_results(serial, tmp_path):
    """Same seeds, same code in spawned workers: bit-identical MSE (not merely close)."""
    assert _results(tmp_path, "process", workers=2) == serial


def test_dask_local_cluster_gives_the_serial_results(serial, tmp_path):
    pytest.importorskip("distributed")
    assert _results(tmp_path, "dask", workers=2) == serial


@pytest.mark.parametrize("kind, options, match", [
    ("threads", {}, "unknown executor 'threads'; valid: serial, process, dask"),
    ("process", {"scheduler": "tcp://127.0.0.1:8786"}, "use it with executor 'dask'"),
    ("process", {"workers": 0}, "workers must be an integer >= 1"),
])
def test_bad_requests_raise_before_running(kind, options, match):
    with pytest.raises(ExecutorUnavailable, match=match):
        make_executor(kind, **options)


def test_unreachable_scheduler_is_a_clear_error(monkeypatch):
    pytest.importorskip("distributed")
    monkeypatch.setattr("denoisebench.executors.SCHEDULER_TIMEOUT", "1s")
    with pytest.raises(ExecutorUnavailable, match="cannot reach the Dask scheduler"):
        with make_executor("dask", scheduler="tcp://127.0.0.1:9"):
            pass


def test_cli_executor_errors_are_one_line(tmp_path, capsys):
    code = main(["run", "--datasets", "gaussian", "--denoisers", "identity", "--sigmas", "0.1", "--n", "1",
                 "--size", "8", "--out", str(tmp_path), "--scheduler", "tcp://127.0.0.1:8786"])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "use it with executor 'dask'" in err


def test_cli_runs_on_the_process_pool(serial, tmp_path, capsys):
    args = ["run", "--datasets", "gaussian", "--denoisers", *GRID["denoisers"], "--sigmas", "0.1,0.3",
            "--n", "3", "--size", "16", "--out", str(tmp_path), "--executor", "process"]
    assert main(args) == 0
    with Store(tmp_path) as store:
        rows = {tuple(r[k] for k in KEY): tuple(r[m] for m in METRICS) for r in store.rows()}
    assert rows == serial


def test_dask_scheduler_address_gives_the_serial_results(serial, tmp_path):
    """``--scheduler ADDRESS``: the client connects to a running scheduler (here a LocalCluster's)."""
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        assert _results(tmp_path, "dask", scheduler=cluster.scheduler_address) == serial
