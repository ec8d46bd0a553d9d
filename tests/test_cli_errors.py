"""Bad invocations of ``denoisebench`` (issue #10): exit code, one line, no traceback, nothing written.

Every case runs ``denoisebench.cli.main(argv)`` in this process, inside an empty working
folder (so a default output folder would show), and checks: exit code 2 (usage) — the
cases here are all found at plan time — exactly one stderr line ``denoisebench: error: ...``
naming the bad value, no traceback, nothing on stdout, and the folder exactly as it was
(no ``--out``, no store, no checkpoint).  A few run through a real ``python -m
denoisebench`` process, to show that no traceback reaches a user's terminal; the
permission cases run as user ``nobody`` (``setpriv``), since root ignores permissions.
"""
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from denoisebench._array_api import backend_available
from denoisebench.cli import main
from denoisebench.grid.runner import clear_caches
from denoisebench.store import COLUMNS, KEY

ROOT = Path(__file__).resolve().parents[1]
PREFIX = "denoisebench: error: "

#: A small valid grid; a case appends what makes it bad (argparse: the last --option wins).
RUN = ["run", "--datasets", "gaussian", "--denoisers", "identity", "--sigmas", "0.1", "--n", "2", "--out", "out"]
#: A tiny valid training; a case appends its bad setting.
TRAIN = ["train", "--dataset", "gaussian", "--out", "w.safetensors", "--steps", "2", "--n-train", "4", "--width", "4",
         "--batch", "2", "--patch", "8", "--n-val", "1", "--val-every", "1", "--ckpt-every", "1", "--quiet"]


@pytest.fixture(autouse=True)
def _isolated(monkeypatch):
    clear_caches()
    for name in ("DENOISEBENCH_IMPORT", "DENOISEBENCH_DEBUG"):  # main() records --import modules in the first
        monkeypatch.setenv(name, "")  # recorded, so that the teardown removes what main() set
        monkeypatch.delenv(name)
    yield
    clear_caches()


def _snapshot(folder):
    """Every path under ``folder`` with the bytes of its files (None for folders)."""
    folder = Path(folder)
    return {p.relative_to(folder).as_posix(): (p.read_bytes() if p.is_file() else None) for p in folder.rglob("*")}


def _one_error_line(err, mention):
    """stderr is exactly one line, ``denoisebench: error: ...``, mentioning ``mention``."""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(PREFIX) and mention in lines[0], lines[0]
    assert "Traceback" not in err
    return lines[0]


def _file(path):
    Path(path).write_text("not a folder\n")


# -- the table -----------------------------------------------------------------------------------------
#: name -> (argv, what the line must mention, setup of the working folder or None)
CASES = {
    # output folders
    "--out names a file": ([*RUN, "--out", "afile"], "is a file", lambda w: _file(w / "afile")),
    "--out under a file": ([*RUN, "--out", "afile/sub"], "afile/sub", lambda w: _file(w / "afile")),
    # σ, seed, n
    "--sigmas 1e308": ([*RUN, "--sigmas", "1e308"], "1e308", None),
    "--sigmas 1e50": ([*RUN, "--sigmas", "1e50"], "1e50", None),
    "--sigmas 0": ([*RUN, "--sigmas", "0"], "sigma", None),
    "--sigmas nan": ([*RUN, "--sigmas", "nan"], "nan", None),
    "--sigmas -1": ([*RUN, "--sigmas", "-1"], "-1", None),
    "--sigmas 1/0": ([*RUN, "--sigmas", "1/0"], "1/0", None),
    "--sigmas 1e-20 (empirical gave NaN)": ([*RUN, "--denoisers", "empirical", "--sigmas", "1e-20"], "1e-20", None),
    "--seed 2^66": ([*RUN, "--seed", "99999999999999999999"], "--seed", None),
    "--n 10000000": ([*RUN, "--n", "10000000"], "GB", None),  # 64x64 float32: about 164 GB
    # sizes from memory
    "gaussian:size=100000": ([*RUN, "--datasets", "gaussian:size=100000"], "100000", None),
    "curvelet:scales=50": ([*RUN, "--denoisers", "curvelet:scales=50"], "scales", None),
    "curvelet:angles=1000000": ([*RUN, "--denoisers", "curvelet:angles=1000000"], "angles", None),
    # devices
    "--backend torch --device nosuch": ([*RUN, "--backend", "torch", "--device", "nosuch"], "nosuch", None),
    "--backend torch --device meta": ([*RUN, "--backend", "torch", "--device", "meta"], "meta", None),
    # parameter rules
    "wavelet:k=nan": ([*RUN, "--denoisers", "wavelet:k=nan"], "nan", None),
    "wavelet:k=-1": ([*RUN, "--denoisers", "wavelet:k=-1"], "-1", None),
    "wiener:eps=-1": ([*RUN, "--denoisers", "wiener:eps=-1"], "eps", None),
    "gaussian:std=-1": ([*RUN, "--datasets", "gaussian:std=-1"], "std", None),
    "gaussian:std=0": ([*RUN, "--datasets", "gaussian:std=0"], "std", None),
    "unet:amp=maybe": ([*RUN, "--denoisers", "unet:amp=maybe"], "maybe", None),
    "wavelet:mode=medium": ([*RUN, "--denoisers", "identity", "wavelet:mode=medium"], "medium", None),
    "--workers with serial": ([*RUN, "--workers", "4"], "--workers", None),
    # names
    "unknown sub-command": (["frobnicate"], "frobnicate", None),
    "unknown denoiser": ([*RUN, "--denoisers", "nosuch"], "nosuch", None),
    "--import nosuchmodule": (["--import", "nosuchmodule", *RUN], "nosuchmodule", None),
    # other sub-commands
    "sample --sigma-max 0": (["sample", "--sigma-max", "0"], "--sigma-max", None),
    "analyze --sigmas x": (["analyze", "--sigmas", "x"], "'x'", None),
    # training: refused before the first step
    "train --out DIR": ([*TRAIN, "--out", "wdir"], "directory", lambda w: (w / "wdir").mkdir()),
    "train --width 100000": ([*TRAIN, "--width", "100000"], "width", None),
    "train --lr inf": ([*TRAIN, "--lr", "inf"], "lr", None),
    "train --clip nan": ([*TRAIN, "--clip", "nan"], "clip", None),
    "train --out ''": ([*TRAIN, "--out", ""], "out", None),
    "train --device nosuch": ([*TRAIN, "--device", "nosuch"], "nosuch", None),
    "train --device meta": ([*TRAIN, "--device", "meta"], "meta", None),
}
if backend_available("torch", "cuda"):
    CASES["unet:device=cuda without a GPU"] = pytest.param(None, None, None, marks=pytest.mark.skip("a GPU is here"))
else:
    CASES["unet:device=cuda without a GPU"] = ([*RUN, "--denoisers", "unet:device=cuda"], "cuda", None)


@pytest.mark.parametrize("argv, mention, setup", list(CASES.values()), ids=list(CASES))
def test_a_bad_invocation_is_one_line_exit_2_and_writes_nothing(argv, mention, setup, tmp_path, monkeypatch,
                                                               capsys):
    monkeypatch.chdir(tmp_path)
    if setup:
        setup(tmp_path)
    before = _snapshot(tmp_path)
    assert main(argv) == 2
    captured = capsys.readouterr()
    _one_error_line(captured.err, mention)
    assert captured.out == ""
    assert _snapshot(tmp_path) == before  # nothing created or changed: found before anything ran


def test_debug_shows_the_traceback_and_keeps_the_exit_code(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["--debug", *RUN, "--denoisers", "nosuch"]) == 2
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err and "SpecError" in err
    assert err.strip().splitlines()[-1].startswith(PREFIX + "unknown denoiser 'nosuch'")
    assert list(tmp_path.iterdir()) == []


# -- stores that cannot be used --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def store_bytes(tmp_path_factory):
    """The bytes of a real store of four cells."""
    out = tmp_path_factory.mktemp("run")
    clear_caches()
    assert main(["run", "--datasets", "gaussian", "--denoisers", "identity", "wiener", "--sigmas", "0.05,0.2",
                 "--n", "2", "--size", "8", "--out", str(out)]) == 0
    return (out / "results.sqlite").read_bytes()


def _truncated(store_bytes):
    def make(path):
        path.write_bytes(store_bytes[:-1])  # `truncate -s -1 results.sqlite`
    return make


def _foreign(path):
    with sqlite3.connect(path) as conn:  # a valid SQLite file holding someone else's table
        conn.execute("CREATE TABLE cells (id INTEGER, name TEXT)")
        conn.execute("INSERT INTO cells VALUES (1, 'x')")
    conn.close()


def _schema_v2(path):
    """The store denoisebench wrote before fingerprints: no application_id, user_version 2."""
    cols = ", ".join(f"{c} {kind}" for c, kind in COLUMNS.items())
    row = dict.fromkeys(COLUMNS)
    row.update(dataset="gaussian", denoiser="identity", sigma=0.1, n=2, seed=0, size="64", backend="numpy",
               device="cpu", dtype="float32", bound=0, n_train=256, sure=0, protocol="", status="done", mse=0.01)
    with sqlite3.connect(path) as conn:
        conn.execute(f"CREATE TABLE cells ({cols}, PRIMARY KEY ({', '.join(KEY)}))")
        conn.execute(f"INSERT INTO cells VALUES ({', '.join('?' for _ in COLUMNS)})", [row[c] for c in COLUMNS])
        conn.execute("PRAGMA user_version = 2")
    conn.close()


STORES = {
    "report on a truncated store": ("report", "truncated", "damaged"),
    "run on a truncated store": ("run", "truncated", "damaged"),
    "report on a foreign sqlite file": ("report", "foreign", "not a denoisebench results store"),
    "run into a foreign sqlite file": ("run", "foreign", "not a denoisebench results store"),
    "run into a v2 store": ("run", "v2", "older denoisebench"),
}


@pytest.mark.parametrize("command, kind, mention", list(STORES.values()), ids=list(STORES))
def test_an_unusable_store_is_refused_in_one_line_and_left_alone(command, kind, mention, store_bytes, tmp_path,
                                                                  monkeypatch, capsys):
    make = {"truncated": _truncated(store_bytes), "foreign": _foreign, "v2": _schema_v2}[kind]
    out = tmp_path / "out"
    out.mkdir()
    make(out / "results.sqlite")
    before = _snapshot(tmp_path)
    argv = ["report", "out"] if command == "report" else RUN
    monkeypatch.chdir(tmp_path)
    capsys.readouterr()
    assert main(argv) == 2
    captured = capsys.readouterr()
    line = _one_error_line(captured.err, mention)
    assert "results.sqlite" in line and captured.out == ""
    assert ("--fresh" in line) == (kind != "foreign")  # --fresh never moves someone else's database
    assert _snapshot(tmp_path) == before  # never adopted, rewritten or reported from


# -- a real process: no traceback reaches the terminal ---------------------------------------------------
def _cli(args, cwd, user=None):
    cmd = [sys.executable, "-m", "denoisebench", *args]
    if user is not None:
        cmd = ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups", *cmd]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    env.pop("DENOISEBENCH_DEBUG", None)
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("argv, mention", [
    ([*RUN, "--sigmas", "1e308"], "1e308"),
    ([*RUN, "--backend", "torch", "--device", "nosuch"], "nosuch"),
    ([*TRAIN, "--out", "."], "directory"),
], ids=["--sigmas 1e308", "--device nosuch", "train --out DIR"])
def test_the_real_command_prints_one_line_and_no_traceback(argv, mention, tmp_path):
    done = _cli(argv, tmp_path)
    assert done.returncode == 2
    _one_error_line(done.stderr, mention)
    assert done.stdout == "" and list(tmp_path.iterdir()) == []


def test_the_real_command_with_debug_shows_the_traceback_and_exits_2(tmp_path):
    done = _cli(["--debug", *RUN, "--sigmas", "0"], tmp_path)
    assert done.returncode == 2  # unchanged by --debug
    assert "Traceback (most recent call last)" in done.stderr
    assert done.stderr.strip().splitlines()[-1].startswith(PREFIX + "argument --sigmas")


@pytest.fixture
def shared_tmp():
    """A folder user ``nobody`` can enter (pytest's tmp_path is root's alone)."""
    if os.geteuid() != 0:
        pytest.skip("permissions are tested as root dropping to 'nobody'")
    if shutil.which("setpriv") is None:
        pytest.skip("setpriv is missing: cannot run as another user")
    base = Path(tempfile.mkdtemp(prefix="dnb-cli-"))
    os.chmod(base, 0o755)
    yield base
    for p in [base, *base.rglob("*")]:
        if p.is_dir():
            os.chmod(p, 0o755)
    shutil.rmtree(base)


NOBODY = 65534


@pytest.mark.parametrize("case", ["new --out in a read-only folder", "read-only existing --out"])
def test_an_unwritable_out_is_refused_before_computing(case, shared_tmp):
    parent = shared_tmp / "ro"
    parent.mkdir()
    out = parent / "out" if case.startswith("new") else parent
    os.chmod(parent, 0o555)
    before = _snapshot(shared_tmp)
    done = _cli([*RUN, "--out", str(out)], shared_tmp, user=NOBODY)
    assert done.returncode == 2, done.stderr
    line = _one_error_line(done.stderr, str(out))
    assert "Permission denied" in line or "writable" in line
    assert _snapshot(shared_tmp) == before


def test_a_read_only_store_is_refused_before_computing(shared_tmp, store_bytes):
    out = shared_tmp / "out"
    out.mkdir()
    store = out / "results.sqlite"
    store.write_bytes(store_bytes)
    os.chmod(store, 0o444)
    os.chmod(out, 0o777)  # the folder is writable (a journal could be made); the store is not
    before = _snapshot(shared_tmp)
    done = _cli([*RUN, "--out", str(out)], shared_tmp, user=NOBODY)
    assert done.returncode == 2, done.stderr
    line = _one_error_line(done.stderr, "read-only")  # at open: no progress bar, nothing computed
    assert str(store) in line
    assert _snapshot(shared_tmp) == before  # no results.csv, the store byte for byte


def test_an_internal_bug_is_one_line_exit_1(tmp_path, monkeypatch, capsys):
    """An unexpected exception (a bug) never prints a traceback without --debug."""
    from denoisebench import report
    from denoisebench.cli import main

    def broken(*args, **kwargs):
        raise KeyError(15.0)

    monkeypatch.setattr(report, "write_outputs", broken)
    code = main(["run", "--datasets", "gaussian:size=16", "--denoisers", "identity", "--sigmas", "0.1", "--n", "2",
                 "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 1 and err.count("denoisebench: error:") == 1 and "internal error KeyError" in err
    assert "Traceback" not in err
