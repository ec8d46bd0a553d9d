"""Weight and checkpoint files of the bias-free U-Net: safetensors with signed, validated metadata.

Never pickle: tensors are stored by ``safetensors`` (a flat name → array table that cannot run
code) and everything else — the architecture, the training configuration, the optimizer's
hyper-parameters, the step — as JSON strings in the file's metadata.

Every load validates the file *before* anything is allocated for it, in this order; the first
failure raises a one-line :class:`ValueError` naming the file and the problem:

1. the safetensors header, parsed here (8-byte little-endian length, at most
   :data:`MAX_HEADER_BYTES` of JSON): every tensor's dtype, shape and byte range consistent, the
   ranges tiling the data section, the file exactly that long (truncated, random or pickled
   files stop here, nothing is executed);
2. the metadata: format, version, kind, valid JSON, a dataset spec;
3. the architecture, bounded (:func:`denoisebench.networks._bfunet.validate_hparams`: width ≤ 256,
   channels ≤ 4, a known padding), and the tensor table the network needs, computed on torch's
   ``meta`` device (no storage), compared name by name with the file's: the data section read
   next is then exactly what the bounded network needs;
4. the checksum over the *whole* file (see below) — an edited ``padding`` or dataset is refused;
5. finite values; only then is a network built and filled.

File layout (``format_version`` 2)
----------------------------------
============================  ===================================================================
metadata ``format``           ``"denoisebench-unet"``
metadata ``format_version``   ``"2"``
metadata ``kind``             ``"weights"`` (inference) or ``"checkpoint"`` (resumable training)
metadata ``architecture``     JSON: :func:`denoisebench.networks._bfunet.default_hparams`
metadata ``training``         JSON: dataset spec and parameters, training-set size, σ range and
                              sampling, loss weighting, steps, patch, batch, lr, seed, ...
metadata ``package_version``  the denoisebench version that wrote the file
metadata ``sha256``           SHA-256 of ``"denoisebench-unet/2\\n"``, the canonical JSON of every
                              other metadata field (sorted keys, no spaces), then per tensor in
                              name order its canonical JSON ``[name, dtype, shape]``, a newline,
                              and its raw little-endian bytes
metadata ``state``            checkpoints only, JSON: completed ``step`` and Adam's param groups
metadata ``calibration``      optional, JSON: the ring gains ``a(σ, |ξ|)`` applied after the network
                              (:mod:`denoisebench.networks.calibration`)
tensors ``model.<name>``      the module's ``state_dict`` (weights and running std buffers)
tensors ``optim.<i>.<key>``   checkpoints only: Adam's ``step``, ``exp_avg``, ``exp_avg_sq`` of
                              parameter ``i``

============================  ===================================================================

Version 1 files (checksum over the tensors only) are refused with a pointer to :func:`resave`.
Writes are atomic (``.tmp-<pid>-*.safetensors`` in the same folder, then :func:`os.replace`;
the temporary file is removed on every exit path, and :func:`remove_stale_temps` removes those
left by killed processes), so an interrupted write never leaves a half file under the final name.

References
----------
safetensors format specification, https://github.com/huggingface/safetensors (README, "Format").
"""
from __future__ import annotations

import hashlib
import json
import os

from ._ring_gains import RingGains
from ._safetensors import MAX_HEADER_BYTES, TORCH_NAMES, as_tensors, atomic_write, read_data, read_header, remove_stale_temps

__all__ = ["FORMAT", "FORMAT_VERSION", "MAX_HEADER_BYTES", "join_experts", "load_checkpoint", "load_weights", "remove_stale_temps",
           "resave", "save_checkpoint", "save_weights"]

FORMAT = "denoisebench-unet"
FORMAT_VERSION = 2
_REQUIRED = ("format", "format_version", "kind", "architecture", "training", "package_version", "sha256")


# -- checksums ---------------------------------------------------------------------------
def _canonical(obj):
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def _digest(metadata, table, data):
    """SHA-256 of the whole file's content: metadata (less ``sha256``), tensor names, dtypes, shapes, bytes."""
    h = hashlib.sha256(f"{FORMAT}/{FORMAT_VERSION}\n".encode())
    h.update(_canonical({k: v for k, v in metadata.items() if k != "sha256"}))
    for name in sorted(table):
        entry = table[name]
        begin, end = entry["data_offsets"]
        h.update(b"\n" + _canonical([name, entry["dtype"], entry["shape"]]) + b"\n")
        h.update(data[begin:end])
    return h.hexdigest()


def _legacy_digest(table, data):
    """The version-1 checksum (tensors only), recomputed from the raw bytes, for :func:`resave`."""
    h = hashlib.sha256()
    for name in sorted(table):
        entry = table[name]
        begin, end = entry["data_offsets"]
        h.update(name.encode())
        h.update(str(tuple(entry["shape"])).encode() + f"torch.{TORCH_NAMES[entry['dtype']]}".encode())
        h.update(data[begin:end])
    return h.hexdigest()


# -- writing -----------------------------------------------------------------------------
def _package_version():
    from .._version import __version__

    return __version__


def _signed(tensors, metadata):
    """The bytes of a safetensors file holding ``tensors`` and ``metadata`` with its ``sha256`` set."""
    from safetensors.torch import save

    meta = {k: v for k, v in metadata.items() if k != "sha256"}
    blob = save(tensors, metadata=meta)
    n = int.from_bytes(blob[:8], "little")
    table = {k: v for k, v in json.loads(blob[8:8 + n]).items() if k != "__metadata__"}
    meta["sha256"] = _digest(meta, table, memoryview(blob)[8 + n:])
    return save(tensors, metadata=meta)


def _write(path, tensors, kind, architecture, training, extra=None):
    tensors = {k: v.detach().cpu().contiguous().clone() for k, v in tensors.items()}
    metadata = {"format": FORMAT, "format_version": str(FORMAT_VERSION), "kind": kind,
                "architecture": json.dumps(architecture, sort_keys=True),
                "training": json.dumps(training, sort_keys=True),
                "package_version": _package_version(), **(extra or {})}
    return atomic_write(path, _signed(tensors, metadata))


def save_weights(path, model, training):
    """Write ``model``'s weights (a :class:`~denoisebench.networks._bfunet.BiasFreeUNet`) with ``training`` metadata."""
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
def _check_metadata(path, metadata, kinds, legacy=False):
    missing = [k for k in _REQUIRED if k not in metadata]
    if metadata.get("format") != FORMAT:
        raise ValueError(f"{path}: not a denoisebench U-Net file (format {metadata.get('format')!r}, "
                         f"expected {FORMAT!r})")
    if missing:
        raise ValueError(f"{path}: metadata lacks {', '.join(missing)}")
    version = metadata["format_version"]
    if version == "1" and not legacy:
        raise ValueError(f"{path}: format version 1 (its checksum covers the tensors, not the metadata) is no "
                         f"longer read; re-save it with denoisebench.networks.weights_io.resave({str(path)!r}) once you "
                         "trust its metadata, or retrain it")
    if version not in (str(FORMAT_VERSION), "1"):
        raise ValueError(f"{path}: format version {version!r} is not supported "
                         f"(this denoisebench reads version {FORMAT_VERSION})")
    if metadata["kind"] not in kinds:
        raise ValueError(f"{path}: a {metadata['kind']!r} file, expected {' or '.join(map(repr, kinds))}")
    out = {}
    for key in ("architecture", "training") + (("state",) if metadata["kind"] == "checkpoint" else ()):
        try:
            out[key] = json.loads(metadata[key])
        except (KeyError, ValueError, RecursionError) as exc:
            raise ValueError(f"{path}: metadata {key!r} is missing or not valid JSON ({type(exc).__name__})") from None
        if not isinstance(out[key], dict):
            raise ValueError(f"{path}: metadata {key!r} must be a JSON object")
    if not isinstance(out["training"].get("dataset"), str):
        raise ValueError(f"{path}: training metadata names no dataset spec")
    text = metadata.get("calibration")  # optional: the ring gains applied after the network
    out["calibration"] = None if text is None else RingGains.from_text(text, f"{path}: metadata 'calibration'")
    return out


def _expected_table(path, hparams, kind, architecture):
    """``{tensor name: (shape, safetensors dtype)}`` the file must hold (optimizer entries: allowed)."""
    from ._bfunet import expected_state

    try:
        state, params = expected_state(hparams), expected_state(hparams, parameters_only=True)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{path}: invalid architecture: {exc}") from None
    if architecture is not None and dict(architecture) != hparams:
        diff = {k: (hparams.get(k), architecture.get(k)) for k in set(hparams) | set(architecture)
                if hparams.get(k) != architecture.get(k)}
        raise ValueError(f"{path}: architecture mismatch (file, expected): {diff}")
    to_st = {v: k for k, v in TORCH_NAMES.items()}
    model = {f"model.{k}": (shape, to_st[str(dtype).removeprefix("torch.")]) for k, (shape, dtype) in state.items()}
    optim = {}
    if kind == "checkpoint":  # Adam's state of parameter i, in model.parameters() order
        for i, name in enumerate(params):
            shape, dtype = model[f"model.{name}"]
            optim.update({f"optim.{i}.step": ((), "F32"), f"optim.{i}.exp_avg": (shape, dtype),
                          f"optim.{i}.exp_avg_sq": (shape, dtype)})
    return model, optim


def _check_table(path, table, kind, model, optim):
    """The file's tensors against the architecture's: names, shapes, dtypes — before reading any data."""
    missing = sorted(set(model) - set(table))
    if missing:
        more = f" and {len(missing) - 1} more" if len(missing) > 1 else ""
        raise ValueError(f"{path}: missing tensor {missing[0]}{more}")
    for name in sorted(table):
        if name not in model and name not in optim:
            where = f"in a {kind!r} file" if name.startswith("optim.") else "for this architecture"
            raise ValueError(f"{path}: unexpected tensor {name} {where}")
        shape, dtype = model.get(name) or optim[name]
        if tuple(table[name]["shape"]) != shape:
            raise ValueError(f"{path}: tensor {name} has shape {tuple(table[name]['shape'])}, the architecture "
                             f"needs {shape}")
        if table[name]["dtype"] != dtype:
            raise ValueError(f"{path}: tensor {name} has dtype {table[name]['dtype']}, expected {dtype}")


def _read(path, kinds, architecture=None, legacy=False):
    """Validate ``path`` (header, metadata, architecture, tensor table, checksum); ``(metadata, meta, tensors)``."""
    import torch

    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no weight file {path!r}")
    with open(path, "rb") as f:
        metadata, table, length = read_header(f, path)
        meta = _check_metadata(path, metadata, kinds, legacy)
        model, optim = _expected_table(path, meta["architecture"], metadata["kind"], architecture)
        _check_table(path, table, metadata["kind"], model, optim)
        data = read_data(f, path, length)  # exactly what the validated, bounded network needs
    view = memoryview(data)
    digest = _legacy_digest(table, view) if metadata["format_version"] == "1" else _digest(metadata, table, view)
    if metadata["sha256"] != digest:
        raise ValueError(f"{path}: checksum mismatch: the file (tensors or metadata) is corrupt or was edited")
    tensors = as_tensors(table, data)
    for name, t in tensors.items():
        if t.is_floating_point() and not bool(torch.isfinite(t).all()):
            raise ValueError(f"{path}: tensor {name} contains NaN or inf")
    return metadata, meta, tensors


def _open(path, kinds, architecture=None):
    from ._bfunet import build

    _, meta, tensors = _read(path, kinds, architecture)
    model = build(meta["architecture"])
    model.load_state_dict({k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")})
    return model.eval(), meta, tensors


def load_weights(path, architecture=None):
    """Load a weight (or checkpoint) file; ``(model in eval mode, {'architecture', 'training', 'calibration'})``.

    ``calibration`` is the file's ring-gain table (:class:`~denoisebench.networks.calibration.RingGains`,
    written by ``denoisebench train --calibrate``) or None.

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
        Anything wrong with the file (one line naming the file and the problem), raised before
        a network is built.
    """
    model, meta, _ = _open(path, ("weights", "checkpoint"), architecture)
    return model, {k: meta[k] for k in ("architecture", "training", "calibration")}


def load_checkpoint(path, model, optimizer):
    """Restore ``model`` and ``optimizer`` (Adam) in place from a checkpoint; return its metadata.

    The returned dict has ``step`` (completed steps) and ``training`` (the configuration the
    caller compares with its own before resuming).
    """
    _, meta, tensors = _read(path, ("checkpoint",), model.hparams)
    model.load_state_dict({k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")})
    groups = meta["state"].get("param_groups")
    n_params = len(list(model.parameters()))
    if not isinstance(groups, list) or sum(len(g.get("params", [])) for g in groups) != n_params:
        raise ValueError(f"{path}: optimizer state does not match the model's {n_params} parameters")
    state = {}
    for i in range(n_params):
        keys = {k.split(".", 2)[2]: v.clone() for k, v in tensors.items() if k.startswith(f"optim.{i}.")}
        if keys:
            state[i] = keys
    try:
        optimizer.load_state_dict({"state": state, "param_groups": groups})
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"{path}: optimizer state is invalid ({exc})") from None
    step = meta["state"].get("step")
    if not isinstance(step, int) or isinstance(step, bool) or step < 0:
        raise ValueError(f"{path}: checkpoint step {step!r} is not a non-negative integer")
    return {"step": step, "training": meta["training"]}


def resave(path, out=None):
    """Re-write a weight or checkpoint file in the current format: same tensors, same metadata, new checksum.

    Reads format version 1 (checksum over the tensors only, which it verifies) or 2 and runs every
    check :func:`load_weights` runs.  Version 1 metadata is *not* covered by its checksum: re-save
    only files whose metadata (architecture, padding, dataset) you trust.

    Parameters
    ----------
    path : str or path-like
        The file to read.
    out : str or path-like, optional
        Where to write (atomically); default: ``path`` itself.

    Returns
    -------
    str
        The path written.
    """
    metadata, _, tensors = _read(path, ("weights", "checkpoint"), legacy=True)
    fresh = {**metadata, "format_version": str(FORMAT_VERSION)}
    return atomic_write(os.fspath(path if out is None else out), _signed(tensors, fresh))


def join_experts(low, high, split, out):
    """Write one conditioned network made of two noise-level experts: ``low`` for σ ≤ ``split``,
    ``high`` above (:class:`~denoisebench.networks._bfunet.BiasFreeUNet`'s ``sigma_split``).
    ``high`` may itself be a joined file: the result then has three experts or more (join from the
    top down: ``join(mid, high)``, then ``join(low, that)``).

    Both files must hold conditioned networks of the same architecture trained on the same dataset,
    ``low`` on a σ range reaching ``split`` and ``high`` on one starting at or below it.  The result's
    training metadata is ``low``'s, with ``sigma_max`` from ``high`` (the range the pair covers) and
    ``experts``: each file's name, sha256, σ range, steps and validation PSNR.

    Raises
    ------
    ValueError
        Another architecture, variant or dataset, a σ range that leaves a gap at ``split``, or a
        file :func:`load_weights` refuses; all before anything is written.
    """
    from ._bfunet import _one_or_list, build, expert_borders, expert_levels, weight_keys
    from ..store.fingerprint import file_sha256

    split = float(split)
    models, metas = zip(*(load_weights(p) for p in (low, high)))
    arch = [dict(m.hparams) for m in models]
    splits, downs = expert_levels(arch[1])
    single_high = {k: v for k, v in weight_keys(arch[1]).items() if k not in ("sigma_split", "high_downsample")}
    low_arch = weight_keys(arch[0])
    if low_arch != single_high or arch[0].get("conditioning", "none") == "none" or "sigma_split" in arch[0]:
        raise ValueError(f"join_experts needs a single conditioned network and a conditioned network (or set of "
                         f"experts) of one architecture; got {arch[0]} and {arch[1]}")
    lo, hi = (m["training"] for m in metas)
    f = int(hi.get("downsample", 1))  # the high expert's σ are those of the f-times smaller image: σ/f
    if (lo.get("dataset_name"), lo.get("dataset_params")) != (hi.get("dataset_name"), hi.get("dataset_params")):
        raise ValueError(f"join_experts: {os.fspath(low)} was trained on {lo.get('dataset')!r}, "
                         f"{os.fspath(high)} on {hi.get('dataset')!r}")
    hi_range = (f * float(hi["sigma_min"]), f * float(hi["sigma_max"]))
    first_top = f * splits[0] if splits else hi_range[1]  # where the high file's own first expert ends
    if not (float(lo["sigma_min"]) < split <= float(lo["sigma_max"]) and hi_range[0] <= split < first_top):
        raise ValueError(f"join_experts: split {split:g} must lie in both σ ranges: low [{lo['sigma_min']:g}, "
                         f"{lo['sigma_max']:g}], high [{hi_range[0]:g}, {first_top:g}] (image σ)")
    all_splits, all_downs = [split, *(f * v for v in splits)], [f, *(f * d for d in downs[:len(splits)])]
    borders = [arch[0].get("border", 0), *expert_borders(arch[1])]
    joined = build({**low_arch, "sigma_split": _one_or_list(all_splits), **(
        {"high_downsample": _one_or_list(all_downs)} if all_downs != [1] * len(all_downs) else {}), **(
        {"border": borders[0] if not any(borders[1:]) else borders} if any(borders) else {})})
    joined.load_state_dict({**models[0].state_dict(), **{f"high.{k}": v for k, v in models[1].state_dict().items()}})

    def summary(path, t, rng):
        res = t.get("result", {})
        return {"file": os.path.basename(os.fspath(path)), "sha256": file_sha256(path), "sigma_range": rng,
                "trained_sigma": [t["sigma_min"], t["sigma_max"]], "steps": t.get("steps"), "init": t.get("init"),
                "val_psnr": res.get("val_psnr"), "seconds": res.get("seconds")}

    above = [summary(high, hi, [split, hi_range[1]])] if not splits else [
        {**e, "sigma_range": [split if i == 0 else f * e["sigma_range"][0], f * e["sigma_range"][1]]}
        for i, e in enumerate(hi["experts"])]
    training = {**lo, "sigma_max": hi_range[1], "experts": [summary(low, lo, [lo["sigma_min"], split]), *above]}
    return save_weights(out, joined.eval(), training)
