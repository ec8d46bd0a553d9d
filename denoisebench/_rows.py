"""Stored rows → what the report shows: finished cells, groups, curves, the optimum, gaps.

Shared by the tables (:mod:`denoisebench.report`), the figure (:mod:`denoisebench._figures`)
and the data frame (:mod:`denoisebench.results`).  Rows are the store's dicts; nothing
here reads a file.
"""
from __future__ import annotations

import math

from .metrics import loglog_slope

#: Run settings shared by the rows of one table and one figure row: a dataset and its settings.
GROUP = ("dataset", "n", "seed", "size", "backend", "device", "dtype", "protocol")

#: Reference of the gap panel and of :func:`gaps`: the optimum (MMSE), where the dataset knows it ...
REF_OPTIMUM = "optimum"
#: ... else the best (lowest-MSE) denoiser at each σ that is not an oracle bound.
REF_BEST = "best"


def done_rows(rows):
    """Finished rows (copies), each with ``slope``: the log-log slope of MSE vs σ of its curve."""
    done = [dict(r) for r in rows if r["status"] == "done"]
    curves = {}
    for r in done:
        curves.setdefault(tuple(r.get(c, "") for c in GROUP) + (r["denoiser"], r["n_train"]), []).append(r)
    for curve in curves.values():
        slope = loglog_slope([r["sigma"] for r in curve], [r["mse"] for r in curve])
        for r in curve:
            r["slope"] = slope
    return done


def groups(rows):
    """``{group key: rows}`` in the rows' order; the key holds the values of :data:`GROUP`."""
    out = {}
    for row in rows:
        out.setdefault(tuple(row.get(c, "") for c in GROUP), []).append(row)
    return out


def label_fn(rows):
    """Row → curve label: the denoiser, plus n_train where one denoiser has several, plus [bound]."""
    n_trains = {}
    for r in rows:
        n_trains.setdefault(r["denoiser"], set()).add(r["n_train"])

    def label(r):
        extra = f" (n_train={r['n_train']})" if len(n_trains[r["denoiser"]]) > 1 else ""
        return r["denoiser"] + extra + (" [bound]" if r["bound"] else "")

    return label


def series(rows):
    """``{label: {sigma: row}}`` in the rows' order."""
    label = label_fn(rows)
    out = {}
    for r in rows:
        out.setdefault(label(r), {})[r["sigma"]] = r
    return out


def optimum(rows):
    """``{sigma: (mse, stderr)}`` of the optimum, where known."""
    return {r["sigma"]: (r["optimal_mse"], r["optimal_stderr"] or 0.0) for r in rows if r["optimal_mse"] is not None}


def reference(rows):
    """The gap's reference of one group: ``(kind, {sigma: mse})``.

    ``kind`` is :data:`REF_OPTIMUM` when the optimum is known at some σ (the reference is then
    the optimum's MSE at those σ), else :data:`REF_BEST`: at each σ the lowest MSE of the
    finished rows that are not oracle bounds (bounds see the clean image).
    """
    opt = optimum(rows)
    if opt:
        return REF_OPTIMUM, {s: m for s, (m, _) in opt.items()}
    best = {}
    for r in rows:
        if r["status"] == "done" and not r["bound"] and _positive(r["mse"]):
            best[r["sigma"]] = min(best.get(r["sigma"], math.inf), r["mse"])
    return REF_BEST, best


def gaps(rows):
    """Gap in dB of every curve of one group to its :func:`reference`.

    Returns ``(kind, {label: {sigma: 10·log10(mse / reference)}})``; σ where either MSE is
    unknown or not positive are left out.
    """
    kind, ref = reference(rows)
    out = {}
    for label, by_sigma in series(done_rows(rows)).items():
        out[label] = {s: 10 * math.log10(r["mse"] / ref[s]) for s, r in by_sigma.items()
                      if _positive(r["mse"]) and _positive(ref.get(s))}
    return kind, out


def title(key):
    d = dict(zip(GROUP, key))
    return f"{d['dataset']} — n={d['n']}, seed={d['seed']}, size={d['size'] or 'default'}, " \
           f"{d['backend']} on {d['device']}, {d['dtype']}"


def _positive(v):
    return v is not None and v > 0 and math.isfinite(v)
