"""``denoisebench sample``: draw from each denoiser's implicit prior with one sampler; compare with data."""
from __future__ import annotations

from ..experiments.sample import DEFAULTS, run_sample
from ..sampling import SAMPLERS, SCHEDULES
from ._args import default_out, number, size

NAME = "sample"


def add_parser(subparsers):
    """Add ``sample`` to an ``add_subparsers()`` object; its handler is ``args.handler`` (:func:`cmd_sample`)."""
    d = DEFAULTS
    p = subparsers.add_parser(
        NAME, help="sample each denoiser's implicit prior from the same noise; compare with data",
        description="Drive one sampler with every denoiser (through its Tweedie score) from the same initial "
        "noise. Writes samples_<name>.npy, grid.png, spectra.png, metrics.json and comparison.md into DIR.")
    p.add_argument("--dataset", required=True, metavar="SPEC", help="dataset spec (name or name:key=value,...)")
    p.add_argument("--denoisers", nargs="+", required=True, metavar="SPEC", help="denoiser specs, space separated")
    p.add_argument("--sampler", choices=list(SAMPLERS), default=d["sampler"], help="(default %(default)s)")
    p.add_argument("--schedule", choices=list(SCHEDULES), default=d["schedule"], help="σ schedule (default %(default)s)")
    p.add_argument("--steps", type=number(int, 1, False), default=d["steps"],
                   help="schedule steps N (heun: 2N−1 evaluations; ignored by ascent) (default %(default)s: "
                   "the fewest Heun steps whose exact samples of gaussian stay below the KL floor of 256 images and the "
                   "spectrum log-error floor of 64; reports/sampler-error)")
    p.add_argument("--churn", type=number(float, 0, False), default=d["churn"], metavar="S_CHURN",
                   help="heun only: EDM's stochastic steps, S_churn (0: deterministic) (default %(default)s)")
    p.add_argument("--churn-range", type=number(float, 0, False), nargs=2, default=d["churn_range"],
                   metavar=("TMIN", "TMAX"), help="the σ range where --churn adds noise (default: every step)")
    p.add_argument("--churn-noise", type=number(float, 0, True), default=d["churn_noise"], metavar="S_NOISE",
                   help="scale of the noise --churn adds (default %(default)s)")
    p.add_argument("--n", type=number(int, 1, False), default=d["n"], help="samples per denoiser (default %(default)s)")
    p.add_argument("--seed", type=number(int, 0, False), default=d["seed"], help="seed of noise and data (default %(default)s)")
    p.add_argument("--sigma-max", type=number(float, 0, True), default=d["sigma_max"],
                   help="σ of the initial noise (ascent: σ_0) (default: 3 × the largest Fourier-mode std "
                   "of the training images; a warning if outside a denoiser's trained σ range)")
    p.add_argument("--sigma-min", type=number(float, 0, True), default=d["sigma_min"],
                   help="smallest positive σ (ascent: σ_L) (default %(default)s)")
    p.add_argument("--size", type=size, default=d["size"],
                   help="image size N or HxW (default: the spec's)")
    p.add_argument("--n-train", type=number(int, 2, False), default=d["n_train"],
                   help="training images (fit of learning denoisers; memorisation) (default %(default)s)")
    p.add_argument("--n-data", type=number(int, 2, False), default=d["n_data"],
                   help="held-out images the metrics compare with (default %(default)s)")
    p.add_argument("--floor-sets", type=number(int, 1, False), default=d["floor_sets"],
                   help="disjoint sets of --n further held-out images whose mean distance to the held-out images is "
                   "each metric's finite-sample floor; as many sets of further training images give the training "
                   "split's floor and its shift from the held-out one (default %(default)s)")
    p.add_argument("--backend", default=d["backend"], help="numpy, torch, cupy or strict (default %(default)s)")
    p.add_argument("--device", default=d["device"], help="e.g. cpu, cuda, cuda:1")
    p.add_argument("--dtype", choices=("float32", "float64"), default=d["dtype"], help="(default %(default)s)")
    p.add_argument("--out", default=default_out(NAME), metavar="DIR", help="output directory (default %(default)s)")
    p.set_defaults(handler=main)
    return p


def main(args):
    """The handler: run :func:`run_sample` from parsed ``args``, print the files; exit code 0."""
    from ..outputs import check_output_target

    check_output_target(args.out, "--out", "dir", ("grid.png", "spectra.png", "metrics.json", "comparison.md"))
    paths = run_sample(**{k: getattr(args, k) for k in DEFAULTS}, dataset=args.dataset, denoisers=args.denoisers)
    print("wrote " + ", ".join(paths))
    return 0
