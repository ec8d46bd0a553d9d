"""``denoisebench perf``: timing helpers against known durations, a well-formed quick report."""
import math
import re
import time

import numpy as np
import pytest

from denoisebench.cli import main
from denoisebench.perf import SIGMA, median_seconds, noisy_batch, profile_line, run_perf
from denoisebench.perf.timing import _label

QUICK_DENOISERS = ["identity", "wiener-oracle", "wavelet"]


# -- timing helpers ---------------------------------------------------------------------------
def test_median_seconds_of_known_sleeps():
    """Calls sleeping 10, 30, 20 ms (after a 0.2 s warm-up that must not be timed): median ≈ 20 ms."""
    durations = iter([0.2, 0.01, 0.03, 0.02])
    seconds, out = median_seconds(lambda: time.sleep(next(durations)) or "done", repeats=3)
    assert 0.019 <= seconds < 0.03 and out == "done"


def test_median_seconds_stops_at_the_budget():
    calls = []
    median_seconds(lambda: calls.append(time.sleep(0.01)), repeats=50, budget=0.0)
    assert len(calls) == 2  # the warm-up and one timed call


def test_profile_line_names_where_the_time_goes():
    def busy():
        time.sleep(0.02)
        return sum(range(1000))

    top = profile_line(busy, top=2)
    name, percent = re.match(r"(\S+) (\d+)%", top).groups()
    assert name == "sleep" and int(percent) >= 90


@pytest.mark.parametrize("key, label", [
    (("~", 0, "<built-in method torch._C._fft.fft_rfftn>"), "fft_rfftn"),
    (("~", 0, "<method 'sort' of 'numpy.ndarray' objects>"), "ndarray.sort"),
    (("~", 0, "<built-in function sleep>"), "sleep"),
    (("/x/denoisebench/denoisers/_shrink.py", 43, "_hard"), "_shrink._hard"),
])
def test_profile_labels(key, label):
    assert _label(key) == label


def test_noisy_batch_is_the_seeded_dataset_plus_sigma_noise():
    from denoisebench import add_noise, make_dataset

    x, y = noisy_batch("natural", 16, 3)
    expected = make_dataset("natural", size=16).sample(3, 0)
    np.testing.assert_array_equal(x, expected)
    np.testing.assert_array_equal(y, add_noise(expected, SIGMA, 0))


# -- the quick report -------------------------------------------------------------------------
@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    out = tmp_path_factory.mktemp("perf") / "performance.md"
    result = run_perf(quick=True, out=str(out), denoisers=QUICK_DENOISERS, command="denoisebench perf --quick")
    return out, result["results"]


def _tables(text):
    """Every markdown table of ``text`` as a list of rows of cells (header first, separator dropped)."""
    tables, current = [], []
    for line in text.splitlines() + [""]:
        if line.startswith("|"):
            current.append([c.strip() for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]])
        elif current:
            tables.append([r for r in current if not all(set(c) <= {"-"} for c in r)])
            current = []
    return tables


def test_quick_report_is_well_formed(quick):
    out, results = quick
    text = out.read_text()
    headings = ("# Performance on the CPU", "## Machine", "## Against the peers",
                "## Throughput per denoiser", "## Sampler", "## Fourier-diagonal filter against the copy bandwidth")
    for heading in headings:
        assert heading in text
    assert "`denoisebench perf --quick`" in text and "1.6×" in text and "Quick mode" in text
    tables = _tables(text)
    torch = 1 if results.get("torch_cpu") else 0
    assert len(tables) == 5 + torch  # machine, peers, threads of the peers, throughput, [torch-CPU,] sampler
    for table in tables:
        assert len({len(row) for row in table}) == 1, f"ragged table {table[0]}"
    throughput = next(t for t in tables if t[0][0] == "denoiser" and len(t[0]) > 2)
    assert [row[0] for row in throughput[1:]] == [f"`{n}`" for n in QUICK_DENOISERS]
    for row in throughput[1:]:
        assert all(float(c.replace(",", "")) > 0 for c in row[1:3])  # images/s at both sizes
    assert (out.parent / "gpu.md").read_text().count("Not measured yet") == 1


def test_machine_is_described(quick):
    _, results = quick
    with open("/proc/cpuinfo") as f:
        model = re.search(r"^model name\s*:\s*(.+)$", f.read(), re.M)
    if model:
        assert results["machine"]["CPU"] == model.group(1).strip()
    assert results["machine"]["numpy"] == np.__version__
    assert results["machine"]["logical cores"] >= 1


def test_peer_ratios_are_the_measured_rates(quick):
    _, results = quick
    measured = [p for p in results["peers"] if "missing" not in p]
    assert measured, "no peer measured"
    for p in measured:
        spread = p["spread"]
        assert spread["rounds"] >= 3 and len(spread["ratios"]) == spread["rounds"]
        assert p["ratio"] == pytest.approx(float(np.median(spread["ratios"])), rel=1e-12)
        assert spread["min"] <= spread["q1"] <= p["ratio"] <= spread["q3"] <= spread["max"]
        assert p["ours"] > 0 and p["peer"] > 0
        if "psnr_ours" in p:
            assert p["psnr_diff"] == pytest.approx(p["psnr_ours"] - p["psnr_peer"], abs=1e-12)


def test_skimage_psnr_matches_an_independent_run(quick):
    """The reported skimage PSNR is skimage's on the same seeded images, computed here directly."""
    skimage_restoration = pytest.importorskip("skimage.restoration")
    _, results = quick
    row = next(p for p in results["peers"] if "BayesShrink" in p["comparison"] and "`wavelet`" in p["comparison"])
    n, _, side, _ = row["shape"]
    x, y = noisy_batch("natural", side, n)
    levels = int(re.search(r"(\d+) levels", row["comparison"]).group(1))
    out = np.stack([skimage_restoration.denoise_wavelet(im, sigma=SIGMA, wavelet="db4", mode="soft",
                                                         method="BayesShrink", wavelet_levels=levels,
                                                         rescale_sigma=False) for im in y[:, 0]])
    mse = np.mean((out.astype(np.float64) - x[:, 0]) ** 2)
    assert row["psnr_peer"] == pytest.approx(10 * math.log10(1 / mse), abs=1e-6)


def test_fourier_efficiency_is_effective_over_copy_bandwidth(quick):
    _, results = quick
    f = results["fourier"]
    n, _, h, w = f["shape"]
    assert f["gbps"] == pytest.approx(2 * 4 * n * h * w * f["images_per_s"] / n / 1e9, rel=1e-9)
    assert f["percent"] == pytest.approx(100 * f["gbps"] / results["bandwidth"], rel=1e-9)


# -- command line -----------------------------------------------------------------------------
@pytest.mark.parametrize("args, message", [
    (["--backend", "nosuch"], "invalid choice"),
    (["--denoisers", "nosuch"], "unknown denoiser 'nosuch'"),
])
def test_cli_errors_are_one_line(args, message, capsys, tmp_path):
    assert main(["perf", "--quick", "--out", str(tmp_path / "p.md"), *args]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err
    assert not (tmp_path / "p.md").exists()


def test_cli_refuses_an_absent_gpu(capsys, tmp_path):
    from denoisebench._array_api import backend_available

    if backend_available("cupy"):
        pytest.skip("cupy is available here")
    assert main(["perf", "--quick", "--backend", "cupy", "--out", str(tmp_path / "g.md")]) == 2
    assert "backend 'cupy' is not available here" in capsys.readouterr().err


# -- on a GPU ---------------------------------------------------------------------------------
def _gpu_backends():
    from denoisebench._array_api import backend_available

    return [pytest.param(b, d, marks=[pytest.mark.gpu, pytest.mark.skipif(not backend_available(b, d),
                                                                             reason=f"{b} on {d} not available")])
            for b, d in (("torch", "cuda"), ("cupy", None))]


@pytest.mark.parametrize("backend, device", _gpu_backends())
def test_quick_gpu_report(backend, device, tmp_path):
    out = tmp_path / "gpu.md"
    results = run_perf(backend, device, quick=True, out=str(out), denoisers=QUICK_DENOISERS + ["unet"])["results"]
    text = out.read_text()
    assert results["machine"]["GPU"] in text and "## U-Net inference with and without AMP" in text
    assert results["bandwidth"] > 0 and 0 < results["fourier"]["percent"]
    assert not (tmp_path / "performance.md").exists()


def test_a_missing_peer_is_said_plainly(quick, monkeypatch):
    """A peer package that is not importable gives a line saying so, not a crash or a silent gap."""
    import denoisebench.perf.peers as peers
    from denoisebench.perf.report import cpu_markdown

    monkeypatch.setattr(peers, "COMPARISONS", {"curvelet": ("no_such_module_here", peers.curvelet_vs_udct)})
    rows = peers.compare_all(quick=True)
    assert rows == [{"comparison": "curvelet",
                     "missing": "the `no_such_module_here` package is not importable here "
                                "(pip install no_such_module_here): not measured"}]
    text = cpu_markdown({**quick[1], "peers": rows})
    assert "- curvelet: the `no_such_module_here` package is not importable here" in text


@pytest.mark.parametrize("n", [1, 3])
def test_limit_threads_sets_and_restores_every_pool(n, monkeypatch):
    """scipy.fft's default workers, the workers our numpy FFTs pass, BLAS/OpenMP and torch: all n inside."""
    torch = pytest.importorskip("torch")
    threadpoolctl = pytest.importorskip("threadpoolctl")
    import scipy.fft

    from denoisebench._array_api import _scipy_fft, fft_of
    from denoisebench.perf.machine import limit_threads, thread_settings

    def pools():
        return [p["num_threads"] for p in threadpoolctl.threadpool_info()]

    before = torch.get_num_threads(), pools(), scipy.fft.get_workers(), _scipy_fft()._workers
    passed = []
    monkeypatch.setattr(_scipy_fft()._fft, "rfftn", lambda x, axes=None, workers=None: passed.append(workers))
    with limit_threads(n):
        assert torch.get_num_threads() == n and scipy.fft.get_workers() == n
        assert pools() and all(t == n for t in pools())
        fft_of(np).rfftn(np.zeros((37, 31)))
        assert passed == [n]
        t = thread_settings()
        assert (t["scipy.fft workers, ours"], t["scipy.fft workers, default"], t["torch threads"]) == (n, n, n)
    assert (torch.get_num_threads(), pools(), scipy.fft.get_workers(), _scipy_fft()._workers) == before


def test_limit_threads_without_threadpoolctl_says_what_to_install(monkeypatch):
    import sys

    from denoisebench.perf.machine import limit_threads

    monkeypatch.setitem(sys.modules, "threadpoolctl", None)  # import fails as if not installed
    with pytest.raises(RuntimeError, match="needs threadpoolctl.*pip install threadpoolctl.*--threads 0"):
        with limit_threads(1):
            pass
    with limit_threads(0):  # the libraries' defaults need nothing
        pass


@pytest.mark.parametrize("bad", [-1, 1.5, True, "2"])
def test_limit_threads_rejects_a_bad_count(bad):
    from denoisebench.perf.machine import limit_threads

    with pytest.raises(ValueError, match=f"threads must be an integer >= 0 or None; got {bad!r}"):
        with limit_threads(bad):
            pass


def test_the_report_states_the_threads_used(quick):
    out, results = quick
    assert results["machine"]["torch threads"] == 1
    assert results["machine"]["scipy.fft workers, ours"] == results["machine"]["scipy.fft workers, default"] == 1
    assert "BLAS/OpenMP threads" in results["machine"]
    threads = next(t for t in _tables(out.read_text()) if t[0] == ["comparison", "ours", "peer"])
    for _, ours, peer in threads[1:]:
        assert ours.startswith("scipy.fft workers 1, BLAS/OpenMP ") and ", torch 1" in ours
        assert peer.startswith("scipy.fft workers 1, BLAS/OpenMP ")
        assert "looped per image" in peer or "the FFT floor" in peer  # the floor: our own FFTs, batched


def test_interleaved_timings_alternate():
    from denoisebench.perf import interleaved_seconds

    order = []
    (ta, a), (tb, b) = interleaved_seconds([lambda: order.append("a") or "A", lambda: order.append("b") or "B"],
                                           repeats=3, warmups=[lambda: order.append("wa"), None])
    assert order == ["wa", "b", "a", "b", "a", "b", "a", "b"] and (a, b) == ("A", "B")


# -- rounds and their spread, on a fake clock ---------------------------------------------------
class FakeClock:
    """A clock that moves only when a fake call says how long it took."""

    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now

    def call(self, seconds, name, order):
        def fn():
            order.append(name)
            self.now += seconds() if callable(seconds) else seconds
            return name
        return fn


#: Per round, the peer takes this many times our 10 ms: median 4, min 2, max 6, IQR 3–5.
PEER_OVER_OURS = [2.0, 6.0, 4.0, 3.0, 5.0]


def _fake_rounds(calls=2):
    from denoisebench.perf.timing import alternated_rounds

    clock, order = FakeClock(), []

    def peer_seconds():  # the call being made is already in ``order``
        return 0.01 * PEER_OVER_OURS[(order.count("peer") - 1) // calls]

    fns = [clock.call(0.01, "ours", order), clock.call(peer_seconds, "peer", order)]
    warm = [clock.call(5.0, "warm ours", order), clock.call(7.0, "warm peer", order)]
    times, outs = alternated_rounds(fns, rounds=5, calls=calls, warmups=warm, clock=clock)
    return times, outs, order


def test_rounds_alternate_and_time_each_call_on_the_clock():
    times, outs, order = _fake_rounds(calls=2)
    assert order == ["warm ours", "warm peer"] + ["ours", "peer"] * 10 and outs == ["ours", "peer"]
    np.testing.assert_allclose(times[0], [0.01] * 5)  # warm-ups untimed
    np.testing.assert_allclose(times[1], [0.01 * r for r in PEER_OVER_OURS])


@pytest.mark.parametrize("target, verdict", [(10.0, "missed"), (4.5, "⚠ crosses"), (2.0, "met"), (None, "—")])
def test_ratio_spread_of_known_rounds(target, verdict):
    from denoisebench.perf.timing import ratio_spread

    times, _, _ = _fake_rounds()
    s = ratio_spread(times[1], times[0], target)
    assert s["ratios"] == pytest.approx(PEER_OVER_OURS)
    assert (s["median"], s["min"], s["max"], s["q1"], s["q3"]) == pytest.approx((4.0, 2.0, 6.0, 3.0, 5.0))
    assert s["rounds"] == 5 and s["verdict"] == verdict


def test_rounds_stop_at_the_budget_but_not_before_min_rounds():
    from denoisebench.perf.timing import alternated_rounds

    clock, order = FakeClock(), []
    times, _ = alternated_rounds([clock.call(1.0, "a", order)], rounds=10, calls=2, budget=0.5, min_rounds=3,
                                 clock=clock)
    assert len(times[0]) == 3 and order.count("a") == 1 + 3 * 2


@pytest.mark.parametrize("slow, fast, message", [
    ([1.0], [1.0, 2.0], "equal-length"), ([], [], "non-empty"), ([1.0, 0.0], [1.0, 1.0], "seconds > 0"),
    ([1.0, float("nan")], [1.0, 1.0], "seconds > 0"),
])
def test_ratio_spread_rejects_bad_timings(slow, fast, message):
    from denoisebench.perf.timing import ratio_spread

    with pytest.raises(ValueError, match=message):
        ratio_spread(slow, fast)


def test_the_report_flags_a_spread_across_its_target_and_shows_psnr_to_two_decimals(quick):
    """A fabricated row: ratios 8–12× against ≥ 10×, PSNRs 28.301 and 28.339 (a 0.04 dB deficit)."""
    from denoisebench.perf.report import cpu_markdown
    from denoisebench.perf.timing import ratio_spread

    spread = ratio_spread([8.0, 12.0, 10.5, 9.0, 11.0], [1.0] * 5, 10.0)
    row = {"comparison": "fake ti", "key": "ti", "shape": (8, 1, 256, 256), "ours": 80.0, "peer": 8.0,
           "ratio": spread["median"], "spread": spread, "target": "≥ 10× at no lower PSNR",
           "verdict": spread["verdict"], "note": "", "profile": "x 100%",
           "threads": {"ours": "scipy.fft workers 1", "peer": "scipy.fft workers 1; cycle_spin"},
           "psnr_ours": 28.301, "psnr_peer": 28.339, "psnr_diff": 28.301 - 28.339}
    text = cpu_markdown({**quick[1], "peers": [row]})
    table = next(t for t in _tables(text) if t[0][0] == "comparison" and "verdict" in t[0])
    cells = dict(zip(table[0], table[1]))
    assert (cells["ratio (median)"], cells["min–max"], cells["IQR"]) == ("10.5×", "8.00×–12.0×", "9.00×–11.0×")
    assert cells["rounds"] == "5" and cells["verdict"] == "⚠ crosses"
    psnrs = cells["PSNR ours (dB)"], cells["PSNR peer (dB)"], cells["ours − peer (dB)"]
    assert psnrs == ("28.30", "28.34", "-0.04")
    assert ("⚠ fake ti, (8, 1, 256, 256): the ratio ran from 8.00× to 12.0× over 5 rounds, across its target ≥ 10×"
            in text)


# -- torch-CPU against numpy ------------------------------------------------------------------------
def test_torch_cpu_rows_have_their_spread(quick):
    """One row per denoiser and quick size, each with per-round ratios (torch seconds / numpy seconds),
    its median and min–max, a verdict consistent with ≤ 1.3×, outputs equal to float32 rounding."""
    pytest.importorskip("torch")
    from denoisebench.perf.measure import MODES
    from denoisebench.perf.torch_cpu import TARGET

    out, results = quick
    rows = results["torch_cpu"]
    sizes = MODES["quick"]["sizes"]
    assert [(r["denoiser"], r["shape"]) for r in rows] == [(n, (b, 1, s, s)) for n in QUICK_DENOISERS for s, b in sizes]
    for r in rows:
        s = r["spread"]
        assert s["rounds"] >= 2 and len(s["ratios"]) == s["rounds"] and s["target"] == TARGET and s["at_most"]
        assert s["min"] <= s["median"] <= s["max"] and s["median"] == pytest.approx(float(np.median(s["ratios"])))
        assert s["verdict"] == ("met" if s["max"] <= TARGET else "missed" if s["min"] > TARGET else "⚠ crosses")
        assert r["numpy_ms"] > 0 and r["torch_ms"] > 0
        assert r["max_abs_diff"] < 1e-5  # one code path: the two backends agree to float32 rounding
    table = next(t for t in _tables(out.read_text()) if t[0][:2] == ["denoiser", "batch"])
    assert len(table) == len(rows) + 1 and "torch / numpy (median)" in table[0]


def test_ratio_spread_at_most_judges_an_upper_bound():
    from denoisebench.perf.timing import ratio_spread

    verdicts = [ratio_spread(slow, [1.0, 1.0, 1.0], 1.3, at_most=True)["verdict"]
                for slow in ([1.0, 1.2, 1.3], [1.31, 1.5, 2.0], [1.0, 1.2, 1.4])]
    assert verdicts == ["met", "missed", "⚠ crosses"]


def test_torch_cpu_skips_torch_only_denoisers():
    pytest.importorskip("torch")
    from denoisebench.perf.measure import build_for_timing
    from denoisebench.perf.torch_cpu import compare_torch_cpu

    rows = compare_torch_cpu(["unet", "skimage-wavelet"], [(16, 2)], build_for_timing, quick=True)
    assert [r["missing"] for r in rows] == ["torch only", "numpy inside (scikit-image)"]


def test_two_runs_compared_by_their_spreads(tmp_path):
    """--compare: a ratio of the earlier run inside this run's min–max is "yes", outside "no";
    the change is median / previous − 1 (hand-computed numbers); a file without ratios is refused."""
    import json

    from denoisebench.perf import reproduce
    from denoisebench.perf.timing import ratio_spread

    def run(peer_secs, torch_secs):
        return {"started": "t0", "command": "c",
                "peers": [{"comparison": "a vs b", "shape": [2, 1, 8, 8], "spread": ratio_spread(peer_secs, [1, 1, 1])}],
                "torch_cpu": [{"denoiser": "wiener", "shape": [2, 1, 8, 8], "spread": ratio_spread(torch_secs, [1, 1, 1])}]}

    before, now = run([4, 5, 6], [1.0, 1.1, 1.2]), run([5, 6, 7], [1.5, 1.6, 1.7])
    rows = reproduce.compare_runs(before, now)
    assert [(r["kind"], r["inside"]) for r in rows] == [("peer", True), ("torch-CPU / numpy", False)]
    assert rows[0]["change"] == pytest.approx(6 / 5 - 1) and rows[1]["change"] == pytest.approx(1.6 / 1.1 - 1)
    text = "\n".join(reproduce.markdown(rows, before))
    assert "1 of 2 ratios" in text and "| yes |" in text and "| no |" in text
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"machine": {}}))
    with pytest.raises(ValueError, match="no perf ratios"):
        reproduce.load_run(str(bad))


def test_every_comparison_has_full_and_quick_shapes_and_a_target():
    """A comparison missing from the full shapes failed only in a full run (a KeyError found by one)."""
    from denoisebench.perf.peers import PEER_OWN, SHAPES, TARGETS

    assert set(SHAPES["full"]) == set(SHAPES["quick"]) == set(TARGETS) == set(PEER_OWN)
