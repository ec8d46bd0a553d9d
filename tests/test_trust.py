"""Tables you can trust (issue #10, end to end through the command line).

A stored cell is reused only when nothing that made its number changed: a weight file or
an image retrained/replaced in place, or the code, recomputes it (the old row kept in the
history), ``--fresh`` computes everything, concurrent runs and reports on one folder all
succeed with one row per cell, and a NaN made inside a denoiser is never stored.

Stores are read back here with plain ``sqlite3`` (not the package's reader), and a
recomputed number is compared with the one a fresh ``--out`` gives.

The other bullets of the issue's "Why" are tested elsewhere:

* damaged or foreign stores, hand-edited rows: tests/test_store.py (and the CLI in
  tests/test_cli_errors.py); weight files: tests/test_weights.py; host chunking, bounds,
  σ types, NaN inside a denoiser, ``check_denoiser`` in-place: tests/test_validation.py and
  tests/test_fuzz.py; training: tests/test_weights.py; the process executor's orphans:
  tests/test_executors.py; kill and resume: tests/test_bench.py
  (``test_resume_after_sigkill_recomputes_nothing_and_loses_nothing``).
"""
import csv
import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from denoisebench import Denoiser, registry
from denoisebench.cli import main
from denoisebench.grid.runner import clear_caches

ROOT = Path(__file__).resolve().parents[1]
SUMMARY = re.compile(r"^(\d+) cells: (\d+) computed, (\d+) reused \(same code and inputs\)"
                     r"(?:, (\d+) recomputed \(code or inputs changed\))?")


@pytest.fixture(autouse=True)
def _fresh_caches():
    clear_caches()
    yield
    clear_caches()


def _run(capsys, *argv):
    """``denoisebench run ARGV`` in this process as a new process would see it (no warm caches);
    return the counts of its summary line: (cells, computed, reused, recomputed)."""
    clear_caches()
    capsys.readouterr()
    assert main(["run", *argv]) == 0
    return _summary(capsys.readouterr().err)


def _summary(err):
    """(cells, computed, reused, recomputed) of the one summary line on ``err``."""
    summaries = [m for line in err.splitlines() if (m := SUMMARY.match(line))]
    assert len(summaries) == 1, err
    return tuple(int(g or 0) for g in summaries[0].groups())


def _sql(out, query):
    conn = sqlite3.connect(f"file:{Path(out, 'results.sqlite')}?mode=ro", uri=True)
    try:
        return conn.execute(query).fetchall()
    finally:
        conn.close()


def _mse(out):
    """{(denoiser, sigma): mse} of the current rows."""
    return {(d, s): m for d, s, m in _sql(out, "SELECT denoiser, sigma, mse FROM cells")}


# -- stale inputs: a weight file or an image replaced in place ----------------------------------------------
def _save_random_unet(path, seed):
    """A width-4 bias-free U-Net whose last layer is random (trained ones start from D(y) = y)."""
    torch = pytest.importorskip("torch")
    from denoisebench.networks import weights_io
    from denoisebench.networks._bfunet import build, default_hparams

    torch.manual_seed(seed)
    model = build(default_hparams(4)).eval()
    with torch.no_grad():
        torch.nn.init.normal_(model.out.weight, std=0.1)
    weights_io.save_weights(str(path), model, {"dataset": "gaussian"})


def test_weights_retrained_in_place_recompute_and_the_old_row_goes_to_history(tmp_path, capsys):
    pytest.importorskip("torch")
    weights = tmp_path / "mine.safetensors"
    grid = ["--datasets", "gaussian", "--denoisers", f"unet:weights={weights}", "--sigmas", "0.1,0.3", "--n", "2",
            "--size", "16"]
    _save_random_unet(weights, seed=1)
    assert _run(capsys, *grid, "--out", str(tmp_path / "a")) == (2, 2, 0, 0)
    first = _mse(tmp_path / "a")
    assert _run(capsys, *grid, "--out", str(tmp_path / "a")) == (2, 0, 2, 0)  # unchanged: reused

    _save_random_unet(weights, seed=2)  # "retrain mine.safetensors in place"
    assert _run(capsys, *grid, "--out", str(tmp_path / "a")) == (2, 0, 0, 2)
    second = _mse(tmp_path / "a")
    assert _run(capsys, *grid, "--out", str(tmp_path / "fresh")) == (2, 2, 0, 0)
    assert second == _mse(tmp_path / "fresh")  # the number a fresh --out gives
    assert all(second[k] != first[k] for k in first)  # and not the old one
    history = _sql(tmp_path / "a", "SELECT denoiser, sigma, mse, replaced_reason FROM history")
    assert {(d, s): m for d, s, m, _ in history} == first
    assert {reason for *_, reason in history} == {"fingerprint changed"}


def test_an_image_replaced_in_a_folder_dataset_recomputes(tmp_path, capsys):
    images = tmp_path / "images"
    images.mkdir()
    rng = np.random.default_rng(0)
    for name in ("a", "b", "c"):
        np.save(images / f"{name}.npy", rng.random((13, 11)))
    grid = ["--datasets", f"folder:path={images},crop=8", "--denoisers", "wavelet:coarse=keep,clip=false", "--sigmas", "0.1", "--n", "3"]
    assert _run(capsys, *grid, "--out", str(tmp_path / "a")) == (1, 1, 0, 0)
    first = _mse(tmp_path / "a")

    np.save(images / "b.npy", np.clip(rng.random((13, 11)) * 0.2 + 0.4, 0, 1))  # same name, other pixels
    assert _run(capsys, *grid, "--out", str(tmp_path / "a")) == (1, 0, 0, 1)
    second = _mse(tmp_path / "a")
    assert _run(capsys, *grid, "--out", str(tmp_path / "fresh")) == (1, 1, 0, 0)
    assert second == _mse(tmp_path / "fresh") and second != first
    assert _sql(tmp_path / "a", "SELECT mse FROM history") == [tuple(first.values())]


# -- the code, --fresh ------------------------------------------------------------------------------------
TINY = ["--datasets", "gaussian", "--denoisers", "identity", "wiener", "--sigmas", "0.05,0.2", "--n", "2", "--size", "8"]


def test_a_code_change_recomputes_every_cell(tmp_path, capsys, monkeypatch):
    from denoisebench.store import fingerprint

    out = ["--out", str(tmp_path)]
    assert _run(capsys, *TINY, *out) == (4, 4, 0, 0)
    assert _run(capsys, *TINY, *out) == (4, 0, 4, 0)  # said even when nothing is computed
    first = _sql(tmp_path, "SELECT fingerprint FROM cells")
    monkeypatch.setattr(fingerprint, "code_fingerprint", lambda: "another version")
    assert _run(capsys, *TINY, *out) == (4, 0, 0, 4)
    assert _run(capsys, *TINY, *out) == (4, 0, 4, 0)
    assert sorted(_sql(tmp_path, "SELECT fingerprint FROM history")) == sorted(first)
    assert not set(_sql(tmp_path, "SELECT fingerprint FROM cells")) & set(first)


def test_fresh_moves_the_store_aside_and_computes_everything(tmp_path, capsys):
    out = ["--out", str(tmp_path)]
    assert _run(capsys, *TINY, *out) == (4, 4, 0, 0)
    old_rows = _sql(tmp_path, "SELECT denoiser, sigma, mse FROM cells")
    clear_caches()
    assert main(["run", *TINY, *out, "--fresh"]) == 0
    err = capsys.readouterr().err
    assert "4 cells: 4 computed, 0 reused (same code and inputs)" in err
    moved = [p for p in tmp_path.iterdir() if p.name.startswith("results.sqlite.old-")]
    assert len(moved) == 1 and f"moved the previous store to {moved[0]}" in err
    conn = sqlite3.connect(moved[0])
    assert conn.execute("SELECT denoiser, sigma, mse FROM cells").fetchall() == old_rows  # kept as it was
    conn.close()
    assert len(_sql(tmp_path, "SELECT * FROM cells")) == 4 and _sql(tmp_path, "SELECT * FROM history") == []


# -- concurrency -------------------------------------------------------------------------------------------
def _spawn(*args):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-m", "denoisebench", *args], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _finish(procs):
    done = [(p.wait(timeout=300), *p.communicate()) for p in procs]
    for code, _, err in done:
        assert code == 0 and "Traceback" not in err, err
    return done


@pytest.mark.parametrize("processes", [2, pytest.param(6, marks=pytest.mark.slow)])
def test_concurrent_runs_and_reports_on_one_out_all_succeed_with_one_row_per_cell(processes, tmp_path):
    out = str(tmp_path / "out")
    runs = _finish([_spawn("run", *TINY, "--out", out) for _ in range(processes)])
    counts = [_summary(err) for _, _, err in runs]
    assert all(c[0] == 4 and c[1] + c[2] == 4 for c in counts)  # each cell computed or reused, none stale
    assert sum(c[1] for c in counts) >= 4  # every cell computed by some run
    _finish([_spawn("report", out) for _ in range(processes)])
    rows = _sql(out, "SELECT denoiser, sigma FROM cells")
    assert sorted(rows) == sorted((d, s) for d in ("identity", "wiener") for s in (0.05, 0.2))  # one per cell
    assert _sql(out, "SELECT * FROM history") == []  # same fingerprint: the first result wins
    with open(os.path.join(out, "results.csv")) as f:
        assert len(list(csv.DictReader(f))) == 4
    with open(os.path.join(out, "mse_vs_sigma.png"), "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    assert sorted(os.listdir(out)) == ["mse_vs_sigma.png", "results.csv", "results.sqlite", "table.md"]


# -- a NaN made inside a denoiser is never stored -------------------------------------------------------
class _NaNAtLargeSigma(Denoiser):
    name = "test-nan"

    def __init__(self):
        pass

    def _denoise(self, y, sigma, xp):
        return y * float("nan") if float(xp.max(sigma)) > 0.1 else y


def test_a_nan_inside_a_denoiser_exits_1_in_one_line_and_stores_nothing(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(registry._DENOISERS, "test-nan", _NaNAtLargeSigma)
    argv = ["run", "--datasets", "gaussian", "--denoisers", "test-nan", "--sigmas", "0.05,0.2", "--n", "2",
            "--size", "8", "--out", str(tmp_path)]
    capsys.readouterr()
    assert main(argv) == 1  # a runtime fault, not a usage error
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if "error" in line]
    assert len(errors) == 1 and errors[0] == err.splitlines()[-1] and "Traceback" not in err
    assert errors[0].startswith("denoisebench: error: test-nan produced NaN") and "sigma = 0.2" in errors[0]
    assert _sql(tmp_path, "SELECT sigma, mse FROM cells") == [(0.05, pytest.approx(0.05 ** 2, rel=0.5))]
    assert _sql(tmp_path, "SELECT * FROM history") == []
    assert not (tmp_path / "results.csv").exists()


def test_an_optional_library_enters_only_the_cells_that_use_it(monkeypatch):
    """Installing or upgrading bm3d changes bm3d's cells' fingerprints, and no other cell's."""
    pytest.importorskip("bm3d")
    from denoisebench.store import fingerprint as fpmod
    from denoisebench import grid
    from denoisebench.grid import runner

    cells = grid.plan(["natural:size=16"], ["bm3d", "wavelet"], [0.1], n=1)
    before = {c.denoiser: runner.fingerprint(c) for c in cells}
    real = fpmod._library_versions
    monkeypatch.setattr(fpmod, "_library_versions",
                        lambda modules=fpmod.LIBRARIES: {**real(modules), **({"bm3d": "bm3d==999"} if "bm3d" in modules else {})})
    after = {c.denoiser: runner.fingerprint(c) for c in cells}
    assert after["wavelet"] == before["wavelet"] and after["bm3d"] != before["bm3d"]
