"""The grid runner and its store: theory for the identity, resume after SIGKILL, report rebuild."""
import math
import os
import signal
import subprocess
import sys
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

import denoisebench as db
from denoisebench import Denoiser, NotApplicableError, registry
from denoisebench.grid import default_sigmas, plan
from denoisebench.grid.runner import clear_caches, evaluate_cell, run_grid
from denoisebench.cli import main
from denoisebench.store import KEY, Store

ROOT = Path(__file__).resolve().parents[1]
TINY = {"n": 8, "size": 16, "seed": 0}


@pytest.fixture(autouse=True)
def _fresh_caches():
    clear_caches()
    yield
    clear_caches()


def _register(monkeypatch, name, cls):
    """Register a test-only denoiser for this test alone."""
    cls.name = name
    monkeypatch.setitem(registry._DENOISERS, name, cls)
    return cls


# -- the identity against theory ------------------------------------------------------------
@pytest.mark.parametrize("sigma", [0.02, 0.1, 0.5])
def test_identity_mse_is_sigma_squared(sigma):
    """y = x + σz, so the identity's MSE per pixel is σ²·mean(z²): σ² within 4 standard errors."""
    (cell,) = plan(["gaussian"], ["identity"], [sigma], **TINY)
    row = evaluate_cell(cell)
    assert row["status"] == "done"
    assert abs(row["mse"] - sigma**2) < 4 * row["mse_stderr"]
    # per-image MSE is σ²·χ²_P/P with P = 16·16 pixels: its spread is σ²·sqrt(2/P)
    expected_se = sigma**2 * math.sqrt(2 / 256) / math.sqrt(8)
    assert 0.4 * expected_se < row["mse_stderr"] < 2.5 * expected_se
    assert abs(row["gain_db"]) < 10 * math.log10(1 + 4 * row["mse_stderr"] / sigma**2)
    assert row["psnr"] == pytest.approx(-20 * math.log10(sigma), abs=0.5)


def test_row_columns_and_optimum_fields():
    (gauss,) = plan(["gaussian"], ["identity"], [0.1], **TINY)
    (disks,) = plan(["disks"], ["identity"], [0.1], **TINY)
    g, d = evaluate_cell(gauss), evaluate_cell(disks)
    for col in ("dataset", "denoiser", "sigma", "n", "seed", "size", "mse", "mse_stderr", "psnr", "gain_db",
                "optimal_mse", "optimal_stderr", "gap_db", "seconds", "backend", "device", "dtype", "bound"):
        assert col in g
    assert (g["n"], g["seed"], g["size"], g["backend"], g["device"], g["dtype"]) == (8, 0, "16", "numpy", "cpu", "float32")
    # the identity cannot beat the optimum: its gap is >= 0, and gap = 10 log10(mse / mmse)
    assert 0 < g["optimal_mse"] < 0.1**2
    assert g["gap_db"] == pytest.approx(10 * math.log10(g["mse"] / g["optimal_mse"]))
    assert g["gap_db"] > 0
    # disks has no known optimum: empty, not zero
    assert d["optimal_mse"] is None and d["optimal_stderr"] is None and d["gap_db"] is None


def test_default_sigmas_are_nine_log_spaced_values():
    s = default_sigmas()
    assert len(s) == 9 and s[0] == 0.01 and s[-1] == 1.0
    assert s[4] == 0.1 and s[2] == 0.03162  # 10^-1.5 to 4 significant digits
    assert np.allclose(np.diff(np.log(s)), math.log(10) / 4, rtol=1e-3)


def test_spellings_of_one_spec_share_a_cell():
    a = plan(["gaussian"], ["identity"], [0.1], **TINY)
    b = plan(["gaussian:size=16"], ["identity"], [0.1], n=8, seed=0)
    assert a == b


# -- not applicable, caching, bounds ----------------------------------------------------------
def test_not_applicable_is_recorded_and_not_retried(tmp_path):
    cells = plan(["disks"], ["wiener-oracle", "identity"], [0.1, 0.2], **TINY)
    with Store(tmp_path) as store:
        first = run_grid(cells, store)
        assert [r["status"] for r in first] == ["not_applicable"] * 2 + ["done"] * 2
        assert first[0]["mse"] is None and first[0]["reason"]
        assert run_grid(cells, store) == []  # nothing recomputed
        assert len(store) == 4


def test_learning_denoiser_fits_once_on_the_train_split(monkeypatch):
    fits = []

    class CountingMean(Denoiser):
        learns = True

        def __init__(self):
            pass

        def fit(self, x_clean):
            fits.append(np.array(x_clean))
            self.mean_ = float(np.mean(x_clean))
            return self

        def _denoise(self, y, sigma, xp):
            return xp.zeros_like(y) + self.mean_

    _register(monkeypatch, "test-counting-mean", CountingMean)
    cells = plan(["disks"], ["test-counting-mean"], [0.05, 0.1, 0.2], n_train=5, **TINY)
    assert {c.n_train for c in cells} == {5}
    rows = [evaluate_cell(c) for c in cells]
    assert len(fits) == 1
    from denoisebench import make_dataset

    ds = make_dataset("disks", size=16)
    np.testing.assert_array_equal(fits[0], ds.sample(5, 0, split="train"))
    assert not np.array_equal(fits[0], ds.sample(5, 0, split="test"))
    # a constant predictor's MSE does not depend on σ
    assert rows[0]["mse"] == rows[2]["mse"]


def test_bound_gets_the_clean_image_and_is_flagged(monkeypatch):
    class Oracle(Denoiser):
        bound = True

        def __init__(self):
            pass

        def __call__(self, y, sigma, clean=None):
            return clean

    _register(monkeypatch, "test-oracle", Oracle)
    (cell,) = plan(["disks"], ["test-oracle"], [0.3], **TINY)
    row = evaluate_cell(cell)
    assert row["bound"] is True and row["mse"] == 0.0 and row["psnr"] == math.inf


def test_not_applicable_at_first_use(monkeypatch):
    class Picky(Denoiser):
        def __init__(self):
            pass

        def _denoise(self, y, sigma, xp):
            raise NotApplicableError("not for this data")

    _register(monkeypatch, "test-picky", Picky)
    (cell,) = plan(["disks"], ["test-picky"], [0.3], **TINY)
    row = evaluate_cell(cell)
    assert row["status"] == "not_applicable" and "not for this data" in row["reason"]


def test_executor_gives_the_serial_results(tmp_path):
    cells = plan(["gaussian"], ["identity", "wiener"], [0.05, 0.2], **TINY)
    with Store(tmp_path / "serial") as a, Store(tmp_path / "pool") as b:
        run_grid(cells, a)
        with ThreadPoolExecutor(2) as pool:
            run_grid(cells, b, executor=pool)
        mse = {s: {tuple(r[k] for k in KEY): r["mse"] for r in st.rows()} for s, st in (("a", a), ("b", b))}
    assert mse["a"] == mse["b"] and len(mse["a"]) == 4


# -- backends ---------------------------------------------------------------------------------
def test_torch_backend_hands_torch_tensors_to_the_denoiser(monkeypatch):
    torch = pytest.importorskip("torch")
    seen = []

    class Recorder(Denoiser):
        def __init__(self):
            pass

        def _denoise(self, y, sigma, xp):
            seen.append(type(y))
            return xp.asarray(y, copy=True)

    _register(monkeypatch, "test-recorder", Recorder)
    (cell,) = plan(["disks"], ["test-recorder"], [0.1], backend="torch", **TINY)
    assert evaluate_cell(cell)["mse"] > 0
    assert seen and set(seen) == {torch.Tensor}


def test_numpy_and_torch_backends_agree():
    pytest.importorskip("torch")
    rows = {}
    for backend in ("numpy", "torch"):
        cells = plan(["gaussian"], ["wiener", "identity"], [0.05, 0.3], backend=backend, **TINY)
        rows[backend] = [evaluate_cell(c) for c in cells]
    for a, b in zip(rows["numpy"], rows["torch"]):
        assert (a["denoiser"], a["sigma"]) == (b["denoiser"], b["sigma"])
        assert b["backend"] == "torch" and b["device"] == "cpu"
        assert a["mse"] == pytest.approx(b["mse"], rel=1e-4)


# -- report rebuild ---------------------------------------------------------------------------
def test_report_rebuilds_the_files_run_wrote(tmp_path, capsys):
    out = str(tmp_path / "out")
    argv = ["run", "--datasets", "gaussian", "disks", "--denoisers", "identity", "wiener-oracle",
            "--sigmas", "0.05,0.2", "--n", "4", "--size", "8", "--out", out]
    assert main(argv) == 0
    written = {name: Path(out, name).read_bytes() for name in ("results.csv", "table.md")}
    for name in ("results.csv", "table.md", "mse_vs_sigma.png"):
        os.remove(Path(out, name))
    assert main(["report", out]) == 0
    for name, content in written.items():
        assert Path(out, name).read_bytes() == content
    assert Path(out, "mse_vs_sigma.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    lines = written["results.csv"].decode().splitlines()
    assert len(lines) == 1 + 6  # header + (gaussian: 2 denoisers + disks: identity) × 2 σ
    assert "—" not in written["results.csv"].decode()
    table = written["table.md"].decode()
    assert "Not applicable here: wiener-oracle" in table and "optimum" in table


# -- resume after SIGKILL ---------------------------------------------------------------------
SLOW_SCRIPT = textwrap.dedent(
    """
    import sys, time
    from denoisebench import Denoiser, register_denoiser
    from denoisebench.cli import main

    out, log = sys.argv[1], sys.argv[2]

    @register_denoiser("test-slow")
    class Slow(Denoiser):
        def __init__(self):
            pass

        def _denoise(self, y, sigma, xp):
            if y.shape[0] > 1:  # not the one-image warm-up call
                with open(log, "a") as f:
                    f.write("%.6g\\n" % float(sigma[0, 0, 0, 0]))  # float32 σ → the CLI's value
            time.sleep(0.25)
            return xp.asarray(y, copy=True)

    sys.exit(main(["run", "--datasets", "gaussian", "--denoisers", "test-slow", "identity",
                   "--sigmas", "0.01,0.02,0.03,0.05,0.1,0.2,0.3,0.5", "--n", "2", "--size", "8",
                   "--out", out]))
    """
)
SLOW_SIGMAS = [0.01, 0.02, 0.03, 0.05, 0.1, 0.2, 0.3, 0.5]


def _env():
    return {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}


def _stored(out):
    if not Path(out, "results.sqlite").exists():
        return {}
    with Store(out, create=False) as store:
        return {(r["denoiser"], r["sigma"]): r for r in store.rows()}


def _wait_for_rows(proc, out, count, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if len(_stored(out)) >= count:
                return
        except Exception:  # the store is being created
            pass
        time.sleep(0.05)
    raise AssertionError(f"store never reached {count} rows (rc={proc.poll()})")


def test_resume_after_sigkill_recomputes_nothing_and_loses_nothing(tmp_path):
    out, log1, log2 = tmp_path / "out", tmp_path / "run1.log", tmp_path / "run2.log"
    cmd = [sys.executable, "-c", SLOW_SCRIPT, str(out)]
    proc = subprocess.Popen(cmd + [str(log1)], env=_env(), stderr=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    try:
        _wait_for_rows(proc, out, 2)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    before = _stored(out)
    assert 2 <= len(before) < len(SLOW_SIGMAS)  # killed mid-run, inside the slow denoiser's cells
    assert not Path(out, "results.csv").exists()

    done = subprocess.run(cmd + [str(log2)], env=_env(), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    after = _stored(out)
    assert len(after) == 2 * len(SLOW_SIGMAS)  # nothing lost: the full grid
    for key, row in before.items():  # finished cells kept as they were
        assert after[key]["started_at"] == row["started_at"] and after[key]["mse"] == row["mse"]
    rerun = [float(s) for s in log2.read_text().split()]
    finished_before = {s for (d, s) in before if d == "test-slow"}
    assert not finished_before & set(rerun)  # no finished cell recomputed
    assert sorted(rerun) == sorted(set(SLOW_SIGMAS) - finished_before)  # and each missing one once
    csv_lines = Path(out, "results.csv").read_text().splitlines()
    assert len(csv_lines) == 1 + 2 * len(SLOW_SIGMAS)


def test_sure_column_agrees_with_the_true_mse():
    """``--sure``: Stein's estimate, computed without the clean image, matches the measured MSE
    within the standard error of the paired per-image difference (computed here independently)."""
    from denoisebench.analysis import sure
    from denoisebench.grid import plan
    from denoisebench.grid.runner import evaluate_cell

    n = 24
    ds = db.make_dataset("gaussian", size=24)
    x = ds.sample(n, seed=0)
    cells = plan(["gaussian:size=24"], ["wiener-oracle", "wavelet:mode=soft,threshold=sure,coarse=keep,clip=false", "oracle-wavelet"],
                 [0.05, 0.2], n=n, sure=8)
    for cell in cells:
        row = evaluate_cell(cell)
        if row["bound"]:
            assert cell.sure == 0 and row["sure_mse"] is None  # bounds see the clean image: no SURE
            continue
        d = db.make_denoiser(cell.denoiser, **({"dataset": ds} if d_needs(cell) else {}))
        y = db.add_noise(x, cell.sigma, seed=0)
        per_image_mse = np.mean((d(y, cell.sigma).astype(np.float64) - x) ** 2, axis=(1, 2, 3))
        per_image_sure = sure(d, y, cell.sigma, probes=8, seed=0).value
        assert row["mse"] == pytest.approx(per_image_mse.mean(), rel=1e-6)
        assert row["sure_mse"] == pytest.approx(per_image_sure.mean(), rel=1e-6)
        paired_se = np.std(per_image_sure - per_image_mse, ddof=1) / np.sqrt(n)
        assert abs(row["sure_mse"] - row["mse"]) < 4 * paired_se, (cell.denoiser, cell.sigma)


def d_needs(cell):
    from denoisebench.registry import denoiser_class

    return denoiser_class(cell.denoiser.split(":")[0]).needs_dataset
