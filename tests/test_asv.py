"""The asv suite: ``asv check`` passes, every denoiser is benchmarked, skips are NotImplementedError,
and ``scripts/asv_compare.sh`` measures each commit's own code (slow)."""
import importlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from denoisebench import list_denoisers

ROOT = Path(__file__).resolve().parents[1]
ASV = shutil.which("asv") or (shutil.which("asv", path=str(Path(sys.executable).parent)))
needs_asv = pytest.mark.skipif(ASV is None, reason="asv is not installed (pip install -e '.[bench]')")


@pytest.fixture(scope="module")
def suite():
    sys.path.insert(0, str(ROOT))
    try:
        yield {name: importlib.import_module(f"benchmarks.{name}")
               for name in ("bench_denoisers", "bench_quality", "bench_sampler", "bench_train")}
    finally:
        sys.path.remove(str(ROOT))


@needs_asv
def test_asv_check_passes():
    proc = subprocess.run([ASV, "check", "--python=same"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "No problems found" in proc.stdout


def test_every_denoiser_is_timed_and_tracked(suite):
    denoise = suite["bench_denoisers"].Denoise
    gap, mse = suite["bench_quality"].GapToOptimum, suite["bench_quality"].MSEdB
    assert denoise.params[0] == list_denoisers() == gap.params[1] == mse.params[1]
    assert denoise.params[1:] == ([64, 256], [1, 16], ["numpy", "torch-cpu", "torch-cuda", "cupy"])
    # gap (lower is better) and MSE in dB (= -PSNR, lower is better) are tracked apart: asv's direction holds
    assert gap.params[0] == ["gaussian", "gmm"] and mse.params[0] == ["cartoon", "natural"]
    assert gap.params[2] == mse.params[2] == [0.05, 0.1, 0.2]
    assert gap.track_gap_db.unit == mse.track_mse_db.unit == "dB"
    assert not hasattr(gap, "track_quality") and not hasattr(mse, "track_quality")
    assert "import baseline" in denoise.peakmem_denoise.__doc__
    for method in ("time_denoise", "peakmem_denoise"):
        assert callable(getattr(denoise, method))


def test_a_timed_call_runs_and_absent_or_costly_cases_skip(suite):
    from denoisebench._array_api import backend_available

    bench = suite["bench_denoisers"].Denoise()
    bench.setup("wavelet", 64, 1, "numpy")
    out = bench._call()
    assert out.shape == (1, 1, 64, 64) and out.dtype.name == "float32"
    if not backend_available("cupy"):
        with pytest.raises(NotImplementedError, match="cupy is not available"):
            bench.setup("wavelet", 64, 1, "cupy")
    if "bm3d" in list_denoisers():
        with pytest.raises(NotImplementedError, match="heavy"):
            bench.setup("bm3d", 256, 16, "numpy")
    with pytest.raises(NotImplementedError, match="host only"):
        bench.setup("skimage-wavelet", 64, 1, "torch-cuda")


def test_quality_cells_skip_what_does_not_apply(suite):
    quality = suite["bench_quality"]
    cache = {("cartoon", "wiener-oracle", 0.1): quality._evaluate("cartoon", "wiener-oracle", 0.1)}
    assert cache[("cartoon", "wiener-oracle", 0.1)][0] == "skip"
    with pytest.raises(NotImplementedError, match="power spectrum"):
        quality.MSEdB().setup(cache, "cartoon", "wiener-oracle", 0.1)


def test_quality_skips_a_denoiser_that_needs_a_file_and_fails_an_error_in_setup(suite):
    quality = suite["bench_quality"]
    kind, reason = quality._evaluate("gaussian", "torchscript", 0.1)
    assert kind == "skip" and "needs a file" in reason
    with pytest.raises(RuntimeError, match="boom"):
        quality.GapToOptimum().setup({("gaussian", "x", 0.1): ("error", "ValueError: boom")}, "gaussian", "x", 0.1)


def test_mse_db_is_minus_psnr(suite):
    quality = suite["bench_quality"]
    kind, value = quality._evaluate("cartoon", "identity", 0.1)
    assert kind == "value" and value == pytest.approx(-20.0, abs=0.2)  # identity: 10 log10(MSE ≈ σ² = 1e-2)


def test_quality_tracks_the_identity_gap_from_theory(suite):
    """The identity's MSE is σ² (up to the sample), so its gap to the Gaussian optimum is
    10 log10(σ² / MMSE(σ)) with the dataset's exact MMSE."""
    import math

    from denoisebench import make_dataset

    quality = suite["bench_quality"]
    kind, gap = quality._evaluate("gaussian", "identity", 0.1)
    assert kind == "value"
    expected = 10 * math.log10(0.1**2 / make_dataset("gaussian", size=64).mmse(0.1))
    assert gap == pytest.approx(expected, abs=0.15)  # 8 × 4096 pixels: mean(z²) within 4 sd = 3%


@needs_asv
@pytest.mark.slow
def test_asv_compare_measures_each_commits_code(tmp_path):
    """Two commits, the second with a 50 ms sleep in ``heun``: the compare shows it slower."""
    repo = tmp_path / "repo"
    ignore = shutil.ignore_patterns(".venv", ".ci-venv", ".asv", "reports", "*.egg-info", "__pycache__", ".git")
    shutil.copytree(ROOT, repo, ignore=ignore)
    env = {**os.environ, "HOME": str(tmp_path), "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t",
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}

    def git(*args):
        subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True)

    git("init", "-q", "-b", "main")
    git("add", "-A")
    git("commit", "-qm", "before")
    sampling = repo / "denoisebench" / "sampling.py"
    text = sampling.read_text()
    anchor = "    s = _check_sigmas(sigmas)\n    validate_batch(x_init)\n    t, D ="
    assert text.count(anchor) == 1
    sampling.write_text(text.replace(anchor, "    __import__('time').sleep(0.05)\n" + anchor))
    git("commit", "-qam", "slower heun")
    proc = subprocess.run(["bash", "scripts/asv_compare.sh", "HEAD~1", "HEAD", "--quick", "--bench",
                           "HeunStep"], cwd=repo, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    lines = [ln for ln in proc.stdout.splitlines() if "time_heun_step('optimal', 64, 'numpy')" in ln]
    assert lines and lines[-1].lstrip("| ").startswith("+"), proc.stdout[-3000:]
    assert (tmp_path / ".asv-machine.json").exists()  # asv machine --yes ran for the fresh HOME


def test_transform_benchmarks_run_one_case_each():
    """The frame and wavelet benchmarks (not in the per-denoiser table) set up and time one small case."""
    sys.path.insert(0, str(ROOT))
    try:
        frames = importlib.import_module("benchmarks.bench_curvelet_frames").CurveletFrames()
        wavelet = importlib.import_module("benchmarks.bench_wavelet").OrthogonalDWT()
    finally:
        sys.path.remove(str(ROOT))
    for frame in ("undecimated", "wrap"):
        frames.setup(frame, "64x64", "numpy")
        frames.time_forward_inverse(frame, "64x64", "numpy")
    wavelet.setup("symmetric", "256x64", "numpy")
    wavelet.time_forward_inverse("symmetric", "256x64", "numpy")


def _all_combinations(cls):
    import itertools

    params = cls.params if isinstance(cls.params, tuple) else (cls.params,)
    return list(itertools.product(*params))


@pytest.mark.slow  # about 3 minutes on 2 cores: every Denoise setup builds (and fits) a denoiser
def test_every_benchmark_setup_runs_or_skips_for_every_parameter(suite, monkeypatch):
    """asv's ``--quick`` runs each setup once per parameter combination: each must succeed or skip
    (NotImplementedError), never raise anything else.  The quality grids are computed small."""
    import inspect

    sys.path.insert(0, str(ROOT))
    try:
        modules = [importlib.import_module(f"benchmarks.{p.stem}") for p in sorted((ROOT / "benchmarks").glob("bench_*.py"))]
    finally:
        sys.path.remove(str(ROOT))
    quality = suite["bench_quality"]
    monkeypatch.setattr(quality, "N", 1)
    monkeypatch.setattr(quality, "N_TRAIN", 4)
    monkeypatch.setattr(quality, "SIZE", "16")
    monkeypatch.setattr(quality, "SIGMAS", [0.1])
    failures, ran, skipped = [], 0, 0
    for module in modules:
        for name, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__ != module.__name__ or not hasattr(cls, "params") or name.startswith("_"):
                continue
            bench = cls()
            cache = bench.setup_cache() if hasattr(bench, "setup_cache") else None
            for combo in _all_combinations(cls):
                args = (cache, *combo) if cache is not None else combo
                try:
                    bench.setup(*args)
                    ran += 1
                except NotImplementedError:
                    skipped += 1
                except Exception as exc:  # noqa: BLE001 - the point: anything else is a failure
                    failures.append(f"{name}{combo}: {type(exc).__name__}: {exc}")
                finally:
                    getattr(bench, "teardown", lambda *a: None)(*args)
    assert not failures, "\n".join(failures)
    assert ran > 0 and skipped > 0
