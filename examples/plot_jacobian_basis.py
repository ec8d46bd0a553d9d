"""
The adaptive basis of a bias-free network: its Jacobian at one image
=====================================================================

A network without additive constants (no convolution bias, batch normalisation that only divides)
is positively homogeneous, ``D(λy) = λD(y)``, hence ``D(y) = J(y) y`` by Euler's identity: at each
image it is a *linear* filter, its Jacobian J(y) (docs/theory.md §7). For an MMSE denoiser
``J = Cov[x | y]/σ²`` is symmetric positive semi-definite (§1); its top eigenvectors are the adaptive
basis the denoiser projects the noisy image onto, and its trace is the effective dimension of
that projection (Mohan et al. 2020; Kadkhodaie, Guth, Simoncelli, Mallat 2024).

The example takes the shipped blind, bias-free ``unet`` of the ``cartoon`` dataset at one 16 × 16
image and checks, with :mod:`denoisebench.analysis`: homogeneity (:func:`~denoisebench.analysis.homogeneity_error`),
Euler's identity ``J(y) y = D(y)``, how far J is from symmetric, the effective dimension ``tr J``
against Hutchinson's estimator — and, for a linear reference, the Wiener filter's trace against its closed form
``Σ_k P(k)/(P(k) + σ²)`` (§2). It then draws the top singular vectors of J — the figure
``denoisebench analyze`` draws for a set of images, with
:func:`~denoisebench.analysis.adaptive_basis` (a randomized SVD for larger images, checked here
against the exact one).
"""

# %%
# The network, an image, and its Jacobian
# ---------------------------------------
# At 16 × 16 the whole 256 × 256 Jacobian is cheap: 256 exact Jacobian-vector products (autograd).
import matplotlib.pyplot as plt
import numpy as np

import denoisebench as db
from denoisebench import analysis

ds = db.make_dataset("cartoon:size=16")
unet = db.make_denoiser("unet", dataset=ds)  # blind, bias-free, shipped weights
sigma = 0.2
x = ds.sample(1, seed=3)
y = db.add_noise(x, sigma, seed=3)
J = analysis.jacobian(unet, y, sigma, chunk=256)[0]  # (256, 256), one batch of 256 JVPs
d_y = np.asarray(unet(y, sigma), np.float64)
U, S, Vt = np.linalg.svd(J)
k = 8
print("top singular values of J(y):", np.round(S[:k], 3))

# %%
# Checks against theory
# ---------------------
# Homogeneity and Euler's identity hold to float precision (the network has no bias). Symmetry is
# what an exact MMSE denoiser would have; the trained network is only close to one: J as a whole
# is measurably non-symmetric, yet its leading left and right singular vectors nearly coincide.
hom = analysis.homogeneity_error(unet, y, sigma, lambdas=(0.5, 2.0))
print(f"homogeneity error ‖D(λy) − λD(y)‖/‖λD(y)‖ at λ = 0.5, 2: {np.round(np.ravel(hom), 7)}")
euler = np.linalg.norm(J @ y.reshape(-1) - d_y.reshape(-1)) / np.linalg.norm(d_y)
print(f"Euler's identity ‖J(y) y − D(y)‖/‖D(y)‖ = {euler:.1e}")
print(f"asymmetry ‖J − Jᵀ‖/‖J‖ = {np.linalg.norm(J - J.T) / np.linalg.norm(J):.3f} (0 for an MMSE denoiser); "
      f"|⟨u_k, v_k⟩| = {np.round(np.abs(np.sum(U[:, :k] * Vt[:k].T, axis=0)), 2)}")

tr_hutch = analysis.jacobian_trace(unet, y, sigma, probes=16, seed=0)
print(f"effective dimension tr J = {np.trace(J):.2f} of {J.shape[0]} pixels; "
      f"Hutchinson (16 probes): {tr_hutch.value[0]:.2f} ± {tr_hutch.stderr[0]:.2f}")

# %%
# :func:`~denoisebench.analysis.adaptive_basis` computes the top singular vectors without the full
# matrix when the image is large (a randomized SVD with ``Jᵀu`` from autograd): forced here with
# ``exact_max=0``, it recovers the exact top singular values.
s_rand, u_rand, _ = analysis.adaptive_basis(unet, y, sigma, k=4, exact_max=0, seed=0)
print("randomized SVD:", np.round(s_rand[0], 3), " exact:", np.round(S[:4], 3))

# %%
# A linear reference: the Wiener filter on the ``gaussian`` field, whose Jacobian is the filter
# itself, with trace Σ_k P(k)/(P(k) + σ²) in closed form.
gauss = db.make_dataset("gaussian:size=16")
_, P = gauss.power_spectrum()
wiener = db.make_denoiser("wiener-oracle", dataset=gauss)
yg = db.add_noise(gauss.sample(1, seed=0), sigma, seed=0)
for sg in (0.05, 0.2, 0.5):
    est = analysis.jacobian_trace(wiener, yg, sg, probes=None).value[0]
    print(f"wiener-oracle, σ = {sg}: tr J = {est:.4f}, Σ P/(P+σ²) = {np.sum(P / (P + sg**2)):.4f}")

# %%
# How the effective dimension falls with σ
# ----------------------------------------
# The larger the noise, the fewer directions the network keeps (Hutchinson, 8 probes each).
for sg in (0.05, 0.1, 0.4):
    ys = db.add_noise(x, sg, seed=3)
    t = analysis.jacobian_trace(unet, ys, sg, probes=8, seed=0)
    print(f"σ = {sg:4}: tr J ≈ {t.value[0]:6.1f} ± {t.stderr[0]:.1f}")

# %%
# The adaptive basis
# ------------------
# The top singular vectors (left: output side) follow the image's geometry — its edge and its two
# regions — rather than a fixed Fourier or wavelet basis.
basis = U[:, :k].T.reshape(k, 16, 16)
fig, axes = plt.subplots(2, k // 2 + 2, figsize=(11, 4.2))
for ax, (title, img) in zip(axes[:, 0], (("clean", x), (f"noisy, σ = {sigma}", y))):
    ax.imshow(np.asarray(img)[0, 0], cmap="gray", vmin=0, vmax=1)
    ax.set_title(title, fontsize=9)
axes[0, 1].imshow(d_y[0, 0], cmap="gray", vmin=0, vmax=1)
axes[0, 1].set_title("D(y)", fontsize=9)
axes[1, 1].semilogy(np.arange(1, 65), S[:64], ".-")
axes[1, 1].set_title("singular values", fontsize=9)
axes[1, 1].set_xlabel("k", fontsize=8)
for j in range(k):
    ax = axes[j % 2, 2 + j // 2]
    lim = np.abs(basis[j]).max()
    ax.imshow(basis[j], cmap="RdBu_r", vmin=-lim, vmax=lim)
    ax.set_title(f"u{j + 1}, s = {S[j]:.2f}", fontsize=9)
for ax in axes.flat:
    if ax is not axes[1, 1]:
        ax.axis("off")
fig.tight_layout()
plt.show()
