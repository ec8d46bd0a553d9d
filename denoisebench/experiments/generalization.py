"""Memorisation → generalisation: two U-Nets on disjoint training sets of size N, same noise.

For each training-set size N, two bias-free U-Nets are trained by :func:`denoisebench.networks.train.train`
on two disjoint sets S_a, S_b of N images each (the dataset drawn with two different seeds; the
experiment measures and reports the smallest distance between the sets, so "disjoint" is
checked, not assumed).  Both then drive the same deterministic sampler (EDM's Heun by default)
from the same initial noise.  Against N, it reports

- the cosine similarity of the two models' samples of the same seed, each minus its pixel mean
  (:func:`~denoisebench.compare.same_seed_cosine`): low while each network reproduces its own
  training images, near 1 once both have learnt the same density;
- each sample's cosine similarity with its nearest image of its own training set
  (:func:`~denoisebench.compare.nearest_cosine`): 1 for a copy;
- the same nearest-training similarity for held-out data, the level a sample reaches by
  being a new draw of the data — the reference below which "novel" begins;
- the cosine similarity of each sample with the sample that the *empirical* optimum of the same
  training set (:class:`~denoisebench.denoisers.EmpiricalPosterior`, the minimiser of the training
  loss, which memorises) draws from the same noise: 1 when the network has become that optimum.

Files (``OUT``): ``generalization.json`` (rewritten after each N); trained weights in ``OUT/weights``
(each written when its training ends, and reused when the command is rerun, so an interrupted run
loses no finished network; an unfinished one resumes from its checkpoint);
``generalization.md``, ``transition.png`` (the curves against N) and ``samples.png`` (per N: samples
of both models from the same seeds beside their nearest training images).

The σ range is [0.005, 1] in training and sampling: a bias-free network is homogeneous,
``D(λy) = λD(y)``, so it cannot hold the data's mean level as a constant, and at σ far above the
pixel range it is worse than predicting the mean image (measured on 16² disks: 1.5 dB at σ = 10
against 10.3 dB for the mean image).  Starting the sampler at σ = 1 around the data mean, as
Kadkhodaie & Simoncelli's ascent does (σ_0 = 1), keeps every step inside the trained range.

References
----------
Z. Kadkhodaie, F. Guth, E. P. Simoncelli, S. Mallat, "Generalization in diffusion models arises from
geometry-adaptive harmonic representations", ICLR 2024, §2 and fig. 2; docs/theory.md §10.
T. Karras et al., NeurIPS 2022, Algorithm 2 (the sampler).
"""
from __future__ import annotations

import json
import os
import sys
import time

import numpy as np

from .. import compare
from ._sample_files import _md_table
from ..registry import SpecError, make_dataset
from ..sampling import SAMPLERS, SCHEDULES, initial_noise

__all__ = ["DEFAULTS", "run_generalization"]

#: Defaults: 16×16 cartoons (see the README for why), seven sizes, a small U-Net trained on whole images.
DEFAULTS = {"sizes": (1, 4, 16, 64, 256, 1024, 4096), "steps": 3000, "width": 16, "batch": 32, "n": 16,
            "sampler": "heun", "sampler_steps": 40, "sigma_max": 1.0, "sigma_min": 0.005, "n_data": 256,
            "seed": 0, "jobs": 1, "out": "denoisebench-out/generalization", "weights": None}
MODELS = ("a", "b")


def model_seeds(seed):
    """Seeds of the two models: each seeds its training set, its initialisation and its batches."""
    return {"a": 2 * int(seed), "b": 2 * int(seed) + 1}


def _check(dataset, s):
    sizes = s["sizes"]
    if not sizes or any(not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < 1 for n in sizes):
        raise SpecError(f"sizes must be integers >= 1; got {sizes!r}")
    for key, lo in (("steps", 1), ("width", 1), ("batch", 1), ("n", 1), ("sampler_steps", 1), ("n_data", 2),
                    ("seed", 0), ("jobs", 1)):
        if not isinstance(s[key], int) or isinstance(s[key], bool) or s[key] < lo:
            raise SpecError(f"{key} must be an integer >= {lo}; got {s[key]!r}")
    if s["sampler"] not in SAMPLERS:
        raise SpecError(f"unknown sampler {s['sampler']!r}; valid: {', '.join(SAMPLERS)}")
    if not 0 < s["sigma_min"] < s["sigma_max"] < float("inf"):
        raise SpecError(f"need 0 < sigma_min < sigma_max < inf; got {s['sigma_min']}, {s['sigma_max']}")
    ds = make_dataset(dataset)
    if min(ds.shape) < 4 or any(v % 4 for v in ds.shape):
        raise SpecError(f"the U-Net trains on whole images here: the size must be a multiple of 4; got {ds.shape}")
    return ds


def _trained(path, dataset, n_train, seed, s, progress):
    """Weights for (N, seed): reuse ``path`` if it holds exactly these settings, else train them."""
    from ..networks.train import train
    from ..networks.weights_io import load_weights

    want = {"dataset": dataset, "n_train": n_train, "seed": seed, "steps": s["steps"], "width": s["width"],
            "batch": s["batch"], "sigma_max": float(s["sigma_max"]), "sigma_min": float(s["sigma_min"])}
    if os.path.exists(path):
        training = load_weights(path)[1]["training"]
        have = {k: training.get(k) for k in want}
        if have == want:
            return training["result"]
        raise ValueError(f"{path} holds weights trained with other settings ({have}); delete it or use another --out")
    result = train(dataset, n_train=n_train, steps=s["steps"], patch=None, width=s["width"], seed=seed, out=path,
                   batch=s["batch"], sigma_max=s["sigma_max"], sigma_min=s["sigma_min"], progress=progress,
                   val_every=max(s["steps"] // 4, 1), ckpt_every=max(s["steps"] // 4, 1))
    return {k: result[k] for k in ("val_psnr", "seconds")}


def _trained_in_worker(args):
    """:func:`_trained` in a pool worker, with this worker's share of the cores for torch."""
    import torch

    threads, *rest = args
    torch.set_num_threads(threads)
    return _trained(*rest, progress=False)


def _train_all(dataset, s, seeds, wdir, progress):
    """Weights of every (N, model), trained ``s['jobs']`` at a time; {(N, model): training result}."""
    tasks = [((n, k), (os.path.join(wdir, f"n{n}-{k}.safetensors"), dataset, n, seeds[k], s))
             for n in s["sizes"] for k in MODELS]
    if s["jobs"] == 1:
        return {key: _trained(*args, progress=progress) for key, args in tasks}
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    threads = max(1, (os.cpu_count() or 1) // s["jobs"])
    with ProcessPoolExecutor(s["jobs"], mp_context=multiprocessing.get_context("spawn")) as pool:
        done = pool.map(_trained_in_worker, [(threads, *args) for _, args in tasks])
        results = {}
        for (key, _), result in zip(tasks, done):
            results[key] = result
            if progress:
                print(f"trained N = {key[0]}, model {key[1]} ({result['seconds']:.0f} s)", file=sys.stderr)
    return results


def _mean_se(v):
    v = np.asarray(v, dtype=np.float64)
    v = v[np.isfinite(v)]
    if not v.size:
        return {"mean": None, "se": None}
    return {"mean": float(v.mean()), "se": float(v.std(ddof=1) / np.sqrt(v.size)) if v.size > 1 else None}


def _size_metrics(samples, memorised, train_sets, x_test):
    """The numbers of one N: same-seed cosines, nearest-training cosines (samples and held-out data)."""
    out = {"cos_ab": _mean_se(compare.same_seed_cosine(samples["a"], samples["b"])), "nearest_train_cos": {},
           "nearest_index": {},
           "cos_empirical": _mean_se(np.concatenate([compare.same_seed_cosine(samples[k], memorised[k])
                                                     for k in MODELS]))}
    nearest = {k: compare.nearest_cosine(samples[k], train_sets[k]) for k in MODELS}
    for k, (cos, index) in nearest.items():
        out["nearest_train_cos"][k] = _mean_se(cos)
        out["nearest_index"][k] = index.tolist()
    out["nearest_train_cos"]["both"] = _mean_se(np.concatenate([cos for cos, _ in nearest.values()]))
    held_out = np.concatenate([compare.nearest_cosine(x_test, train_sets[k])[0] for k in MODELS])
    out["data_nearest_train_cos"] = _mean_se(held_out)
    out["train_sets_min_distance"] = float(compare.nearest_distances(train_sets["a"], train_sets["b"]).min())
    return out


def run_generalization(dataset, out=DEFAULTS["out"], progress=True, **settings):
    """Run the experiment; returns the paths written (see the module docstring).

    ``settings`` are the keys of :data:`DEFAULTS`: ``sizes`` (training-set sizes N), ``steps``,
    ``width``, ``batch`` (training of each U-Net, on whole images), ``n`` (samples per model),
    ``sampler``, ``sampler_steps``, ``sigma_max``, ``sigma_min`` (the training σ range and the
    sampler's), ``n_data`` (held-out images of the reference), ``seed``, ``jobs`` (U-Nets trained at
    once, each in its own process with its share of the cores), ``weights`` (directory of the
    trained weights; default ``OUT/weights``; each finished network is kept there and reused).  A bad request raises
    :class:`~denoisebench.registry.SpecError` before anything is trained.
    """
    from ..denoisers import EmpiricalPosterior, UNet

    unknown = sorted(set(settings) - set(DEFAULTS))
    if unknown:
        raise TypeError(f"unknown settings {unknown}; valid: {sorted(DEFAULTS)}")
    s = {**DEFAULTS, **settings}
    s["sizes"] = sorted(set(int(n) for n in s["sizes"])) if s["sizes"] else []
    ds = _check(dataset, s)
    wdir = s["weights"] or os.path.join(out, "weights")
    os.makedirs(wdir, exist_ok=True)
    seeds = model_seeds(s["seed"])
    x_test = ds.sample(s["n_data"], s["seed"], split="test")
    mean = float(x_test.mean())
    x0 = initial_noise(s["n"], x_test.shape[1:], s["sigma_max"], s["seed"], mean=mean).astype(np.float32)
    sigmas = SCHEDULES["karras"](s["sampler_steps"], s["sigma_min"], s["sigma_max"])
    report = {"settings": {**{k: v for k, v in s.items() if k != "weights"}, "dataset": dataset, "out": out,
                           "model_seeds": seeds, "data_mean": mean, "shape": list(x_test.shape[1:])},
              "sizes": {}}
    json_path = os.path.join(out, "generalization.json")
    trained = _train_all(dataset, s, seeds, wdir, progress)
    all_samples, all_train = {}, {}
    for n_train in s["sizes"]:
        samples, memorised, train_sets, training = {}, {}, {}, {}
        for k in MODELS:
            path = os.path.join(wdir, f"n{n_train}-{k}.safetensors")
            train_sets[k] = ds.sample(n_train, seeds[k], split="train")
            start = time.perf_counter()
            result = SAMPLERS[s["sampler"]](UNet(weights=path), x0, sigmas, rng=s["seed"])
            samples[k] = np.asarray(result.samples, dtype=np.float64)
            training[k] = {**trained[n_train, k], "sample_s": time.perf_counter() - start, "nfe": int(result.nfe)}
            np.save(os.path.join(out, f"samples_n{n_train}_{k}.npy"), samples[k].astype(np.float32))
            optimum = EmpiricalPosterior().fit(train_sets[k])
            memorised[k] = np.asarray(SAMPLERS[s["sampler"]](optimum, x0.astype(np.float64), sigmas,
                                                             rng=s["seed"]).samples)
        report["sizes"][str(n_train)] = {**_size_metrics(samples, memorised, train_sets, x_test), "models": training}
        all_samples[n_train], all_train[n_train] = samples, train_sets
        with open(json_path, "w", encoding="utf-8") as f:
            json.dump(report, f, indent=1)
        if progress:
            m = report["sizes"][str(n_train)]
            print(f"N = {n_train}: cos(a, b) = {m['cos_ab']['mean']:.3f}, nearest-training cos = "
                  f"{m['nearest_train_cos']['both']['mean']:.3f}", file=sys.stderr)
    paths = [json_path, os.path.join(out, "generalization.md"), os.path.join(out, "transition.png"),
             os.path.join(out, "samples.png")]
    with open(paths[1], "w", encoding="utf-8") as f:
        f.write(generalization_markdown(report))
    _plot_transition(paths[2], report)
    _plot_samples(paths[3], all_samples, all_train, report)
    return paths


# -- reports -----------------------------------------------------------------------------------------
def _pm(stat, spec=".3f"):
    if stat["mean"] is None:
        return "—"
    return format(stat["mean"], spec) + ("" if stat["se"] is None else f" ± {stat['se']:{spec}}")


def generalization_markdown(report):
    """generalization.md: the settings, the command, and one row per training-set size."""
    s = report["settings"]
    sizes = ",".join(str(n) for n in s["sizes"])
    rows = []
    for n, m in report["sizes"].items():
        t = m["models"]
        rows.append([n, _pm(m["cos_ab"]), _pm(m["nearest_train_cos"]["both"]), _pm(m["data_nearest_train_cos"]),
                     _pm(m["cos_empirical"]),
                     f"{m['train_sets_min_distance']:.3g}",
                     " / ".join(f"{t[k]['val_psnr']:.2f}" for k in MODELS),
                     " / ".join(f"{t[k]['seconds']:.0f}" for k in MODELS)])
    return "\n".join([
        f"# Memorisation → generalisation on `{s['dataset']}` ({s['shape'][1]}×{s['shape'][2]})", "",
        "Regenerate with:", "",
        f"    denoisebench generalization --dataset {s['dataset']} --sizes {sizes} --steps {s['steps']} "
        f"--width {s['width']} --batch {s['batch']} --n {s['n']} --seed {s['seed']} --jobs {s['jobs']} "
        f"--out {s['out']}", "",
        f"Per N, two bias-free U-Nets (width {s['width']}, {s['steps']} Adam steps of {s['batch']} whole noisy "
        f"images, σ log-uniform on [{s['sigma_min']:g}, {s['sigma_max']:g}]) on disjoint training sets (seeds "
        f"{s['model_seeds']['a']} and {s['model_seeds']['b']}), then {s['n']} samples each by `{s['sampler']}` "
        f"({s['sampler_steps']} Karras steps from σ = {s['sigma_max']:g}) from the same initial noise. Cosines are of "
        f"mean-removed images; mean ± standard error over samples. Held-out reference: {s['n_data']} test images' "
        "cosine with their nearest image of each training set.", "",
        _md_table(["N", "cos(sample a, sample b)", "cos(sample, nearest training image)",
                   "cos(held-out image, nearest training image)", "cos(sample, empirical-optimum sample)",
                   "min distance S_a–S_b",
                   "validation PSNR a / b (dB)", "training s a / b"], rows), "",
        "Memorisation: samples copy training images (nearest-training cosine ≈ 1, above the held-out level) and "
        "the two models disagree (low same-seed cosine); the network draws what the empirical optimum of its "
        "training set draws from the same noise. Generalisation: the two models draw the same image from the same "
        "noise (same-seed cosine → 1), samples are no closer to their training set than new data is, and they "
        "differ from the empirical optimum's.",
        ""])


def _plot_transition(path, report):
    from matplotlib.figure import Figure

    sizes = [int(n) for n in report["sizes"]]
    curves = (("cos(sample a, sample b), same seed", lambda m: m["cos_ab"], "C0-o"),
              ("cos(sample, nearest training image)", lambda m: m["nearest_train_cos"]["both"], "C3-s"),
              ("cos(sample, empirical-optimum sample)", lambda m: m["cos_empirical"], "C2-^"),
              ("cos(held-out image, nearest training image)", lambda m: m["data_nearest_train_cos"], "k--"))
    fig = Figure(figsize=(5.8, 4))
    ax = fig.subplots()
    for label, get, style in curves:
        stats = [get(report["sizes"][str(n)]) for n in sizes]
        mean = np.array([np.nan if st["mean"] is None else st["mean"] for st in stats])
        se = np.array([0.0 if st["se"] is None else st["se"] for st in stats])
        ax.errorbar(sizes, mean, yerr=se, fmt=style, capsize=2, label=label, ms=4)
    ax.set_xscale("log")
    ax.set_xlabel("training-set size N")
    ax.set_ylabel("cosine similarity")
    s = report["settings"]
    ax.set_title(f"{s['dataset']}: memorisation → generalisation", fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def _plot_samples(path, all_samples, all_train, report, seeds=3):
    """Per N (rows): for each of ``seeds`` seeds, sample a, its nearest in S_a, sample b, its nearest in S_b."""
    from matplotlib.figure import Figure

    sizes = sorted(all_samples)
    cols = min(seeds, next(iter(all_samples.values()))["a"].shape[0])
    fig = Figure(figsize=(1.0 * 4 * cols + 0.8, 1.05 * len(sizes) + 0.5))
    axes = fig.subplots(len(sizes), 4 * cols, squeeze=False)
    for r, n in enumerate(sizes):
        m = report["sizes"][str(n)]
        for c in range(cols):
            for j, k in enumerate(MODELS):
                nearest = all_train[n][k][m["nearest_index"][k][c]]
                for i, (img, title) in enumerate(((all_samples[n][k][c], f"{k} #{c}"), (nearest, f"near {k}"))):
                    ax = axes[r, 4 * c + 2 * j + i]
                    ax.imshow(img[0] if img.shape[0] == 1 else np.moveaxis(img, 0, -1).clip(0, 1), cmap="gray",
                              interpolation="nearest")
                    ax.set_xticks([])
                    ax.set_yticks([])
                    if r == 0:
                        ax.set_title(title, fontsize=7)
        axes[r, 0].set_ylabel(f"N = {n}", rotation=0, ha="right", va="center", fontsize=8)
    fig.subplots_adjust(left=0.8 / (4 * cols + 0.8), right=0.995, top=1 - 0.35 / (1.05 * len(sizes) + 0.5),
                        bottom=0.01, wspace=0.05, hspace=0.08)
    fig.savefig(path, dpi=100)


# -- command line ------------------------------------------------------------------------------------
