"""``denoisebench solve``: linear inverse problems with every denoiser's prior, against the exact optimum.

For each measurement operator (:func:`denoisebench.inverse.make_operator`), ``n`` held-out
images are measured (``c = A x + s η``); each solver of :data:`denoisebench.inverse.SOLVERS`
draws one posterior sample per measurement with each denoiser's Tweedie score.  On ``gaussian``
and ``gmm`` the exact posterior (:func:`denoisebench.inverse.exact_posterior`) gives the
optimum: its mean's MSE (theory: MMSE) and, for posterior samples, 2·MMSE.  Every dataset gets
the pseudo-inverse baseline ``A⁺c``.  Writes ``solve.md`` (the table), ``metrics.json`` and one
``grid_<operator>.png`` per operator (measurement as A⁺c, each reconstruction, exact posterior
mean where known, truth).

References
----------
Kadkhodaie & Simoncelli, NeurIPS 2021; Chung et al., ICLR 2023; docs/theory.md, "Conditioning".
"""
from __future__ import annotations

import json
import math
import os
import re
import time

import numpy as np

from .._array_api import from_numpy, to_numpy
from ..base import NotApplicableError
from ..inverse import SOLVERS, NotDifferentiableError, exact_posterior, make_operator, prior_components
from ..registry import SpecError, make_dataset, resolve_dataset, resolve_denoiser
from ..sampling.sampler_error import default_sigma_max
from .sample import build_denoiser, range_warnings
from ..sampling import karras_sigmas
from ..registry.specs import size_arg

__all__ = ["DEFAULTS", "run_solve", "solve_markdown"]

DEFAULTS = {"solvers": ("ks", "dps"), "n": 8, "seed": 0, "size": None, "n_train": 256, "dtype": "float32",
            "sigma0": 1.0, "beta": 0.01, "h0": 0.01, "dps_steps": 100, "zeta": 1.0, "dps_sigma_max": None,
            "out": "denoisebench-out/solve"}
GRID_COLUMNS = 4


def _label(text):
    return re.sub(r"[^A-Za-z0-9._=-]+", "_", text)


def _plan(dataset, operators, denoisers, s):
    unknown = sorted(set(s["solvers"]) - set(SOLVERS))
    if unknown:
        raise SpecError(f"unknown solver(s) {unknown}; valid: {', '.join(SOLVERS)}")
    for key, lo in (("n", 1), ("n_train", 2), ("seed", 0), ("dps_steps", 1)):
        if isinstance(s[key], bool) or not isinstance(s[key], int) or s[key] < lo:
            raise SpecError(f"{key} must be an integer >= {lo}; got {s[key]!r}")
    if s["dtype"] not in ("float32", "float64"):
        raise SpecError(f"unknown dtype {s['dtype']!r}; valid: float32, float64")
    for key in ("sigma0", "zeta", "h0", "beta", *(("dps_sigma_max",) if s["dps_sigma_max"] is not None else ())):
        if not (isinstance(s[key], (int, float)) and math.isfinite(s[key]) and s[key] > 0):
            raise SpecError(f"{key} must be a finite number > 0; got {s[key]!r}")
    ds_spec, size = resolve_dataset(dataset, s["size"], s["seed"])
    ds = make_dataset(ds_spec, **({"size": size_arg(size)} if size else {}))
    ops = [make_operator(spec, ds.shape) for spec in dict.fromkeys(operators)]
    specs = list(dict.fromkeys(resolve_denoiser(spec) for spec in denoisers))
    for spec, cls in specs:
        if cls.bound:
            raise SpecError(f"{spec!r} is an oracle bound (it needs the clean image): it cannot drive a solver")
    return ds, ds_spec, size, ops, specs


def _errors(x_hat, x):
    per = np.mean((np.asarray(x_hat, np.float64) - x) ** 2, axis=tuple(range(1, x.ndim)))
    mse = float(per.mean())
    return {"mse": mse, "mse_se": float(per.std(ddof=1) / math.sqrt(per.size)) if per.size > 1 else float("nan"),
            "psnr": 10 * math.log10(1 / mse) if mse > 0 else float("inf")}


def _run_solver(name, d, op, c, x, s, sigmas):
    """One solver with one denoiser: (row, samples) — or a 'skipped' row (no samples)."""
    shape, mean = x.shape[1:], float(s["data_mean"])
    kwargs = {"ks": {"sigma0": s["sigma0"], "h0": s["h0"], "beta": s["beta"], "mean": mean},
              "dps": {"sigmas": sigmas, "zeta": s["zeta"], "mean": mean}}[name]
    backend = {"ks": "numpy", "dps": "torch"}[name]
    start = time.perf_counter()
    try:
        result = SOLVERS[name](d, op, from_numpy(c.astype(s["dtype"]), backend), shape, seed=s["seed"], **kwargs)
    except NotDifferentiableError as exc:
        return {"skipped": str(exc)}, None
    except (NotApplicableError, ValueError, TypeError, RuntimeError) as exc:  # e.g. no torch path
        return {"skipped": f"{type(exc).__name__}: {str(exc).splitlines()[0]}"}, None
    samples = to_numpy(result.samples).astype(np.float64)
    return {**_errors(samples, x), "nfe": int(result.nfe), "wall_s": time.perf_counter() - start,
            "backend": backend}, samples


def run_solve(dataset, operators, denoisers, out=DEFAULTS["out"], **settings):
    """Solve every operator with every (solver, denoiser); write the report; return the paths written.

    ``settings`` are the keys of :data:`DEFAULTS`.  Errors in the request raise
    :class:`~denoisebench.registry.SpecError` (one line) before anything is computed.
    """
    unknown = sorted(set(settings) - set(DEFAULTS))
    if unknown:
        raise TypeError(f"unknown settings {unknown}; valid: {sorted(DEFAULTS)}")
    s = {**DEFAULTS, **settings, "out": out}
    s["solvers"] = list(s["solvers"])
    ds, ds_spec, s["size"], ops, specs = _plan(dataset, operators, denoisers, s)
    n, seed = s["n"], s["seed"]
    x_train = ds.sample(s["n_train"], seed, split="train")
    x = ds.sample(n, seed, split="test").astype(np.float64)
    s["data_mean"] = float(x_train.mean())
    sigma_max = s["dps_sigma_max"] or default_sigma_max(x_train)
    sigmas = karras_sigmas(s["dps_steps"], 0.002, sigma_max) if "dps" in s["solvers"] else None
    built = [(spec, build_denoiser(spec, cls, ds, x_train.astype(s["dtype"]), x[:1].astype(s["dtype"]), 0.1))
             for spec, cls in specs]
    warned = range_warnings(built, sigma_max) if sigmas is not None else []
    try:
        prior = prior_components(ds)
    except ValueError:
        prior = None
    os.makedirs(out, exist_ok=True)
    results, paths = {}, []
    for op in ops:
        c = to_numpy(op.measure(x, seed))
        rows, images = {}, {"measurement (A⁺c)": op.pinv(c)}
        rows["pseudo-inverse A⁺c"] = {**_errors(images["measurement (A⁺c)"], x), "kind": "baseline"}
        if prior is not None:
            post = exact_posterior(op, c, prior, seed=seed)
            rows["exact posterior mean"] = {**_errors(post.mean, x), "kind": "optimum", "mmse": post.mmse,
                                            "mmse_se": post.mmse_stderr, "method": post.method}
        for name in s["solvers"]:
            for spec, d in built:
                row, samples = _run_solver(name, d, op, c, x, s, sigmas)
                rows[f"{name} · {spec}"] = {**row, "kind": "sample", "solver": name, "denoiser": spec}
                if samples is not None:
                    images[f"{name} · {spec}"] = samples
        if prior is not None:
            images["exact posterior mean"] = post.mean
        images["truth"] = x
        paths.append(os.path.join(out, f"grid_{_label(op.spec)}.png"))
        _plot_grid(paths[-1], images, x, op.spec)
        results[op.spec] = {"rows": rows, "noise": op.noise, "mmse": rows.get("exact posterior mean", {}).get("mmse")}
    metrics = {"settings": {**{k: s[k] for k in DEFAULTS}, "dataset": ds_spec, "data_mean": s["data_mean"],
                            "denoisers": [spec for spec, _ in specs], "operators": [op.spec for op in ops],
                            "dps_sigma_max": None if sigmas is None else float(sigmas[0]),
                            "dps_sigma_max_rule": "given" if s["dps_sigma_max"] else "3 × √(max_k P̂(k)) of the training images",
                            "warnings": warned},
               "operators": results}
    paths += [os.path.join(out, "metrics.json"), os.path.join(out, "solve.md")]
    with open(paths[-2], "w", encoding="utf-8") as f:
        json.dump(metrics, f, indent=1)
    with open(paths[-1], "w", encoding="utf-8") as f:
        f.write(solve_markdown(metrics))
    return paths


def _plot_grid(path, images, x, title):
    from matplotlib.figure import Figure

    cols = min(GRID_COLUMNS, x.shape[0])
    lo, hi = np.percentile(x, [0.5, 99.5])
    fig = Figure(figsize=(1.3 * cols + 2.2, 1.3 * len(images) + 0.4))
    axes = fig.subplots(len(images), cols, squeeze=False)
    for r, (label, arr) in enumerate(images.items()):
        for col in range(cols):
            ax = axes[r, col]
            ax.imshow(np.clip((np.asarray(arr)[col, 0] - lo) / (hi - lo), 0, 1), cmap="gray", vmin=0, vmax=1,
                      interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
        axes[r, 0].set_ylabel(label, rotation=0, ha="right", va="center", fontsize=7)
    fig.suptitle(title, fontsize=8)
    fig.subplots_adjust(left=2.1 / (1.3 * cols + 2.2), right=0.99, top=0.93, bottom=0.02, wspace=0.05, hspace=0.05)
    fig.savefig(path, dpi=100)


def _f(v, spec=".4g"):
    return "—" if v is None or (isinstance(v, float) and not math.isfinite(v)) else format(v, spec)


def _reference(row, mmse):
    """MSE over its theoretical value: MMSE for the posterior mean, 2·MMSE for posterior samples."""
    if mmse is None or "mse" not in row or row["kind"] == "baseline":
        return "—"
    ref = 2 * mmse if row["kind"] == "sample" else mmse
    return f"{row['mse'] / ref:.3f} (× {'2·MMSE' if row['kind'] == 'sample' else 'MMSE'})"


def solve_markdown(metrics):
    """solve.md: one table per operator."""
    s = metrics["settings"]
    out = [f"# Linear inverse problems on {s['dataset']} (size {s['size'] or 'default'})", "",
           f"n = {s['n']} held-out images (seed {s['seed']}), one posterior sample per measurement and "
           f"(solver, denoiser). ks: constrained ascent, σ_0 = {s['sigma0']:g}, h_0 = {s['h0']:g}, "
           f"β = {s['beta']:g}, σ_L = 0.01, numpy {s['dtype']}. dps: {s['dps_steps']} Euler–Maruyama steps, "
           f"Karras schedule from σ_max = {_f(s['dps_sigma_max'])} ({s.get('dps_sigma_max_rule', '')}) to 0.002, ζ = {s['zeta']:g}, torch "
           f"{s['dtype']} (gradient by autograd). MSE per pixel ± its standard error over the images; "
           "PSNR = 10 log10(1/MSE). The last column divides the MSE by its theoretical value: a posterior "
           "sample x̃ has E‖x̃ − x‖² = 2 tr(Σ), the posterior mean tr(Σ) (MMSE = tr(Σ)/d per pixel).", "",
           *[f"**Warning (dps):** {w}." for w in s.get("warnings", [])], *([""] if s.get("warnings") else [])]
    for spec, res in metrics["operators"].items():
        mmse = res["mmse"]
        head = f"## {spec}"
        if mmse is not None:
            post = res["rows"]["exact posterior mean"]
            err = f" ± {post['mmse_se']:.2g}" if post["mmse_se"] else ""
            head += f" — exact MMSE = {mmse:.5g}{err} ({post['method']}), 2·MMSE = {2 * mmse:.5g}"
        out += [head, "", "| reconstruction | PSNR | MSE | MSE / theory | NFE | s |", "|---|---:|---:|---:|---:|---:|"]
        for label, row in res["rows"].items():
            if "skipped" in row:
                out.append(f"| {label} | skipped: {row['skipped']} | | | | |")
                continue
            out.append(f"| {label} | {_f(row['psnr'], '.2f')} | {_f(row['mse'], '.5f')} ± {_f(row['mse_se'], '.1g')} "
                       f"| {_reference(row, mmse)} | {_f(row.get('nfe'), 'd')} | {_f(row.get('wall_s'), '.1f')} |")
        out.append("")
    return "\n".join(out)
