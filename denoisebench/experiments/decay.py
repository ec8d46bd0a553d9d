"""The decay-rate experiment: MSE against the continuum noise level ε = σ/√N on cartoons.

On an ``H × W`` grid of [0, 1]², pixel noise σ is white noise of continuum level
ε = σ/√N (N = H·W).  Sweeping the image size at fixed σ moves ε alone, so the
log-log slope of MSE per pixel against ε estimates each estimator's risk exponent:
for C² cartoons, linear (Fourier) estimation ε^{2/3}, wavelet thresholding ε¹,
curvelet thresholding ε^{4/3} up to logs (sweeping σ at fixed N instead mixes
regimes, see docs/theory.md §6).  Every cell goes through the benchmark's
resumable store, so an interrupted sweep loses nothing.

References
----------
E. J. Candès, D. L. Donoho, "New tight frames of curvelets and optimal representations
of objects with piecewise C² singularities", CPAM 57, 2004; S. Mallat, *A Wavelet Tour
of Signal Processing*, 3rd ed., §9.3 and §11.3; D. L. Donoho, "Wedgelets", Ann. Stat.
27, 1999 (the white-noise model).
"""
from __future__ import annotations

import math
import os

import numpy as np

from ..metrics import loglog_slope

__all__ = ["DEFAULT_DENOISERS", "THEORY_EXPONENTS", "decay_rows", "exponent_table", "plot_decay", "run_decay",
           "write_decay_report"]

#: Risk exponent r in MSE ≍ ε^r for C² cartoons (2β/(β+1) for M-term error M^{-β}).
THEORY_EXPONENTS = {
    "identity": 0.0,
    "wiener": 2 / 3,
    "oracle-fourier": 2 / 3,
    "wavelet": 1.0,
    "wavelet-ti": 1.0,
    "oracle-wavelet": 1.0,
    "curvelet": 4 / 3,
    "oracle-curvelet": 4 / 3,
}
DEFAULT_DENOISERS = ("wiener", "wavelet", "wavelet-ti", "curvelet", "oracle-fourier", "oracle-wavelet",
                     "oracle-curvelet")
DEFAULT_SIZES = (32, 64, 128, 256)


def _family(spec):
    return spec.split(":", 1)[0]


def run_decay(out, sizes=DEFAULT_SIZES, sigma=0.1, n=8, denoisers=DEFAULT_DENOISERS, dataset="cartoon",
              seed=0, backend="numpy", device=None, n_train=64, progress=None):
    """Evaluate ``denoisers`` on ``dataset`` at each size (fixed σ) into the store in ``out``.

    Returns the store's finished rows of this sweep (dicts with ``size``, ``denoiser``, ``mse``, …).
    """
    from ..grid import plan
    from ..runner import run_grid
    from ..store import KEY, Store

    cells = [c for size in sizes
             for c in plan([dataset], list(denoisers), [sigma], n=n, seed=seed, size=size, backend=backend,
                           device=device, n_train=n_train)]
    with Store(out) as store:
        run_grid(cells, store, progress=progress)
        keys = {c.key() for c in cells}
        return [r for r in store.rows() if r["status"] == "done" and tuple(r[k] for k in KEY) in keys]


def _pixels(size):
    h, _, w = str(size).partition("x")
    return int(h) * int(w or h)


def decay_rows(rows):
    """``{denoiser: [(eps, mse, mse_stderr, size), ...]}`` sorted by ε (descending sizes last)."""
    curves = {}
    for r in rows:
        eps = r["sigma"] / math.sqrt(_pixels(r["size"]))
        curves.setdefault(r["denoiser"], []).append((eps, r["mse"], r["mse_stderr"], r["size"]))
    return {k: sorted(v, reverse=True) for k, v in curves.items()}


def exponent_table(rows):
    """Markdown table: MSE per size, fitted exponent of MSE vs ε, theory's exponent."""
    curves = decay_rows(rows)
    sizes = sorted({r["size"] for r in rows}, key=_pixels)
    sigma = sorted({r["sigma"] for r in rows})
    lines = ["| denoiser | " + " | ".join(f"MSE at {s}²" if "x" not in str(s) else f"MSE at {s}" for s in sizes)
             + " | fitted exponent | theory |",
             "|---|" + "---:|" * (len(sizes) + 2)]
    for name, pts in curves.items():
        by_size = {p[3]: p[1] for p in pts}
        slope = loglog_slope([p[0] for p in pts], [p[1] for p in pts])
        theory = THEORY_EXPONENTS.get(_family(name))
        lines.append(f"| {name} | " + " | ".join(f"{by_size[s]:.3e}" if s in by_size else "—" for s in sizes)
                     + f" | {'—' if slope is None else f'{slope:.2f}'} | "
                     + f"{'—' if theory is None else f'{theory:.2f}'} |")
    head = [f"MSE per pixel at σ = {', '.join(f'{s:g}' for s in sigma)} against the continuum noise level "
            "ε = σ/√N, sweeping the image size N; exponent r of MSE ≍ ε^r fitted by least squares "
            "in log-log (theory for C² cartoons, up to log factors: linear/Fourier 2/3, wavelets 1, "
            "curvelets 4/3).", ""]
    return "\n".join(head + lines) + "\n"


def plot_decay(rows, path):
    """Log-log MSE against ε, one line per denoiser, with reference slopes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.8))
    curves = decay_rows(rows)
    for name, pts in curves.items():
        eps, mse, se = (np.array([p[i] for p in pts]) for i in range(3))
        ax.errorbar(eps, mse, yerr=2 * se, marker="o", ms=3, capsize=2,
                    label=f"{name} (r={loglog_slope(eps, mse):.2f})")
    eps_all = np.array(sorted({p[0] for pts in curves.values() for p in pts}))
    anchor = max(p[1] for pts in curves.values() for p in pts)
    for r, style in ((2 / 3, ":"), (1.0, "--"), (4 / 3, "-.")):
        ax.plot(eps_all, anchor * (eps_all / eps_all.max()) ** r, "k" + style, lw=0.8, label=f"ε^{r:.2f}")
    ax.set(xscale="log", yscale="log", xlabel="ε = σ/√N", ylabel="MSE per pixel",
           title="cartoon: risk decay against the continuum noise level")
    ax.legend(fontsize=7)
    fig.tight_layout()
    tmp = f"{path}.tmp.png"
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    os.replace(tmp, path)


def write_decay_report(rows, out, command):
    """Write ``decay.md`` and ``decay.png`` into ``out``; return their paths."""
    md = os.path.join(out, "decay.md")
    png = os.path.join(out, "decay.png")
    text = "# Decay-rate experiment (cartoon)\n\n" + exponent_table(rows) + \
        f"\n![MSE vs ε](decay.png)\n\nReproduce with:\n\n    {command}\n"
    with open(md + ".tmp", "w") as f:
        f.write(text)
    os.replace(md + ".tmp", md)
    plot_decay(rows, png)
    return md, png
