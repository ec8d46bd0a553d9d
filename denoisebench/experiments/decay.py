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

from ..metrics import loglog_fit, loglog_slope

__all__ = ["DEFAULT_DENOISERS", "FRAME_ORACLE", "THEORY_EXPONENTS", "decay_rows", "exponent_table", "exponents",
           "plot_decay", "run_decay", "write_decay_report"]

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
#: The defaults at kσ (k = 3) and at the universal threshold σ√(2 ln N) of the theory's estimator: a
#: fixed k leaves a noise floor 2σ²(kφ(k) + Q(k)) per pixel that does not fall with N (docs/theory.md §6).
DEFAULT_DENOISERS = ("wiener", "wavelet", "wavelet-ti", "curvelet", "wavelet:threshold=universal",
                     "wavelet-ti:threshold=universal", "curvelet:threshold=universal", "oracle-fourier",
                     "oracle-wavelet", "oracle-curvelet")
DEFAULT_SIZES = (32, 64, 128, 256, 512)


def _family(spec):
    return spec.split(":", 1)[0]


def check_sizes(sizes, what="sizes"):
    """``sizes`` as a list of at least two different image sizes; a one-line ``ValueError`` otherwise."""
    sizes = list(sizes)
    if len(set(sizes)) != len(sizes):
        raise ValueError(f"{what} repeats a size ({','.join(map(str, sizes))}): give different sizes")
    if len(sizes) < 2:
        raise ValueError(f"{what} needs at least two different sizes to fit an exponent; got {sizes}")
    return sizes


def run_decay(out, sizes=DEFAULT_SIZES, sigma=0.1, n=8, denoisers=DEFAULT_DENOISERS, dataset="cartoon",
              seed=0, backend="numpy", device=None, n_train=64, progress=None):
    """Evaluate ``denoisers`` on ``dataset`` at each size (fixed σ) into the store in ``out``.

    Returns the store's finished rows of this sweep (dicts with ``size``, ``denoiser``, ``mse``, …).
    """
    from ..grid import plan
    from ..grid.runner import run_grid
    from ..store import KEY, Store

    sizes = check_sizes(sizes)
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


#: The oracle of each denoiser's own frame: the exponent its thresholding could reach with ideal keep/kill.
FRAME_ORACLE = {"wiener": "oracle-fourier", "wavelet": "oracle-wavelet", "wavelet-ti": "oracle-wavelet",
                "curvelet": "oracle-curvelet"}
#: Two-sided 95% normal quantile for the intervals of the fitted exponents.
Z95 = 1.959964


def _fit(pts):
    """``(slope, stderr)`` of MSE against ε over ``pts`` (:func:`~denoisebench.metrics.loglog_fit`)."""
    return loglog_fit([p[0] for p in pts], [p[1] for p in pts], [p[2] for p in pts])


def exponents(rows):
    """Per denoiser: the exponent fitted over all sizes and over the two finest, each ``(r, stderr)``.

    Returns ``{denoiser: {"all": (r, se), "finest": (r, se), "oracle": name or None,
    "theory": r or None}}``; ``oracle`` is the oracle of the denoiser's frame when it is in the
    rows (:data:`FRAME_ORACLE`, the same parameters after the family name when present).
    """
    curves = decay_rows(rows)
    out = {}
    for name, pts in curves.items():
        family, _, params = name.partition(":")
        oracle = FRAME_ORACLE.get(family)
        if oracle is not None:
            with_params = f"{oracle}:{params}" if params else oracle
            oracle = with_params if with_params in curves else (oracle if oracle in curves else None)
        out[name] = {"all": _fit(pts), "finest": _fit(pts[-2:]), "oracle": oracle,
                     "theory": THEORY_EXPONENTS.get(family)}
    return out


def _floor(sigma, k):
    """``2σ²(k φ(k) + Q(k))``: the MSE per pure-noise coefficient left by hard thresholding at kσ."""
    phi = math.exp(-k * k / 2) / math.sqrt(2 * math.pi)
    return 2 * sigma**2 * (k * phi + 0.5 * math.erfc(k / math.sqrt(2)))


def _interval(fit):
    r, se = fit
    return "—" if r is None else f"{r:.2f} [{r - Z95 * se:.2f}, {r + Z95 * se:.2f}]"


def exponent_table(rows):
    """Markdown table: MSE per size; exponents over all sizes and over the finest pair with 95%
    intervals; the finest-pair exponent of the oracle of the same frame; theory's exponent."""
    curves = decay_rows(rows)
    fits = exponents(rows)
    sizes = sorted({r["size"] for r in rows}, key=_pixels)
    sigma = sorted({r["sigma"] for r in rows})
    lines = ["| denoiser | " + " | ".join(f"MSE at {s}²" if "x" not in str(s) else f"MSE at {s}" for s in sizes)
             + " | exponent, all sizes [95%] | exponent, finest pair [95%] | oracle of its frame, finest pair"
             " | theory |",
             "|---|" + "---:|" * (len(sizes) + 4)]
    for name, pts in curves.items():
        by_size = {p[3]: p[1] for p in pts}
        fit = fits[name]
        oracle = fit["oracle"]
        oracle_text = "—" if oracle is None or oracle == name else f"{fits[oracle]['finest'][0]:.2f} ({oracle})"
        theory = fit["theory"]
        lines.append(f"| {name} | " + " | ".join(f"{by_size[s]:.3e}" if s in by_size else "—" for s in sizes)
                     + f" | {_interval(fit['all'])} | {_interval(fit['finest'])} | {oracle_text} | "
                     + f"{'—' if theory is None else f'{theory:.2f}'} |")
    finest = sizes[-2:] if len(sizes) >= 2 else sizes
    head = [f"MSE per pixel at σ = {', '.join(f'{s:g}' for s in sigma)} against the continuum noise level "
            "ε = σ/√N, sweeping the image size N; exponent r of MSE ≍ ε^r fitted by least squares "
            "in log-log over all sizes, and over the two finest sizes "
            f"({' → '.join(str(s) for s in finest)}), where the asymptotic rate shows first. Theory for C² "
            "cartoons, up to log factors: linear/Fourier 2/3, wavelets 1, curvelets 4/3; an estimator's "
            "exponent is bounded by its frame's oracle (ideal keep/kill of each coefficient) — the "
            "oracle column. Intervals: ±1.96 standard errors propagated from each size's image-to-image "
            "standard error (conservative: the same continuum cartoons are drawn at every size); they do "
            "not cover the curvature of log factors, which the two fits show side by side. Wavelet and "
            "curvelet depths grow with the image (docs/theory.md §6).", "",
            "Theory's exponents are those of thresholding at σ√(2 ln N) (`threshold=universal`). At a fixed "
            "kσ (the default, k = 3) hard thresholding keeps each pure-noise coefficient z with |z| > kσ, a "
            "floor of 2σ²(kφ(k) + Q(k)) per coefficient of an orthonormal basis that does not fall with N "
            f"({', '.join(f'{_floor(s, 3.0):.2e} at σ = {s:g}' for s in sigma)}): its exponent tends to 0 as N "
            "grows, and the fitted one falls at the finest sizes.", ""]
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
