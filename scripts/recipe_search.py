"""Choose the photograph networks' training recipe by validation PSNR per CPU-minute.

Each recipe trains a blind U-Net on the ``natural`` training split for ``--steps`` steps (one torch
thread, its own cosine schedule), then every network is scored on the same held-out crops: 64 crops
(64×64) of the *training* split's photographs drawn with seed 12345 (not the test split, which the
benchmark reports), at σ ∈ {0.01, 0.03, 0.1, 0.3}.  Written to ``reports/training/recipes.md``.

    python scripts/recipe_search.py --steps 1000 --workdir /tmp/recipes

Resumable: a finished recipe's weight file is reused (its training metadata holds its wall time).
"""
from __future__ import annotations

import argparse
import json
import os

import numpy as np

RECIPES = {
    "A: 32² crops × 32, 64² images": dict(dataset="natural", patch=32, batch=32),
    "B: 64² crops × 8, 64² images": dict(dataset="natural", patch=64, batch=8),
    "C: 64² crops × 8, 128² images": dict(dataset="natural:size=128", patch=64, batch=8),
}
SIGMAS = (0.01, 0.03, 0.1, 0.3)


def main():
    import torch

    from denoisebench.registry import make_dataset, make_denoiser
    from denoisebench.noise import add_noise
    from denoisebench.networks.train import train
    from denoisebench.networks.weights_io import load_weights

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--workdir", default="/tmp/recipes")
    ap.add_argument("--only", default=None, help="train only this recipe letter (to run recipes in parallel)")
    ap.add_argument("--out", default="reports/training/recipes.md")
    args = ap.parse_args()
    torch.set_num_threads(1)
    os.makedirs(args.workdir, exist_ok=True)
    files = {}
    for name, r in RECIPES.items():
        path = os.path.join(args.workdir, f"{name[0]}.safetensors")
        files[name] = path
        if args.only and name[0] != args.only:
            continue
        if not os.path.exists(path):
            train(r["dataset"], steps=args.steps, patch=r["patch"], batch=r["batch"], augment="dihedral", out=path,
                  progress=False)
    if args.only:
        return
    clean = make_dataset("natural").sample(64, 12345, split="train")
    rows = []
    for name, path in files.items():
        _, meta = load_weights(path)
        res = meta["training"]["result"]
        d = make_denoiser("unet", weights=path)
        psnr = []
        for i, s in enumerate(SIGMAS):
            y = add_noise(clean, s, 100 + i)
            out = d(y, s)
            mse = np.mean((out - clean) ** 2, axis=(1, 2, 3))
            psnr.append(float(np.mean(10 * np.log10(1 / mse))))
        rows.append((name, RECIPES[name], res["seconds"], psnr, float(np.mean(psnr)), res["threads"]))
    with open(args.out, "w") as f:
        f.write("# Photograph recipe search\n\nBy `python scripts/recipe_search.py --steps %d` (blind U-Net, width 32, "
                "`--augment dihedral`, log-uniform σ on [0.005, 1], EDM weighting, seed 0; one torch thread each, "
                "the recipes trained side by side and sharing the 2 cores with other training runs, so their wall "
                "times compare with each other, not with an idle machine; every recipe processes 32·32² = 8·64² "
                "pixels per step). Scored on 64 held-out 64² crops of "
                "the training split's photographs (seed 12345), PSNR in dB.\n\n" % args.steps)
        f.write("| recipe | steps | wall time (min) | " + " | ".join(f"σ = {s}" for s in SIGMAS)
                + " | mean | mean dB per CPU-minute above the first recipe |\n")
        f.write("|---|---:|---:|" + "---:|" * len(SIGMAS) + "---:|---:|\n")
        base = rows[0]
        for name, r, sec, psnr, mean, threads in rows:
            gain = "—" if name == base[0] else f"{(mean - base[4]) / (sec / 60):+.4f}"
            f.write(f"| {name} | {args.steps} | {sec / 60:.1f} | " + " | ".join(f"{p:.2f}" for p in psnr)
                    + f" | {mean:.2f} | {gain} |\n")
        best = max(rows, key=lambda r: r[4])
        f.write(f"\nHighest mean PSNR at equal steps (equal pixels per step, equal CPU): **{best[0]}**, the recipe "
                "the shipped `natural` networks use (at 5000 steps; reports/training/README.md).\n")
    print(open(args.out).read())
    json.dump([[n, s, p] for n, _, s, p, _, _ in rows], open(os.path.join(args.workdir, "scores.json"), "w"))


if __name__ == "__main__":
    main()
