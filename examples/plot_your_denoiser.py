"""
Your own denoiser in ten lines
==============================

A denoiser is a callable ``x_hat = D(y, sigma)`` on batches ``(N, C, H, W)`` from any array
namespace (numpy, torch, cupy, array_api_strict). Subclassing :class:`denoisebench.Denoiser` and
writing ``_denoise(y, sigma, xp)`` is enough: the base class validates the input, turns σ into one
value per image of shape ``(N, 1, 1, 1)``, chunks large batches and refuses NaN results.
:func:`denoisebench.register_denoiser` gives it a name, so every command — ``run`` included — can
use it as a spec string.

The example writes a linear shrinkage towards each image's mean, ``D(y) = m + (y − m)/(1 + σ²/v)``,
checks it against the contract with :func:`denoisebench.testing.check_denoiser` on every backend
this machine has, benchmarks it on the ``gaussian`` field beside ``wiener`` and the exact optimum,
and compares its measured MSE with its exact risk. Being linear, its risk on a stationary Gaussian
field has a closed form in the field's spectrum P(k) (docs/theory.md §2): it keeps the mean mode
(error σ²) and multiplies every other Fourier mode by a = v/(v + σ²), so

    MSE = (1/N) [ σ² + Σ_{k≠0} ((1 − a)² P(k) + a² σ²) ].
"""

# %%
# The denoiser
# ------------
# ``xp`` is the input's array namespace: the same code runs on numpy, torch and cupy arrays.
import tempfile

import matplotlib.pyplot as plt
import numpy as np

import denoisebench as db
import denoisebench.testing
from denoisebench import Denoiser, register_denoiser
from denoisebench.cli import main


@register_denoiser("shrink-to-mean")
class ShrinkToMean(Denoiser):
    """Shrink towards the image mean by 1/(1 + σ²/v)."""

    def __init__(self, v=0.04):
        self.v = v  # parameters stored verbatim (scikit-learn style)

    def _denoise(self, y, sigma, xp):  # y validated; sigma is (N, 1, 1, 1) like y
        m = xp.mean(y, axis=(-2, -1), keepdims=True)
        return m + (y - m) / (1 + sigma**2 / self.v)


# %%
# Check the contract
# ------------------
# dtype, shape, namespace and device kept; a float σ equals one σ per image; a batch equals a loop
# over its images; deterministic; inputs never modified; bad inputs (NaN, wrong ndim, σ ≤ 0, …)
# refused with clear errors.
d = db.make_denoiser("shrink-to-mean:v=0.04")
for backend in denoisebench.testing.available_backends():
    print(denoisebench.testing.check_denoiser(d, backend))

# %%
# Benchmark it with the CLI
# -------------------------
# The class is registered in this process, so the serial runner finds it by name.
sigmas = [0.05, 0.1, 0.2, 0.4]
with tempfile.TemporaryDirectory() as tmp:
    main(["run", "--datasets", "gaussian", "--denoisers", "shrink-to-mean", "wiener", "optimal",
          "--sigmas", ",".join(map(str, sigmas)), "--n", "32", "--size", "32", "--n-train", "64",
          "--out", tmp])
    df = db.load_results(tmp)
print(df[["denoiser", "sigma", "mse", "mse_stderr", "optimal_mse", "gap_db"]]
      .sort_values(["denoiser", "sigma"]).to_string(index=False, float_format="{:.4g}".format))

# %%
# Measured risk against the exact risk
# ------------------------------------
# The exact risk of the linear shrinkage follows from the spectrum P(k) of the ``gaussian`` field
# (the mean image level is the k = 0 mode).
ds = db.make_dataset("gaussian:size=32")
_, P = ds.power_spectrum()
nonzero = np.ones_like(P, dtype=bool)
nonzero[0, 0] = False
print(f"{'sigma':>6} {'measured MSE':>13} {'± s.e.':>9} {'exact risk':>11}")
for s in sigmas:
    a = 0.04 / (0.04 + s**2)
    exact = (s**2 + np.sum((1 - a) ** 2 * P[nonzero] + a**2 * s**2)) / P.size
    row = df[(df.denoiser == "shrink-to-mean") & (df.sigma == s)].iloc[0]
    print(f"{s:6.3g} {row.mse:13.5g} {row.mse_stderr:9.2g} {exact:11.5g}")

# %%
# Noisy and denoised
# ------------------
# The shrinkage only rescales the fluctuations about the mean: it cannot separate the smooth field
# from the noise as the optimum, which attenuates each frequency by P/(P + σ²), does.
x = ds.sample(1, seed=1)
sigma = 0.2
y = db.add_noise(x, sigma, seed=1)
panels = {"clean": x, f"noisy, σ = {sigma}": y, "shrink-to-mean": d(y, sigma),
          "optimal (Wiener)": ds.optimal_denoiser()(y, sigma)}
fig, axes = plt.subplots(1, 4, figsize=(10, 2.9))
for ax, (title, img) in zip(axes, panels.items()):
    mse = float(np.mean((np.asarray(img) - x) ** 2))
    ax.imshow(np.asarray(img)[0, 0], cmap="gray", vmin=0, vmax=1)
    ax.set_title(title if title == "clean" else f"{title}\nPSNR {10 * np.log10(1 / mse):.1f} dB", fontsize=9)
    ax.axis("off")
fig.tight_layout()
plt.show()
