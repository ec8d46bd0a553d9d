"""What :func:`denoisebench.networks.train.train` checks before its first step, and the fault it raises during training.

Before anything is sampled, built or written: every numeric setting bounded
(:func:`check_bounds`), the memory a run needs estimated and capped (:func:`check_memory`), the
output paths proven writable (:func:`check_output`, which also removes temporary files of killed
runs).  During training: :func:`check_finite` turns a non-finite loss, gradient norm or weight into
a :class:`TrainingDivergedError` (a ``RuntimeError``: a runtime fault, exit status 1), so no
unusable weight file is ever written.  Bad settings raise ``ValueError`` (a usage error, exit 2).
"""
from __future__ import annotations

import math
import os
import tempfile

import numpy as np

__all__ = ["DEFAULT_PATCH", "MAX_STEPS", "MAX_TRAIN_BYTES", "MAX_VALIDATIONS", "TrainingDivergedError", "check_bounds", "check_finite",
           "block_means", "check_memory", "check_output", "checkpoint_path", "memory_estimate", "read_init",
           "resolve_dataset_config", "warm_start"]

#: Crop size of a training step when none is given (smaller images: the largest multiple of 4 that fits).
DEFAULT_PATCH = 32

#: Most Adam steps one run may ask for.
MAX_STEPS = 10 ** 7
#: Most validations (``steps / val_every``): their history is kept in the file's metadata.
MAX_VALIDATIONS = 10_000
#: Largest estimated memory of a training run (:func:`memory_estimate`).
MAX_TRAIN_BYTES = 8 << 30
#: Bytes per (crop, finest-scale channel, pixel) of a training step's activations and gradients:
#: forward + backward of the 3-scale U-Net measured at 160-195 (widths 8-32, patches 32-64), rounded up.
_ACTIVATION_BYTES = 256


class TrainingDivergedError(RuntimeError):
    """The loss, the gradient or the weights became NaN or infinite: a runtime fault; no weights are written."""


def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def check_bounds(cfg):
    """Raise ``ValueError`` naming the first setting of ``cfg`` out of its range.

    Integers ``n_train, steps, batch, width, n_val, val_every, ckpt_every >= 1``, ``steps <=``
    :data:`MAX_STEPS`, ``width <= 256`` (:data:`denoisebench.networks._bfunet.MAX_WIDTH`), at most
    :data:`MAX_VALIDATIONS` validations, ``0 <= seed < 2**63``; ``0 < sigma_min < sigma_max < inf``;
    ``0 < lr <= 1``; ``clip`` finite and ``>= 0`` (0: none); ``0 <= warmup < 1``;
    ``0 <= final_lr <= 1``.  NaN fails every comparison, so it is refused everywhere.
    """
    from ._bfunet import MAX_WIDTH

    tops = {"steps": MAX_STEPS, "width": MAX_WIDTH}
    for key in ("n_train", "steps", "batch", "width", "n_val", "val_every", "ckpt_every"):
        top = tops.get(key)
        if not _is_int(cfg[key]) or cfg[key] < 1 or top and cfg[key] > top:
            bound = f">= 1 and <= {top}" if top else ">= 1"
            raise ValueError(f"{key} must be an integer {bound}; got {cfg[key]!r}")
    if not _is_int(cfg["seed"]) or not 0 <= cfg["seed"] < 2 ** 63:
        raise ValueError(f"seed must be an integer between 0 and 2**63 - 1; got {cfg['seed']!r}")
    if cfg["steps"] // cfg["val_every"] > MAX_VALIDATIONS:
        raise ValueError(f"val_every {cfg['val_every']} validates {cfg['steps'] // cfg['val_every']} times; at most "
                         f"{MAX_VALIDATIONS} (val_every >= {-(-cfg['steps'] // MAX_VALIDATIONS)})")
    if not 0 < cfg["sigma_min"] < cfg["sigma_max"] < math.inf:
        raise ValueError(f"need 0 < sigma_min < sigma_max < inf; got {cfg['sigma_min']}, {cfg['sigma_max']}")
    if not 0 < cfg["lr"] <= 1:
        raise ValueError(f"lr must be a finite number with 0 < lr <= 1; got {cfg['lr']}")
    if not 0 <= cfg["clip"] < math.inf:
        raise ValueError(f"clip must be a finite number >= 0 (0 or None: no clipping); got {cfg['clip']}")
    if not 0 <= cfg["warmup"] < 1 or not 0 <= cfg["final_lr"] <= 1:
        raise ValueError(f"need 0 <= warmup < 1 and 0 <= final_lr <= 1; got {cfg['warmup']}, {cfg['final_lr']}")


def memory_estimate(cfg, channels, size):
    """Bytes a training run needs (an upper estimate): a step's activations, validation, data, Adam.

    ``cfg`` holds ``batch``, ``width``, ``patch``, ``padding``, ``n_train``, ``n_val``; ``size`` is
    the image ``(H, W)``.  The step term, ``256 · batch · width · patch²``, is the measured peak of
    a forward and backward pass (160–195 bytes per crop, channel and pixel) rounded up.
    """
    from ._bfunet import default_hparams, expected_state

    h, w = size
    params = sum(math.prod(shape) for shape, _ in
                 expected_state(default_hparams(cfg["width"], channels, cfg["padding"])).values())
    step = _ACTIVATION_BYTES * cfg["batch"] * cfg["width"] * cfg["patch"] ** 2
    validation = _ACTIVATION_BYTES // 4 * cfg["n_val"] * cfg["width"] * h * w  # no gradients kept
    data = 8 * (cfg["n_train"] + cfg["n_val"]) * channels * h * w
    return step + validation + data + 16 * params  # parameters, gradients and Adam's two moments


def check_memory(cfg, channels, size):
    """Refuse (``ValueError``, with the number) a run whose :func:`memory_estimate` exceeds :data:`MAX_TRAIN_BYTES`."""
    need = memory_estimate(cfg, channels, size)
    if need > MAX_TRAIN_BYTES:
        raise ValueError(f"training would need about {need / 2 ** 30:.1f} GiB (batch {cfg['batch']} x width "
                         f"{cfg['width']} x patch {cfg['patch']}^2, {cfg['n_train']} + {cfg['n_val']} images of "
                         f"{size[0]}x{size[1]}); the limit is {MAX_TRAIN_BYTES / 2 ** 30:.0f} GiB: lower batch, "
                         "width, patch or n_train")
    return need


def checkpoint_path(out, checkpoint):
    """The checkpoint file: ``checkpoint``, or ``OUT.ckpt.safetensors`` next to ``out``."""
    if checkpoint:
        return os.fspath(checkpoint)
    base = os.fspath(out)
    return (base[: -len(".safetensors")] if base.endswith(".safetensors") else base) + ".ckpt.safetensors"


def check_output(out, checkpoint):
    """Refuse (``ValueError``) output paths that cannot be written; return the checkpoint path.

    ``out`` must be non-empty and not a directory, in an existing folder where a file can really
    be created (a probe file, as the trainer will write; ``os.access`` says yes to root on a
    read-only mount); the same for the checkpoint, which must differ from ``out``.  Temporary
    files of killed runs in those folders are removed
    (:func:`denoisebench.networks.weights_io.remove_stale_temps`).
    """
    from .weights_io import remove_stale_temps

    from ..outputs import check_output_target

    if out is None or os.fspath(out) == "":
        raise ValueError("out: the weight file to write is required; got an empty path")
    paths = {"out": os.fspath(out), "checkpoint": checkpoint_path(out, checkpoint)}
    for what, path in paths.items():  # a device, FIFO or socket is never replaced by a file
        check_output_target(path, what, "file")
    if os.path.abspath(paths["out"]) == os.path.abspath(paths["checkpoint"]):
        raise ValueError(f"checkpoint and out are the same file {paths['out']!r}")
    for what, path in paths.items():
        folder = os.path.dirname(os.path.abspath(path))
        if os.path.isdir(path):
            raise ValueError(f"{what} {path!r} is a directory; name the .safetensors file to write")
        if not os.path.isdir(folder):
            why = "is a file, not a folder" if os.path.exists(folder) else "does not exist"
            raise ValueError(f"{what} {path!r}: its folder {folder!r} {why}")
        try:
            fd, probe = tempfile.mkstemp(dir=folder, prefix=f".tmp-{os.getpid()}-", suffix=".safetensors")
            os.close(fd)
            os.remove(probe)
        except OSError as exc:
            raise ValueError(f"{what} {path!r}: cannot write in {folder!r} ({exc.strerror})") from None
        remove_stale_temps(folder)
    return paths["checkpoint"]


def check_finite(model, step, value, where):
    """Raise :class:`TrainingDivergedError` unless ``value`` and every parameter of ``model`` are finite."""
    import torch

    if math.isfinite(value) and all(bool(torch.isfinite(p).all()) for p in model.parameters()):
        return
    raise TrainingDivergedError(f"training diverged at step {step}: {where} is not finite; no weights written "
                                "(lower lr, or clip the gradient norm)")


def block_means(x, f):
    """Images ``(n, C, H, W)`` averaged over ``f × f`` blocks (``f`` divides ``H`` and ``W``); ``x`` when ``f`` is 1."""
    if f == 1:
        return x
    n, c, h, w = x.shape
    return x.reshape(n, c, h // f, f, w // f, f).mean(axis=(3, 5), dtype=np.float64).astype(x.dtype)


def resolve_dataset_config(dataset_spec, cfg):
    """The dataset, and the config with ``patch`` and ``padding`` resolved (``_resolve`` of train).

    ``patch=None`` (the default) is :data:`DEFAULT_PATCH`, or for smaller images the largest
    multiple of 4 that fits them; with circular padding, the whole (square) image.  A given
    ``patch`` must be a multiple of 4 between 4 and the image size.
    """
    from ..registry import make_dataset

    ds = make_dataset(dataset_spec)
    f = cfg.get("downsample", 1)
    if not isinstance(f, int) or isinstance(f, bool) or not 1 <= f <= 16 or ds.shape[0] % f or ds.shape[1] % f:
        raise ValueError(f"downsample must be an integer in [1, 16] dividing the image size {ds.shape}; got {f!r}")
    h, w = ds.shape[0] // f, ds.shape[1] // f
    padding, patch = cfg["padding"], cfg["patch"]
    if patch is not None and (not isinstance(patch, int) or isinstance(patch, bool) or patch < 4):
        raise ValueError(f"patch must be a multiple of 4 between 4 and the image size {min(h, w)}; got {patch!r}")
    if padding == "circular":
        if h != w:
            raise ValueError(f"circular padding trains on whole periodic images, which must be square; got {h}x{w}")
        patch = h
    elif patch is None:
        patch = min(DEFAULT_PATCH, min(h, w) // 4 * 4)
    if patch < 4 or patch % 4 or patch > min(h, w):
        raise ValueError(f"patch must be a multiple of 4 between 4 and the image size {min(h, w)}; got {patch!r}")
    params = {k: (list(v) if isinstance(v, tuple) else v) for k, v in ds.get_params().items()}
    return ds, {**cfg, "patch": patch, "padding": padding, "dataset": dataset_spec, "dataset_name": ds.name,
                "dataset_params": params}


def read_init(path):
    """``(provenance, state dict)`` of a warm-start weight file, checked before anything is sampled."""
    from ..store.fingerprint import file_sha256
    from .weights_io import load_weights

    if not isinstance(path, (str, os.PathLike)) or not os.fspath(path) or not os.path.isfile(path):
        raise ValueError(f"init {path!r} is not a weight file")
    model, meta = load_weights(path)
    prior = meta["training"]
    keys = ("dataset", "variant", "steps", "sigma_min", "sigma_max", "sigma_sampling", "lr", "seed")
    provenance = {"file": os.path.basename(os.fspath(path)), "sha256": file_sha256(path),
                  **{f"prior_{k}": prior.get(k) for k in keys if k in prior}}
    return provenance, {"architecture": meta["architecture"], "state": model.state_dict()}


def warm_start(model, path, state):
    """Load ``state`` into ``model``; refuse another architecture (one line naming both).  The
    :data:`~denoisebench.networks._bfunet.VIEW_KEYS` (``border``) may differ: they change what the network
    sees, not its weights."""
    from ._bfunet import weight_keys

    if weight_keys(state["architecture"]) != weight_keys(model.hparams):
        raise ValueError(f"init {os.fspath(path)} has architecture {state['architecture']}, this run builds "
                         f"{model.hparams}: same --width, --padding and --variant needed")
    model.load_state_dict(state["state"])
