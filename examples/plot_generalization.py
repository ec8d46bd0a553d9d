"""
Memorisation → generalisation: the training optimum memorises
=============================================================

``denoisebench generalization`` reproduces the experiment of Kadkhodaie, Guth, Simoncelli and Mallat
(ICLR 2024; docs/theory.md §10): for each training-set size N, two denoisers are trained on *disjoint*
sets S_a, S_b of N images and sampled from the *same* initial noise. Two numbers tell the regimes
apart — the cosine similarity of the two models' samples of the same seed, and each sample's cosine
with its nearest training image, beside the same cosine for held-out images (the level that new data
reaches):

- **memorisation**: samples copy training images (nearest-training cosine ≈ 1, above the held-out
  level) and the two models disagree (low same-seed cosine);
- **generalisation**: the two models draw the same image from the same noise (same-seed cosine → 1),
  and samples are no closer to their training set than new images are.

Training the U-Nets of that experiment takes minutes (the committed run: 2 × 7 networks, 3,000 steps
each, 19 minutes on 2 cores), so this example computes the two ends exactly instead, in seconds, with
the command's protocol (16 × 16 ``cartoon`` images, training sets drawn with seeds 0 and 1, Heun on
σ ∈ [0.005, 1]):

- the **empirical optimum** ``empirical`` — the exact posterior mean of the training set,
  ``D(y, σ) = Σ_m softmax(−‖y − x_m‖²/2σ²)_m x_m``, the minimiser of every denoiser's training loss.
  Theory: its probability-flow ODE ends on a training image, so a network that reaches its training
  optimum memorises, at every N;
- a model with a strong inductive bias, the **Wiener filter** fitted on the same N images (a stationary
  Gaussian prior with their mean power spectrum): it cannot copy images. Its sampler multiplies each
  Fourier mode of the initial noise by a gain, so the two fits' samples share their phases with the
  noise and agree from the smallest N — generalisation of a trivial kind: the samples are
  Gaussian textures, not cartoons.

The trained U-Nets go from the first behaviour to the second: in the committed run
(docs/user-guide/generalization.md) their nearest-training cosine is 0.997 at N = 1 and 0.976 at N = 4, and from N = 64
on their same-seed cosine is 0.88–0.93 while their samples are farther from their training sets than
held-out images are. Where this checkout has that run's ``reports/generalization/generalization.json``,
the figure draws its curves beside the two computed here (the held-out reference, computed here with
the same images, must coincide with the run's). To run it yourself (about 19 minutes)::

    denoisebench generalization --dataset cartoon:size=16 --sizes 1,4,16,64,256,1024,4096 \\
        --steps 3000 --width 16 --batch 32 --n 16 --seed 0 --jobs 2
"""

# %%
# Both ends of the transition, with the command's protocol
# --------------------------------------------------------
import json
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

import denoisebench as db
from denoisebench import sampling

ds = db.make_dataset("cartoon:size=16")
sizes = [1, 4, 16, 64, 256, 1024]
n_samples = 8
x_test = ds.sample(256, seed=0, split="test")  # held-out images: the reference level
mean = float(x_test.mean())
x0 = sampling.initial_noise(n_samples, x_test.shape[1:], 1.0, seed=0, mean=mean).astype(np.float32)
sigmas = sampling.karras_sigmas(40, sigma_min=0.005, sigma_max=1.0)


def unit(x):
    """Images minus their pixel mean, normalised: cosines are dot products of these."""
    z = x.reshape(len(x), -1).astype(np.float64)
    z = z - z.mean(axis=1, keepdims=True)
    return z / np.linalg.norm(z, axis=1, keepdims=True)


def nearest_cos(x, train):
    return (unit(x) @ unit(train).T).max(axis=1)


stats = {name: {k: [] for k in ("same_seed", "nearest", "held_out")} for name in ("empirical", "wiener")}
shown = {}
for n in sizes:
    sets = {"a": ds.sample(n, seed=0, split="train"), "b": ds.sample(n, seed=1, split="train")}
    held_out = np.mean([nearest_cos(x_test, s).mean() for s in sets.values()])
    for name in stats:
        out = {}
        for k, train in sets.items():
            d = db.make_denoiser(name).fit(train)
            out[k] = np.asarray(sampling.heun(d, x0, sigmas).samples)
        stats[name]["same_seed"].append(np.mean(np.sum(unit(out["a"]) * unit(out["b"]), axis=1)))
        stats[name]["nearest"].append(np.mean([nearest_cos(out[k], sets[k]).mean() for k in sets]))
        stats[name]["held_out"].append(held_out)
        shown[name, n] = out["a"][:3], out["b"][:3]

print(f"{'N':>5} {'held-out ↔ nearest train':>25} | {'empirical: same seed':>20} {'nearest':>8} | "
      f"{'wiener: same seed':>17} {'nearest':>8}")
for i, n in enumerate(sizes):
    e, w = stats["empirical"], stats["wiener"]
    print(f"{n:5d} {e['held_out'][i]:25.3f} | {e['same_seed'][i]:20.3f} {e['nearest'][i]:8.3f} | "
          f"{w['same_seed'][i]:17.3f} {w['nearest'][i]:8.3f}")
print("theory: the empirical optimum's samples are training images (nearest cosine 1 at every N)")

# %%
# The committed U-Net run, if this checkout has it (read-only)
# ------------------------------------------------------------
report = Path(db.__file__).resolve().parents[1] / "reports" / "generalization" / "generalization.json"
unets = None
if report.is_file():
    run = json.loads(report.read_text(encoding="utf-8"))["sizes"]
    unets = {int(n): m for n, m in run.items()}
    print(f"{'N':>5} {'held-out ↔ nearest (run)':>25} {'(here)':>7} | {'U-Nets: same seed':>17} {'nearest':>8}")
    for n, m in sorted(unets.items()):
        here = stats["empirical"]["held_out"][sizes.index(n)] if n in sizes else float("nan")
        print(f"{n:5d} {m['data_nearest_train_cos']['mean']:25.3f} {here:7.3f} | {m['cos_ab']['mean']:17.3f} "
              f"{m['nearest_train_cos']['both']['mean']:8.3f}")

# %%
# The transition curves and the samples
# -------------------------------------
# First figure: the command's two curves for each model, against N. Second: three samples of model a
# and model b (same seeds) at N = 4 and N = 1024: the empirical optimum's are training images of S_a
# and S_b (different, as the two sets are), the Wiener filter's are the same texture twice.
fig, ax = plt.subplots(figsize=(10, 4.2))
ax.semilogx(sizes, stats["empirical"]["held_out"], "k--", label="held-out image ↔ nearest training image")
for name, color in (("empirical", "C3"), ("wiener", "C0")):
    ax.semilogx(sizes, stats[name]["nearest"], "s-", color=color, label=f"{name}: sample ↔ nearest training image")
    ax.semilogx(sizes, stats[name]["same_seed"], "o:", color=color, label=f"{name}: sample a ↔ sample b (same seed)")
if unets is not None:
    ns = sorted(unets)
    ax.semilogx(ns, [unets[n]["nearest_train_cos"]["both"]["mean"] for n in ns], "s-", color="C2",
                label="U-Nets (committed run): sample ↔ nearest training image")
    ax.semilogx(ns, [unets[n]["cos_ab"]["mean"] for n in ns], "o:", color="C2",
                label="U-Nets (committed run): sample a ↔ sample b")
ax.set_xlabel("training images N (per model)")
ax.set_ylabel("cosine similarity")
ax.set_ylim(-0.1, 1.05)
ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1))
fig.tight_layout()

fig2, axes = plt.subplots(4, 6, figsize=(7, 5))
for r, (name, n) in enumerate([("empirical", 4), ("empirical", 1024), ("wiener", 4), ("wiener", 1024)]):
    a, b = shown[name, n]
    for j in range(3):
        for c, (label, img) in ((2 * j, ("a", a[j])), (2 * j + 1, ("b", b[j]))):
            sub = axes[r, c]
            sub.imshow(img[0], cmap="gray", vmin=0, vmax=1)
            sub.set_xticks([])
            sub.set_yticks([])
            if r == 0:
                sub.set_title(f"seed {j}, model {label}", fontsize=7)
            if c == 0:
                sub.set_ylabel(f"{name}\nN = {n}", fontsize=8)
fig2.tight_layout()
plt.show()
