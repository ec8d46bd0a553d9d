"""
Your own images, at σ = 25/255
==============================

The ``folder`` dataset benchmarks the images of a folder of yours (PNG, JPEG, TIFF or ``.npy``,
scaled to [0, 1], sorted by name): ``folder:path=DIR,crop=0`` evaluates each image whole, and a
``DIR/train`` sub-folder, if present, holds the clean images that learning denoisers (``wiener``,
the fitted thresholding estimators) are fitted on. ``--protocol 8bit`` is the published protocol:
σ in 8-bit units, clean images quantised to 8 bits, estimates clipped to [0, 1].

Here the "folder of yours" is made on the fly in a temporary directory: four 96 × 96 crops of
photographs shipped with scikit-image, saved as PNG. The grid runs at σ = 25/255 and the table reports, per denoiser, the PSNR of the mean MSE
and the mean of the per-image PSNRs (what papers report). The identity is the check theory gives:
its MSE is σ² = (25/255)², a PSNR of 20.17 dB, up to the quantisation and clipping of the protocol.
The figure re-draws the images' noise with :func:`denoisebench.add_noise` and denoises them with
the same denoisers as the table, which reproduces the table's numbers.
"""

# %%
# A folder of PNG files
# ---------------------
import os
import tempfile

import matplotlib.pyplot as plt
import numpy as np
import skimage.data
import skimage.io

import denoisebench as db
from denoisebench.cli import main

tmp = tempfile.TemporaryDirectory()
folder = os.path.join(tmp.name, "my-images")
os.makedirs(folder)
crops = {"camera": (skimage.data.camera(), 60, 200), "coins": (skimage.data.coins(), 90, 40),
         "brick": (skimage.data.brick(), 0, 0), "text": (skimage.data.text(), 40, 180)}
for name, (image, top, left) in crops.items():
    skimage.io.imsave(os.path.join(folder, f"{name}.png"), image[top:top + 96, left:left + 96],
                      check_contrast=False)
print(sorted(os.listdir(folder)))

# %%
# Benchmark the folder
# --------------------
# Without a ``train`` sub-folder nothing can be fitted, so the denoisers are those that need no
# training images: the classical thresholding estimators (``clip=false,coarse=keep``), the
# scikit-image peer, and the shipped U-Nets (a folder uses the weights of ``natural`` photographs).
spec = f"folder:path={folder},crop=0"
denoisers = ["identity", "wavelet:clip=false,coarse=keep", "wavelet-ti:clip=false,coarse=keep",
             "skimage-wavelet", "unet", "unet:variant=conditioned"]
out = os.path.join(tmp.name, "run")
main(["run", "--datasets", spec, "--denoisers", *denoisers, "--sigmas", "25/255",
      "--protocol", "8bit", "--out", out])
df = db.load_results(out)
print(df[["denoiser", "n", "mse", "psnr", "psnr_images"]].to_string(index=False, float_format="{:.4g}".format))
sigma = 25 / 255
print(f"identity: theory σ² = {sigma**2:.5g} (PSNR {-20 * np.log10(sigma):.2f} dB), "
      f"measured {df[df.denoiser == 'identity'].mse.iloc[0]:.5g} over 4 images")

# %%
# Clean, noisy and denoised
# -------------------------
# The dataset object reads the same files. We quantise the clean images to 8 bits and draw
# image *i*'s noise from the seeded stream ``add_noise(x_i, σ, seed=0, start=i)``, then clip the
# estimates to [0, 1], as the protocol does.
ds = db.make_dataset(spec)
xs = [np.round(x.astype(np.float64) * 255) / 255 for x in ds.images(split="test")]
ys = [db.add_noise(x, sigma, seed=0, start=i) for i, x in enumerate(xs)]
shown = ["identity", "wavelet-ti:clip=false,coarse=keep", "unet:variant=conditioned"]
rows = {}
for name in shown:
    d = db.make_denoiser(name, dataset=ds) if name.startswith("unet") else db.make_denoiser(name)
    rows[name] = [np.clip(np.asarray(d(y, sigma)), 0, 1) for y in ys]
    psnrs = [10 * np.log10(1 / np.mean((e - x) ** 2)) for e, x in zip(rows[name], xs)]
    stored = df[df.denoiser == name].psnr_images.iloc[0]
    print(f"{name:36s} mean PSNR over images: here {np.mean(psnrs):.2f} dB, stored {stored:.2f} dB")

fig, axes = plt.subplots(len(xs), len(shown) + 1, figsize=(8, 8.4))
for i, x in enumerate(xs):
    axes[i, 0].imshow(x[0, 0], cmap="gray", vmin=0, vmax=1)
    axes[i, 0].set_title("clean" if i == 0 else "", fontsize=9)
    for j, name in enumerate(shown, start=1):
        e = rows[name][i]
        label = "noisy" if name == "identity" else name.split(":")[0] if name.startswith("wavelet") else "unet (cond.)"
        axes[i, j].imshow(e[0, 0], cmap="gray", vmin=0, vmax=1)
        axes[i, j].set_title(f"{label}: {10 * np.log10(1 / np.mean((e - x) ** 2)):.2f} dB", fontsize=9)
for ax in axes.flat:
    ax.axis("off")
fig.suptitle("σ = 25/255 (8-bit protocol)")
fig.tight_layout()
plt.show()
tmp.cleanup()
