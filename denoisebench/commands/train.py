"""``denoisebench train``: train the bias-free U-Net on a dataset; write safetensors weights."""
from __future__ import annotations

from ._args import ascii_number
from ..networks.calibration import FIT_DEFAULTS
from ..networks.train import AUGMENTATIONS, DEFAULTS, LOSS_WEIGHTS, SIGMA_SAMPLERS, VARIANTS, train

NAME = "train"


def add_parser(subparsers):
    """Add ``denoisebench train`` to an argparse ``subparsers``; its handler is ``args.handler``."""
    d = DEFAULTS
    p = subparsers.add_parser(
        NAME, help="train a U-Net (bias-free blind, centered, or sigma-conditioned); write FILE.safetensors",
        description="Train a U-Net (by default bias-free and blind over sigma; --variant centered: bias-free about "
        "the training mean; --variant conditioned: sigma as an input, EDM preconditioning) on seeded training images of a dataset and "
        "write its weights (safetensors + metadata). Checkpoints every --ckpt-every steps: rerunning "
        "the same command resumes. Deterministic for a seed on CPU.")
    p.add_argument("--dataset", metavar="SPEC", help="dataset spec (name or name:key=value,...); required unless --join")
    p.add_argument("--out", required=True, metavar="FILE", help="weight file to write (.safetensors)")
    for flag, typ, help_ in (
            ("n-train", int, "training images"), ("steps", int, "Adam steps"),
            ("patch", int, "crop size, a multiple of 4 (default 32, or the largest that fits smaller images; "
             "--padding circular: the image size)"),
            ("width", int, "U-Net width (channels at the finest scale)"), ("seed", int, "seed"),
            ("batch", int, "crops per step"), ("lr", float, "peak learning rate"),
            ("sigma-min", float, "smallest training sigma"), ("sigma-max", float, "largest training sigma"),
            ("n-val", int, "validation images"), ("val-every", int, "validate every K steps"),
            ("ckpt-every", int, "checkpoint every K steps"), ("warmup", float, "warm-up fraction of the steps"),
            ("final-lr", float, "final learning rate, a fraction of --lr"),
            ("clip", float, "gradient-norm clip (0: none)"), ("stop-at", int, "stop after this many steps (resumable)")):
        key = flag.replace("-", "_")
        p.add_argument(f"--{flag}", type=ascii_number(typ), default=d.get(key),
                       help=help_ if d.get(key) is None else f"{help_} (default %(default)s)")
    p.add_argument("--variant", choices=list(VARIANTS), default=d["variant"],
                   help="blind: bias-free, sigma not an input; centered: bias-free about the training mean; "
                   "conditioned: sigma an input (EDM preconditioning) (default %(default)s)")
    p.add_argument("--augment", choices=list(AUGMENTATIONS), default=d["augment"],
                   help="dihedral: random flips and quarter turns of each crop (default %(default)s)")
    p.add_argument("--init", metavar="FILE", default=None,
                   help="warm start from this weight file (same width, padding and variant), e.g. to widen the "
                   "sigma range of a trained network; recorded in the new file's metadata")
    p.add_argument("--downsample", type=int, default=1, metavar="F",
                   help="train on the images averaged over FxF blocks: the large-sigma expert of a --join pair "
                   "(default %(default)s)")
    p.add_argument("--border", type=ascii_number(int), default=0, metavar="B",
                   help="pixels (a multiple of 4) of reflected image around the network's input, cropped off its "
                   "output, the same in training and use: no dark frame at the image's border (default %(default)s)")
    p.add_argument("--join", nargs=2, metavar=("LOW", "HIGH"), default=None,
                   help="train nothing: write to --out one conditioned network made of two noise-level experts, "
                   "LOW for sigma <= --split and HIGH above (each a conditioned weight file of the same architecture "
                   "and dataset); every output at sigma <= --split is LOW's. HIGH may itself be a joined file: three "
                   "experts or more, joined from the top down")
    p.add_argument("--split", type=float, default=1.0, help="the sigma where --join hands over to HIGH (default %(default)s)")
    p.add_argument("--calibrate", metavar="WEIGHTS", default=None,
                   help="train nothing: fit the ring gains of the sigma-conditioned network in WEIGHTS (the "
                   "least-squares Fourier-diagonal correction of its output at each sigma, on --fit-images training "
                   "images of its dataset, noise from --seed) and write the network with them to --out; the unet "
                   "denoiser applies them (calibrated=true)")
    p.add_argument("--fit-images", type=ascii_number(int), default=FIT_DEFAULTS["n"], metavar="N",
                   help="training images --calibrate fits on (default %(default)s)")
    p.add_argument("--device", default=d["device"], help="torch device (default %(default)s)")
    p.add_argument("--sigma-sampling", choices=list(SIGMA_SAMPLERS), default=d["sigma_sampling"],
                   help="law of the training sigma (default %(default)s)")
    p.add_argument("--weighting", choices=list(LOSS_WEIGHTS), default=d["weighting"],
                   help="per-image loss weight (default %(default)s)")
    p.add_argument("--padding", choices=("zeros", "circular"), default=d["padding"],
                   help="convolution padding; circular (periodic data) trains on whole images (default %(default)s)")
    p.add_argument("--no-resume", dest="resume", action="store_false", help="ignore an existing checkpoint")
    p.add_argument("--no-amp", dest="amp", action="store_false", default=None, help="no mixed precision on CUDA")
    p.add_argument("--keep-checkpoint", action="store_true", help="keep the checkpoint after finishing")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(handler=main)
    return p


def main(args):
    """Run ``denoisebench train`` from parsed ``args``; return the exit code (ValueError on bad input)."""
    if args.join:
        from ..outputs import check_output_target
        from ..networks.weights_io import join_experts

        out = join_experts(*args.join, args.split, check_output_target(args.out, "--out", "file"))
        print(f"wrote {out} (sigma <= {args.split:g}: {args.join[0]}; above: {args.join[1]})")
        return 0
    if args.calibrate:
        return _calibrate(args)
    if not args.dataset:
        raise ValueError("train needs --dataset SPEC (or --join LOW HIGH to combine two trained networks, "
                         "or --calibrate WEIGHTS)")
    names = ("n_train", "steps", "patch", "width", "seed", "device", "sigma_max", "batch", "lr", "sigma_min",
             "sigma_sampling", "weighting", "padding", "n_val", "val_every", "ckpt_every", "warmup", "final_lr",
             "clip", "amp", "keep_checkpoint", "stop_at", "resume", "variant", "augment", "init", "downsample", "border")
    result = train(args.dataset, out=args.out, progress=not args.quiet, **{k: getattr(args, k) for k in names})
    state = "wrote" if result["finished"] else f"stopped at step {result['step']}; checkpoint kept for"
    print(f"{state} {result['out']} (validation PSNR {result['val_psnr'] or float('nan'):.2f} dB, "
          f"{result['seconds']:.0f} s)")
    return 0


def _calibrate(args):
    from tqdm import tqdm

    from ..networks.calibration import calibrate_weights
    from ..outputs import check_output_target

    out, bar = check_output_target(args.out, "--out", "file"), None

    def progress(done, total):  # one tick per σ level; the bar is made once the grid's size is known
        nonlocal bar
        bar = bar or tqdm(total=total, desc="calibrate", unit="sigma", disable=args.quiet)
        bar.update(1)

    try:
        path = calibrate_weights(args.calibrate, out, n=args.fit_images, seed=args.seed, progress=progress)
    finally:
        if bar is not None:
            bar.close()
    print(f"wrote {path} ({args.calibrate} with ring gains fitted on {args.fit_images} training images)")
    return 0
