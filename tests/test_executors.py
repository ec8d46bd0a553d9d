"""The grid on other executors gives the serial run's results; bad executor requests fail early;
process-pool workers die with their driver."""
import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from denoisebench.grid import plan
from denoisebench.grid.runner import clear_caches, run_grid
from denoisebench.cli import main
from denoisebench.grid.executors import ExecutorUnavailable, make_executor
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
    ("serial", {"workers": 4}, "--workers applies to --executor process or dask, not 'serial'"),
    ("dask", {"scheduler": "tcp://127.0.0.1:8786", "workers": 2}, "has its own workers"),
])
def test_bad_requests_raise_before_running(kind, options, match):
    with pytest.raises(ExecutorUnavailable, match=match) as info:
        make_executor(kind, **options)
    assert isinstance(info.value, ValueError)


def test_unreachable_scheduler_is_a_clear_error(monkeypatch):
    pytest.importorskip("distributed")
    monkeypatch.setattr("denoisebench.grid.executors.SCHEDULER_TIMEOUT", "1s")
    with pytest.raises(ExecutorUnavailable, match="cannot reach the Dask scheduler"):
        with make_executor("dask", scheduler="tcp://127.0.0.1:9"):
            pass


@pytest.mark.parametrize("option, message", [
    (["--scheduler", "tcp://127.0.0.1:8786"], "use it with executor 'dask'"),
    (["--workers", "4"], "--workers applies to --executor process or dask"),
])
def test_cli_executor_errors_are_one_line(tmp_path, capsys, option, message):
    code = main(["run", "--datasets", "gaussian", "--denoisers", "identity", "--sigmas", "0.1", "--n", "1",
                 "--size", "8", "--out", str(tmp_path / "out"), *option])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert message in err
    assert not (tmp_path / "out").exists()  # refused before anything was written


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


# A driver with two busy workers: it prints the workers' and the resource tracker's pids, then blocks.
DRIVER = """
import json, multiprocessing, os, time
from multiprocessing import resource_tracker
from denoisebench.grid.executors import make_executor
with make_executor("process", None, 2) as pool:
    ran = {pool.submit(os.getpid).result() for _ in range(4)}
    busy = [pool.submit(time.sleep, 120) for _ in range(2)]
    while not all(f.running() for f in busy):
        time.sleep(0.01)
    workers = [p.pid for p in multiprocessing.active_children()]
    assert ran <= set(workers) and len(workers) == 2, (ran, workers)
    print(json.dumps({"workers": workers, "tracker": resource_tracker._resource_tracker._pid}), flush=True)
    for f in busy:
        f.result()
"""


def _alive(pid):
    """Whether ``pid`` runs (a zombie, left where nobody reaps the orphan, counts as dead)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False
    except OSError:  # no /proc
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM, signal.SIGINT], ids=lambda s: s.name)
def test_workers_die_with_the_driver(sig):
    """Issue #10: killing the driver left both workers and the resource tracker alive for >= 60 s."""
    driver = subprocess.Popen([sys.executable, "-c", DRIVER], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    pids = []
    try:
        line = driver.stdout.readline()
        assert line, driver.communicate(timeout=30)[1]
        started = json.loads(line)
        pids = [*started["workers"], started["tracker"]]
        assert all(map(_alive, pids))
        driver.send_signal(sig)
        driver.wait(timeout=10)
        deadline = time.monotonic() + 10
        while any(map(_alive, pids)) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not [pid for pid in pids if _alive(pid)], f"alive 10 s after {sig.name} of the driver"
    finally:
        for pid in [driver.pid, *pids]:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
        driver.communicate()


def test_workers_outlive_the_threads_that_submit():
    """Linux signals a worker when the *thread* that spawned it ends: the pool spawns its workers on
    entering, so a short-lived thread that submits first does not take them down."""
    with make_executor("process", None, 2) as pool:
        thread = threading.Thread(target=lambda: [f.result() for f in [pool.submit(os.getpid) for _ in range(4)]])
        thread.start()
        thread.join()
        time.sleep(0.3)  # time for a parent-death signal to land
        assert len({pool.submit(os.getpid).result() for _ in range(4)} - {os.getpid()}) >= 1
