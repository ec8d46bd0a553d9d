"""``denoisebench analyze``: effective dimension, homogeneity and SURE per σ, and the adaptive basis.

For each denoiser and σ, on seeded test images of one dataset: the Jacobian trace (mean ± standard
error over images), the homogeneity error, SURE against the true MSE (their difference is 0 within its
standard error where Stein's lemma applies — a weakly differentiable denoiser — and not for
hard thresholding or BM3D, whose jumps the divergence misses; the table marks which), written as ``analysis.csv`` and ``analysis.md`` (a table per σ); and
``adaptive_basis.png``, the top singular vectors of the Jacobian at the first test image.

References
----------
See :mod:`denoisebench.analysis`.
"""
from __future__ import annotations

import numpy as np

from .._array_api import to_numpy
from ..analysis import adaptive_basis, homogeneity_error, jacobian_trace

__all__ = ["DEFAULT_SIGMAS", "analyze"]

DEFAULT_SIGMAS = (0.02, 0.05, 0.1, 0.2, 0.5)
_COLUMNS = ("dataset", "denoiser", "sigma", "pixels", "eff_dim", "eff_dim_stderr", "eff_dim_fraction", "homogeneity",
            "sure_mse", "sure_stderr", "mse", "mse_stderr", "sure_minus_mse", "sure_minus_mse_stderr", "stein", "method", "reason")


def _build(spec, ds, n_train, seed):
    from ..base import NotApplicableError
    from ..registry import denoiser_class, list_denoisers, make_denoiser, parse_spec

    name = parse_spec(spec)[0]
    needs = name in list_denoisers() and denoiser_class(name).needs_dataset
    d = make_denoiser(spec, **({"dataset": ds} if needs else {}))  # SpecError for unknown names
    if d.bound:
        raise NotApplicableError("an oracle bound (it needs the clean image), not a denoiser")
    return d.fit(ds.sample(n_train, seed, split="train")) if d.learns else d


def _row(ds, spec, sigma, x, y, d, probes, seed):
    from ..metrics import mean_and_stderr, mse_per_image

    m = int(np.prod(x.shape[1:]))
    x_hat = to_numpy(d(y, sigma)).astype(np.float64)
    div = jacobian_trace(d, y, sigma, None if probes == 0 else probes, seed)
    est = np.sum((y - x_hat) ** 2, axis=(1, 2, 3)) / m - sigma ** 2 + 2 * sigma ** 2 * div.value / m
    true = mse_per_image(x, x_hat)
    row = {"dataset": ds.spec(), "denoiser": spec, "sigma": sigma, "pixels": m, "method": div.method}
    for key, err, values in (("eff_dim", "eff_dim_stderr", div.value), ("sure_mse", "sure_stderr", est),
                             ("mse", "mse_stderr", true), ("sure_minus_mse", "sure_minus_mse_stderr", est - true)):
        row[key], row[err] = mean_and_stderr(values)
    row["eff_dim_fraction"] = row["eff_dim"] / m
    row["homogeneity"] = float(np.mean(homogeneity_error(d, y, sigma)))
    row["stein"] = stein_applies(d)
    return row


def stein_applies(d):
    """Whether SURE is unbiased for ``d``: Stein's lemma needs a weakly differentiable estimator, which
    hard thresholding (``mode='hard'``) and BM3D (hard-thresholding stage; ``discontinuous = True``) are not.

    References
    ----------
    C. Stein, Ann. Statist. 9(6), 1981 (weak differentiability); docs/theory.md §5.
    """
    return getattr(d, "mode", None) != "hard" and not getattr(type(d), "discontinuous", False)


def analyze(dataset, denoisers, sigmas=DEFAULT_SIGMAS, n=8, seed=0, probes=16, size=None, top=6, n_train=256, out=None):
    """Effective dimension, homogeneity error and SURE vs true MSE of each denoiser at each σ, on ``n``
    seeded test images of ``dataset``; with ``out``, write ``analysis.csv``, ``analysis.md`` (a table per
    σ) and ``adaptive_basis.png`` (the top ``top`` singular vectors at the first test image).

    ``probes=0`` computes exact traces (``M`` products per image).  Returns the rows (dicts).
    """
    from ..base import NotApplicableError
    from ..noise import add_noise
    from ..registry import make_dataset

    ds = make_dataset(dataset, **({"size": size} if size else {}))
    x = ds.sample(n, seed, split="test").astype(np.float64)
    rows, bases = [], {}
    for spec in denoisers:
        try:
            d = _build(spec, ds, n_train, seed)
            for sigma in sigmas:
                y = add_noise(x, sigma, seed)
                rows.append(_row(ds, spec, float(sigma), x, y, d, probes, seed))
                s, u, _ = adaptive_basis(d, y[:1], sigma, k=top, seed=seed)
                bases[(spec, float(sigma))] = (s[0], u[0])
        except NotApplicableError as exc:
            rows.append({"dataset": ds.spec(), "denoiser": spec, "reason": str(exc)})
    if out is not None:
        _write(out, rows, bases, x[0])
    return rows


def _write(out, rows, bases, clean):
    import csv
    import os

    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "analysis.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=_COLUMNS)
        w.writeheader()
        w.writerows({k: r.get(k) for k in _COLUMNS} for r in rows)
    with open(os.path.join(out, "analysis.md"), "w") as f:
        f.write(_markdown(rows))
    if bases:
        _figure(bases, clean).savefig(os.path.join(out, "adaptive_basis.png"), dpi=110)


def _markdown(rows):
    lines = ["# Jacobian analysis", "", "Effective dimension tr J (and as a fraction of the pixels), homogeneity "
             "error ‖D(λy) − λD(y)‖/‖D(y)‖ (mean over λ = 0.5, 2), SURE vs the true MSE (mean ± standard error "
             "over images). SURE − MSE should be 0 within its error only where Stein's lemma applies (column "
             "'Stein': a weakly differentiable denoiser); for hard thresholding and BM3D the divergence misses "
             "the jumps and SURE is biased, so a nonzero difference there is expected, not an error.", ""]
    for sigma in sorted({r["sigma"] for r in rows if "sigma" in r}):
        lines += [f"## σ = {sigma:g}", "", "| denoiser | tr J | tr J / N | homogeneity | SURE MSE | true MSE | SURE − MSE | Stein |",
                  "|---|---|---|---|---|---|---|---|"]
        lines += [f"| {r['denoiser']} | {r['eff_dim']:.1f} ± {r['eff_dim_stderr']:.1f} | {r['eff_dim_fraction']:.4f} | "
                  f"{r['homogeneity']:.2e} | {r['sure_mse']:.3e} | {r['mse']:.3e} | "
                  f"{r['sure_minus_mse']:.2e} ± {r['sure_minus_mse_stderr']:.1e} | {'yes' if r['stein'] else 'no'} |" for r in rows if r.get("sigma") == sigma]
        lines.append("")
    lines += [f"- {r['denoiser']}: not applicable ({r['reason']})" for r in rows if r.get("reason")]
    return "\n".join(lines) + "\n"


def _figure(bases, clean):
    from matplotlib.figure import Figure

    keys = list(bases)
    k = len(next(iter(bases.values()))[0])
    fig = Figure(figsize=(1.3 * (k + 1), 1.4 * len(keys)), layout="constrained")
    axes = fig.subplots(len(keys), k + 1, squeeze=False)
    for row, key in zip(axes, keys):
        s, u = bases[key]
        row[0].imshow(clean[0], cmap="gray")
        name = key[0] if len(key[0]) <= 24 else "…" + key[0][-23:]
        row[0].set_ylabel(f"{name}\nσ={key[1]:g}", fontsize=7)
        for j, ax in enumerate(row[1:]):
            lim = np.max(np.abs(u[j, 0])) or 1.0
            ax.imshow(u[j, 0], cmap="RdBu_r", vmin=-lim, vmax=lim)
            ax.set_title(f"s={s[j]:.3g}", fontsize=7)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle("Top singular vectors of the Jacobian at a test image (adaptive basis)", fontsize=9)
    return fig
