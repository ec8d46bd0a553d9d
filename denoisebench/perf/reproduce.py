"""Two runs of ``denoisebench perf`` compared: does a ratio of one run lie within the other's spread?

A run writes its results as JSON beside its report (``performance.json``); ``denoisebench perf
--compare PREVIOUS.json`` reads an earlier run's and adds the section "Two runs compared" to the
new report: for every ratio measured in both (peer comparisons, torch-CPU against numpy), the
previous median, this run's median and min–max, the relative change, and whether the previous
median lies within this run's min–max.  Only ratios are compared: absolute speeds move with the
machine's load between runs, ratios of calls alternated within a run should not.
"""
from __future__ import annotations

import json
import statistics

__all__ = ["compare_runs", "jsonable", "load_run", "markdown"]


def jsonable(obj):
    """``obj`` with tuple keys written ``"64x64"`` and other non-JSON values as strings (for the JSON file)."""
    if isinstance(obj, dict):
        return {("x".join(map(str, k)) if isinstance(k, tuple) else k if isinstance(k, (str, int, float, bool))
                 or k is None else str(k)): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    return obj if isinstance(obj, (str, int, float, bool)) or obj is None else str(obj)


def load_run(path):
    """The results dict a previous run wrote (``performance.json``); ``ValueError`` if unreadable."""
    try:
        with open(path) as f:
            run = json.load(f)
    except (OSError, ValueError) as exc:
        raise ValueError(f"cannot read a perf run from {path}: {exc}") from None
    if not isinstance(run, dict) or not any(k in run for k in ("peers", "torch_cpu")):
        raise ValueError(f"{path} holds no perf ratios (peers, torch_cpu): not a `denoisebench perf` JSON")
    return run


def _ratios(run):
    """``{(kind, name, shape): spread}`` of every measured ratio of a run."""
    out = {}
    for p in run.get("peers") or []:
        if "spread" in p:
            out[("peer", p["comparison"], tuple(p["shape"]))] = p["spread"]
    for p in run.get("torch_cpu") or []:
        if "spread" in p:
            out[("torch-CPU / numpy", f"`{p['denoiser']}`", tuple(p["shape"]))] = p["spread"]
    return out


def compare_runs(previous, current):
    """Rows ``{kind, name, shape, previous, median, min, max, change, inside}`` for ratios in both runs.

    ``change`` is ``median / previous − 1``; ``inside`` whether ``min ≤ previous ≤ max``.
    """
    before, now = _ratios(previous), _ratios(current)
    rows = []
    for key in [k for k in now if k in before]:
        p, s = before[key]["median"], now[key]
        rows.append({"kind": key[0], "name": key[1], "shape": key[2], "previous": p, "median": s["median"],
                     "min": s["min"], "max": s["max"], "change": s["median"] / p - 1,
                     "inside": s["min"] <= p <= s["max"]})
    return rows


def markdown(rows, previous):
    """The section "Two runs compared" (list of lines)."""
    if not rows:
        return ["## Two runs compared", "", "No ratio was measured in both runs.", ""]
    inside = sum(r["inside"] for r in rows)
    worst = max(rows, key=lambda r: abs(r["change"]))
    head = ["## Two runs compared", "",
            f"This run against the previous one (started {previous.get('started', '?')}, command "
            f"`{previous.get('command', '?')}`): {inside} of {len(rows)} ratios of the previous run lie within this "
            f"run's min–max; a ratio's median changed by {100 * statistics.median(abs(r['change']) for r in rows):.0f}% "
            f"(median over ratios) and by at most {100 * abs(worst['change']):.0f}% ({worst['name']}, "
            f"{'×'.join(map(str, worst['shape']))}).", ""]
    body = ["| kind | comparison | batch | previous median | this median | this min–max | change | previous within |",
            "|---|---|---|---:|---:|---:|---:|---|"]
    for r in rows:
        body.append(f"| {r['kind']} | {r['name']} | ({', '.join(map(str, r['shape']))}) | {r['previous']:.2f}× | "
                    f"{r['median']:.2f}× | {r['min']:.2f}–{r['max']:.2f}× | {100 * r['change']:+.0f}% | "
                    f"{'yes' if r['inside'] else 'no'} |")
    return head + body + [""]
