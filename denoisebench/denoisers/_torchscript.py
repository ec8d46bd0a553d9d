"""``torchscript``: a user's own network exported with ``torch.jit.save``, behind the denoiser contract.

:class:`TorchNetwork` is the adapter shared with :mod:`._deepinv`: it runs a torch module
``net(y, sigma)`` (or ``net(y)``) on any backend the way :class:`~._unet.UNet` does — torch input
as is, cupy through DLPack, host input (numpy, array_api_strict) as a CPU tensor or on ``device`` —
in the input's dtype, under ``torch.no_grad()``, and checks what comes back (a tensor of the
input's shape, finite) before returning it in the input's namespace.
"""
from __future__ import annotations

import copy
import importlib.util
import os
import warnings
import zipfile

from ..base import Denoiser
from ..registry import register_denoiser
from ._unet import _CONVERSIONS, _namespace_kind

__all__ = ["TorchNetwork", "TorchScript"]


def _torch_installed():
    return importlib.util.find_spec("torch") is not None


class TorchNetwork(Denoiser):
    """Base of the denoisers that apply a torch network: conversion, caching, output checks.

    Subclasses set ``device`` and ``takes_sigma`` (attributes or ``__init__`` parameters) and write
    :meth:`_load_network` (the network on the CPU for ``channels`` input channels),
    :meth:`_network_key` (what the loaded network depends on) and :meth:`_label` (for errors).
    """

    #: Not in the default grid: it needs a file or a large download, and a network is slow on a CPU.
    heavy = True
    #: Feature maps of a convolutional network: tens of channels at full resolution.
    memory_factor = 128
    #: ``None``: compute in the input's dtype; ``'float32'``: a network that casts to float32 itself.
    compute_dtype = None

    def _load_network(self, channels):  # pragma: no cover - abstract
        """The network (a ``torch.nn.Module``) on the CPU, for inputs of ``channels`` channels."""
        raise NotImplementedError

    def _network_key(self):  # pragma: no cover - abstract
        raise NotImplementedError

    def _label(self):  # pragma: no cover - abstract
        raise NotImplementedError

    def input_files(self):
        """The files this denoiser reads (their hashes go into the cell fingerprint)."""
        return []

    # -- the network, cached per (parameters, channels, device, dtype) ------------------------
    def torch_module(self, device="cpu", dtype=None, channels=1):
        """The network in eval mode on ``device`` in ``dtype`` (torch dtype, default float32), cached."""
        import torch

        dtype = dtype or torch.float32
        cache = self.__dict__.setdefault("_networks", {})
        base_key = (self._network_key(), channels)
        if base_key not in cache:
            base = self._load_network(channels).eval()
            for p in base.parameters():
                p.requires_grad_(False)
            cache[base_key] = base
        key = (base_key, str(torch.device(device)), dtype)
        if key not in cache:
            with torch.no_grad():
                cache[key] = copy.deepcopy(cache[base_key]).to(device=device, dtype=dtype).eval()
        return cache[key]

    def __getstate__(self):
        """Pickled and deep-copied without the loaded networks (they reload on first use)."""
        state = dict(self.__dict__)
        state.pop("_networks", None)
        return state

    # -- denoising ------------------------------------------------------------------------------
    def _call_hint(self):
        return "called as net(y, sigma)" if self.takes_sigma else "called as net(y)"

    def _forward(self, net, y, sigma):
        """``net(y, sigma)``, or ``net(y)`` for a network that takes no σ."""
        return net(y, sigma) if self.takes_sigma else net(y)

    def _denoise(self, y, sigma, xp):
        import torch

        kind = _namespace_kind(xp)
        to_torch, back = _CONVERSIONS[kind]
        t = to_torch(y, xp, self.device)
        s = to_torch(sigma, xp, self.device).reshape(-1).to(device=t.device, dtype=t.dtype)
        dtype = getattr(torch, self.compute_dtype) if self.compute_dtype else t.dtype
        net = self.torch_module(t.device, dtype, channels=int(t.shape[1]))
        try:
            with torch.no_grad():
                # The network gets its own copy of a caller's tensor (a model may write to its input).
                out = self._forward(net, t.to(dtype, copy=kind in ("torch", "cupy")), s.to(dtype))
        except (RuntimeError, ValueError, TypeError, IndexError) as exc:
            raise ValueError(f"{self._label()} failed on a batch of shape {tuple(t.shape)} ({t.dtype}, "
                             f"{t.device}) {self._call_hint()}: {_first_line(exc)}") from exc
        return back(self._checked(out, t), xp)

    def _checked(self, out, t):
        """The network's output as a finite tensor like ``t``; one clear error otherwise."""
        import torch

        if not torch.is_tensor(out):
            raise TypeError(f"{self._label()} returned {type(out).__name__}, not a tensor")
        if tuple(out.shape) != tuple(t.shape):
            raise ValueError(f"{self._label()} returned shape {tuple(out.shape)} for an input of shape "
                             f"{tuple(t.shape)}: a denoiser returns an image of its input's shape")
        if out.dtype != t.dtype:  # an int or half-precision output is not converted silently
            raise TypeError(f"{self._label()} returned dtype {str(out.dtype).replace('torch.', '')} for a "
                            f"{str(t.dtype).replace('torch.', '')} input: a denoiser returns its input's dtype "
                            "(compute in the input's dtype, or cast the output back)")
        out = out.detach().to(device=t.device)
        if not bool(torch.isfinite(out).all()):
            raise ValueError(f"{self._label()} returned NaN or inf on a batch of shape {tuple(t.shape)}")
        return out


def _first_line(exc):
    """The line of an error message that says what went wrong (a TorchScript traceback's last one)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()] or [type(exc).__name__]
    return lines[-1] if "TorchScript interpreter" in lines[0] else lines[0]


def _file_key(path):
    """``path`` with its size and modification time: a file replaced in place is reloaded."""
    try:
        stat = os.stat(path)
    except OSError:
        return (path,)
    return (path, stat.st_size, stat.st_mtime_ns)


def _check_archive(path):
    """Refuse, before torch reads it, a file that is not a TorchScript archive."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"torchscript: no such file {path!r}")
    if not zipfile.is_zipfile(path):
        raise ValueError(f"torchscript: {path!r} is not a TorchScript archive (not a zip file); "
                         "export the network with torch.jit.save(torch.jit.script(model), path)")
    try:
        with zipfile.ZipFile(path) as archive:
            names = [name.split("/", 1)[-1] for name in archive.namelist()]
    except (zipfile.BadZipFile, OSError) as exc:
        raise ValueError(f"torchscript: {path!r} is not a readable zip archive: {exc}") from None
    if "constants.pkl" not in names or not any(name.startswith("code/") for name in names):
        raise ValueError(f"torchscript: {path!r} is a zip file but not a TorchScript archive (no code/ or "
                         "constants.pkl: a state dict or checkpoint from torch.save is not a model); export "
                         "the network with torch.jit.save(torch.jit.script(model), path)")


@register_denoiser("torchscript")
class TorchScript(TorchNetwork):
    """A network exported with ``torch.jit.save``, called as ``model(y, sigma)`` (or ``model(y)``).

    Parameters
    ----------
    path : str or path-like
        The TorchScript archive.  Loaded on the CPU (``map_location``, so a model saved on a GPU
        loads anywhere), put in eval mode, then copied to the input's device and dtype.
    takes_sigma : bool
        True (default): called as ``model(y, sigma)`` with ``y`` of shape (N, C, H, W) and
        ``sigma`` a tensor of shape (N,), both on ``y``'s device in ``y``'s dtype.  False: called
        as ``model(y)`` (a blind network).
    device : str, optional
        Torch device for host (numpy, array_api_strict) input; default ``'cpu'``.  Device arrays
        are computed on their own device.

    Notes
    -----
    The model must return a tensor of its input's shape and dtype; a model that fails, returns
    another shape or dtype (an int or float16 output is refused, never converted), NaN or inf, or a file that is not a TorchScript archive (a text file, a truncated
    file, a pickle or a ``torch.save`` checkpoint — refused before torch reads it) gives one
    error naming the file.  A TorchScript archive holds the model's code and weights, not a
    pickle of Python objects; but its code runs when the model is called, so load only models
    you trust, as with any code.  Computation is in the input's dtype (the parameters are cast:
    float64 input runs a float64 copy).  The images are passed as they are (values in [0, 1]).
    PyTorch marks TorchScript deprecated in favour of ``torch.export``; ``torch.jit.load``
    still reads archives, and its deprecation warning is silenced here.
    """

    available = staticmethod(_torch_installed)
    from ..registry._params import Bool, Device, Opt, Path  # the rule vocabulary (not kept on the class)
    param_rules = {"path": Opt(Path()), "takes_sigma": Bool(), "device": Device()}
    del Bool, Device, Opt, Path

    def __init__(self, path=None, takes_sigma=True, device=None):
        self.path = path
        self.takes_sigma = takes_sigma
        self.device = device

    def _file(self):
        if self.path is None:
            raise ValueError("torchscript needs the model file: torchscript:path=FILE")
        return os.fspath(self.path)

    def input_files(self):
        """``[path]``: the model file (its hash goes into the cell fingerprint)."""
        return [self._file()]

    def _label(self):
        return f"torchscript model {self._file()!r}"

    def _network_key(self):
        if not isinstance(self.takes_sigma, bool):
            raise TypeError(f"torchscript: takes_sigma must be true or false; got {self.takes_sigma!r}")
        return _file_key(self._file())

    def _load_network(self, channels):
        import torch

        path = self._file()
        _check_archive(path)
        try:
            with warnings.catch_warnings():
                # DeprecationWarning in torch 2.13, FutureWarning in 2.14: the user chose the format.
                warnings.filterwarnings("ignore", message=r".*torch\.jit\.load.* is deprecated")
                return torch.jit.load(path, map_location="cpu")
        except (RuntimeError, ValueError) as exc:
            raise ValueError(f"torchscript: cannot load {path!r} as a TorchScript model: {_first_line(exc)}") from None

    def _call_hint(self):
        other = "takes_sigma=false for model(y)" if self.takes_sigma else "takes_sigma=true for model(y, sigma)"
        return f"{super()._call_hint().replace('net', 'model')}; pass {other} if it expects that"
