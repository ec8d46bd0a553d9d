"""Stored rows → what the report shows: finished cells, groups, curves, the optimum, gaps.

Shared by the tables (:mod:`denoisebench.report`), the figure (:mod:`denoisebench.report._figures`)
and the data frame (:mod:`denoisebench.report.results`).  Rows are the store's dicts; nothing
here reads a file.
"""
from __future__ import annotations

import math

from ..metrics import PAIRED, loglog_slope
from ..registry.specs import parse_spec

#: Run settings shared by the rows of one table and one figure row: a dataset and its settings.
GROUP = ("dataset", "n", "seed", "size", "backend", "device", "dtype", "protocol")

#: What each evaluation protocol (:data:`denoisebench.grid.runner.PROTOCOLS`) means, as the table
#: header says it; ``''`` (float images as drawn) says nothing.
PROTOCOL_TEXT = {"": "", "8bit": "clean images quantised to 8 bits, estimates clipped to [0, 1] (as published tables)"}

#: Tolerance of :func:`units_255`: ``|255·σ − k| <= 1e-9`` for an integer ``k``.
UNITS_TOL = 1e-9


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
    """``{sigma: (mse, stderr)}`` of the optimum, where known.  Where the rows' gaps are paired (:data:`PAIRED`)
    it is the optimal denoiser's MSE on the same noisy images (stderr 0: exact on those images); rows with
    no result of their own (not applicable) then do not count."""
    paired = [r for r in rows if is_paired(r)]
    return {r["sigma"]: (r["optimal_mse"], 0.0 if paired else r["optimal_stderr"] or 0.0) for r in (paired or rows)
            if r["optimal_mse"] is not None}


def is_paired(row):
    """True when the row's gap is paired (:data:`PAIRED`)."""
    return row.get("status") == "done" and row.get("reason") == PAIRED


def gap_stderr_db(row):
    """Standard error (dB) of a paired gap, ``10/ln 10 · s.e.(MSE − MSE_opt) / max(MSE, MSE_opt)``: the first-order
    error of 10·log10(MSE/MSE_opt) near a gap of 0, and of the larger term's log when one dominates; else None."""
    if not is_paired(row) or not row.get("optimal_stderr") or not _positive(row.get("optimal_mse")):
        return None
    return 10 / math.log(10) * row["optimal_stderr"] / max(row["optimal_mse"], row.get("mse") or 0.0)


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


def units_255(sigmas):
    """True when σ are shown in 8-bit units (``σ=25/255``): every σ is ``k/255`` for an integer ``k``
    (within :data:`UNITS_TOL`) and at least one is not a short decimal (three places or fewer), so
    that ``--sigmas 0.2,0.4`` (51/255, 102/255) stays in decimals.  False for no σ.

    >>> units_255([15 / 255, 25 / 255]), units_255([15 / 255, 0.1]), units_255([0.2, 0.4])
    (True, False, False)
    """
    sigmas = [float(s) for s in sigmas]
    if not sigmas or not all(abs(255 * s - round(255 * s)) <= UNITS_TOL for s in sigmas):
        return False
    return any(abs(s - round(s, 3)) > 1e-12 for s in sigmas)


def sigma_text(sigma, units):
    """σ as a column header shows it: ``'15/255'`` in 8-bit units (:func:`units_255`), else ``'0.1'``."""
    return f"{round(255 * sigma)}/255" if units else f"{sigma:g}"


def whole_images(dataset):
    """True for a dataset spec evaluated on whole images (``crop=0``, as ``folder:...,crop=0``)."""
    try:
        _, params = parse_spec(dataset)
    except ValueError:  # SpecError: not a spec this module can read; not whole images then
        return False
    crop = params.get("crop")
    return not isinstance(crop, bool) and crop == 0


def protocol_text(protocol):
    """The sentence of :data:`PROTOCOL_TEXT` for ``protocol`` (its name for one not listed)."""
    return PROTOCOL_TEXT.get(protocol or "", f"protocol {protocol!r}")


def title(key):
    """The heading of a group: dataset and settings, then the protocol where there is one."""
    d = dict(zip(GROUP, key))
    size = d["size"] or ("whole images" if whole_images(d["dataset"]) else "default")
    text = f"{d['dataset']} — n={d['n']}, seed={d['seed']}, size={size}, {d['backend']} on {d['device']}, {d['dtype']}"
    protocol = protocol_text(d.get("protocol"))
    return f"{text}; {protocol}" if protocol else text


def _positive(v):
    return v is not None and v > 0 and math.isfinite(v)
