"""
Inverse problems with a denoiser's prior, against the exact posterior
=====================================================================

A linear measurement ``c = A x + s η`` (missing pixels, 2 × 2 block averages, a blur with noise)
can be inverted by sampling ``p(x | c)`` with a denoiser's prior. :func:`denoisebench.inverse.ks`
is Kadkhodaie & Simoncelli's constrained coarse-to-fine ascent: it follows the denoiser's Tweedie
score in the part of the image the measurement does not see and enforces ``A x = c`` (the
``solve`` command runs it, and DPS, for a grid of operators and denoisers).

On the ``gaussian`` field the posterior is Gaussian and known exactly
(:func:`denoisebench.inverse.exact_posterior`, docs/theory.md §14): mean
``m = μ + C Aᵀ K⁻¹ (c − A μ)`` with ``K = A C Aᵀ + s² I``, covariance ``Σ = C − C Aᵀ K⁻¹ A C`` and
MMSE = tr(Σ)/d. Theory then fixes what an exact posterior sampler must give: its mean is the
posterior mean (MSE = MMSE), one sample is an independent draw so its MSE is **2·MMSE**, and the
average of K samples has MSE **(1 + 1/K)·MMSE**. The example checks these with the exact denoiser
(``optimal``) as the prior, and shows where two other priors — the ``wiener`` filter and the
``wavelet-ti`` thresholding, both fitted on training images — land (``denoisebench solve`` runs the
shipped networks too, e.g. ``--denoisers unet:variant=conditioned``). A sample MSE *below* 2·MMSE is
not better: it means the samples are too close to the mean, i.e. too little posterior variance.
"""

# %%
# Measurements and the exact posterior
# ------------------------------------
import matplotlib.pyplot as plt
import numpy as np

import denoisebench as db
from denoisebench import inverse

ds = db.make_dataset("gaussian:size=32")
shape = (1, *ds.shape)  # (C, H, W)
x = ds.sample(4, seed=0).astype(np.float64)
x_train = ds.sample(256, seed=0, split="train")
prior = inverse.prior_components(ds)  # [(weight, mean, P)]: one Gaussian component
priors = {"optimal": db.make_denoiser("optimal", dataset=ds),
          "wiener": db.make_denoiser("wiener").fit(x_train),
          "wavelet-ti": db.make_denoiser("wavelet-ti").fit(x_train)}
operators = ["inpaint:fraction=0.5", "superres:factor=2", "blur:sigma=1.5,noise=0.01"]
K = 8  # posterior samples per measurement with the exact prior


def mse(a, b):
    return float(np.mean((np.asarray(a, np.float64) - b) ** 2))


results, images = {}, {}
for spec in operators:
    op = inverse.make_operator(spec, shape[1:])
    c = np.asarray(op.measure(x, seed=0))
    post = inverse.exact_posterior(op, c, prior)
    row = {"A⁺c": mse(op.pinv(c), x) / post.mmse, "exact mean": mse(post.mean, x) / post.mmse}
    # K samples per measurement with the exact prior: repeat each measurement K times in the batch
    # (sample i of a batch draws its own noise stream).
    cK = np.repeat(c, K, axis=0).astype(np.float32)
    s = np.asarray(inverse.ks(priors["optimal"], op, cK, shape, seed=0, mean=0.5).samples, np.float64)
    s = s.reshape(len(x), K, *shape)
    row["ks·optimal, 1 sample"] = mse(s, x[:, None]) / post.mmse
    row[f"ks·optimal, mean of {K}"] = mse(s.mean(axis=1), x) / post.mmse
    imgs = {"truth": x, "A⁺c": op.pinv(c), "exact posterior mean": post.mean, "ks·optimal sample": s[:, 0],
            f"mean of {K} ks·optimal": s.mean(axis=1)}
    for name, d in priors.items():
        if name == "optimal":
            continue
        sample = np.asarray(inverse.ks(d, op, c.astype(np.float32), shape, seed=0, mean=0.5).samples)
        row[f"ks·{name}, 1 sample"] = mse(sample, x) / post.mmse
        imgs[f"ks·{name} sample"] = sample
    results[spec], images[spec] = (row, post), imgs

# %%
# MSE in units of the exact MMSE
# ------------------------------
# Theory: exact mean 1, one exact sample 2, mean of K exact samples 1 + 1/K (here with 4 images,
# so read the ratios with some slack).
for spec, (row, post) in results.items():
    print(f"\n{spec}: exact MMSE = {post.mmse:.5g} ({post.method})")
    for name, ratio in row.items():
        theory = {"exact mean": 1.0, "ks·optimal, 1 sample": 2.0, f"ks·optimal, mean of {K}": 1 + 1 / K}.get(name)
        print(f"  {name:28s} MSE / MMSE = {ratio:6.3f}" + (f"   (exact posterior: {theory:.3f})" if theory else ""))

# %%
# On noisy deblurring the constrained ascent enforces ``A x = c`` exactly, noise included, so even
# the exact prior misses 2·MMSE there (the README's noisy-deblurring row); DPS, which treats the
# noise as noise, is the solver for that case (``denoisebench solve --solvers dps``).
#
# The inpainting problem
# ----------------------
spec = operators[0]
imgs = images[spec]
fig, axes = plt.subplots(len(x), len(imgs), figsize=(1.45 * len(imgs), 1.6 * len(x)))
for j, (name, batch) in enumerate(imgs.items()):
    for i in range(len(x)):
        ax = axes[i, j]
        ax.imshow(np.asarray(batch)[i, 0], cmap="gray", vmin=0, vmax=1)
        ax.set_xticks([])
        ax.set_yticks([])
        if i == 0:
            ax.set_title(name.replace(" sample", "\nsample").replace(" posterior", "\nposterior"), fontsize=7)
fig.suptitle(f"{spec} on 32 × 32 Gaussian fields", fontsize=9)
fig.tight_layout()

fig2, ax = plt.subplots(figsize=(8, 3.4))
names = list(results[operators[0]][0])
width = 0.8 / len(operators)
for k, spec in enumerate(operators):
    row = results[spec][0]
    ax.bar(np.arange(len(names)) + k * width, [row.get(n, np.nan) for n in names], width, label=spec)
for level, text in ((1, "MMSE"), (2, "2·MMSE"), (1 + 1 / K, f"(1+1/{K})·MMSE")):
    ax.axhline(level, color="k", lw=0.7, ls=":")
    ax.text(-0.45, level, text, fontsize=7, va="top" if level == 1 else "bottom", ha="left")
ax.set_xticks(np.arange(len(names)) + width, [n.replace(", ", "\n") for n in names], fontsize=7)
ax.set_ylabel("MSE / exact MMSE")
ax.set_yscale("log")
ax.legend(fontsize=7)
fig2.tight_layout()
plt.show()
