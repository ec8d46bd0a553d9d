"""At which σ does a denoiser make its samples' spectrum error?  Its gain per ring against the exact one.

    python scripts/gain_error.py                                  # gaussian, the shipped conditioned U-Net
    python scripts/gain_error.py --weights gaussian=FILE          # another weight file

On ``gaussian`` the exact denoiser is linear and diagonal in Fourier: gain h_σ(k) = P(k) / (P(k) + σ²).
For a denoiser D with gain g_σ(k), the probability-flow ODE of ``sample`` (dx/dσ = (x − D(x, σ))/σ) scales
mode k by exp(−∫ (1 − g) dσ/σ), so from the exact start the samples' power at k misses the data's by

    log P_samples(k) − log P(k) = 2 ∫ (g_σ(k) − h_σ(k)) d ln σ       (σ from σ_min to σ_max)

— exact for a linear D in the continuous-time limit; for a network, g − h is its regression gain error on
one batch: Re Σ conj(Ŷ) (D̂(y) − h Ŷ) / Σ |Ŷ|² over the modes of a ring and the images, Ŷ the noisy images'
Fourier coefficients about the data mean (0 for the exact denoiser).  The script prints the gain error by σ
(the schedule's σ: where the sampler evaluates D) in four bands of rings (ring 0: the image mean), and the
integral per band beside the measured log-ratio of the committed samples (reports/sample/gaussian), so that a
spectrum error can be charged to the expert (σ range) that makes it.  The Heun discretisation adds its own
few per cent (docs/theory.md §13), the same for every denoiser: the `optimal` row of the committed samples.
When the weight file carries ring gains (denoisebench/networks/calibration.py), the network is measured alone
and with them (the `unet` default), side by side.
"""
import argparse
import os

import numpy as np

from denoisebench import compare
from denoisebench.experiments.sample import DEFAULTS, default_sigmas
from denoisebench.registry import make_dataset, make_denoiser

BANDS = ((0, 1), (1, 9), (9, 25), (25, None))  # ring 0: the image mean, one mode


def _band(a, b, n):
    return f"ring {a}" if b == a + 1 else f"rings {a}–{(b or n) - 1}"


def gain_errors(denoiser, ds, x, sigmas, seed=1):
    """``(n_σ, n_rings)`` regression gain of ``denoiser`` minus the exact Wiener gain, per ring, at each σ."""
    mean, p = ds.power_spectrum()
    rings = np.rint(compare.frequency_radius(p.shape)).astype(int)  # the rings of compare.radial_average
    rng = np.random.default_rng(seed)
    out = []
    for s in sigmas:
        y = x + s * rng.standard_normal(x.shape).astype(x.dtype)
        dy = np.asarray(denoiser(y, float(s)), dtype=np.float64)
        fy, fd = np.fft.fft2(y - mean), np.fft.fft2(dy - mean)
        residual = fd - p / (p + s * s) * fy  # D's output minus the exact denoiser's, mode by mode
        cross = np.bincount(rings.ravel(), np.sum((np.conj(fy) * residual).real, axis=(0, 1)).ravel())
        out.append(cross / np.bincount(rings.ravel(), np.sum(np.abs(fy) ** 2, axis=(0, 1)).ravel()))
    return np.array(out)


def predicted_log_error(errors, sigmas):
    """2 ∫ (g − h) d ln σ by the trapezoid rule over the schedule's σ (any order)."""
    order = np.argsort(sigmas)
    return 2.0 * np.trapezoid(errors[order], np.log(np.asarray(sigmas)[order]), axis=0)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--weights", default=None, help="gaussian=FILE: another conditioned weight file")
    parser.add_argument("--n", type=int, default=64, help="held-out images in the batch (default %(default)s)")
    parser.add_argument("--samples", default="reports/sample/gaussian", help="committed samples to compare with")
    args = parser.parse_args(argv)
    dataset, _, weights = (args.weights or "").partition("=")
    if args.weights is not None and (dataset != "gaussian" or not weights):
        parser.error(f"--weights takes gaussian=FILE; got {args.weights!r}")
    if args.n < 1:
        parser.error(f"--n must be an integer >= 1; got {args.n}")
    ds = make_dataset("gaussian")
    spec = "unet:variant=conditioned" + (f",weights={weights}" if weights else "")
    d = make_denoiser(spec, dataset=ds)
    try:
        d.trained_on  # loads and validates the weight file now, before any work
    except (OSError, ValueError) as exc:  # a missing or unreadable weight file
        parser.error(f"--weights: {exc}")
    # the network alone, and with its file's ring gains (networks/calibration.py) when it has them
    variants = {"network alone": make_denoiser(spec + ",calibrated=false", dataset=ds)}
    if d.calibration is not None:
        variants["with its ring gains"] = d
    x = ds.sample(args.n, 5, split="test").astype(np.float32)
    sigmas = default_sigmas(ds)[1]
    sigmas = sigmas[sigmas > 0]
    errors = {k: gain_errors(v, ds, x, sigmas) for k, v in variants.items()}
    n_rings = next(iter(errors.values())).shape[1]
    command = "python scripts/gain_error.py" + (f" --weights {args.weights}" if args.weights else "")
    print(f"# Gain error of {spec} on gaussian against the exact Wiener gain\n\n`{command}` ({args.n} held-out "
          f"images; σ: the default `sample` schedule). Gain error g − h per band of rings (ring 0: the image "
          "mean), then its integral, the log-power error it predicts for the samples (docs/theory.md §17). "
          + ("Each cell: " + " / ".join(errors) + " (`unet:calibrated=false` / the default)." if len(errors) > 1
             else "The file has no ring gains: the network alone.") + "\n")
    print("| σ | " + " | ".join(_band(a, b, n_rings) for a, b in BANDS) + " |")
    print("|---:|" + "---:|" * len(BANDS))
    for i, s in enumerate(sigmas):
        print(f"| {s:.4g} | " + " | ".join(" / ".join(f"{e[i, a:b].mean():+.4f}" for e in errors.values())
                                           for a, b in BANDS) + " |")
    pred = {k: predicted_log_error(e, sigmas) for k, e in errors.items()}
    print("\n2 ∫ (g − h) d ln σ per ring, beside the committed samples' log P_samples/P_data (held-out data):\n")
    x_test = ds.sample(DEFAULTS["n_data"], DEFAULTS["seed"], split="test").astype(np.float64)
    _, p_data = compare.radial_power_spectrum(x_test)
    measured = {}
    for label in ("optimal", "unet_variant=conditioned"):
        path = os.path.join(args.samples, f"samples_{label}.npy")
        if os.path.exists(path):
            measured[label] = np.log(compare.radial_power_spectrum(np.load(path).astype(np.float64))[1] / p_data)
    print("| band | " + " | ".join(f"predicted, {k}" for k in pred) + " | "
          + " | ".join(f"measured {k}" for k in measured) + " |")
    print("|---|" + "---:|" * (len(pred) + len(measured)))
    for a, b in BANDS:
        print(f"| {_band(a, b, n_rings)} | " + " | ".join(f"{v[a:b].mean():+.3f}" for v in pred.values()) + " | "
              + " | ".join(f"{m[a:b].mean():+.3f}" for m in measured.values()) + " |")


if __name__ == "__main__":
    main()
