"""The ``denoisebench`` command line: one-line errors, JSON, outputs, help, list, Ctrl-C."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from denoisebench._array_api import backend_available
from denoisebench.grid.runner import clear_caches
from denoisebench.cli import main

ROOT = Path(__file__).resolve().parents[1]
TINY = ["--datasets", "gaussian", "--denoisers", "identity", "wiener", "--sigmas", "0.05,0.2",
        "--n", "4", "--size", "8"]


@pytest.fixture(autouse=True)
def _fresh_caches():
    clear_caches()
    yield
    clear_caches()


def _env():
    return {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}


def _cli(*args, timeout=120):
    return subprocess.run([sys.executable, "-m", "denoisebench", *args], env=_env(),
                          capture_output=True, text=True, timeout=timeout)


# -- errors: one line, exit 2, before any computation -------------------------------------------
ERRORS = {
    "unknown dataset": (["--datasets", "nope"], "gaussian"),
    "unknown denoiser": (["--denoisers", "nope"], "identity"),
    "malformed spec": (["--datasets", "gaussian:size"], "key=value"),
    "unknown dataset parameter": (["--datasets", "gaussian:bogus=1"], "bogus"),
    "unknown denoiser parameter": (["--denoisers", "identity:bogus=1"], "bogus"),
    "bad size": (["--size", "2"], "size"),
    "sigma zero": (["--sigmas", "0.1,0"], "sigma"),
    "sigma negative": (["--sigmas", "-0.1"], "sigma"),
    "sigma not a number": (["--sigmas", "0.1,abc"], "sigma"),
    "sigma nan": (["--sigmas", "nan"], "sigma"),
    "n zero": (["--n", "0"], ">= 1"),
    "n not an integer": (["--n", "ten"], "integer"),
    "n_train zero": (["--n-train", "0"], ">= 1"),
    "unknown backend": (["--backend", "jax"], "numpy"),
    "numpy on a gpu": (["--device", "cuda"], "cpu"),
    "unknown option": (["--bogus"], "--bogus"),
}


@pytest.mark.parametrize("case", list(ERRORS))
def test_errors_are_one_line_exit_2_and_nothing_computed(case, tmp_path, capsys):
    extra, must_mention = ERRORS[case]
    out = tmp_path / "out"
    assert main(["run", *extra, "--out", str(out)]) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("denoisebench: error: ")
    assert must_mention in lines[0]
    assert "Traceback" not in captured.err and captured.out == ""
    assert not out.exists()  # validated before anything was computed or stored


def test_unavailable_backend_names_the_available_ones(tmp_path, capsys):
    if backend_available("cupy"):
        pytest.skip("cupy has a GPU here")
    assert main(["run", "--backend", "cupy", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "cupy" in err[0] and "numpy" in err[0]


@pytest.mark.parametrize("argv", [[], ["frobnicate"], ["report", "/nonexistent/dir"]])
def test_command_errors_are_one_line(argv, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("denoisebench: error: ")


def test_error_from_the_real_process_has_no_traceback():
    proc = _cli("run", "--datasets", "gaussian", "nope", "--sigmas", "0.1")
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert "unknown dataset 'nope'" in proc.stderr and "gaussian" in proc.stderr


# -- help and list ---------------------------------------------------------------------------
def test_help_lists_the_subcommands(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for command in ("run", "report", "list"):
        assert command in out


def test_run_help_documents_the_options(capsys):
    assert main(["run", "--help"]) == 0
    out = capsys.readouterr().out
    for option in ("--datasets", "--denoisers", "--sigmas", "--n", "--seed", "--size", "--backend",
                   "--device", "--out", "--json", "--n-train"):
        assert option in out


def test_list_shows_datasets_and_denoisers_with_parameters(capsys):
    from denoisebench import list_datasets, list_denoisers

    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for name in list_datasets() + list_denoisers():
        assert f"  {name} " in out
    assert "size=" in out  # a parameter with its default


# -- run ---------------------------------------------------------------------------------------
def test_json_rows_parse(tmp_path, capsys):
    assert main(["run", *TINY, "--out", str(tmp_path), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == 4
    assert {(r["denoiser"], r["sigma"]) for r in rows} == {
        (d, s) for d in ("identity", "wiener") for s in (0.05, 0.2)}
    for r in rows:
        assert r["dataset"] == "gaussian" and r["n"] == 4 and r["mse"] > 0 and r["optimal_mse"] > 0
        assert r["psnr"] > 0 and r["backend"] == "numpy"


def test_run_writes_the_three_files(tmp_path):
    proc = _cli("run", *TINY, "--out", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    csv = (tmp_path / "results.csv").read_text().splitlines()
    assert csv[0].startswith("dataset,denoiser,sigma,n,seed,size,mse,mse_stderr,psnr,gain_db,"
                             "optimal_mse,optimal_stderr,gap_db,slope,seconds,backend,device,dtype,bound")
    assert len(csv) == 5
    table = (tmp_path / "table.md").read_text()
    assert "| identity |" in table and "| wiener |" in table and "σ=0.05" in table and "n=4" in table
    assert (tmp_path / "mse_vs_sigma.png").read_bytes()[:4] == b"\x89PNG"
    assert (tmp_path / "results.sqlite").exists()


def test_ctrl_c_exits_130_and_keeps_finished_cells(tmp_path):
    script = (
        "import sys, time\n"
        "from denoisebench import Denoiser, register_denoiser\n"
        "from denoisebench.cli import main\n"
        "@register_denoiser('test-slow')\n"
        "class Slow(Denoiser):\n"
        "    def __init__(self): pass\n"
        "    def _denoise(self, y, sigma, xp):\n"
        "        time.sleep(0.3)\n"
        "        return xp.asarray(y, copy=True)\n"
        "sys.exit(main(['run', '--datasets', 'gaussian', '--denoisers', 'test-slow', '--n', '2',\n"
        "               '--size', '8', '--out', sys.argv[1]]))\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", script, str(tmp_path)], env=_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    store = tmp_path / "results.sqlite"
    deadline = time.monotonic() + 60
    while proc.poll() is None and time.monotonic() < deadline:
        if store.exists() and _count_rows(store) >= 1:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130
    assert "Traceback" not in err
    assert "finished cells are kept" in err.splitlines()[-1]
    assert _count_rows(store) >= 1


def _count_rows(path):
    import sqlite3

    try:
        with sqlite3.connect(path) as conn:
            return conn.execute("SELECT COUNT(*) FROM cells").fetchone()[0]
    except sqlite3.OperationalError:
        return 0
