"""The files of ``denoisebench sample``: the sample grid, spectra and order-parameter figures, metrics.json and
comparison.md (the metrics table, the structure of the samples against held-out images, same-seed cosines and
subband kurtoses)."""
from __future__ import annotations

import json
import math
import os

import numpy as np

from .. import compare
from ._structure import HEADLINE

__all__ = ["DATA_LABEL", "GRID_COLUMNS", "comparison_markdown", "write_reports"]

GRID_COLUMNS = 8
DATA_LABEL = "data (held-out)"


# -- files -------------------------------------------------------------------------------------------
def write_reports(out, metrics, samples, labels, x_test):
    paths = [os.path.join(out, name) for name in ("grid.png", "spectra.png", "metrics.json", "comparison.md")]
    _plot_grid(paths[0], samples, x_test)
    _plot_spectra(paths[1], samples, x_test)
    if metrics["data_order_parameter"] is not None:
        paths.append(os.path.join(out, "order_parameter.png"))
        _plot_order_parameter(paths[-1], metrics["rows"], metrics["data_order_parameter"])
    with open(paths[2], "w", encoding="utf-8") as f:
        json.dump({**metrics, "files": {spec: f"samples_{labels[spec]}.npy" for spec in samples}}, f, indent=1)
    with open(paths[3], "w", encoding="utf-8") as f:
        f.write(comparison_markdown(metrics))
    return paths


def _display(x):
    """(H, W) gray or (H, W, 3) colour image of one sample for imshow."""
    return x[0] if x.shape[0] != 3 else np.moveaxis(x, 0, -1)


def _plot_grid(path, samples, x_test):
    from matplotlib.figure import Figure  # Agg canvas, no pyplot global state

    rows = {**samples, DATA_LABEL: x_test}
    cols = min(GRID_COLUMNS, min(x.shape[0] for x in rows.values()))
    lo, hi = np.percentile(x_test, [0.5, 99.5])  # one intensity scale for every panel: the data's
    fig = Figure(figsize=(1.3 * cols + 1.8, 1.3 * len(rows) + 0.3))
    axes = fig.subplots(len(rows), cols, squeeze=False)
    for r, (label, x) in enumerate(rows.items()):
        for c in range(cols):
            ax = axes[r, c]
            ax.imshow(np.clip((_display(x[c]) - lo) / (hi - lo), 0, 1), cmap="gray", vmin=0, vmax=1,
                      interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
        axes[r, 0].set_ylabel(label, rotation=0, ha="right", va="center", fontsize=7)
    for c in range(cols):
        axes[0, c].set_title(f"seed #{c}", fontsize=7)
    fig.subplots_adjust(left=1.7 / (1.3 * cols + 1.8), right=0.99, top=0.95, bottom=0.02, wspace=0.05, hspace=0.05)
    fig.savefig(path, dpi=100)


def _plot_spectra(path, samples, x_test):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5.5, 4))
    ax = fig.subplots()
    k, p = compare.radial_power_spectrum(x_test)
    ax.loglog(k[1:], p[1:], "k-", lw=2.5, label=DATA_LABEL)
    for label, x in samples.items():
        k, p = compare.radial_power_spectrum(x)
        ax.loglog(k[1:], np.maximum(p[1:], 1e-30), lw=1.2, label=label)
    ax.set_xlabel("|k| (cycles per image)")
    ax.set_ylabel("radially averaged power P(|k|)")
    ax.set_title("power spectra of samples vs data (k = 0 omitted)", fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def _plot_order_parameter(path, rows, data):
    """Histograms of the order parameter m per image (φ⁴: bimodal in the ordered phase)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5.5, 4))
    ax = fig.subplots()
    bins = np.linspace(-1.5, 1.5, 31) * max(np.max(np.abs(data["m"])), 1e-12)
    ax.hist(data["m"], bins=bins, density=True, histtype="stepfilled", color="0.8", label="data (test)")
    for label, row in rows.items():
        if label != DATA_LABEL:
            ax.hist(row["order_parameter"]["m"], bins=bins, density=True, histtype="step", lw=1.3, label=label)
    ax.set_xlabel("m of each image (|m| > 1.5 max |m_data| not shown)")
    ax.set_title("order parameter histograms: samples vs held-out data", fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def _f(value, spec=".4g"):
    return "—" if value is None or (isinstance(value, float) and not math.isfinite(value)) else format(value, spec)


_COLUMNS = {"NFE": lambda r: _f(r.get("nfe"), "d"), "s": lambda r: _f(r.get("wall_s"), ".2f"),
            "PSD log-err": lambda r: _f(r["vs_test"]["spectrum_log_error"]),
            "pixel W1": lambda r: _f(r["vs_test"]["pixel_w1"]),
            "kurtosis log-err": lambda r: _f(r["vs_test"]["wavelet_kurtosis_error"]),
            "sliced W1": lambda r: _f(r["vs_test"]["sliced_w1"]),
            "memorisation": lambda r: _f(r["memorisation_ratio"], ".3f"),
            "pixel std": lambda r: _f(r.get("pixel_std"), ".3g"),
            "excess kurtosis": lambda r: _f(r.get("excess_kurtosis"), ".3f"),
            "Binder U": lambda r: _f((r.get("order_parameter") or {}).get("binder"), ".3f"),
            "KL (floor)": lambda r: "—" if r["gaussian_kl"] is None
            else f"{_f(r['gaussian_kl']['kl'])} ({_f(r['gaussian_kl']['kl_floor'])})"}


def _md_table(header, body):
    lines = ["| " + " | ".join(header) + " |", "|---|" + "---:|" * (len(header) - 1)]
    return "\n".join(lines + ["| " + " | ".join(cells) + " |" for cells in body])


def _structure_section(name, rows, specs):
    """The samples' geometry beside held-out images' (experiments/_structure.py), with the ratio."""
    data = rows[DATA_LABEL].get("structure")
    if not data:
        return []
    key, label = HEADLINE[name]
    body = []
    for spec in [*specs, DATA_LABEL]:
        st = rows[spec]["structure"]
        ratio = st[key] / data[key] if data[key] else float("nan")
        body.append([spec, *(_f(v, ".3g") for v in st.values()), _f(ratio, ".3f")])
    return ["## Structure of the samples", "",
            f"Fraction of images with the data's geometry ({label}; denoisebench/experiments/_structure.py) and the "
            f"other statistics of the fit; ratio: {key} of the samples / that of the held-out reference row.", "",
            _md_table(["", *data, f"{key} / held-out"], body), ""]


#: The distances judged against their floor, and their column labels.
_FLOORED = {"spectrum_log_error": "PSD log-err", "pixel_w1": "pixel W1", "sliced_w1": "sliced W1"}


def _ratio_cells(distances, fl):
    return [_f(distances[k] / fl[k]["mean"], ".2f") for k in _FLOORED]


def _floor_cells(fl, unit=None):
    """``mean [min, max]`` of each floored distance in ``fl``; with ``unit``, divided by ``unit``'s mean."""
    def cell(k, stat):
        return _f(fl[k][stat] / unit[k]["mean"], ".2f") if unit else _f(fl[k][stat])

    return [f"{cell(k, 'mean')} [{cell(k, 'min')}, {cell(k, 'max')}]" for k in _FLOORED]


def _floor_section(metrics, specs):
    """Each sample set's distances divided by the mean floor over disjoint held-out sets (1 = as close to the
    data as fresh data, on average); the floor's mean and range; KL over its floor where there is one; and
    the training images' own distance in the same units (the shift between the splits)."""
    fl = metrics.get("floor")
    if not fl:
        return []
    rows = metrics["rows"]
    kl = any(rows[spec]["gaussian_kl"] for spec in specs)
    body = [[spec, *_ratio_cells(rows[spec]["vs_test"], fl),
             *([_f(rows[spec]["gaussian_kl"]["kl"] / rows[spec]["gaussian_kl"]["kl_floor"], ".2f")] if kl else [])]
            for spec in specs]
    shift = metrics.get("split_shift")
    if shift:
        body.append([f"training images: mean over {shift['sets']} sets [min, max]", *_floor_cells(shift, unit=fl),
                     *(["—"] if kl else [])])
    body.append([f"floor: mean over {fl['sets']} held-out sets [min, max]", *_floor_cells(fl),
                 *(["1 (its expectation)"] if kl else [])])
    n = metrics["settings"]["n"]
    return ["## Distances in units of the finite-sample floor", "",
            f"Each distance to the held-out images divided by its floor: the mean of the same distance for "
            f"{fl['sets']} disjoint sets of {n} further held-out images (one set, the row "
            f"'{DATA_LABEL}' above, is one draw of it, and draws spread widely: the range is in the last row). "
            "1 = as close as fresh data on average."
            + (f" The row 'training images' scores {shift['sets']} sets of {n} further training images the same "
               "way: what a prior that had learnt its training distribution exactly would score. It is near 1 when "
               "the splits share a distribution, and above it when they do not (on `natural` the held-out "
               "images are crops of other photographs)." if shift else ""), "",
            _md_table(["", *_FLOORED.values(), *(["KL / KL floor"] if kl else [])], body), ""]


def _train_section(metrics, specs):
    """Each sample set's distances to the training images divided by the mean of the same distance for
    disjoint sets of further training images: generation judged against the distribution learnt."""
    fl = metrics.get("train_floor")
    if not fl:
        return []
    rows, s = metrics["rows"], metrics["settings"]
    near = fl["nearest_train_distance"]
    body = [[spec, *_ratio_cells(rows[spec]["vs_train"], fl),
             _f(rows[spec]["nearest_train_distance"] / near, ".3f")] for spec in specs]
    body.append([f"floor: mean over {fl['sets']} training sets [min, max]", *_floor_cells(fl), f"1 ({_f(near)})"])
    return ["## Distances to the training images, in units of their floor", "",
            f"Each distance to the {s['n_train']} training images that fit the harmonic priors, divided by the mean "
            f"of the same distance for {fl['sets']} disjoint sets of {s['n']} further training images. This judges "
            "a prior against the distribution it learnt, apart from how that distribution differs from the "
            "held-out one. Samples that copy training images would score low here, and so would their last column: "
            "the samples' median distance to the nearest of those training images over that of the further "
            "training images (0 = copies, ≈ 1 = as close as fresh images of the training split).", "",
            _md_table(["", *_FLOORED.values(), "nearest-training distance / training sets'"], body), ""]


def _churn_words(s):
    """`` with EDM's stochastic steps (…)`` when the run had churn, else ``''``."""
    if not s.get("churn"):
        return ""
    lo, hi = s["churn_range"]
    return (f" with EDM's stochastic steps (S_churn {s['churn']:g} on σ ∈ [{lo:g}, {'∞' if hi is None else f'{hi:g}'}], "
            f"S_noise {s['churn_noise']:g})")


def comparison_markdown(metrics):
    """comparison.md: the metrics table, same-seed cosine similarities and subband kurtoses."""
    s, rows = metrics["settings"], metrics["rows"]
    specs = [spec for spec in rows if spec != DATA_LABEL]
    out = [f"# Samples of {s['dataset']} (size {s['size'] or 'default'}), sampler {s['sampler']}{_churn_words(s)}",
           "",
           f"n = {s['n']} samples per denoiser from the same initial noise (seed {s['seed']}, mean "
           f"{s['data_mean']:.4g} + σ_max·z), schedule {s['schedule']} with {s['steps']} steps, "
           f"σ from {s['sigma_max']:.4g} ({s.get('sigma_max_rule', 'given')}) to {s['sigma_min']:g}; "
           f"{s['backend']}, {s['dtype']}. Distribution metrics are "
           f"against {s['n_data']} held-out images; memorisation against {s['n_train']} training images "
           "(median nearest-training distance of the samples / that of held-out data: 0 = copies, ≈ 1 = "
           f"as novel as fresh data). The row '{DATA_LABEL}' scores {s['n']} other held-out images: "
           "one draw of each metric's finite-sample floor (its mean over several draws: the next section).",
           *[f"\n**Warning:** {line}." for line in metrics.get("warnings", [])],
           "", _md_table(["denoiser", *_COLUMNS], [[spec, *(fn(rows[spec]) for fn in _COLUMNS.values())]
                                                   for spec in rows]),
           "", "PSD log-err: mean over rings of |log P_samples − log P_data|; kurtosis log-err: mean over wavelet "
           "subbands of |log κ_samples/κ_data|; KL: nats, Gaussian fitted in Fourier vs the true one (floor: its "
           "expectation for exact samples); excess kurtosis: of the pixel marginal (Gaussian: 0; held-out data: "
           f"{_f(metrics.get('data_excess_kurtosis'), '.3f')}); Binder U = 1 − ⟨m⁴⟩/(3⟨m²⟩²) of the dataset's "
           "order parameter where it has one (Gaussian m: 0, two sharp peaks ±m: 2/3).", ""]
    out += _floor_section(metrics, specs)
    out += _train_section(metrics, specs)
    out += _structure_section(s["dataset"].split(":", 1)[0], rows, specs)
    if len(specs) > 1:
        cos = metrics["same_seed_cosine"]
        out += ["## Same-seed cosine similarity (mean over seeds)", "",
                _md_table(["", *specs], [[a, *(_f(cos[a][b], ".3f") for b in specs)] for a in specs]), ""]
    bands = list(metrics["data_wavelet_kurtosis"])
    out += ["## Wavelet subband kurtosis (Gaussian: 3)", "",
            _md_table(["", *bands], [[spec, *(_f(rows[spec]["wavelet_kurtosis"][b], ".3g") for b in bands)]
                                     for spec in rows]), ""]
    return "\n".join(out)
