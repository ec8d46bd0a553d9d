"""Weight and checkpoint files of the bias-free U-Net: safetensors with validated JSON metadata.

Never pickle: tensors are stored by ``safetensors`` (a flat name → array table that cannot run
code) and everything else — the architecture, the training configuration, the optimizer's
hyper-parameters, the step — as JSON strings in the file's metadata.  Every load is validated; a
file that is not what it claims raises a one-line :class:`ValueError` naming the problem
(unreadable or truncated file, another format or format version, a checksum mismatch,
missing/unexpected tensors, wrong shapes or dtypes, non-finite values, another architecture).

File layout (``format_version`` 1)
----------------------------------
metadata ``format``           ``"denoisebench-unet"``
metadata ``format_version``   ``"1"``
metadata ``kind``             ``"weights"`` (inference) or ``"checkpoint"`` (resumable training)
metadata ``architecture``     JSON: :func:`denoisebench._bfunet.default_hparams`
metadata ``training``         JSON: dataset spec and parameters, training-set size, σ range and
                              sampling, loss weighting, steps, patch, batch, lr, seed, ...
metadata ``package_version``  the denoisebench version that wrote the file
metadata ``sha256``           SHA-256 of the tensors (sorted names, raw little-endian bytes)
metadata ``state``            checkpoints only, JSON: completed ``step`` and Adam's param groups
tensors ``model.<name>``      the module's ``state_dict`` (weights and running std buffers)
tensors ``optim.<i>.<key>``   checkpoints only: Adam's ``step``, ``exp_avg``, ``exp_avg_sq`` of
                              parameter ``i``

Writes are atomic (a temporary file in the same folder, then :func:`os.replace`), so an
interrupted write never leaves a half file under the final name.

References
----------
safetensors format specification, https://github.com/huggingface/safetensors (README, "Format").
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile

import numpy as np

__all__ = ["FORMAT", "FORMAT_VERSION", "load_checkpoint", "load_weights", "save_checkpoint", "save_weights"]

FORMAT = "denoisebench-unet"
FORMAT_VERSION = 1
_REQUIRED = ("format", "format_version", "kind", "architecture", "training", "package_version", "sha256")


# -- writing -----------------------------------------------------------------------------
def _package_version():
    from . import __version__

    return __version__


def _digest(tensors):
    h = hashlib.sha256()
    for name in sorted(tensors):
        t = tensors[name].detach().cpu().contiguous()
        h.update(name.encode())
        h.update(str(tuple(t.shape)).encode() + str(t.dtype).encode())
        h.update(t.reshape(-1).numpy().tobytes())
    return h.hexdigest()


def _write(path, tensors, kind, architecture, training, extra=None):
    from safetensors.torch import save_file

    tensors = {k: v.detach().cpu().contiguous().clone() for k, v in tensors.items()}
    metadata = {"format": FORMAT, "format_version": str(FORMAT_VERSION), "kind": kind,
                "architecture": json.dumps(architecture, sort_keys=True),
                "training": json.dumps(training, sort_keys=True),
                "package_version": _package_version(), "sha256": _digest(tensors), **(extra or {})}
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=".safetensors")
    os.close(fd)
    try:
        save_file(tensors, tmp, metadata=metadata)
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; weight files are data to share (package data)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return str(path)


def save_weights(path, model, training):
    """Write ``model``'s weights (a :class:`~denoisebench._bfunet.BiasFreeUNet`) with ``training`` metadata."""
    state = {f"model.{k}": v for k, v in model.state_dict().items()}
    return _write(path, state, "weights", model.hparams, training)


def save_checkpoint(path, model, optimizer, step, training):
    """Write a resumable checkpoint: weights, Adam's moments and step counts, the completed ``step``."""
    tensors = {f"model.{k}": v for k, v in model.state_dict().items()}
    opt = optimizer.state_dict()
    for i, state in opt["state"].items():
        for key, value in state.items():
            tensors[f"optim.{i}.{key}"] = value if hasattr(value, "shape") else _scalar(value)
    groups = [{k: (list(v) if isinstance(v, tuple) else v) for k, v in g.items()} for g in opt["param_groups"]]
    state = json.dumps({"step": int(step), "param_groups": groups}, sort_keys=True)
    return _write(path, tensors, "checkpoint", model.hparams, training, {"state": state})


def _scalar(value):
    import torch

    return torch.tensor(float(value), dtype=torch.float32)


# -- reading -----------------------------------------------------------------------------
def _read(path):
    """``(tensors, metadata)`` of a safetensors file; ``ValueError`` if it is not one."""
    import safetensors
    from safetensors.torch import load

    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no weight file {path!r}")
    with open(path, "rb") as f:
        blob = f.read()
    try:
        tensors = load(blob)
        header_len = int.from_bytes(blob[:8], "little")
        metadata = json.loads(blob[8:8 + header_len]).get("__metadata__") or {}
    except (safetensors.SafetensorError, ValueError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: not a readable safetensors file ({exc})") from None
    return tensors, metadata


def _check_metadata(path, metadata, kinds):
    missing = [k for k in _REQUIRED if k not in metadata]
    if metadata.get("format") != FORMAT:
        raise ValueError(f"{path}: not a denoisebench U-Net file (format {metadata.get('format')!r}, "
                         f"expected {FORMAT!r})")
    if missing:
        raise ValueError(f"{path}: metadata lacks {', '.join(missing)}")
    if metadata["format_version"] != str(FORMAT_VERSION):
        raise ValueError(f"{path}: format version {metadata['format_version']!r} is not supported "
                         f"(this denoisebench reads version {FORMAT_VERSION})")
    if metadata["kind"] not in kinds:
        raise ValueError(f"{path}: a {metadata['kind']!r} file, expected {' or '.join(map(repr, kinds))}")
    out = {}
    for key in ("architecture", "training") + (("state",) if metadata["kind"] == "checkpoint" else ()):
        try:
            out[key] = json.loads(metadata[key])
        except (KeyError, json.JSONDecodeError) as exc:
            raise ValueError(f"{path}: metadata {key!r} is missing or not valid JSON ({exc})") from None
        if not isinstance(out[key], dict):
            raise ValueError(f"{path}: metadata {key!r} must be a JSON object")
    if not isinstance(out["training"].get("dataset"), str):
        raise ValueError(f"{path}: training metadata names no dataset spec")
    return out


def _check_tensors(path, tensors, model, prefix="model."):
    """Compare the file's ``prefix`` tensors with ``model``'s state dict: names, shapes, dtypes, finiteness."""
    expected = model.state_dict()
    found = {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}
    missing = sorted(set(expected) - set(found))
    unexpected = sorted(set(found) - set(expected))
    if missing:
        raise ValueError(f"{path}: missing tensor {prefix}{missing[0]}" + (f" and {len(missing) - 1} more" if len(missing) > 1 else ""))
    if unexpected:
        raise ValueError(f"{path}: unexpected tensor {prefix}{unexpected[0]} for this architecture")
    for name, ref in expected.items():
        t = found[name]
        if tuple(t.shape) != tuple(ref.shape):
            raise ValueError(f"{path}: tensor {prefix}{name} has shape {tuple(t.shape)}, the architecture "
                             f"needs {tuple(ref.shape)}")
        if t.dtype != ref.dtype:
            raise ValueError(f"{path}: tensor {prefix}{name} has dtype {t.dtype}, expected {ref.dtype}")
        if not bool(np.all(np.isfinite(t.numpy()))):
            raise ValueError(f"{path}: tensor {prefix}{name} contains NaN or inf")
    return found


def _open(path, kinds, architecture=None):
    from ._bfunet import build

    tensors, metadata = _read(path)
    meta = _check_metadata(path, metadata, kinds)
    if metadata["sha256"] != _digest(tensors):
        raise ValueError(f"{path}: checksum mismatch: the tensors are corrupt or were edited")
    try:
        model = build(meta["architecture"])
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{path}: invalid architecture: {exc}") from None
    if architecture is not None and dict(architecture) != model.hparams:
        diff = {k: (model.hparams.get(k), architecture.get(k)) for k in set(model.hparams) | set(architecture)
                if model.hparams.get(k) != architecture.get(k)}
        raise ValueError(f"{path}: architecture mismatch (file, expected): {diff}")
    allowed = ("model.",) if metadata["kind"] == "weights" else ("model.", "optim.")
    stray = sorted(k for k in tensors if not k.startswith(allowed))
    if stray:
        raise ValueError(f"{path}: unexpected tensor {stray[0]} in a {metadata['kind']!r} file")
    state = _check_tensors(path, tensors, model)
    model.load_state_dict(state)
    return model.eval(), meta, tensors


def load_weights(path, architecture=None):
    """Load a weight (or checkpoint) file; ``(model in eval mode, {'architecture', 'training'})``.

    Parameters
    ----------
    path : str or path-like
    architecture : dict, optional
        The expected hyper-parameters; a file with others is refused.

    Raises
    ------
    FileNotFoundError
        No such file.
    ValueError
        Anything wrong with the file (one line naming the problem).
    """
    model, meta, _ = _open(path, ("weights", "checkpoint"), architecture)
    return model, {k: meta[k] for k in ("architecture", "training")}


def load_checkpoint(path, model, optimizer):
    """Restore ``model`` and ``optimizer`` (Adam) in place from a checkpoint; return its metadata.

    The returned dict has ``step`` (completed steps) and ``training`` (the configuration the
    caller compares with its own before resuming).
    """
    loaded, meta, tensors = _open(path, ("checkpoint",), model.hparams)
    model.load_state_dict(loaded.state_dict())
    groups = meta["state"].get("param_groups")
    n_params = len(list(model.parameters()))
    if not isinstance(groups, list) or sum(len(g.get("params", [])) for g in groups) != n_params:
        raise ValueError(f"{path}: optimizer state does not match the model's {n_params} parameters")
    state = {}
    for i, param in enumerate(model.parameters()):
        keys = {k.split(".", 2)[2]: v for k, v in tensors.items() if k.startswith(f"optim.{i}.")}
        for key in ("exp_avg", "exp_avg_sq"):
            if key in keys and tuple(keys[key].shape) != tuple(param.shape):
                raise ValueError(f"{path}: tensor optim.{i}.{key} has shape {tuple(keys[key].shape)}, "
                                 f"parameter {i} has {tuple(param.shape)}")
        if keys:
            state[i] = keys
    try:
        optimizer.load_state_dict({"state": state, "param_groups": groups})
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"{path}: optimizer state is invalid ({exc})") from None
    step = meta["state"].get("step")
    if not isinstance(step, int) or step < 0:
        raise ValueError(f"{path}: checkpoint step {step!r} is not a non-negative integer")
    return {"step": step, "training": meta["training"]}
