"""Reports: denoiser families, the gap panel against hand-computed dB, typed data out
(``load_results``, ``json_rows``), no negative zero in print, concurrent writers."""
from __future__ import annotations

import csv
import io
import json
import math
import multiprocessing
import os
import re
import sys

import numpy as np
import pytest

from denoisebench import Denoiser
from denoisebench.report import _rows
from denoisebench.report._figures import FAMILIES, denoiser_family, mse_figure
from denoisebench.registry import _DENOISERS
from denoisebench.report import csv_text, format_number, json_rows, table_markdown, write_outputs

DB2 = 10 * math.log10(2)  # 3.0103 dB: a factor 2 in MSE


def _row(denoiser, sigma, mse, dataset="gaussian", size="37x31", **extra):
    """A finished row as the store returns it; ``mse`` sets psnr, the optimum sets gap_db."""
    row = dict(dataset=dataset, denoiser=denoiser, sigma=sigma, n=4, seed=0, size=size, mse=mse,
               mse_stderr=0.0, psnr=-10 * math.log10(mse), gain_db=10 * math.log10(sigma ** 2 / mse),
               optimal_mse=None, optimal_stderr=None, gap_db=None, seconds=0.01, backend="numpy",
               device="cpu", dtype="float64", bound=False, n_train=0, sure=0, sure_mse=None,
               sure_stderr=None, status="done", reason=None)
    row.update(extra)
    if row["optimal_mse"] is not None and row["gap_db"] is None:
        row["gap_db"] = 10 * math.log10(mse / row["optimal_mse"])
    return row


# -- families -----------------------------------------------------------------------------------
EXPECTED_FAMILY = {
    "identity": "baseline", "wiener": "linear", "wiener-oracle": "linear", "optimal": "posterior means",
    "empirical": "posterior means", "wavelet": "thresholding", "wavelet-ti": "thresholding",
    "curvelet": "thresholding", "oracle-curvelet": "oracle bounds", "oracle-wavelet": "oracle bounds",
    "oracle-fourier": "oracle bounds", "skimage-wavelet": "peers", "bm3d": "peers", "unet": "learned",
    "deepinv": "peers", "torchscript": "peers", "ffdnet": "peers",
}


def _package_denoisers():
    return sorted(n for n, c in _DENOISERS.items() if c.__module__.startswith("denoisebench."))


@pytest.mark.parametrize("name", _package_denoisers())
def test_every_registered_denoiser_has_a_family(name):
    family = denoiser_family(name)
    assert family in FAMILIES, f"{name!r} falls through to {family!r}: add a rule to FAMILY_RULES"
    if name in EXPECTED_FAMILY:
        assert family == EXPECTED_FAMILY[name]
    cls = _DENOISERS[name]
    assert denoiser_family(cls) == family  # a class maps like its name
    if cls.bound:
        assert family == "oracle bounds"


@pytest.mark.parametrize("spec, family", [
    ("wavelet:mode=hard", "thresholding"), ("wavelet-ti:levels=3", "thresholding"),
    ("wiener:eps=0.001", "linear"), (" unet:weights=x.safetensors", "learned"), ("shrink-sure", "thresholding"),
    ("nosuch", "other"),
])
def test_family_of_specs_and_unknown_names(spec, family):
    assert denoiser_family(spec) == family


def test_family_from_class_attributes():
    class Bound(Denoiser):
        bound = True

    class Learner(Denoiser):
        learns = True

    class Declared(Denoiser):
        family = "peers"

    assert denoiser_family(Bound) == "oracle bounds"
    assert denoiser_family(Learner()) == "learned"  # an instance maps like its class
    assert denoiser_family(Declared) == "peers"
    assert denoiser_family(Denoiser) == "other"


# -- the gap panel -------------------------------------------------------------------------------
def _lines(ax):
    return {line.get_label(): line for line in ax.get_lines()}


def test_gap_panel_is_the_gap_to_the_optimum_in_db():
    opt = {0.1: 0.004, 0.2: 0.01}
    rows = [_row("wiener", s, 2 * m, optimal_mse=m, optimal_stderr=0.0) for s, m in opt.items()]
    rows += [_row("oracle-wavelet", s, m / 2, optimal_mse=m, optimal_stderr=0.0, bound=True) for s, m in opt.items()]
    rows += [_row("optimal", 0.1, 0.004 * 10 ** 0.0005, optimal_mse=0.004, optimal_stderr=0.0)]
    kind, gaps = _rows.gaps(rows)
    assert kind == _rows.REF_OPTIMUM
    assert gaps["wiener"] == pytest.approx({0.1: DB2, 0.2: DB2}, abs=1e-12)
    assert gaps["oracle-wavelet [bound]"] == pytest.approx({0.1: -DB2, 0.2: -DB2}, abs=1e-12)
    assert gaps["optimal"] == pytest.approx({0.1: 0.005}, abs=1e-12)
    fig = mse_figure(rows)
    ax_mse, ax_gap = fig.axes[:2]
    drawn = _lines(ax_gap)
    np.testing.assert_allclose(drawn["wiener"].get_xdata(), [0.1, 0.2])
    np.testing.assert_allclose(drawn["wiener"].get_ydata(), [DB2, DB2], atol=1e-12)
    np.testing.assert_allclose(drawn["oracle-wavelet [bound]"].get_ydata(), [-DB2, -DB2], atol=1e-12)
    assert drawn["optimum (MMSE)"].get_ydata()[0] == 0  # the gap panel's 0 line
    np.testing.assert_allclose(_lines(ax_mse)["optimum (MMSE)"].get_ydata(), [0.004, 0.01])
    assert drawn["optimal"].get_linestyle() == "None" and drawn["optimal"].get_marker()  # markers only
    assert ax_gap.get_xscale() == "log" and ax_mse.get_yscale() == "log"


def test_gap_panel_without_an_optimum_is_relative_to_the_best_denoiser():
    rows = [_row("wavelet", 0.1, 0.002, dataset="disks"), _row("wavelet", 0.2, 0.004, dataset="disks"),
            _row("wiener", 0.1, 0.001, dataset="disks"), _row("wiener", 0.2, 0.008, dataset="disks"),
            _row("oracle-fourier", 0.1, 0.0001, dataset="disks", bound=True),  # a bound is never the reference
            _row("oracle-fourier", 0.2, 0.0004, dataset="disks", bound=True)]
    kind, gaps = _rows.gaps(rows)
    assert kind == _rows.REF_BEST
    assert gaps["wavelet"] == pytest.approx({0.1: DB2, 0.2: 0.0}, abs=1e-12)
    assert gaps["wiener"] == pytest.approx({0.1: 0.0, 0.2: DB2}, abs=1e-12)
    assert gaps["oracle-fourier [bound]"] == pytest.approx({0.1: -10.0, 0.2: -10.0}, abs=1e-12)
    ax_gap = mse_figure(rows).axes[1]
    np.testing.assert_allclose(_lines(ax_gap)["wiener"].get_ydata(), [0.0, DB2], atol=1e-12)
    assert "best" in ax_gap.get_ylabel() and "no optimum" in ax_gap.get_title()


def test_optimum_band_is_two_standard_errors_in_both_panels():
    rows = [_row("wiener", 0.1, 0.02, optimal_mse=0.01, optimal_stderr=0.001)]
    ax_mse, ax_gap = mse_figure(rows).axes[:2]
    (band_mse,), (band_gap,) = ax_mse.collections, ax_gap.collections
    assert band_mse.get_label() == band_gap.get_label() == "optimum ± 2 s.e."
    y = band_mse.get_paths()[0].vertices[:, 1]
    assert y.min() == pytest.approx(0.008) and y.max() == pytest.approx(0.012)
    y = band_gap.get_paths()[0].vertices[:, 1]
    assert y.min() == pytest.approx(10 * math.log10(0.8)) and y.max() == pytest.approx(10 * math.log10(1.2))


# -- no negative zero ----------------------------------------------------------------------------
@pytest.mark.parametrize("value, spec, text", [
    (-0.001, ".2f", "0.00"), (-0.001, "+.2f", "+0.00"), (-0.0, ".2f", "0.00"), (np.float32(-1e-4), ".2f", "0.00"),
    (-0.004, ".3g", "-0.004"), (-0.02, ".2f", "-0.02"), (0.001, "+.2f", "+0.00"), (3, "d", "3"),
    (None, ".2f", "—"), (float("nan"), ".2f", "—"),
])
def test_format_number_never_prints_negative_zero(value, spec, text):
    assert format_number(value, spec) == text


NEG_ZERO = re.compile(r"(?<![\w.])-0(\.0*)?(?![\d.eE])")


def test_no_negative_zero_in_table_or_csv():
    # rows built so that every printed column would round to -0.00: MSE just above 1 (PSNR −0.004),
    # just above the optimum (gap +0.001) and below it (gap −0.001), SURE a hair under the MSE, slope 0
    rows = [_row("identity", s, 1.001, optimal_mse=1.001 * 10 ** 0.0001, optimal_stderr=0.0,
                 sure=2, sure_mse=1.001 * 10 ** -0.0001, sure_stderr=0.0, gain_db=-0.0) for s in (0.5, 1.0)]
    table, text = table_markdown(rows), csv_text(rows)
    assert "-0.00" not in table and "+0.00 ± 0.00" in table and "| 0.00 |" in table
    assert not NEG_ZERO.search(text), text
    for record in csv.DictReader(io.StringIO(text)):
        assert record["gain_db"] == "0.0"
    assert all(not (isinstance(v, float) and math.copysign(1, v) < 0 and v == 0)
               for r in json_rows(rows) for v in r.values())


# -- json_rows -------------------------------------------------------------------------------------
def test_json_rows_are_typed():
    rows = [_row("wiener", 0.1, 0.02, size="37x31", optimal_mse=0.01, optimal_stderr=0.0, n_train=8),
            _row("wiener", 0.1, 0.02, size="32", dataset="disks", mse_stderr=float("nan")),
            _row("identity", 0.1, 0.01, size="", dataset="natural"),
            dict(_row("wiener", 0.2, 0.5, dataset="disks"), status="not_applicable")]
    out = json.loads(json.dumps(json_rows(rows), allow_nan=False))
    assert [r["size"] for r in out] == [[37, 31], 32, None]  # [height, width] unless square; None: no size
    first = out[0]
    assert first["gap_db"] == pytest.approx(DB2) and first["n_train"] == 8 and first["bound"] is False
    for r in out:
        assert all(type(r[c]) is int for c in ("n", "seed", "n_train", "sure"))
        assert all(r[c] is None or type(r[c]) is float
                   for c in ("sigma", "mse", "mse_stderr", "psnr", "optimal_mse", "gap_db", "slope", "seconds"))
    assert out[1]["mse_stderr"] is None and out[1]["optimal_mse"] is None


# -- load_results -----------------------------------------------------------------------------------
EXPECTED_DTYPES = {
    "dataset": "category", "denoiser": "category", "sigma": "float64", "n": "Int64", "seed": "Int64",
    "size": "string", "mse": "float64", "mse_stderr": "float64", "psnr": "float64", "gain_db": "float64",
    "optimal_mse": "float64", "optimal_stderr": "float64", "gap_db": "float64", "slope": "float64",
    "seconds": "float64", "backend": "category", "device": "category", "dtype": "category", "bound": "bool",
    "n_train": "Int64", "sure": "Int64", "sure_mse": "float64", "sure_stderr": "float64",
    "psnr_images": "float64", "protocol": "category",
}


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A tiny real run at an odd size: gaussian (optimum known) and disks (unknown, one cell n/a)."""
    from denoisebench.cli import main

    out = str(tmp_path_factory.mktemp("run"))
    assert main(["run", "--datasets", "gaussian", "disks", "--denoisers", "identity", "wiener-oracle",
                 "--sigmas", "0.05,0.2", "--n", "3", "--size", "37x31", "--out", out]) == 0
    return out


def test_load_results_types_and_csv_round_trip(run_dir):
    pd = pytest.importorskip("pandas")
    from denoisebench.report.results import load_results

    df = load_results(run_dir)
    assert {c: str(t) for c, t in df.dtypes.items()} == EXPECTED_DTYPES
    assert len(df) == 6  # gaussian: 2 denoisers × 2 σ; disks: identity × 2 σ (wiener-oracle n/a)
    assert set(df["size"]) == {"37x31"} and not df["bound"].any()
    disks = df[df["dataset"] == "disks"]
    assert disks["optimal_mse"].isna().all() and df["sure_mse"].isna().all()
    # identity: MSE = σ² up to the noise draw, slope 2
    ident = df[df["denoiser"] == "identity"]
    np.testing.assert_allclose(ident["mse"], ident["sigma"] ** 2, rtol=0.1)
    np.testing.assert_allclose(ident["slope"], 2.0, atol=1e-9)
    raw = pd.read_csv(os.path.join(run_dir, "results.csv"), dtype={"size": str, "protocol": str})
    raw["protocol"] = raw["protocol"].fillna("")  # '' (float images as drawn) is an empty CSV cell
    assert list(raw.columns) == list(df.columns)
    for c in df.columns:
        if EXPECTED_DTYPES[c] == "float64":
            assert np.array_equal(df[c].to_numpy(), raw[c].to_numpy(float), equal_nan=True), c  # bit for bit
        else:
            assert df[c].astype(str).str.lower().tolist() == raw[c].astype(str).str.lower().tolist(), c


def test_load_results_without_pandas_says_how_to_install(tmp_path, monkeypatch):
    from denoisebench.report.results import load_results

    monkeypatch.setitem(sys.modules, "pandas", None)  # import pandas → ImportError
    with pytest.raises(ImportError, match=r"pip install 'denoisebench\[pandas\]'"):
        load_results(tmp_path)  # said before the store is looked at


def test_load_results_of_a_directory_without_a_store(tmp_path):
    from denoisebench.report.results import load_results

    pytest.importorskip("pandas")
    with pytest.raises(FileNotFoundError, match="results"):
        load_results(tmp_path)


# -- concurrent writers -----------------------------------------------------------------------------
def test_concurrent_reports_on_one_directory_all_succeed(run_dir):
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(8) as pool:  # 16 reports by 8 processes; before: shared temp names, spurious failures
        paths = pool.map(write_outputs, [run_dir] * 16, chunksize=1)
    assert all(p["plot"] == os.path.join(run_dir, "mse_vs_sigma.png") for p in paths)
    names = sorted(os.listdir(run_dir))
    assert [n for n in names if n.endswith(".tmp") or ".tmp" in n] == []  # no temp file left behind
    with open(os.path.join(run_dir, "mse_vs_sigma.png"), "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    from matplotlib.image import imread

    assert imread(os.path.join(run_dir, "mse_vs_sigma.png")).ndim == 3  # a whole, decodable PNG
    with open(os.path.join(run_dir, "results.csv")) as f:
        assert len(list(csv.DictReader(f))) == 6
    with open(os.path.join(run_dir, "table.md")) as f:
        assert f.read().startswith("# denoisebench results")


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temp(tmp_path):
    from denoisebench.report import _atomic_write

    target = tmp_path / "table.md"
    target.write_text("old")

    def broken(tmp):
        with open(tmp, "w") as f:
            f.write("half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        _atomic_write(target, broken)
    assert target.read_text() == "old" and os.listdir(tmp_path) == ["table.md"]


def test_temporaries_of_killed_writers_are_removed(tmp_path):
    import subprocess

    from denoisebench.report import _remove_stale_temporaries

    proc = subprocess.Popen([sys.executable, "-c", "pass"])  # a process id that has ended
    proc.wait()
    dead, live, hour = proc.pid, os.getpid(), 3600
    files = {f".table.md.{dead}-0123456789ab.tmp": (2 * hour, False),      # stale: removed
             f".table.md.{dead}-0123456789ac.tmp": (60, True),             # recent: maybe still renamed
             f".table.md.{live}-0123456789ad.tmp": (2 * hour, True),       # its writer still runs
             f".notes.txt.{dead}-0123456789ae.tmp": (2 * hour, True),      # not one of our outputs
             "table.md": (2 * hour, True)}
    for name, (age, _) in files.items():
        (tmp_path / name).write_text("x")
        os.utime(tmp_path / name, (os.path.getmtime(tmp_path / name) - age,) * 2)
    _remove_stale_temporaries(tmp_path, {"table.md", "results.csv"})
    assert sorted(os.listdir(tmp_path)) == sorted(n for n, (_, kept) in files.items() if kept)


# -- the published protocol: σ in 8-bit units, the protocol stated, mean PSNR over images ---------------
FOLDER = "folder:color=rgb,crop=0,path=/data/photos"  # whole images: the papers' protocol table


def _group_lines(table, start):
    """The lines of ``table`` from the first one starting with ``start`` to the next blank line."""
    lines = table.splitlines() + [""]
    i = next(k for k, line in enumerate(lines) if line.startswith(start))
    return lines[i:lines.index("", i)]


def _cells(table_lines, label):
    """The cells of the row ``label`` of a markdown table."""
    row = next(line for line in table_lines if line.startswith(f"| {label} |"))
    return [c.strip() for c in row.strip("|").split("|")][1:]


def test_sigmas_in_255ths_are_shown_in_8bit_units():
    rows = [_row("wavelet", k / 255, (k / 255) ** 2 / 4) for k in (15, 25)]
    table = table_markdown(rows)
    header = _group_lines(table, "| denoiser")[0]
    assert header == "| denoiser | σ=15/255 | σ=25/255 | slope | s/call |"
    assert "8-bit units" in table  # the preamble says so
    ax = mse_figure(rows).axes[0]
    np.testing.assert_allclose(_lines(ax)["wavelet"].get_xdata(), [15, 25], atol=1e-9)  # x in units of 1/255
    assert "8-bit" in ax.get_xlabel()


@pytest.mark.parametrize("sigmas, headers", [
    ((15 / 255, 0.1), ["σ=0.0588235", "σ=0.1"]),  # one σ not k/255: decimals
    ((0.2, 0.4), ["σ=0.2", "σ=0.4"]),  # 51/255 and 102/255, but short decimals as given: decimals
])
def test_other_sigmas_keep_decimal_headers(sigmas, headers):
    rows = [_row("wavelet", s, s ** 2 / 4) for s in sigmas]
    table = table_markdown(rows)
    assert _group_lines(table, "| denoiser")[0] == "| denoiser | " + " | ".join(headers) + " | slope | s/call |"
    assert "/255" not in table and "8-bit units" not in table
    ax = mse_figure(rows).axes[0]
    np.testing.assert_allclose(_lines(ax)["wavelet"].get_xdata(), sigmas)
    assert ax.get_xlabel() == "σ"


def test_units_255_tolerance():
    assert _rows.units_255([15 / 255 + 1e-13, 50 / 255])  # float noise of a fraction still counts
    assert not _rows.units_255([15 / 255 + 1e-8])  # 255·σ off an integer by 2.6e-6
    assert not _rows.units_255([])


def test_protocol_is_stated_in_the_group_heading_and_splits_groups():
    rows = [_row("wavelet", 25 / 255, 0.001, protocol="8bit"), _row("wavelet", 25 / 255, 0.0011, protocol="")]
    table = table_markdown(rows)
    headings = [line for line in table.splitlines() if line.startswith("## ")]
    assert len(headings) == 2  # one group per protocol
    sentence = "clean images quantised to 8 bits, estimates clipped to [0, 1] (as published tables)"
    assert headings[0].endswith("; " + sentence)
    assert "quantised" not in headings[1] and "protocol" not in headings[1]
    assert [r["protocol"] for r in json_rows(rows)] == ["8bit", ""]
    assert [r["protocol"] for r in csv.DictReader(io.StringIO(csv_text(rows)))] == ["8bit", ""]


def test_whole_images_get_the_mean_psnr_over_images():
    # per-image MSEs of 4 images of different sizes: the papers average PSNRs, not MSEs
    per_image = {15 / 255: [1e-4, 4e-4, 2e-3, 5e-4], 25 / 255: [3e-4, 9e-4, 4e-3, 1e-3]}
    rows = []
    for s, m in per_image.items():
        papers = sum(10 * math.log10(1 / mi) for mi in m) / len(m)  # by hand: mean of 10·log10(1/MSE_i)
        rows.append(_row("bm3d", s, sum(m) / len(m), dataset=FOLDER, size="", psnr_images=papers, protocol="8bit"))
    table = table_markdown(rows)
    assert "size=whole images" in table
    means = _group_lines(table, "| denoiser")
    papers = _group_lines(table[table.index("Mean PSNR over images (the papers' protocol)"):], "| denoiser")
    assert means[0] == "| denoiser | σ=15/255 | σ=25/255 | slope | s/call |"
    assert papers[0] == "| denoiser | σ=15/255 | σ=25/255 |"
    # 15/255: mean MSE 7.5e-4 → 31.25 dB; mean of (40, 33.98, 26.99, 33.01) dB → 33.49 dB
    # 25/255: mean MSE 1.55e-3 → 28.10 dB; mean of (35.23, 30.46, 23.98, 30) dB → 29.92 dB
    assert _cells(means, "bm3d")[:2] == ["31.25", "28.10"]
    assert _cells(papers, "bm3d") == ["33.49", "29.92"]
    for r in json_rows(rows):  # and the column is typed in JSON and CSV
        assert type(r["psnr_images"]) is float
    record = next(csv.DictReader(io.StringIO(csv_text(rows))))
    assert float(record["psnr_images"]) == pytest.approx(33.49485, abs=1e-5)


def test_crops_get_no_papers_table():
    rows = [_row("bm3d", 25 / 255, 0.001, psnr_images=30.5, dataset="folder:color=rgb,path=/data/photos")]
    assert "Mean PSNR over images" not in table_markdown(rows)


def test_runner_psnr_images_is_the_mean_of_per_image_psnrs(tmp_path, monkeypatch):
    """End to end on whole 8-bit PNGs of different sizes: a denoiser returning 0 has MSE_i = mean(x_i²)."""
    imageio = pytest.importorskip("imageio.v3")
    from denoisebench import registry
    from denoisebench.grid import plan
    from denoisebench.grid.runner import clear_caches, evaluate_cell

    class Zero(Denoiser):
        name = "test-zero"

        def _denoise(self, y, sigma, xp):
            return xp.zeros_like(y)

    monkeypatch.setitem(registry._DENOISERS, "test-zero", Zero)
    rng = np.random.default_rng(3)
    images = {"a.png": rng.integers(0, 256, (37, 31, 3), dtype=np.uint8),
              "b.png": rng.integers(0, 128, (20, 24, 3), dtype=np.uint8)}
    for name, im in images.items():
        imageio.imwrite(tmp_path / name, im)
    clear_caches()
    try:
        (cell,) = plan([f"folder:path={tmp_path},color=rgb,crop=0"], ["test-zero"], [25 / 255], protocol="8bit",
                       dtype="float64")
        row = evaluate_cell(cell)
    finally:
        clear_caches()
    mse_i = [np.mean((im / 255.0) ** 2) for im in images.values()]
    assert row["psnr_images"] == pytest.approx(np.mean([10 * np.log10(1 / m) for m in mse_i]), abs=1e-9)
    assert row["psnr"] == pytest.approx(10 * np.log10(1 / np.mean(mse_i)), abs=1e-9)
    table = table_markdown([dict(row, slope=None)])
    papers = _group_lines(table[table.index("Mean PSNR over images"):], "| denoiser")
    assert _cells(papers, "test-zero") == [format_number(np.mean([10 * np.log10(1 / m) for m in mse_i]), ".2f")]


def test_a_dataset_with_an_optimum_plots_in_8bit_units(tmp_path):
    """σ all k/255 on a dataset with an exact optimum (the CI smoke run): the optimum band is drawn
    at 255·σ without looking σ up in scaled units (a KeyError before)."""
    from denoisebench.cli import main

    assert main(["run", "--datasets", "gaussian:size=16", "--denoisers", "wiener", "--sigmas", "15/255,0.2",
                 "--n", "2", "--out", str(tmp_path)]) == 0
    assert (tmp_path / "mse_vs_sigma.png").stat().st_size > 0
