"""
Decay exponents on cartoon images, against theory
=================================================

On a cartoon — two smooth regions separated by a smooth closed curve — approximation theory predicts
how fast a denoiser's risk falls as the noise level ε goes to 0 (docs/theory.md §6): a method whose
best M-term approximation error decays like M^(−β) has risk ≍ ε^(2β/(β+1)). Fourier (β = 1/2) gives
ε^(2/3), wavelets (β = 1) ε¹, curvelets (β = 2, up to log factors) ε^(4/3). On an N-pixel grid of the
unit square, pixel noise σ is the continuum level ε = σ/√N, so ``denoisebench decay`` sweeps the image
size at a fixed σ and fits the exponent r of MSE ≍ ε^r. The identity's MSE is σ² whatever N
(exponent 0 exactly).

The rates are proved for thresholding at the universal threshold σ√(2 ln N) and hold for each frame's
oracle (ideal keep/kill of every coefficient), so both are run. This tiny version — sizes 32² to 128²,
8 cartoons per size — runs in seconds; its intervals are wide and the finest sizes are still
pre-asymptotic (log factors bend the curves), so read the ordering Fourier < wavelets < curvelets
rather than the digits (reports/decay goes to 512² with more images).
"""

# %%
# Run ``decay`` and read its store
# --------------------------------
import tempfile

import matplotlib.pyplot as plt
import numpy as np

import denoisebench as db
from denoisebench.cli import main
from denoisebench.metrics import loglog_fit

theory = {"identity": 0.0, "wiener": 2 / 3, "oracle-fourier": 2 / 3,
          "wavelet-ti:threshold=universal": 1.0, "oracle-wavelet": 1.0,
          "curvelet:threshold=universal": 4 / 3, "oracle-curvelet": 4 / 3}
sigma = 0.1
with tempfile.TemporaryDirectory() as tmp:
    main(["decay", "--sizes", "32,64,128", "--sigma", str(sigma), "--n", "8", "--n-train", "16",
          "--denoisers", *theory, "--out", tmp])
    df = db.load_results(tmp)
    with open(f"{tmp}/decay.md", encoding="utf-8") as f:
        report = [line for line in f if line.startswith("|")]

# %%
# Exponents, fitted here with :func:`denoisebench.metrics.loglog_fit`
# -------------------------------------------------------------------
# Least squares of log MSE against log ε over all sizes; the standard error propagates each size's
# image-to-image standard error (conservative: the same continuum cartoons are drawn at every size).
fits = {}
print(f"{'denoiser':32s} {'r (all sizes)':>16s} {'finest pair':>12s} {'theory':>7s}")
for name, r_theory in theory.items():
    sub = df[df.denoiser == name].assign(N=lambda t: t["size"].astype(str).str.split("x").str[0].astype(int) ** 2)
    sub = sub.sort_values("N")
    eps = sigma / np.sqrt(sub.N.to_numpy())
    r, se = loglog_fit(eps, sub.mse, sub.mse_stderr)
    r2, _ = loglog_fit(eps[-2:], sub.mse[-2:], sub.mse_stderr[-2:])
    fits[name] = (eps, sub.mse.to_numpy(), sub.mse_stderr.to_numpy(), r)
    print(f"{name:32s} {r:7.2f} ± {1.96 * se:5.2f} {r2:12.2f} {r_theory:7.2f}")

# %%
# The command's own report gives the same exponents, with the frame's oracle beside each:
print("".join(report))

# %%
# MSE against ε
# -------------
# Dotted lines have the theoretical slope, anchored at the smallest ε (the largest image).
fig, ax = plt.subplots(figsize=(9.5, 4.5))
for (name, (eps, mse, se, r)), color in zip(fits.items(), plt.cm.tab10.colors):
    style = "--" if name.startswith("oracle") else "-"
    ax.errorbar(eps, mse, yerr=2 * se, fmt="o" + style, color=color, ms=4, capsize=2,
                label=f"{name}: r = {r:.2f} (theory {theory[name]:.2f})")
    ax.loglog(eps, mse[-1] * (eps / eps[-1]) ** theory[name], ":", color=color, lw=1)
ax.set_xscale("log")
ax.set_yscale("log")
ax.set_xlabel("ε = σ / √N")
ax.set_ylabel("MSE per pixel")
ax.set_title(f"cartoon, σ = {sigma}, sizes 32² … 128²", fontsize=10)
ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1))
fig.tight_layout()
plt.show()
