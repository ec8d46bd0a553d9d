"""
A small benchmark grid, read back as a table
============================================

``denoisebench run`` evaluates every cell of the grid datasets × denoisers × σ on seeded test
images (``y = x + σz``, the same ``z`` for every σ and denoiser), commits each cell to a SQLite
store in ``--out`` and writes ``results.csv``, ``table.md`` and a figure there.
:func:`denoisebench.load_results` reads the store back as a typed pandas DataFrame.

This example runs a tiny grid — the stationary ``gaussian`` field and the Gaussian mixture ``gmm``,
four denoisers, five noise levels, 16 images of 32 × 32 — in a temporary folder, prints the table and
plots the gap to the optimum, ``gap_db = 10 log10(MSE / MMSE)``, against σ. Theory
(docs/theory.md §2–§3) gives the optimum on both datasets: on ``gaussian`` the Wiener filter with the
true spectrum, MMSE = mean_k P(k)σ²/(P(k) + σ²), in closed form; on ``gmm`` the exact posterior
mean, a mixture of Fourier-diagonal Wiener filters weighted by exact responsibilities. The identity's
MSE is σ² exactly, and ``wiener`` (fitted on clean training images) should sit near 0 dB on
``gaussian``, where the best linear denoiser is the optimum, but not on ``gmm``, where it is not.
"""

# %%
# Run the grid through the command line
# -------------------------------------
# The CLI's ``main`` takes the argument list of ``denoisebench``; ``--out`` points into a
# temporary folder so the example leaves nothing behind.
import tempfile

import matplotlib.pyplot as plt
import numpy as np

import denoisebench
from denoisebench.cli import main

datasets = ["gaussian", "gmm"]
denoisers = ["identity", "wiener", "wavelet", "wavelet-ti"]
sigmas = [0.02, 0.05, 0.1, 0.2, 0.5]

with tempfile.TemporaryDirectory() as tmp:
    main(["run", "--datasets", *datasets, "--denoisers", *denoisers,
          "--sigmas", ",".join(str(s) for s in sigmas),
          "--n", "16", "--size", "32", "--n-train", "64", "--seed", "0", "--out", tmp])
    df = denoisebench.load_results(tmp)

# %%
# The stored results
# ------------------
# One row per (dataset, denoiser, σ): the mean MSE over the 16 images with its standard error,
# the PSNR of that mean, and ``optimal_mse`` / ``gap_db`` where the dataset has a known optimum.
cols = ["dataset", "denoiser", "sigma", "mse", "mse_stderr", "optimal_mse", "gap_db", "psnr"]
print(df[cols].sort_values(["dataset", "denoiser", "sigma"]).to_string(index=False, float_format="{:.4g}".format))

# %%
# Theory beside the measurements
# ------------------------------
# The identity returns ``y``: its MSE is σ² up to the sampling noise of 16 images. On ``gaussian``
# the stored optimum is the closed-form MMSE; we recompute it here from the dataset's spectrum.
gauss = denoisebench.make_dataset("gaussian:size=32")
_, P = gauss.power_spectrum()
print(f"{'sigma':>6} {'identity MSE':>13} {'sigma^2':>9} {'stored MMSE':>12} {'mean_k P s^2/(P+s^2)':>21}")
for s in sigmas:
    row = df[(df.dataset == "gaussian") & (df.sigma == s)]
    ident = float(row[row.denoiser == "identity"].mse.iloc[0])
    stored = float(row.optimal_mse.iloc[0])
    closed = float(np.mean(P * s**2 / (P + s**2)))
    print(f"{s:6.3g} {ident:13.5g} {s**2:9.5g} {stored:12.5g} {closed:21.5g}")

# %%
# Gap to the optimum against σ
# ----------------------------
# 0 dB is the optimum. The error bars are ±2 standard errors of the gap (the MSE's, and on ``gmm``
# the Monte-Carlo error of its MMSE estimate as well).
fig, axes = plt.subplots(1, len(datasets), figsize=(9, 3.6), sharey=True)
for ax, name in zip(axes, datasets):
    sub = df[df.dataset == name]
    for den in denoisers:
        r = sub[sub.denoiser == den].sort_values("sigma")
        err = 10 / np.log(10) * np.hypot(r.mse_stderr / r.mse, r.optimal_stderr.fillna(0) / r.optimal_mse)
        ax.errorbar(r.sigma, r.gap_db, yerr=2 * err, marker="o", ms=4, capsize=2, label=den)
    ax.axhline(0, color="k", lw=0.8)
    ax.set_xscale("log")
    ax.set_xticks(sigmas, [f"{s:g}" for s in sigmas])
    ax.minorticks_off()
    ax.set_xlabel("σ")
    ax.set_title(f"{name}: gap to the optimum")
axes[0].set_ylabel("10 log10(MSE / MMSE)  [dB]")
axes[-1].legend(fontsize=8)
fig.tight_layout()
plt.show()
