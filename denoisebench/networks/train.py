"""Train the U-Net on a dataset (bias-free and blind, centered, or σ-conditioned), resumable,
deterministic on CPU.

Recipe (docs/theory.md §7, §12)
------------------------------------
- Data: ``make_dataset(spec).sample(n_train + n_val, seed, split='train')``; the first ``n_train``
  images train, the last ``n_val`` (disjoint: image ``i`` has its own generator) validate.  Each
  step draws ``batch`` random ``patch × patch`` crops (the network is convolutional).  With
  ``padding='circular'`` (an option for periodic data) it trains on whole images under random
  circular shifts instead — measured worse at equal compute on ``gaussian`` (fewer independent
  images per step: +3.05 dB at σ = 1 against +0.55 for 32² crops), so zero padding is the default.
- Noise: σ per image, log-uniform on ``[sigma_min, sigma_max]`` by default — equal weight per octave,
  matching the log-spaced σ grid of the benchmark (the square-root-uniform law of Kadkhodaie et
  al. and EDM's log-normal are options).
- Loss: per-image MSE weighted by EDM's ``λ(σ) = (σ² + σ_d²)/(σ σ_d)²``, σ_d the training pixels'
  std: each example's error is normalised by what a good denoiser can reach at its σ (≈ σ² when
  σ ≪ σ_d, ≈ σ_d² when σ ≫ σ_d), so the small σ — where an unweighted loss gives no gradient and
  docs/theory.md §12 measured a +5.9 dB gap — count as much as the large ones.  Measured here
  (``gaussian``, width 32, 5000 steps, whole images): gap to the MMSE at σ = 0.01 of +0.52 dB with
  this weighting against +5.67 dB unweighted.
- Variant (:data:`VARIANTS`): ``blind`` (bias-free, σ not an input), ``centered`` (bias-free about
  the training mean ``m``: ``D(y) = m + D₀(y − m)``) or ``conditioned`` (σ an input, EDM
  preconditioning around ``m``; :mod:`denoisebench.networks._bfunet`).  ``m`` (per channel) and ``σ_d`` are
  measured on the training images and stored in the network's buffers.  With EDM's weighting the
  conditioned network's loss is EDM's: ``‖F − (x − m − c_skip(y − m))/c_out‖²``.
- Adam, linear warm-up then cosine decay to ``final_lr · lr``; gradient-norm clipping.
- Checkpoints (safetensors, no pickle; :mod:`denoisebench.networks.weights_io`) every ``ckpt_every`` steps and
  at the end, written atomically.  Every random draw of step ``t`` comes from a generator seeded by
  ``(seed, t)``, so a resumed run reproduces the uninterrupted one bit for bit on CPU.

References
----------
T. Karras, M. Aittala, T. Aila, S. Laine, "Elucidating the design space of diffusion-based generative
models", NeurIPS 2022, §5 and table 1 (loss weighting λ(σ), σ sampling).
Z. Kadkhodaie, F. Guth, E. P. Simoncelli, S. Mallat, ICLR 2024, appendix A (training blind over σ).
S. Mohan et al., ICLR 2020 (bias-free networks generalise across noise levels).
"""
from __future__ import annotations

import contextlib
import math
import os
import sys
import time

import numpy as np

from ._train_checks import MAX_STEPS, MAX_TRAIN_BYTES, MAX_VALIDATIONS, TrainingDivergedError, block_means, check_bounds, check_finite, check_memory, check_output, memory_estimate, read_init, warm_start
from ._train_checks import resolve_dataset_config as _resolve

__all__ = ["AUGMENTATIONS", "DEFAULTS", "LOSS_WEIGHTS", "VARIANTS", "MAX_STEPS", "MAX_TRAIN_BYTES", "MAX_VALIDATIONS", "SIGMA_SAMPLERS",
           "TrainingDivergedError", "lr_at", "memory_estimate", "train"]


def _erfinv_normal(u):
    import torch

    return math.sqrt(2.0) * torch.special.erfinv(2 * u - 1)


#: σ laws on ``[lo, hi]`` as functions of a uniform ``u`` in (0, 1) (float64 torch tensors).
SIGMA_SAMPLERS = {
    "log-uniform": lambda u, lo, hi: lo * (hi / lo) ** u,
    "sqrt-uniform": lambda u, lo, hi: (math.sqrt(lo) + u * (math.sqrt(hi) - math.sqrt(lo))) ** 2,
    "uniform": lambda u, lo, hi: lo + u * (hi - lo),
    # EDM: log σ ~ N(-1.2, 1.2²), clipped to [lo, hi].
    "log-normal": lambda u, lo, hi: (-1.2 + 1.2 * _erfinv_normal(u.clamp(1e-6, 1 - 1e-6))).exp().clamp(lo, hi),
}

#: Per-image loss weights ``λ(σ)`` given σ and the data std σ_d.
LOSS_WEIGHTS = {
    "edm": lambda s, sd: (s ** 2 + sd ** 2) / (s * sd) ** 2,
    "sigma": lambda s, sd: 1.0 / s ** 2,
    "none": lambda s, sd: s * 0 + 1.0,
}

#: Variant name → architecture keys (:func:`denoisebench.networks._bfunet.default_hparams`).
VARIANTS = {"blind": {}, "centered": {"centered": True}, "conditioned": {"conditioning": "edm"}}

DEFAULTS = {"variant": "blind", "augment": "none", "n_train": 2048, "steps": 5000, "patch": None, "width": 32, "seed": 0, "device": "cpu",
            "sigma_max": 1.0, "batch": 32, "lr": 1e-3, "sigma_min": 0.005, "sigma_sampling": "log-uniform",
            "weighting": "edm", "padding": "zeros", "n_val": 16, "val_every": 250, "ckpt_every": 250,
            "warmup": 0.02, "final_lr": 0.01, "clip": 1.0}
#: σ of the validation images, cycled over the validation set.
VAL_SIGMAS = (0.02, 0.05, 0.1, 0.2, 0.5)
_STEP_STREAM = 7919


def lr_at(step, steps, lr, warmup, final_lr):
    """Learning rate of step ``step``: linear warm-up over ``warmup · steps``, then cosine to ``final_lr · lr``."""
    w = int(round(warmup * steps))
    if step < w:
        return lr * (step + 1) / w
    t = (step - w) / max(steps - w, 1)
    return lr * (final_lr + (1 - final_lr) * 0.5 * (1 + math.cos(math.pi * t)))


def _step_generator(seed, step):
    import torch

    state = np.random.SeedSequence([int(seed), _STEP_STREAM, int(step)]).generate_state(2, np.uint32)
    return torch.Generator().manual_seed(int(state[0]) << 31 ^ int(state[1]))


def _dihedral(crops, codes):
    """Each crop under one of the 8 symmetries of the square: ``code = 2·k + f``, ``k`` quarter
    turns then a left-right flip when ``f`` is 1."""
    import torch

    out = [torch.rot90(c, int(code) // 2, dims=(-2, -1)) for c, code in zip(crops, codes)]
    return [torch.flip(c, dims=(-1,)) if int(code) % 2 else c for c, code in zip(out, codes)]


#: Data augmentations of the training crops: name → ``(crops, generator) -> crops``.  Drawn after
#: the crops, σ and noise, so ``'none'`` reproduces the draws of runs made before augmentation existed.
AUGMENTATIONS = {
    "none": lambda crops, g: crops,
    "dihedral": lambda crops, g: _dihedral(crops, __import__("torch").randint(8, (len(crops),), generator=g)),
}


def draw_batch(images, step, seed, batch, patch, periodic, sampler, sigma_min, sigma_max, augment="none"):
    """The ``(x, σ, z)`` of step ``step``: crops (or circular shifts) of training images, σ, noise.

    A pure function of its arguments (CPU generator seeded by ``(seed, step)``); ``augment``
    names an entry of :data:`AUGMENTATIONS` (flips and quarter turns: ``'dihedral'``).
    """
    import torch

    g = _step_generator(seed, step)
    n, c, h, w = images.shape
    idx = torch.randint(n, (batch,), generator=g)
    span = (h, w) if periodic else (h - patch + 1, w - patch + 1)
    oi = torch.randint(span[0], (batch,), generator=g)
    oj = torch.randint(span[1], (batch,), generator=g)
    if periodic:
        crops = [torch.roll(images[i], (-int(a), -int(b)), dims=(-2, -1)) for i, a, b in zip(idx, oi, oj)]
    else:
        crops = [images[i, :, a:a + patch, b:b + patch] for i, a, b in zip(idx, oi, oj)]
    sigma = SIGMA_SAMPLERS[sampler](torch.rand(batch, generator=g, dtype=torch.float64), sigma_min, sigma_max)
    z = torch.randn((batch, c, patch, patch), generator=g)
    return torch.stack(AUGMENTATIONS[augment](crops, g)), sigma.float(), z


@contextlib.contextmanager
def _deterministic(device):
    import torch

    before = torch.are_deterministic_algorithms_enabled()
    if device.type == "cpu":
        torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(before)


def _check_args(cfg):
    """Every setting checked before anything is sampled, built or written."""
    check_bounds(cfg)
    for key, table in (("sigma_sampling", SIGMA_SAMPLERS), ("weighting", LOSS_WEIGHTS), ("variant", VARIANTS),
                       ("augment", AUGMENTATIONS)):
        if cfg[key] not in table:
            raise ValueError(f"unknown {key} {cfg[key]!r}; valid: {', '.join(table)}")
    if cfg["padding"] not in ("zeros", "circular"):
        raise ValueError(f"padding must be zeros or circular; got {cfg['padding']!r}")
    from ._bfunet import check_border

    check_border(cfg.get("border", 0))


def _validate(model, x_val, y_val, s_val):
    """Mean PSNR (dB, peak 1) of the model on the fixed validation set, in eval mode."""
    import torch

    from ._bfunet import apply_padded

    model.eval()
    with torch.no_grad():
        out = apply_padded(model, y_val, s_val)
    model.train()
    mse = ((out.float() - x_val) ** 2).mean(dim=(1, 2, 3)).double().cpu().numpy()
    return float(np.mean(10 * np.log10(1.0 / np.maximum(mse, 1e-20))))


def _set_data_buffers(model, images, sigma_data):
    """The data constants a centered or conditioned network holds: per-channel mean, pixel std."""
    import torch

    if hasattr(model, "mean"):
        mean = np.mean(images, axis=(0, 2, 3), dtype=np.float64).reshape(1, -1, 1, 1)
        model.mean.copy_(torch.from_numpy(mean))
    if hasattr(model, "sigma_data"):
        model.sigma_data.fill_(sigma_data)


def _resume(path, model, opt, config):
    from .weights_io import load_checkpoint

    state = load_checkpoint(path, model, opt)
    saved = {k: v for k, v in state["training"].items() if k != "result"}
    diff = sorted(k for k in set(saved) | set(config) if saved.get(k) != config.get(k))
    if diff:
        pairs = ", ".join(f"{k}: {saved.get(k)!r} there, {config.get(k)!r} now" for k in diff)
        raise ValueError(f"checkpoint {path} was made with other settings ({pairs}); delete it or pass resume=False")
    return state["step"], state["training"].get("result", {})


def train(dataset_spec, n_train=2048, steps=5000, patch=None, width=32, seed=0, device="cpu", out=None,
          sigma_max=1.0, batch=32, lr=1e-3, resume=True, progress=True, *, sigma_min=0.005,
          sigma_sampling="log-uniform", weighting="edm", padding="zeros", n_val=16, val_every=250,
          ckpt_every=250, warmup=0.02, final_lr=0.01, clip=1.0, amp=None, checkpoint=None,
          keep_checkpoint=False, stop_at=None, variant="blind", augment="none", init=None, downsample=1,
          border=0):
    """Train a U-Net on ``dataset_spec`` and write its weights to ``out`` (safetensors).

    Parameters
    ----------
    dataset_spec : str
        A dataset spec (``'gaussian'``, ``'natural:size=64'``); images are drawn at its size.
    n_train, steps, patch, width, seed, batch, lr : int or float
        Training-set size, Adam steps, crop size (a multiple of 4; ``None`` = the image size),
        U-Net width, seed, batch size, peak learning rate.
    device : str
        ``'cpu'``, ``'cuda'``, ...; AMP (bfloat16 autocast) on CUDA unless ``amp=False``.
    out : path
        The weight file written at the end.
    sigma_min, sigma_max, sigma_sampling : σ range and law (:data:`SIGMA_SAMPLERS`).
    weighting : str
        Loss weighting (:data:`LOSS_WEIGHTS`).
    padding : {'zeros', 'circular'}
        Convolution padding; ``'circular'`` (periodic data only) trains on whole images, ``patch``
        is then the image size.
    n_val, val_every, ckpt_every : int
        Validation images (held out from training) and how often to validate and checkpoint.
    warmup, final_lr, clip : float
        Warm-up fraction of ``steps``, final learning rate as a fraction of ``lr``, gradient-norm
        clip (``None`` or 0: none).
    resume : bool
        Continue from the checkpoint (``checkpoint``, default ``OUT.ckpt.safetensors``) if it exists
        and was made with the same settings; otherwise start afresh.
    variant : {'blind', 'centered', 'conditioned'}
        The network (:data:`VARIANTS`): bias-free blind, bias-free about the data mean, or σ-conditioned.
    augment : {'none', 'dihedral'}
        Random flips and quarter turns of each crop (:data:`AUGMENTATIONS`; square crops).
    init : path, optional
        Warm start: a weight file of the same architecture (width, channels, padding, variant)
        whose weights start this run (fine-tuning, e.g. to a wider σ range).  Its sha256 and its
        own training settings are recorded in the new file's metadata (``training['init']``).
    downsample : int
        Train on the images averaged over ``f × f`` blocks (a σ-conditioned network for the large σ
        of a ``sigma_split`` pair, :mod:`denoisebench.networks._bfunet`; its σ range is the small image's).
    border : int
        Pixels of reflected image around the network's input, cropped off its output (a multiple of 4,
        0 = none; the architecture key ``border`` of :class:`~denoisebench.networks._bfunet.BiasFreeUNet`).
        A warm start may add it to a network trained without (the weights are the same shapes).
    keep_checkpoint : bool
        Keep the checkpoint after the weights are written (default: remove it).
    stop_at : int, optional
        Stop after this many completed steps (checkpointed), to train in several sittings.

    Returns
    -------
    dict
        ``out``, ``step`` (completed), ``finished``, ``seconds`` (wall time over all sittings),
        ``val_psnr`` (mean dB over the validation set), ``steps_per_second`` (this sitting),
        ``history`` (``[step, loss (moving average), val_psnr]`` at each validation).

    Raises
    ------
    ValueError
        A setting out of bounds (``0 < lr <= 1``, ``clip`` finite and >= 0, ``1 <= steps <= 10^7``,
        ``width <= 256``, at most 10^4 validations, an estimated memory above
        :data:`MAX_TRAIN_BYTES`), or an ``out`` that cannot be written (empty, a directory, in a
        missing or unwritable folder) — all checked before any training step.
    TrainingDivergedError
        A non-finite loss, gradient norm or weight during training (a ``RuntimeError``); the
        weight file is not written (an earlier checkpoint, finite, is kept).
    """
    import torch
    from tqdm import tqdm

    from ._bfunet import build, default_hparams
    from ..noise import add_noise
    from .weights_io import save_checkpoint, save_weights

    cfg = {"variant": variant, "augment": augment, "n_train": n_train, "steps": steps, "patch": patch, "width": width, "seed": seed, "sigma_max": float(sigma_max),
           "sigma_min": float(sigma_min), "batch": batch, "lr": float(lr), "sigma_sampling": sigma_sampling,
           "weighting": weighting, "padding": padding, "n_val": n_val, "val_every": val_every,
           "ckpt_every": ckpt_every, "warmup": float(warmup), "final_lr": float(final_lr), "clip": float(clip or 0)}
    if downsample != 1:  # recorded only when used: earlier checkpoints keep their exact settings
        cfg["downsample"] = downsample
    if border != 0:
        cfg["border"] = border
    _check_args(cfg)
    if stop_at is not None and (not isinstance(stop_at, int) or isinstance(stop_at, bool) or stop_at < 1):
        raise ValueError(f"stop_at must be None or an integer >= 1 (steps to run before stopping); got {stop_at!r}")
    ckpt = check_output(out, checkpoint)
    init_state = read_init(init) if init is not None else None
    ds, cfg = _resolve(dataset_spec, cfg)
    if init_state is not None:
        cfg["init"] = init_state[0]
    check_memory(cfg, ds.channels, ds.shape)
    try:
        dev = torch.device(device)
    except RuntimeError as exc:
        raise ValueError(f"invalid device {device!r} ({exc})") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r}: CUDA is not available here")
    if dev.type == "meta":
        raise ValueError(f"device {device!r} holds no data and computes nothing; use cpu or cuda")
    cfg["amp"] = bool(dev.type == "cuda" if amp is None else amp and dev.type == "cuda")
    data = block_means(ds.sample(n_train + n_val, seed, split="train"), cfg.get("downsample", 1))
    x_train = torch.from_numpy(data[:n_train])
    cfg["sigma_data"] = float(np.std(data[:n_train], dtype=np.float64))
    val_sigma = np.resize(np.asarray(VAL_SIGMAS), n_val)
    x_val = torch.from_numpy(data[n_train:]).to(dev)
    y_val = torch.from_numpy(add_noise(data[n_train:], val_sigma, seed)).to(dev)
    s_val = torch.as_tensor(val_sigma, dtype=torch.float32, device=dev)

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = build(default_hparams(width, data.shape[1], cfg["padding"], **VARIANTS[variant],
                                      border=cfg.get("border", 0)))
    if init_state is not None:
        warm_start(model, init, init_state[1])
    _set_data_buffers(model, data[:n_train], cfg["sigma_data"])
    model = model.to(dev)
    opt = torch.optim.Adam(model.parameters(), lr=cfg["lr"])
    start, result = 0, {}
    if resume and os.path.exists(ckpt):
        start, result = _resume(ckpt, model, opt, cfg)
    seconds0, t0 = result.get("seconds", 0.0), time.perf_counter()
    last = steps if stop_at is None else max(start, min(int(stop_at), steps))
    weight_fn, periodic = LOSS_WEIGHTS[weighting], cfg["padding"] == "circular"
    autocast = torch.autocast("cuda", dtype=torch.bfloat16, enabled=cfg["amp"]) if dev.type == "cuda" \
        else contextlib.nullcontext()

    def snapshot(step, val):
        meta = {**cfg, "result": {"step": step, "val_psnr": val, "seconds": seconds0 + time.perf_counter() - t0,
                                  "device": str(dev), "torch": torch.__version__, "threads": torch.get_num_threads(),
                                  "history": history}}
        return meta

    val, ema, history = result.get("val_psnr"), None, list(result.get("history", []))
    model.train()
    with _deterministic(dev), tqdm(total=steps, initial=start, disable=not progress, file=sys.stderr, unit="step",
                                   desc=f"train {ds.name}", dynamic_ncols=True) as bar:
        for step in range(start, last):
            for group in opt.param_groups:
                group["lr"] = lr_at(step, steps, cfg["lr"], cfg["warmup"], cfg["final_lr"])
            x, sigma, z = draw_batch(x_train, step, seed, batch, cfg["patch"], periodic, sigma_sampling,
                                     cfg["sigma_min"], cfg["sigma_max"], augment)
            x, sigma, z = x.to(dev), sigma.to(dev), z.to(dev)
            with autocast:
                x_hat = model(x + sigma[:, None, None, None] * z, sigma)
            err = ((x_hat.float() - x) ** 2).mean(dim=(1, 2, 3))
            loss = (weight_fn(sigma, cfg["sigma_data"]) * err).mean()
            done, value = step + 1, float(loss.detach())
            if not math.isfinite(value):
                check_finite(model, done, value, f"the loss ({value})")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if cfg["clip"]:
                norm = float(torch.nn.utils.clip_grad_norm_(model.parameters(), cfg["clip"]))
                if not math.isfinite(norm):
                    check_finite(model, done, norm, f"the gradient norm ({norm})")
            opt.step()
            ema = value if ema is None else 0.98 * ema + 0.02 * value
            if done % val_every == 0 or done == steps:
                val = _validate(model, x_val, y_val, s_val)
                history.append([done, ema, val])
            if done % ckpt_every == 0 or done == last:
                check_finite(model, done, 0.0, "a weight")
                save_checkpoint(ckpt, model, opt, done, snapshot(done, val))
            bar.update(1)
            bar.set_postfix(loss=f"{ema:.4g}", val_psnr="-" if val is None else f"{val:.2f}")
    finished = last == steps
    if finished:
        if val is None:
            val = _validate(model, x_val, y_val, s_val)
        save_weights(out, model.eval(), snapshot(steps, val))
        if not keep_checkpoint and os.path.exists(ckpt):
            os.remove(ckpt)
    elapsed = time.perf_counter() - t0
    return {"out": os.fspath(out), "step": last, "finished": finished, "val_psnr": val, "history": history,
            "seconds": seconds0 + elapsed, "steps_per_second": (last - start) / elapsed if elapsed > 0 else None}


# -- command line ---------------------------------------------------------------------------
