"""``denoisebench sample``: every denoiser drives the same sampler from the same noise.

For each denoiser, the samples go to ``samples_<name>.npy``; then ``grid.png`` shows the
same seeds side by side (a row per denoiser, the last row held-out data), ``spectra.png``
overlays the samples' radial power spectra on the data's, and ``metrics.json`` and
``comparison.md`` hold the :mod:`denoisebench.compare` metrics against held-out
(``split='test'``) and training (``split='train'``) data.  A reference row, ``n`` more
held-out images scored the same way, gives each metric's finite-sample floor.  Every row also
carries the pixel marginal's excess kurtosis (0 for a Gaussian prior) and, for a dataset with an
``order_parameter`` (φ⁴'s magnetisation), its Binder cumulant; ``order_parameter.png`` shows
the histograms (docs/theory.md §15).

Use :func:`add_sample_command` to add the sub-command to an argparse parser;
:func:`run_sample` is the same from Python.
"""
from __future__ import annotations

import math
import os
import re
import sys
import time
import warnings

import numpy as np

from .. import compare
from .._array_api import SIGMA_MAX, from_numpy, synchronize, to_numpy
from ..memory import check_fits
from ..base import NotApplicableError
from ..registry import SpecError, make_dataset, make_denoiser
from ..registry.specs import size_arg
from ..sampling.sampler_error import SIGMA_MAX_FACTOR, default_sigma_max
from ..sampling import SAMPLERS, SCHEDULES, initial_noise, validate_churn
from ._sample_files import DATA_LABEL, write_reports
from ._structure import structure_statistics

__all__ = ["build_denoiser", "floor", "range_warnings", "run_sample", "trained_sigma_range"]

#: ``steps``: the smallest Heun/Karras step count from which on the exact denoiser's samples of ``gaussian``
#: (64², σ_max by the rule below) have, in closed form, a KL below the floor of 256 held-out images and a
#: spectrum log-error bias below that metric's floor at 64 samples (reports/sampler-error/README.md).
#: ``sigma_max`` None: ``SIGMA_MAX_FACTOR · √(max_k P̂(k))`` of the training images
#: (:func:`denoisebench.sampling.sampler_error.default_sigma_max`).  ``floor_sets``: how many disjoint
#: sets of ``n`` further held-out images estimate each distance's finite-sample floor (:func:`floor`).
DEFAULTS = {"sampler": "heun", "schedule": "karras", "steps": 28, "n": 16, "seed": 0, "sigma_max": None,
            "sigma_min": 0.002, "size": None, "n_train": 256, "n_data": 256, "backend": "numpy", "device": None,
            "dtype": "float32", "floor_sets": 8, "churn": 0.0, "churn_range": (0.0, math.inf), "churn_noise": 1.0,
            "out": "denoisebench-out/sample"}


# -- the command line --------------------------------------------------------------------------


# -- plan: everything checked before anything is computed ------------------------------------------
def _plan(dataset, denoisers, s):
    from ..backends import resolve_backend
    from ..registry import resolve_dataset, resolve_denoiser

    if s["sampler"] not in SAMPLERS:
        raise SpecError(f"unknown sampler {s['sampler']!r}; valid: {', '.join(SAMPLERS)}")
    if s["schedule"] not in SCHEDULES:
        raise SpecError(f"unknown schedule {s['schedule']!r}; valid: {', '.join(SCHEDULES)}")
    for key, lo in (("n", 1), ("n_train", 2), ("n_data", 2), ("seed", 0), ("floor_sets", 1)):
        if not isinstance(s[key], int) or s[key] < lo:
            raise SpecError(f"{key} must be an integer >= {lo}; got {s[key]!r}")
    if s["dtype"] not in ("float32", "float64"):
        raise SpecError(f"unknown dtype {s['dtype']!r}; valid: float32, float64")
    if s["sampler"] != "heun" and s["churn"] != 0:
        raise SpecError(f"--churn is a setting of the heun sampler (EDM's stochastic steps), not of {s['sampler']!r}")
    try:
        validate_churn(s["churn"], *s["churn_range"], s["churn_noise"])
    except (TypeError, ValueError) as exc:
        raise SpecError(f"--churn, --churn-range, --churn-noise: {exc}") from None
    resolve_backend(s["backend"], s["device"])
    for key in ("sigma_max", "sigma_min"):
        if s[key] is not None and not 0 < s[key] <= SIGMA_MAX:
            raise SpecError(f"--{key.replace('_', '-')} must be in (0, {SIGMA_MAX:g}] (the σ range every denoiser "
                            f"accepts); got {s[key]:g}")
    ds_spec, size = resolve_dataset(dataset, s["size"], s["seed"])
    ds = make_dataset(ds_spec, **({"size": size_arg(size)} if size else {}))
    _check_memory(ds, s, len(set(denoisers)))
    s["sigma_max_rule"] = "given"
    if s["sigma_max"] is None:  # from the training images (drawn again, identically, by run_sample)
        s["sigma_max"] = default_sigma_max(ds.sample(s["n_train"], s["seed"], split="train"))
        s["sigma_max_rule"] = f"{SIGMA_MAX_FACTOR:g} × √(max_k P̂(k)) of the training images"
    try:
        sigmas = SCHEDULES[s["schedule"]](s["steps"], s["sigma_min"], s["sigma_max"])
    except ValueError as exc:
        raise SpecError(str(exc)) from None
    specs = list(dict.fromkeys(resolve_denoiser(spec) for spec in denoisers))
    for spec, cls in specs:
        if cls.bound:
            raise SpecError(f"{spec!r} is an oracle bound (it needs the clean image): it cannot drive a sampler")
    return ds, ds_spec, size, specs, sigmas


def default_sigmas(ds, seed=DEFAULTS["seed"]):
    """``(σ_max, σ)`` of ``sample``'s default run on dataset ``ds``: σ_max from ``DEFAULTS["n_train"]`` training
    images drawn with ``seed`` (the initial noise's std; the schedule's first σ equals it only to rounding), and
    the schedule, steps and σ_min of :data:`DEFAULTS` (ending at 0)."""
    sigma_max = default_sigma_max(ds.sample(DEFAULTS["n_train"], seed, split="train"))
    return sigma_max, np.asarray(SCHEDULES[DEFAULTS["schedule"]](DEFAULTS["steps"], DEFAULTS["sigma_min"], sigma_max))


def build_denoiser(spec, cls, ds, x_train, probe, sigma):
    """The denoiser of ``spec``, fitted if it learns, tried once on ``probe`` (errors → SpecError)."""
    try:
        d = make_denoiser(spec, **({"dataset": ds} if cls.needs_dataset else {}))
        if cls.learns:
            d.fit(x_train)
        d(probe, sigma)
    except (NotApplicableError, ValueError, TypeError) as exc:
        raise SpecError(f"denoiser {spec!r} on dataset {ds.name!r}: {exc}") from None
    return d


def trained_sigma_range(denoiser):
    """``(sigma_min, sigma_max)`` a denoiser was trained or calibrated on, or None if it records none.

    A ``trained_sigma_range`` attribute wins; otherwise a U-Net's weight metadata (``training``'s
    ``sigma_min`` / ``sigma_max``, see :mod:`denoisebench.networks.weights_io`) is read.
    """
    rng = getattr(denoiser, "trained_sigma_range", None)
    if rng is None and hasattr(type(denoiser), "trained_on"):
        denoiser.trained_on  # noqa: B018  loads the weights and their metadata
        training = denoiser.__dict__.get("_training") or {}
        if "sigma_min" in training and "sigma_max" in training:
            rng = (training["sigma_min"], training["sigma_max"])
    return None if rng is None else (float(rng[0]), float(rng[1]))


def range_warnings(built, sigma_max):
    """One line per denoiser whose trained σ range excludes σ_max; each also goes out as a UserWarning."""
    lines = []
    for spec, d in built:
        rng = trained_sigma_range(d)
        if rng is not None and not rng[0] <= sigma_max <= rng[1]:
            lines.append(f"σ_max = {sigma_max:.4g} lies outside the σ range {spec!r} was trained on "
                         f"[{rng[0]:g}, {rng[1]:g}]: its first steps extrapolate")
            warnings.warn(lines[-1], UserWarning, stacklevel=3)
    return lines


def _labels(specs):
    labels = {}
    for spec, _ in specs:
        base = re.sub(r"[^A-Za-z0-9._=-]+", "_", spec)
        label, k = base, 1
        while label in labels.values():
            k += 1
            label = f"{base}_{k}"
        labels[spec] = label
    return labels


def _check_memory(ds, s, n_denoisers):
    """Refuse, before anything is drawn, a request whose arrays cannot fit in memory (one line, with numbers).

    Peak: the float64 data (training, held-out, reference, both splits' floor sets), every denoiser's
    samples kept in float64 for the metrics, and while one denoiser samples, the sampler's state (about 6
    batches in the working dtype: x, two slopes, the next x, D's output and the score) plus the denoiser's
    working memory (the default ``memory_factor`` of 16 batches).
    """
    pixels = int(np.prod(ds.shape)) * ds.channels
    item = np.dtype(s["dtype"]).itemsize
    data = 8 * pixels * (s["n_train"] + 2 * s["n_data"] + s["n"] * (1 + 2 * s["floor_sets"]))
    sampler = s["n"] * pixels * (8 * n_denoisers + 6 * item + 16 * item)
    check_fits(data + sampler, f"sampling {s['n']} images of {ds.spec()} (with {s['n_train']} training and "
               f"{s['n_data']} held-out images)", "lower --n, --n-train, --n-data, --floor-sets or --size")


class _Progress:
    """A denoiser wrapper ticking a progress bar once per batched evaluation (the sampler's NFE)."""

    def __init__(self, denoiser, bar):
        self.denoiser, self.bar, self.bound = denoiser, bar, False

    def __call__(self, y, sigma):
        out = self.denoiser(y, sigma)
        self.bar.update(1)
        return out


def _sampler_options(s):
    """Keyword arguments of the sampler beyond the common signature: heun's churn (EDM's S_churn, …)."""
    if s["sampler"] != "heun":
        return {}
    return {"s_churn": s["churn"], "s_tmin": s["churn_range"][0], "s_tmax": s["churn_range"][1],
            "s_noise": s["churn_noise"]}


def _expected_nfe(sampler, sigmas):
    """Evaluations per denoiser, when the sampler fixes them (heun: 2N − 1, euler-maruyama: N)."""
    steps = len(sigmas) - 1
    return {"heun": 2 * steps - (sigmas[-1] == 0), "euler-maruyama": steps}.get(sampler)


# -- run ---------------------------------------------------------------------------------------------
def run_sample(dataset, denoisers, out=DEFAULTS["out"], progress=True, **settings):
    """Sample every denoiser from the same initial noise and compare with data; returns the paths written.

    ``settings`` are the keys of :data:`DEFAULTS` (sampler, schedule, steps, n, seed,
    sigma_max, sigma_min, size, n_train, n_data, backend, device, dtype).  Errors in the
    request (σ out of range, arrays that cannot fit in memory) raise
    :class:`~denoisebench.registry.SpecError` (one line) before sampling.  ``progress``: a bar
    on stderr (denoiser × evaluation, with ETA) for runs longer than two seconds.
    """
    unknown = sorted(set(settings) - set(DEFAULTS))
    if unknown:
        raise TypeError(f"unknown settings {unknown}; valid: {sorted(DEFAULTS)}")
    s = {**DEFAULTS, **settings, "out": out}
    ds, ds_spec, s["size"], specs, sigmas = _plan(dataset, denoisers, s)
    n, seed = s["n"], s["seed"]
    # the training images, then floor_sets × n more (a prefix of one draw: the same x_train as a shorter one)
    train_all = ds.sample(s["n_train"] + n * s["floor_sets"], seed, split="train")
    x_train, x_train_sets = train_all[: s["n_train"]], train_all[s["n_train"]:]
    # the held-out images, then floor_sets × n more (image i has its own generator: one draw serves both)
    held_out = ds.sample(s["n_data"] + n * s["floor_sets"], seed, split="test")
    x_test, x_sets = held_out[: s["n_data"]], held_out[s["n_data"]:]
    x_ref = x_sets[:n]
    x0 = initial_noise(n, x_train.shape[1:], s["sigma_max"], seed, mean=float(x_train.mean())).astype(s["dtype"])
    x0_b = from_numpy(x0, s["backend"], s["device"])
    built = [(spec, build_denoiser(spec, cls, ds, x_train.astype(s["dtype"]), x0_b[:1, ...], float(sigmas[0])))
             for spec, cls in specs]
    warned = range_warnings(built, s["sigma_max"])
    os.makedirs(out, exist_ok=True)
    labels, samples, runs, paths = _labels(specs), {}, {}, []
    from tqdm import tqdm

    per = _expected_nfe(s["sampler"], sigmas)
    bar = tqdm(total=per and per * len(built), disable=not progress, delay=2, file=sys.stderr, unit="eval",
               desc=f"sample {ds.name}", dynamic_ncols=True)
    for spec, d in built:
        bar.set_postfix_str(spec)
        start = time.perf_counter()
        result = SAMPLERS[s["sampler"]](_Progress(d, bar), x0_b, sigmas, rng=seed, **_sampler_options(s))
        synchronize(result.samples)
        runs[spec] = {"nfe": int(result.nfe), "wall_s": time.perf_counter() - start,
                      "converged": float(np.mean(result.converged))}
        samples[spec] = to_numpy(result.samples).astype(np.float64)
        paths.append(os.path.join(out, f"samples_{labels[spec]}.npy"))
        np.save(paths[-1], samples[spec].astype(s["dtype"]))
    bar.close()
    metrics = _all_metrics(ds, samples, runs, x_train, x_test, x_ref)
    metrics["floor"] = floor(x_sets.reshape(s["floor_sets"], n, *x_sets.shape[1:]), x_test)
    train_sets = x_train_sets.reshape(s["floor_sets"], n, *x_train_sets.shape[1:])
    metrics["train_floor"] = floor(train_sets, x_train)
    near = compare.nearest_distances(x_train_sets, x_train)
    metrics["train_floor"]["nearest_train_distance"] = float(np.median(near))
    metrics["split_shift"] = floor(train_sets, x_test)
    metrics["settings"] = {**{k: s[k] for k in DEFAULTS}, "dataset": ds_spec,
                           "denoisers": [spec for spec, _ in specs], "sigmas": [float(v) for v in sigmas],
                           "data_mean": float(x_train.mean()), "sigma_max_rule": s["sigma_max_rule"],
                           "churn_range": [float(v) if math.isfinite(v) else None for v in s["churn_range"]]}
    metrics["warnings"] = warned
    return paths + write_reports(out, metrics, samples, labels, x_test)


# -- metrics -----------------------------------------------------------------------------------------
def _distribution(x, data):
    return {"spectrum_log_error": compare.spectrum_log_error(x, data),
            "pixel_w1": compare.pixel_wasserstein(x, data),
            "wavelet_kurtosis_error": compare.wavelet_kurtosis_error(x, data),
            "sliced_w1": compare.sliced_wasserstein(x, data)}


def floor(sets, x_test):
    """Each distance of :func:`_distribution` between held-out sets and ``x_test``: mean, standard deviation,
    min and max over the disjoint sets ``sets[k]`` (as many images as the samples).

    One set of fresh data is one draw of a distance's finite-sample floor, and the draw spreads widely
    (on ``gaussian``, 64 images: pixel W1 from 0.0008 to 0.013 over 8 sets), so a sample set is judged
    against the mean over several: the expected distance of exact samples.
    """
    values = [_distribution(np.asarray(x, dtype=np.float64), x_test) for x in sets]
    return {"sets": len(values), **{k: {"mean": float(np.mean(v)), "sd": float(np.std(v, ddof=1)) if len(v) > 1
                                        else float("nan"), "min": float(np.min(v)), "max": float(np.max(v))}
                                    for k, v in ((key, [d[key] for d in values]) for key in values[0])}}


def _gaussian_kl(ds, x):
    """KL of the Fourier-fitted Gaussian to the true one, on ``gaussian`` only (else None)."""
    from ..datasets import GaussianField

    if not isinstance(ds, GaussianField) or x.shape[0] < 2 or x.shape[1] != 1:
        return None
    mean, p = ds.power_spectrum()
    m_hat, p_hat = compare.fit_stationary_gaussian(x)
    return {"kl": compare.gaussian_kl(p_hat, p, m_hat, mean), "kl_floor": compare.gaussian_kl_floor(p.shape, x.shape[0])}


def excess_kurtosis(x):
    """Excess kurtosis of the pixel marginal, E(x − x̄)⁴ / (E(x − x̄)²)² − 3, over every pixel of ``x``
    (0 for any Gaussian field: the Wiener prior's samples)."""
    d = np.asarray(x, dtype=np.float64).ravel()
    d = d - d.mean()
    return float(np.mean(d**4) / np.mean(d**2) ** 2 - 3.0)


def _order_parameter(ds, x):
    """Binder cumulant and mean |m| of the dataset's order parameter (``ds.order_parameter``, e.g. φ⁴'s
    magnetisation), None for datasets without one."""
    if not hasattr(ds, "order_parameter"):
        return None
    m = np.asarray(ds.order_parameter(x), dtype=np.float64)
    return {"binder": float(1.0 - np.mean(m**4) / (3.0 * np.mean(m**2) ** 2)), "abs_m": float(np.mean(np.abs(m))),
            "m": m.tolist()}


def _set_metrics(ds, x, x_train, x_test):
    return {"vs_test": _distribution(x, x_test), "vs_train": _distribution(x, x_train),
            "memorisation_ratio": compare.memorisation_ratio(x, x_train, reference=x_test),
            "nearest_train_distance": float(np.median(compare.nearest_distances(x, x_train))),
            "gaussian_kl": _gaussian_kl(ds, x), "wavelet_kurtosis": compare.wavelet_kurtosis(x),
            "excess_kurtosis": excess_kurtosis(x), "order_parameter": _order_parameter(ds, x),
            "pixel_std": float(np.std(x)), "structure": structure_statistics(ds.name, x)}


def _all_metrics(ds, samples, runs, x_train, x_test, x_ref):
    rows = {spec: {**runs[spec], **_set_metrics(ds, x, x_train, x_test)} for spec, x in samples.items()}
    rows[DATA_LABEL] = _set_metrics(ds, x_ref.astype(np.float64), x_train, x_test)
    specs = list(samples)
    cosine = {a: {b: _mean_finite(compare.same_seed_cosine(samples[a], samples[b])) for b in specs} for a in specs}
    k, p = compare.radial_power_spectrum(x_test)
    return {"rows": rows, "same_seed_cosine": cosine, "data_wavelet_kurtosis": compare.wavelet_kurtosis(x_test),
            "data_radial_spectrum": {"k": k.tolist(), "power": p.tolist()},
            "data_excess_kurtosis": excess_kurtosis(x_test), "data_order_parameter": _order_parameter(ds, x_test)}


def _mean_finite(values):
    finite = values[np.isfinite(values)]
    return float(finite.mean()) if finite.size else float("nan")


