"""Where along the sampler's path does a network lose the data's geometry?

    python scripts/structure_path.py --n 128 --out reports/sample/structure-path.md

For ``cartoon`` and ``disks`` (the datasets with a structure statistic, denoisebench/experiments/_structure.py),
start the default sampler (Heun, Karras, its default steps, σ_max from the data) part-way: at σ₀, from held-out
images plus noise of std σ₀ — an exact draw of the noised data law p_σ₀ — and run the schedule's remaining
steps below σ₀ with the shipped conditioned network.  An exact denoiser keeps every image's geometry from any σ₀
(the probability flow maps p_σ₀ onto the data), so the fraction lost from a start σ₀ is what the network's
errors at σ ≤ σ₀ cost; the full default run (σ₀ = σ_max, from the mean plus noise) is the last row.  Beside
the geometry, each row's spectrum log-error against 256 further held-out images (``compare.spectrum_log_error``,
the `sample` reports' first distance): where along the path the samples' power goes.
"""
import argparse
import sys

import numpy as np

from denoisebench import compare
from denoisebench.experiments._structure import HEADLINE, structure_statistics
from denoisebench.experiments.sample import DEFAULTS, default_sigmas
from denoisebench.registry import make_dataset, make_denoiser
from denoisebench.sampling import SAMPLERS, initial_noise

STARTS = (0.1, 0.3, 1.0, 3.0, 10.0)


def path_table(name, n, seed=0, weights=None):
    """Rows ``(σ₀, steps left, fraction with the data's geometry)`` for the shipped conditioned network, with
    ``sample``'s default sampler, schedule, steps, σ_min and training images (:data:`DEFAULTS`)."""
    ds = make_dataset(name)
    key = HEADLINE[name][0]
    steps, sampler = DEFAULTS["steps"], SAMPLERS[DEFAULTS["sampler"]]
    x_train = ds.sample(DEFAULTS["n_train"], seed, split="train")
    x = ds.sample(n, seed, split="test")
    sigma_max, sigmas = default_sigmas(ds, seed)
    d = make_denoiser("unet:variant=conditioned" + (f",weights={weights}" if weights else ""), dataset=ds)
    z = np.random.default_rng([seed, 20]).standard_normal(x.shape)  # the start's noise, seeded
    reference = ds.sample(256, seed + 1, split="test")  # for the spectrum: images none of the rows uses

    def row(label, n_steps, images):
        images = np.asarray(images)
        return label, n_steps, structure_statistics(name, images)[key], compare.spectrum_log_error(images, reference)

    rows = [row("held-out images", "—", x)]
    for s0 in STARTS:
        tail = np.concatenate([[s0], sigmas[sigmas < s0]])
        start = (x + s0 * z).astype(np.float32)
        rows.append(row(f"{s0:g}", str(len(tail) - 1), sampler(d, start, tail, rng=seed).samples))
    x0 = initial_noise(n, x.shape[1:], sigma_max, seed, mean=float(x_train.mean())).astype(np.float32)
    label = f"{sigma_max:.3g} (default run: mean + σ_max·z)"
    rows.append(row(label, str(steps), sampler(d, x0, sigmas, rng=seed).samples))
    return rows


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--n", type=int, default=128)
    p.add_argument("--out", default="-")
    p.add_argument("--weights", nargs="*", default=[], metavar="DATASET=FILE",
                   help="another conditioned weight file for a dataset (default: the shipped one)")
    args = p.parse_args(argv)
    weights = dict(w.split("=", 1) if "=" in w else (w, "") for w in args.weights)
    if not set(weights) <= set(HEADLINE) or not all(weights.values()):
        p.error(f"--weights takes DATASET=FILE with DATASET one of {', '.join(HEADLINE)}; got {args.weights}")
    for name, path in weights.items():  # load and validate each file now, before any sampling
        try:
            make_denoiser(f"unet:variant=conditioned,weights={path}", dataset=make_dataset(name)).trained_on
        except (OSError, ValueError) as exc:
            p.error(f"--weights: {exc}")
    lines = ["# Where samples lose the data's geometry", "",
             f"`python scripts/structure_path.py --n {args.n} --out {args.out}"
             + "".join(f" --weights {k}={v}" for k, v in weights.items()) + f"` (n = {args.n} images per row). "
             + " ".join(__doc__.split("\n\n")[2].split()), ""]
    for name in HEADLINE:
        lines += [f"## {name}: {HEADLINE[name][1]}", "", "| start σ₀ | steps | fraction | spectrum log-error |",
                  "|---|---:|---:|---:|"]
        rows = path_table(name, args.n, weights=weights.get(name))
        lines += [f"| {a} | {b} | {c:.3f} | {e:.3f} |" for a, b, c, e in rows] + [""]
    text = "\n".join(lines)
    if args.out == "-":
        sys.stdout.write(text)
    else:
        with open(args.out, "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()
