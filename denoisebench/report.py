"""Reports from the results store: ``results.csv``, ``table.md`` and ``mse_vs_sigma.png``.

Everything here is a function of the stored rows alone, so ``denoisebench report
DIR`` rebuilds exactly what ``denoisebench run`` wrote.  Rows are grouped by
dataset and run settings (n, seed, size, backend, device, dtype): one table and
one plot panel per group.  Cells where a denoiser does not apply are kept in the
store but left out of the CSV, and named under their table.
"""
from __future__ import annotations

import csv
import io
import math
import os

from .metrics import loglog_slope, psnr
from .store import Store

__all__ = ["CSV_COLUMNS", "csv_text", "json_rows", "plot_mse", "table_markdown", "write_outputs"]

#: Columns of results.csv, in order.
CSV_COLUMNS = (
    "dataset", "denoiser", "sigma", "n", "seed", "size", "mse", "mse_stderr", "psnr", "gain_db",
    "optimal_mse", "optimal_stderr", "gap_db", "slope", "seconds", "backend", "device", "dtype", "bound", "n_train",
    "sure", "sure_mse", "sure_stderr",
)
GROUP = ("dataset", "n", "seed", "size", "backend", "device", "dtype")
FILES = {"csv": "results.csv", "table": "table.md", "plot": "mse_vs_sigma.png"}

_CSV_FORMAT = {bool: lambda v: str(v).lower(), float: repr, type(None): lambda v: ""}


def _finite_or_none(v):
    return None if isinstance(v, float) and math.isnan(v) else v


def _done(rows):
    """Finished rows, each with ``slope``: the log-log slope of MSE vs σ of its curve."""
    done = [dict(r) for r in rows if r["status"] == "done"]
    curves = {}
    for r in done:
        curves.setdefault(_curve_key(r), []).append(r)
    for curve in curves.values():
        slope = loglog_slope([r["sigma"] for r in curve], [r["mse"] for r in curve])
        for r in curve:
            r["slope"] = slope
    return done


def _curve_key(row):
    return tuple(row[c] for c in GROUP) + (row["denoiser"], row["n_train"])


# -- CSV and JSON ------------------------------------------------------------------
def csv_text(rows):
    """results.csv as text: the finished rows, :data:`CSV_COLUMNS`, empty cells for unknowns."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for row in _done(rows):
        writer.writerow(_csv_cell(_finite_or_none(row[c])) for c in CSV_COLUMNS)
    return out.getvalue()


def _csv_cell(value):
    return _CSV_FORMAT.get(type(value), str)(value)


def json_rows(rows):
    """The finished rows as JSON-ready dicts (:data:`CSV_COLUMNS`; ``None`` for unknowns)."""
    def clean(v):
        return None if isinstance(v, float) and not math.isfinite(v) else v

    return [{c: clean(row[c]) for c in CSV_COLUMNS} for row in _done(rows)]


# -- grouping ----------------------------------------------------------------------
def _groups(rows):
    groups = {}
    for row in rows:
        groups.setdefault(tuple(row[c] for c in GROUP), []).append(row)
    return groups


def _label_fn(rows):
    """Row → curve label: the denoiser, plus n_train where one denoiser has several, plus [bound]."""
    n_trains = {}
    for r in rows:
        n_trains.setdefault(r["denoiser"], set()).add(r["n_train"])

    def label(r):
        extra = f" (n_train={r['n_train']})" if len(n_trains[r["denoiser"]]) > 1 else ""
        return r["denoiser"] + extra + (" [bound]" if r["bound"] else "")

    return label


def _series(rows):
    """``{label: {sigma: row}}`` in the rows' order."""
    label = _label_fn(rows)
    series = {}
    for r in rows:
        series.setdefault(label(r), {})[r["sigma"]] = r
    return series


def _optimum(rows):
    """``{sigma: (mse, stderr)}`` of the optimum, where known."""
    return {r["sigma"]: (r["optimal_mse"], r["optimal_stderr"] or 0.0) for r in rows if r["optimal_mse"] is not None}


def _title(key):
    d = dict(zip(GROUP, key))
    return f"{d['dataset']} — n={d['n']}, seed={d['seed']}, size={d['size'] or 'default'}, " \
           f"{d['backend']} on {d['device']}, {d['dtype']}"


# -- table.md ------------------------------------------------------------------------
def _fmt(value, spec):
    return "—" if value is None or (isinstance(value, float) and math.isnan(value)) else format(value, spec)


def _md_table(header, body):
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" + "---:|" * (len(header) - 1)]
    lines += ["| " + " | ".join(cells) + " |" for cells in body]
    return "\n".join(lines)


def _psnr_table(series, optimum, sigmas):
    header = ["denoiser"] + [f"σ={s:g}" for s in sigmas] + ["slope", "s/call"]
    body = []
    for label, by_sigma in series.items():
        times = [r["seconds"] for r in by_sigma.values() if r["seconds"] is not None]
        mean_time = sum(times) / len(times) if times else None
        slope = next(iter(by_sigma.values()))["slope"]
        body.append([label] + [_fmt(by_sigma[s]["psnr"] if s in by_sigma else None, ".2f") for s in sigmas]
                    + [_fmt(slope, ".2f"), _fmt(mean_time, ".3g")])
    if optimum:
        s_opt = sorted(optimum)
        slope = loglog_slope(s_opt, [optimum[s][0] for s in s_opt])
        body.append(["**optimum (MMSE)**"] + [_fmt(psnr(optimum[s][0]) if s in optimum else None, ".2f")
                                              for s in sigmas] + [_fmt(slope, ".2f"), ""])
    return _md_table(header, body)


def _gap_table(series, sigmas):
    header = ["denoiser"] + [f"σ={s:g}" for s in sigmas]
    body = [[label] + [_fmt(by_sigma[s]["gap_db"] if s in by_sigma else None, ".2f") for s in sigmas]
            for label, by_sigma in series.items()]
    return _md_table(header, body)


def _sure_cell(r):
    if r is None or r.get("sure_mse") is None or not r["sure_mse"] > 0:
        return "—"
    err = 10 * math.log10(1 + (r["sure_stderr"] or 0.0) / r["sure_mse"])
    return f"{10 * math.log10(r['sure_mse'] / r['mse']):+.2f} ± {err:.2f}"


def _sure_table(series, sigmas):
    header = ["denoiser"] + [f"σ={s:g}" for s in sigmas]
    body = [[label] + [_sure_cell(by_sigma.get(s)) for s in sigmas] for label, by_sigma in series.items()
            if any(r.get("sure_mse") is not None for r in by_sigma.values())]
    return _md_table(header, body)


def _group_markdown(key, rows):
    done = _done(rows)
    sigmas = sorted({r["sigma"] for r in rows})
    series, optimum = _series(done), _optimum(rows)
    fits = sorted({r["n_train"] for r in rows if r["n_train"]})
    fitted = f", n_train={'/'.join(map(str, fits))}" if fits else ""
    parts = [f"## {_title(key)}{fitted}", "",
             "PSNR (dB, peak 1) of the mean MSE per pixel; slope: least-squares log-log slope of MSE vs σ "
             "(2 for the identity); s/call: seconds per batch.", ""]
    parts += [_psnr_table(series, optimum, sigmas), ""]
    if optimum and series:
        mc = any(se > 0 for _, se in optimum.values())
        note = " The optimum's MMSE is a Monte Carlo estimate." if mc else ""
        parts += [f"Gap to the optimum (dB, 10·log10(MSE/MMSE); 0 is optimal).{note}", "",
                  _gap_table(series, sigmas), ""]
    if any(r.get("sure_mse") is not None for r in done):
        parts += ["SURE (Stein's unbiased risk estimate, no clean image) against the true MSE: "
                  "10·log10(SURE/MSE) in dB, ± its standard error in dB.", "", _sure_table(series, sigmas), ""]
    skipped = sorted({r["denoiser"] for r in rows if r["status"] == "not_applicable"} - {r["denoiser"] for r in done})
    if skipped:
        parts += [f"Not applicable here: {', '.join(skipped)}.", ""]
    return parts


def table_markdown(rows):
    """table.md: per dataset and settings, PSNR per denoiser and σ, the optimum, the gap."""
    head = ["# denoisebench results", "",
            "Mean MSE per pixel over n seeded test images with white Gaussian noise of standard "
            "deviation σ, shown as PSNR = 10·log10(1/MSE); every σ uses the same noise draw. "
            "Learning denoisers are fit on clean training images. Full numbers: results.csv.", ""]
    if not rows:
        return "\n".join(head + ["No results yet.", ""])
    body = [line for key, group in _groups(rows).items() for line in _group_markdown(key, group)]
    return "\n".join(head + body)


# -- mse_vs_sigma.png ---------------------------------------------------------------------
def _colors(rows):
    """Denoiser → colour, the same in every panel."""
    from matplotlib import colormaps

    names = [n for n in dict.fromkeys(r["denoiser"] for r in rows) if n not in _FIXED_COLORS]
    palette = colormaps["tab10" if len(names) <= 9 else "tab20"].colors
    palette = [c for c in palette if max(c) - min(c) > 0.05]  # greys are the identity's
    return {**{name: palette[i % len(palette)] for i, name in enumerate(names)}, **_FIXED_COLORS}


_FIXED_COLORS = {"identity": "0.6"}  # the σ² baseline in grey


def _panel(ax, key, rows, colors):
    done = _done(rows)
    for label, by_sigma in _series(done).items():
        sig = sorted(by_sigma)
        first = by_sigma[sig[0]]
        ax.plot(sig, [by_sigma[s]["mse"] for s in sig], ":" if first["bound"] else "-", marker="o", ms=3,
                color=colors[first["denoiser"]], label=label)
    optimum = _optimum(rows)
    if optimum:
        sig = sorted(optimum)
        mse = [optimum[s][0] for s in sig]
        ax.plot(sig, mse, "k--", lw=1.5, label="optimum")
        se = [optimum[s][1] for s in sig]
        if any(v > 0 for v in se):
            lo = [max(m - 2 * e, m * 1e-3) for m, e in zip(mse, se)]
            ax.fill_between(sig, lo, [m + 2 * e for m, e in zip(mse, se)], color="k", alpha=0.15,
                            lw=0, label="optimum ± 2 s.e.")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("σ")
    ax.set_ylabel("MSE per pixel")
    d = dict(zip(GROUP, key))
    ax.set_title(f"{d['dataset']}\nn={d['n']}, size={d['size'] or 'default'}, {d['backend']}", fontsize=9)
    ax.grid(True, alpha=0.3)


def plot_mse(rows, path):
    """mse_vs_sigma.png: log-log MSE vs σ, a panel per dataset, a curve per denoiser,
    the optimum dashed black with a ±2 standard-error band where it is estimated."""
    from matplotlib.figure import Figure  # Agg canvas, no pyplot global state

    groups = _groups(rows)
    ncols = max(1, min(3, len(groups)))
    nrows = max(1, math.ceil(len(groups) / ncols))
    width, height, legend = 4.3 * ncols + 2.4, 3.6 * nrows, 2.4  # inches; the legend on the right
    fig = Figure(figsize=(width, height))
    fig.subplots_adjust(left=0.75 / width, right=1 - (legend + 0.1) / width, bottom=0.6 / height,
                        top=1 - 0.6 / height, wspace=0.3, hspace=0.55)  # a layout engine costs seconds here
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    colors = _colors(rows)
    for ax, (key, group) in zip(axes, groups.items()):
        _panel(ax, key, group, colors)
    handles = {}
    for ax in axes[:len(groups)]:  # one legend for all panels: colours are shared
        for handle, label in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(label, handle)
    if handles:
        fig.legend(handles.values(), handles.keys(), loc="center right", fontsize=8, frameon=False)
    for ax in axes[len(groups):]:
        ax.set_axis_off()
    if not groups:
        axes[0].text(0.5, 0.5, "no results yet", ha="center", va="center")
    fig.savefig(path, dpi=110)


# -- files -----------------------------------------------------------------------------
def _atomic_write_text(path, text):
    tmp = f"{path}.tmp"
    with open(tmp, "w", encoding="utf-8", newline="") as f:
        f.write(text)
    os.replace(tmp, path)


def _atomic_plot(path, rows):
    tmp = f"{path}.tmp.png"
    plot_mse(rows, tmp)
    os.replace(tmp, path)


def write_outputs(directory):
    """(Re)write results.csv, table.md and mse_vs_sigma.png in ``directory`` from its store.

    Returns ``{'csv': path, 'table': path, 'plot': path}``.
    """
    with Store(directory, create=False) as store:
        rows = store.rows()
    paths = {k: os.path.join(os.fspath(directory), name) for k, name in FILES.items()}
    _atomic_write_text(paths["csv"], csv_text(rows))
    _atomic_write_text(paths["table"], table_markdown(rows))
    _atomic_plot(paths["plot"], rows)
    return paths
