"""Issue #22, "No sharp edges": output targets, model output dtypes, plan-time file checks, the
grammar's ASCII numbers, report's store checks, perf --quick, and the Dask executor's faults.

The CLI cases run ``denoisebench.cli.main`` in an empty folder and check the exit code, exactly
one stderr line, and that nothing was written (the folder exactly as it was)."""
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import denoisebench as db
from denoisebench.cli import main
from denoisebench.outputs import OutputTargetError, check_output_target
from denoisebench.grid.runner import clear_caches

ROOT = Path(__file__).resolve().parents[1]
PREFIX = "denoisebench: error: "
RUN = ["run", "--datasets", "gaussian:size=8", "--denoisers", "identity", "--sigmas", "0.1", "--n", "1"]


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    clear_caches()
    monkeypatch.chdir(tmp_path)
    yield
    clear_caches()


def _snapshot(folder):
    folder = Path(folder)
    return {p.relative_to(folder).as_posix(): (p.read_bytes() if p.is_file() else None) for p in folder.rglob("*")}


def _refused(capsys, argv, mention, code=2):
    """``argv`` exits ``code`` with one error line mentioning ``mention`` and writes nothing."""
    before = _snapshot(".")
    rc = main(argv)
    out, err = capsys.readouterr()
    lines = [ln for ln in err.splitlines() if ln.strip() and "%|" not in ln]
    assert rc == code, err
    assert len(lines) == 1 and lines[0].startswith(PREFIX) and mention in lines[0], err
    assert "Traceback" not in err and out == ""
    assert _snapshot(".") == before
    return lines[0]


# -- output targets -------------------------------------------------------------------------------
def test_output_target_helper(tmp_path):
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "file").write_text("x")
    (tmp_path / "dir").mkdir()
    with pytest.raises(OutputTargetError, match="character device"):
        check_output_target("/dev/null")
    with pytest.raises(OutputTargetError, match="FIFO"):
        check_output_target(tmp_path / "fifo", kind="dir")
    with pytest.raises(OutputTargetError, match="is empty"):
        check_output_target("", kind="dir")
    with pytest.raises(OutputTargetError, match="is a directory"):
        check_output_target(tmp_path / "dir", kind="file")
    with pytest.raises(OutputTargetError, match="is a file"):
        check_output_target(tmp_path / "file", kind="dir")
    os.symlink("/dev/null", tmp_path / "dir" / "table.md")
    with pytest.raises(OutputTargetError, match="table.md"):
        check_output_target(tmp_path / "dir", kind="dir", contents=("table.md",))
    assert check_output_target(tmp_path / "new" / "x.md") == str(tmp_path / "new" / "x.md")
    assert check_output_target(tmp_path / "file") == str(tmp_path / "file")  # a regular file is replaced


@pytest.mark.parametrize("argv, mention", [
    (["run", *RUN[1:], "--out", "/dev/null"], "character device"),
    (["run", *RUN[1:], "--out", ""], "--out is empty"),
    (["report", "/dev/null"], "character device"),
    (["train", "--dataset", "gaussian:size=8", "--out", "/dev/null", "--steps", "1"], "character device"),
    (["perf", "--quick", "--out", "/dev/null"], "character device"),
    (["decay", "--sizes", "8,16", "--out", "/dev/null"], "character device"),
    (["analyze", "--dataset", "gaussian:size=16", "--denoisers", "wiener", "--out", "/dev/null"], "character device"),
    (["sampler-error", "--out", "/dev/null"], "character device"),
    (["generalization", "--dataset", "cartoon:size=16", "--out", "/dev/null"], "character device"),
])
def test_special_output_targets_are_refused_before_computing(capsys, argv, mention):
    _refused(capsys, argv, mention)
    assert os.path.exists("/dev/null") and not os.path.isfile("/dev/null")


def test_run_refuses_a_device_among_its_output_files(capsys):
    os.mkdir("out")
    os.symlink("/dev/null", "out/table.md")
    _refused(capsys, [*RUN, "--out", "out"], "table.md")


# -- plan-time checks: nothing written ----------------------------------------------------------------
@pytest.mark.parametrize("denoiser, mention", [
    ("unet:weights=/nonexistent.safetensors", "no such file '/nonexistent.safetensors'"),
    ("torchscript", "torchscript needs the model file"),
    ("torchscript:path=/nope.pt", "no such file '/nope.pt'"),
])
def test_missing_input_files_are_refused_at_plan_time(capsys, denoiser, mention):
    _refused(capsys, [*RUN, "--denoisers", denoiser, "--out", "out"], mention)


@pytest.mark.parametrize("extra, mention", [
    (["--sigmas", "1_0"], "'1_0'"),
    (["--sigmas", "0.1,,0.2"], "empty item"),
    (["--n", "３"], "'３'"),
    (["--datasets", "gaussian:size=١٦"], "size"),
    (["--datasets", "gaussian:size=16x١٦"], "size"),
    (["--denoisers", "wavelet:k=３"], "wavelet: k"),
    (["--denoisers", "wavelet:mode=so\nft"], "'\\n'"),
    (["--denoisers", "wavelet:mode=so\tft"], "'\\t'"),
    (["--datasets", "phi4:beta=-1"], "beta"),
])
def test_grammar_refuses_non_ascii_digits_underscores_empty_items_and_control_characters(capsys, extra, mention):
    _refused(capsys, [*RUN, "--out", "out", *extra], mention)


def test_decay_refuses_repeated_sizes_before_writing(capsys):
    _refused(capsys, ["decay", "--sizes", "8,8", "--n", "1", "--out", "d"], "repeats a size")
    _refused(capsys, ["decay", "--sizes", "8,,16", "--out", "d"], "empty item")


def test_dask_unreachable_scheduler_creates_no_store(capsys):
    pytest.importorskip("distributed")
    _refused(capsys, [*RUN, "--executor", "dask", "--scheduler", "tcp://127.0.0.1:1", "--out", "out"],
             "cannot reach the Dask scheduler")


@pytest.mark.parametrize("extra, mention", [
    (["--patch", "0"], "patch must be a multiple of 4"),
    (["--stop-at", "0"], "stop_at must be None or an integer >= 1"),
    (["--steps", "1_0"], "'1_0'"),
])
def test_train_refuses_zero_patch_zero_stop_and_underscores(capsys, extra, mention):
    _refused(capsys, ["train", "--dataset", "gaussian:size=16", "--out", "w.safetensors", "--steps", "2", *extra],
             mention)


def test_train_default_patch_fits_small_images():
    from denoisebench.networks._train_checks import DEFAULT_PATCH, resolve_dataset_config

    cfg = {"patch": None, "padding": "zeros"}
    assert resolve_dataset_config("cartoon:size=16", cfg)[1]["patch"] == 16
    assert resolve_dataset_config("cartoon:size=18", cfg)[1]["patch"] == 16
    assert resolve_dataset_config("gaussian:size=64", cfg)[1]["patch"] == DEFAULT_PATCH == 32
    with pytest.raises(ValueError, match="patch must be a multiple of 4"):
        resolve_dataset_config("cartoon:size=16", {"patch": 32, "padding": "zeros"})


def test_curvelet_wrap_on_too_small_images_is_one_clear_line(capsys, tmp_path):
    out = tmp_path / "out"
    rc = main([*RUN, "--datasets", "gaussian:size=4", "--denoisers", "curvelet:frame=wrap", "--out", str(out)])
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.startswith(PREFIX)]
    assert rc == 2 and len(lines) == 1 and "too small" in lines[0] and "zero-size" not in err
    assert not out.exists()  # refused when the grid is planned: no store created


# -- report: an empty store, invalid rows --------------------------------------------------------------
def test_report_refuses_an_empty_store_file(capsys):
    os.mkdir("out")
    Path("out/results.sqlite").write_bytes(b"")
    _refused(capsys, ["report", "out"], "is empty (0 bytes)")
    assert Path("out/results.sqlite").read_bytes() == b""


def test_report_says_how_many_rows_fail_their_checksum(capsys):
    import sqlite3

    assert main([*RUN, "--sigmas", "0.1,0.2", "--out", "out"]) == 0
    conn = sqlite3.connect("out/results.sqlite")
    conn.execute("UPDATE cells SET mse = mse * 2 WHERE sigma = 0.1")
    conn.commit()
    conn.close()
    capsys.readouterr()
    assert main(["report", "out"]) == 0
    out, err = capsys.readouterr()
    assert "1 stored row(s)" in err and "recompute" in err and out.startswith("wrote ")
    capsys.readouterr()
    assert main(["report", "out"]) == 0 and "1 stored row(s)" in capsys.readouterr().err  # until recomputed
    assert main([*RUN, "--sigmas", "0.1,0.2", "--out", "out"]) == 0
    assert "1 recomputed (bad stored row)" in capsys.readouterr().err
    assert main(["report", "out"]) == 0 and "stored row" not in capsys.readouterr().err


def test_a_killed_reports_temporaries_are_removed_minutes_later(tmp_path):
    from denoisebench.report import _remove_stale_temporaries

    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    name = tmp_path / f".mse_vs_sigma.png.{proc.pid}-0123456789ab.tmp"
    name.write_text("x")
    old = time.time() - 5 * 60
    os.utime(name, (old, old))
    _remove_stale_temporaries(tmp_path, {"mse_vs_sigma.png"})
    assert not name.exists()


def test_run_summary_counts_not_applicable_cells_apart(capsys):
    assert main(["run", "--datasets", "cartoon:size=16", "--denoisers", "identity", "optimal", "--sigmas", "0.1",
                 "--n", "1", "--out", "out"]) == 0
    err = capsys.readouterr().err
    assert "2 cells: 1 computed, 1 not applicable" in err, err


# -- model output dtype -------------------------------------------------------------------------------
def _script(tmp_path, body):
    pytest.importorskip("torch")
    code = f"""
import torch
class Net(torch.nn.Module):
    def forward(self, y, sigma):
        return {body}
torch.jit.save(torch.jit.script(Net()), {str(tmp_path / 'm.pt')!r})
"""
    (tmp_path / "make_model.py").write_text(code)
    subprocess.run([sys.executable, str(tmp_path / "make_model.py")], check=True, timeout=120)
    return str(tmp_path / "m.pt")


@pytest.mark.parametrize("body, dtype", [("(y * 255).to(torch.int32)", "int32"), ("y.half()", "float16")])
def test_torchscript_output_of_another_dtype_is_refused(tmp_path, body, dtype):
    from denoisebench import make_denoiser
    from denoisebench.testing import check_denoiser

    d = make_denoiser(f"torchscript:path={_script(tmp_path, body)}")
    y = np.full((1, 1, 8, 8), 0.5, np.float32)
    with pytest.raises(TypeError, match=f"returned dtype {dtype} for a float32 input"):
        d(y, 0.1)
    with pytest.raises(TypeError, match=f"returned dtype {dtype}"):  # the conformance check fails too
        check_denoiser(d)


def test_check_denoiser_returns_a_one_line_summary():
    from denoisebench import make_denoiser
    from denoisebench.testing import check_denoiser

    summary = check_denoiser(make_denoiser("identity"))
    assert summary.startswith("check_denoiser: identity passed on numpy") and "\n" not in summary


# -- perf --quick ---------------------------------------------------------------------------------------
def test_perf_default_names_are_registry_names():
    from denoisebench.grid import default_denoisers
    from denoisebench.registry import list_denoisers
    from denoisebench.registry.specs import parse_spec

    specs = default_denoisers()
    assert any(":" in s for s in specs)  # unet:variant=... (what broke perf --quick)
    names = list(dict.fromkeys(parse_spec(s)[0] for s in specs))
    assert set(names) <= set(list_denoisers())


def test_perf_quick_runs_and_names_every_file_it_wrote(capsys, monkeypatch):
    from denoisebench.perf import measure

    seen = {}
    real = measure.throughput

    def small(names, *args, **kwargs):
        seen["names"] = list(names)
        return real(["identity"], *args, **kwargs)  # the pipeline, not the whole timing

    monkeypatch.setattr(measure, "throughput", small)
    monkeypatch.setattr(measure.torch_cpu, "compare_torch_cpu", lambda names, *a, **k: [
        {"denoiser": n, "shape": (1, 1, 8, 8), "missing": "skipped in the test"} for n in names])
    monkeypatch.setattr(measure.peers, "compare_all", lambda *a, **k: [])
    rc = main(["perf", "--quick", "--out", "p/performance.md"])
    out, err = capsys.readouterr()
    assert rc == 0, err
    assert out.strip() == "wrote p/performance.md, p/performance.json, p/gpu.md"
    assert all(":" not in n for n in seen["names"]) and "unet" in seen["names"]
    assert "--out p/gpu.md" in Path("p/gpu.md").read_text() and "reports/gpu.md" not in Path("p/gpu.md").read_text()


def test_ci_smoke_covers_every_subcommand():
    from denoisebench.commands import COMMANDS

    smoke = (ROOT / ".ci" / "smoke").read_text()
    for command in COMMANDS:
        assert f"step {command.NAME}" in smoke, command.NAME
    assert "step perf --quick" in smoke and ".ci/smoke" in (ROOT / ".ci" / "run").read_text()


# -- Dask: a lost worker is one line; a lost scheduler is one line and resumable -----------------------------
def test_lost_worker_event_is_one_stderr_line(capsys):
    from denoisebench.grid.executors import _on_cluster_event

    _on_cluster_event((0.0, {"action": "remove-worker", "worker": "tcp://10.0.0.1:1234",
                             "processing-tasks": {"a", "b"}, "expected": False}))
    _on_cluster_event((0.0, {"action": "remove-worker", "worker": "tcp://10.0.0.1:1", "expected": True}))
    _on_cluster_event((0.0, {"action": "add-worker", "worker": "tcp://10.0.0.1:2"}))
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "lost Dask worker tcp://10.0.0.1:1234" in err[0] and "2 running" in err[0]


def test_parallel_releases_each_future_once_committed():
    """The driver keeps no finished future: each is dropped when its result is read."""
    import gc
    import weakref
    from concurrent.futures import ThreadPoolExecutor

    from denoisebench.grid import plan
    from denoisebench.grid.runner import _parallel

    cells = plan(["gaussian:size=8"], ["identity"], [0.1, 0.2, 0.3], n=1)
    refs = []

    class Tracking(ThreadPoolExecutor):
        def submit(self, *a, **k):
            f = super().submit(*a, **k)
            refs.append(weakref.ref(f))
            return f

    class Bar:
        def set_postfix_str(self, s):
            pass

    with Tracking(1) as pool:
        it = _parallel(cells, pool, Bar())
        next(it)
        gc.collect()
        alive = [r for r in refs if r() is not None and r().done()]
        list(it)
    assert len(alive) <= 2  # at most the one being yielded and one just finishing; not all of them


def test_lost_scheduler_is_one_line_with_the_counts(capsys, monkeypatch):
    from concurrent.futures import CancelledError, Future

    import denoisebench.grid.runner as runner

    class Gone:
        """An executor whose scheduler dies after the first cell: later futures are cancelled."""

        def __init__(self):
            self.n = 0

        def submit(self, fn, cell):
            f = Future()
            self.n += 1
            if self.n == 1:
                f.set_result(fn(cell))
            else:  # cancelled a moment later, as a client does when its scheduler is gone
                def gone():
                    f.cancel()
                    f.set_running_or_notify_cancel()

                __import__("threading").Timer(0.3, gone).start()
            return f

    @__import__("contextlib").contextmanager
    def fake(*a):
        yield Gone()

    import denoisebench.grid.executors as ex

    monkeypatch.setitem(ex.EXECUTORS, "process", (fake, None))
    rc = main([*RUN, "--sigmas", "0.1,0.2,0.3", "--executor", "process", "--out", "out"])
    err = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith(PREFIX)]
    assert rc == 1 and len(err) == 1, err
    assert "scheduler was lost after 1 of 3 cells" in err[0] and "rerun the same command" in err[0]
    assert CancelledError and runner  # imported names used


def _start(args, log):
    return subprocess.Popen([sys.executable, "-m", *args], stdout=log, stderr=subprocess.STDOUT,
                            env={**os.environ, "OMP_NUM_THREADS": "1"}, start_new_session=True)


def _wait_for_cells(store, k, timeout=120):
    """Wait until the store at ``store`` holds at least ``k`` cells (polled read-only)."""
    import sqlite3

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with sqlite3.connect(f"file:{store}?mode=ro", uri=True, timeout=1) as conn:
                if conn.execute("SELECT COUNT(*) FROM cells").fetchone()[0] >= k:
                    return
        except sqlite3.Error:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{store}: fewer than {k} cells after {timeout} s")


@pytest.mark.slow
def test_real_cluster_lost_worker_and_lost_scheduler(tmp_path):
    """A scheduler and two workers as separate processes: kill -9 one worker mid-run (one stderr
    line; the run finishes, no committed cell recomputed), then kill -9 the scheduler mid-run (one
    line with the counts, exit 1), then rerun against a new scheduler: it resumes."""
    import signal
    import socket

    pytest.importorskip("distributed")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    address = f"tcp://127.0.0.1:{port}"
    log = open(tmp_path / "cluster.log", "w")
    procs = []

    def cluster():
        sched = _start(["distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port", str(port),
                        "--dashboard-address", ":0"], log)
        time.sleep(3)
        workers = [_start(["distributed.cli.dask_worker", address, "--nthreads", "1", "--nworkers", "1",
                           "--no-nanny"], log) for _ in range(2)]
        procs.extend([sched, *workers])
        time.sleep(4)
        return sched, workers

    # about 30 s of cells on two one-thread workers, so the kills below land mid-run
    argv = ["-m", "denoisebench", "run", "--datasets", "cartoon:size=64", "--denoisers", "curvelet", "wiener",
            "--sigmas", ",".join(str(s) for s in np.round(np.geomspace(0.01, 1, 30), 4)), "--n", "64",
            "--executor", "dask", "--scheduler", address, "--out", str(tmp_path / "out")]
    try:
        sched, workers = cluster()
        run = subprocess.Popen([sys.executable, *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        _wait_for_cells(tmp_path / "out" / "results.sqlite", 2)  # mid-run
        os.kill(workers[0].pid, signal.SIGKILL)
        out, err = run.communicate(timeout=600)
        lines = [ln for ln in err.splitlines() if "%|" not in ln and ln.strip()]
        assert run.returncode == 0, err
        assert sum("lost Dask worker" in ln for ln in lines) == 1, err
        assert "Traceback" not in err
        # the scheduler killed mid-run (fresh store): one line, counts, exit 1
        os.kill(sched.pid, signal.SIGKILL)
        for p in workers:
            p.kill()
        sched, workers = cluster()
        argv = [*argv[:-1], str(tmp_path / "out2")]  # a fresh store
        run = subprocess.Popen([sys.executable, *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        _wait_for_cells(tmp_path / "out2" / "results.sqlite", 2)  # mid-run: some cells stored, not all
        os.kill(sched.pid, signal.SIGKILL)
        out, err = run.communicate(timeout=300)
        errors = [ln for ln in err.splitlines() if ln.startswith(PREFIX)]
        assert run.returncode == 1 and len(errors) == 1 and "scheduler was lost after" in errors[0], err
        assert "Traceback" not in err
        for p in workers:
            p.kill()
        sched, workers = cluster()
        run = subprocess.run([sys.executable, *argv], capture_output=True, text=True, timeout=600)
        assert run.returncode == 0 and "reused" in run.stderr, run.stderr
    finally:
        for p in procs:
            p.kill()
        log.close()


# -- folder inputs: transparent pixels, links that do not resolve; a store text that is not UTF-8 ----------------
def _png(path, array):
    import imageio.v3 as iio

    iio.imwrite(path, array)
    return path


def test_rgba_with_transparent_pixels_says_the_alpha_is_dropped(tmp_path):
    import warnings

    from denoisebench.datasets._folder import read_image

    rgba = np.full((8, 8, 4), 200, np.uint8)
    rgba[..., 3] = 255
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an opaque alpha is dropped silently: nothing is lost
        np.testing.assert_allclose(read_image(_png(tmp_path / "opaque.png", rgba)), np.full((8, 8, 3), 200 / 255))
    rgba[0, 0, 3] = 10
    with pytest.warns(UserWarning, match="transparent.png: alpha channel with transparent pixels .* dropped"):
        np.testing.assert_allclose(read_image(_png(tmp_path / "transparent.png", rgba)), np.full((8, 8, 3), 200 / 255))


def test_a_symlink_loop_in_a_folder_is_refused_in_one_line(tmp_path):
    _png(tmp_path / "a.png", np.full((16, 16), 100, np.uint8))
    os.symlink(tmp_path / "loop.png", tmp_path / "loop.png")
    with pytest.raises(ValueError, match="loop.png is a symbolic link that does not resolve"):
        db.make_dataset(f"folder:path={tmp_path},crop=8").sample(1)


def test_a_stored_text_that_is_not_utf8_names_the_store(tmp_path):
    from denoisebench.store._file import StoreError, _translated

    with pytest.raises(StoreError, match=r"results.sqlite is damaged \(a stored text is not UTF-8"):
        with _translated(str(tmp_path / "results.sqlite")):
            b"\xaa".decode("utf-8")


@pytest.mark.parametrize("limit_kb, where", [(8, "results.sqlite"), (20, "mse_vs_sigma.png")])
def test_a_file_size_limit_is_a_fault_naming_the_file(tmp_path, limit_kb, where):
    """`ulimit -f`: the store or a report file cannot be written — exit 1 (a fault), one line naming it."""
    import resource

    def limit():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit_kb * 1024, limit_kb * 1024))

    out = tmp_path / "out"
    r = subprocess.run([sys.executable, "-m", "denoisebench", "run", "--datasets", "gaussian:size=16", "--denoisers",
                        "wiener", "identity", "--sigmas", "0.1,0.2", "--n", "2", "--out", str(out)],
                       capture_output=True, text=True, timeout=300, preexec_fn=limit)
    errors = [ln for ln in r.stderr.splitlines() if ln.startswith(PREFIX)]
    assert r.returncode == 1 and len(errors) == 1 and where in errors[0] and "Traceback" not in r.stderr, r.stderr


def test_grayscale_images_under_color_rgb_say_they_are_repeated(tmp_path):
    import tifffile

    tifffile.imwrite(tmp_path / "g16.tif", (np.arange(256, dtype=np.uint16).reshape(16, 16) * 257))
    with pytest.warns(UserWarning, match="g16.tif\\) and color=rgb: each is repeated in the three channels"):
        x = db.make_dataset(f"folder:path={tmp_path},color=rgb,crop=0").images(1)[0]
    x = np.asarray(x).reshape(-1, 16, 16)
    assert x.shape[0] == 3 and np.array_equal(x[0], x[2]) and x[0, 0, 1] == pytest.approx(257 / 65535)


def test_a_deleted_hot_journal_is_one_line_naming_the_store(tmp_path):
    """A writer killed mid-transaction, then its rollback journal deleted: the store is found damaged when
    opened — by run and by report alike, exit 2, one line naming the file, nothing rewritten."""
    out = tmp_path / "out"
    run = [sys.executable, "-m", "denoisebench", "run", "--datasets", "gaussian:size=16", "--denoisers", "wiener",
           "identity", "--sigmas", "0.1,0.2,0.3", "--n", "2", "--out", str(out)]
    assert subprocess.run(run, capture_output=True, timeout=300).returncode == 0
    store = out / "results.sqlite"
    writer = ("import os, sqlite3\n"
              f"c = sqlite3.connect({str(store)!r}, isolation_level=None)\n"
              "c.execute('PRAGMA cache_size=1'); c.execute('BEGIN IMMEDIATE')\n"
              "c.execute('UPDATE cells SET reason = hex(randomblob(3000))'); c.execute('DELETE FROM history')\n"
              "os.kill(os.getpid(), 9)\n")
    subprocess.run([sys.executable, "-c", writer], timeout=60)
    journal = out / "results.sqlite-journal"
    assert journal.exists()
    journal.unlink()
    before = store.read_bytes()
    for argv in (run, [sys.executable, "-m", "denoisebench", "report", str(out)]):
        r = subprocess.run(argv, capture_output=True, text=True, timeout=300)
        errors = [ln for ln in r.stderr.splitlines() if ln.startswith(PREFIX)]
        assert r.returncode == 2 and len(errors) == 1 and str(store) in errors[0] and "damaged" in errors[0], r.stderr
        assert "Traceback" not in r.stderr
    assert store.read_bytes() == before
