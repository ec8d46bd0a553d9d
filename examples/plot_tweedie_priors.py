"""
A denoiser is a prior: Tweedie scores and samples
=================================================

By Tweedie's formula (Robbins 1956, Miyasawa 1961; docs/theory.md §1) the MMSE denoiser
``D(y, σ) = E[x | y]`` gives the score of the noisy density,

    score(y, σ) = ∇ log p_σ(y) = (D(y, σ) − y) / σ²,

and any other denoiser defines, through the same formula, the score of the prior it implies.
:func:`denoisebench.tweedie_score` builds that score, and :mod:`denoisebench.sampling` drives one
shared sampler (EDM's Heun method on the probability-flow ODE, docs/theory.md §8) with it.

On the stationary ``gaussian`` field the optimum is known (docs/theory.md §2): with spectrum P(k)
and mean μ, ``score(y, σ) = −(C + σ²I)⁻¹(y − μ)``, C the circulant covariance. The example checks
the ``optimal`` denoiser's Tweedie score against that formula solved densely, measures how far the
scores of three other priors are from it — the ``wiener`` filter fitted on training images, the
fitted translation-invariant wavelet thresholding ``wavelet-ti`` and the shipped σ-conditioned
U-Net — and then draws samples from all four priors from the same initial noise, comparing their
power spectra with P(k).
"""

# %%
# The exact score, checked densely
# --------------------------------
# C is circulant: its first row is the inverse DFT of P. A dense 1024 × 1024 solve is
# independent of the FFT the denoiser uses.
import matplotlib.pyplot as plt
import numpy as np

import denoisebench as db
from denoisebench import sampling
from denoisebench.experiments.sample import DEFAULTS as SAMPLE_DEFAULTS  # `denoisebench sample`'s settings

ds = db.make_dataset("gaussian:size=32")
mu, P = ds.power_spectrum()
H, W = P.shape
c = np.real(np.fft.ifft2(P))  # covariance as a function of the lag
ii, jj = np.meshgrid(np.arange(H), np.arange(W), indexing="ij")
lag_i = (ii.reshape(-1, 1) - ii.reshape(1, -1)) % H
lag_j = (jj.reshape(-1, 1) - jj.reshape(1, -1)) % W
C = c[lag_i, lag_j]

x = ds.sample(2, seed=0).astype(np.float64)
optimal = db.make_denoiser("optimal", dataset=ds)
score_opt = db.tweedie_score(optimal)
for sigma in (0.05, 0.2, 1.0):
    y = db.add_noise(x, sigma, seed=0)
    dense = -np.linalg.solve(C + sigma**2 * np.eye(H * W), (y - mu).reshape(2, -1).T).T.reshape(y.shape)
    tweedie = np.asarray(score_opt(y, sigma))
    rel = np.linalg.norm(tweedie - dense) / np.linalg.norm(dense)
    print(f"σ = {sigma:4}: ‖Tweedie score of `optimal` − (−(C+σ²I)⁻¹(y−μ))‖ / ‖·‖ = {rel:.1e}")

# %%
# How far other priors' scores are from the true one
# --------------------------------------------------
# The relative score error equals the denoiser's relative excess error ‖D(y) − E[x|y]‖/‖E[x|y] − y‖.
x_train = ds.sample(256, seed=0, split="train")
priors = {
    "optimal": optimal,
    "wiener": db.make_denoiser("wiener").fit(x_train),
    "wavelet-ti": db.make_denoiser("wavelet-ti").fit(x_train),
    "unet (conditioned)": db.make_denoiser("unet:variant=conditioned", dataset=ds),
}
x4 = ds.sample(4, seed=0).astype(np.float32)
print(f"{'σ':>5} " + " ".join(f"{name:>19}" for name in priors))
for sigma in (0.05, 0.2, 1.0, 3.0):
    y = db.add_noise(x4, sigma, seed=0)
    ref = np.asarray(score_opt(y.astype(np.float64), sigma))
    errs = [np.linalg.norm(np.asarray(db.tweedie_score(d)(y, sigma)) - ref) / np.linalg.norm(ref)
            for d in priors.values()]
    print(f"{sigma:5} " + " ".join(f"{e:19.3f}" for e in errs))

# %%
# Samples from the four priors, from the same noise
# -------------------------------------------------
# σ_max = 3 × the largest per-mode standard deviation of the training images (what
# ``denoisebench sample`` uses): the start must cover the largest mode of the data. 28 Heun steps,
# 55 denoiser evaluations per sample (``sample``'s default: the fewest whose exact samples of
# ``gaussian`` stay within the KL and spectrum floors, reports/sampler-error).
xc = x_train - x_train.mean()
P_hat = np.mean(np.abs(np.fft.fft2(xc[:, 0])) ** 2, axis=0) / (H * W)  # periodogram of the data
sigma_max = 3 * float(np.sqrt(P_hat.max()))
sigmas = sampling.karras_sigmas(SAMPLE_DEFAULTS["steps"], sigma_min=0.002, sigma_max=sigma_max)
n = 4
x_init = sampling.initial_noise(n, (1, H, W), sigma_max, seed=0, mean=float(x_train.mean())).astype(np.float32)
samples = {}
for name, d in priors.items():
    result = sampling.heun(d, x_init, sigmas, rng=0)
    samples[name] = np.asarray(result.samples, dtype=np.float64)
    print(f"{name:19s} σ_max = {sigma_max:.2f}, NFE = {result.nfe}, pixel std {samples[name].std():.3f} "
          f"(data {x_train.std():.3f}), mean {samples[name].mean():.3f} (data {x_train.mean():.3f})")


# %%
# Power spectra against P(k)
# --------------------------
# Each prior's periodogram (mean over its samples) against the true spectrum: the mean absolute
# log-ratio over all frequencies k ≠ 0, beside the same statistic for as many held-out images
# (the floor that n exact samples reach).
def periodogram(imgs):
    s = imgs[:, 0] - imgs[:, 0].mean(axis=(1, 2), keepdims=True)
    return np.mean(np.abs(np.fft.fft2(s)) ** 2, axis=0) / (H * W)


def log_error(imgs):
    return float(np.mean(np.abs(np.log(periodogram(imgs)[1:, :] / P[1:, :]))))


held_out = ds.sample(n, seed=1).astype(np.float64)
print(f"spectrum log-error, held-out images (floor): {log_error(held_out):.3f}")
for name, imgs in samples.items():
    print(f"spectrum log-error, {name:19s}: {log_error(imgs):.3f}")


def radial(spectrum):
    k = np.hypot(*np.meshgrid(np.fft.fftfreq(H) * H, np.fft.fftfreq(W) * W, indexing="ij"))
    bins = np.arange(1, H // 2 + 1)
    idx = np.digitize(k, bins - 0.5)
    return bins, np.array([spectrum[idx == b].mean() for b in range(1, len(bins) + 1)])


fig = plt.figure(figsize=(9, 5.4))
grid = fig.add_gridspec(len(priors) + 1, n + 1, width_ratios=[1] * n + [3.2])
rows = {"held-out data": held_out, **samples}
for r, (name, imgs) in enumerate(rows.items()):
    for j in range(n):
        ax = fig.add_subplot(grid[r, j])
        ax.imshow(imgs[j, 0], cmap="gray", vmin=0, vmax=1)
        ax.set_xticks([])
        ax.set_yticks([])
        if j == 0:
            ax.set_ylabel(name.replace(" (", "\n("), fontsize=8)
ax = fig.add_subplot(grid[:, n])
k, true = radial(P)
ax.loglog(k, true, "k-", lw=3, alpha=0.5, label="true P(k)")
for (name, imgs), style in zip(samples.items(), ["o-", "x--", "s-", "^-"]):
    ax.loglog(k, radial(periodogram(imgs))[1], style, ms=3, lw=1, label=name)
ax.set_xlabel("|k| (cycles per image)")
ax.set_ylabel("radially averaged power")
ax.set_title(f"spectra of {n} samples per prior", fontsize=9)
ax.legend(fontsize=7)
fig.tight_layout()
plt.show()
