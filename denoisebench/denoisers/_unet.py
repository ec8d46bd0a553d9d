"""``unet``: the trained bias-free U-Net (blind: σ is not an input), shipped per dataset.

Weights come from ``denoisebench/weights/<dataset>.safetensors`` (trained by ``denoisebench train``)
or any file (``unet:weights=PATH``).  Arrays cross to torch without leaving their device: torch
input is used as is, cupy input through DLPack, numpy and array_api_strict input (host memory)
as a CPU tensor — or on ``device`` when given.  The result returns in the input's namespace.
"""
from __future__ import annotations

import copy
import os

import array_api_compat
import numpy as np

from ..base import Denoiser, NotApplicableError
from ..registry import register_denoiser

__all__ = ["UNet", "shipped_weights", "WEIGHTS_DIR"]

#: Folder of the shipped weight files, one per dataset name (package data).
WEIGHTS_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "weights")


def shipped_weights(dataset_name):
    """Path of the shipped weights for ``dataset_name`` (it may not exist)."""
    return os.path.join(WEIGHTS_DIR, f"{dataset_name}.safetensors")


def _namespace_kind(xp):
    checks = {"torch": array_api_compat.is_torch_namespace, "cupy": array_api_compat.is_cupy_namespace,
              "numpy": array_api_compat.is_numpy_namespace}
    return next((kind for kind, check in checks.items() if check(xp)), "host")


def _host_to_torch(y, device):
    import torch

    host = np.array(y, copy=True) if not isinstance(y, np.ndarray) else np.ascontiguousarray(y)
    return torch.from_numpy(host).to(device or "cpu")


#: namespace kind → (to torch, back to the namespace).  Only host arrays go through numpy.
_CONVERSIONS = {
    "torch": (lambda y, xp, dev: y, lambda t, xp: t),
    "cupy": (lambda y, xp, dev: __import__("torch").from_dlpack(y), lambda t, xp: xp.from_dlpack(t)),
    "numpy": (lambda y, xp, dev: _host_to_torch(y, dev), lambda t, xp: t.cpu().numpy()),
    "host": (lambda y, xp, dev: _host_to_torch(y, dev), lambda t, xp: xp.asarray(t.cpu().numpy())),
}


@register_denoiser("unet")
class UNet(Denoiser):
    """Bias-free U-Net denoiser, ``D(λy) = λ D(y)``, trained blind over σ (σ is ignored).

    Parameters
    ----------
    weights : str, path-like, torch module, or None
        A weight file written by ``denoisebench train``; or an in-memory
        :class:`~denoisebench._bfunet.BiasFreeUNet` (tests, notebooks); ``None``: the shipped
        weights of ``dataset`` (:class:`NotApplicableError` if there are none, or if they were
        trained on other dataset parameters than ``dataset``'s, the size aside).
    dataset : Dataset or spec, optional
        The dataset being scored (set by the runner); used only when ``weights`` is ``None``.
    device : str, optional
        Torch device for host (numpy, array_api_strict) input; default ``'cpu'``.  Device arrays
        are always computed on their own device.
    amp : bool
        bfloat16 autocast for float32 input on CUDA (faster, ~3 significant digits).

    Notes
    -----
    Computation is in the input's dtype (a float64 copy of the network for float64 input).  Sizes
    not divisible by 4 are padded symmetrically (reflect; wrap for a circular network) and cropped
    back.  Eval mode: normalisation divides by the running std, so each image of a batch is
    denoised independently (batch = per-image loop).  :meth:`differentiable_denoise` is the
    autograd hook used by :mod:`denoisebench.analysis`.

    References
    ----------
    S. Mohan, Z. Kadkhodaie, E. P. Simoncelli, C. Fernandez-Granda, ICLR 2020, §3.
    Z. Kadkhodaie, F. Guth, E. P. Simoncelli, S. Mallat, ICLR 2024, appendix A.
    """

    needs_dataset = True

    def __init__(self, weights=None, dataset=None, device=None, amp=False):
        self.weights = weights
        self.dataset = dataset
        self.device = device
        self.amp = amp

    # -- weights ---------------------------------------------------------------------------------
    def _base_module(self):
        cached = self.__dict__.get("_loaded")
        if cached is not None and cached[0] is self.weights:
            return cached[1]
        module = self._load()
        self.__dict__["_loaded"], self.__dict__["_modules"] = (self.weights, module), {}
        return module

    def _load(self):
        from ..weights_io import load_weights

        if self.weights is not None and not isinstance(self.weights, (str, os.PathLike)):
            if not hasattr(self.weights, "hparams"):
                raise TypeError("unet weights must be a path or a BiasFreeUNet module")
            return copy.deepcopy(self.weights).float().cpu().eval()
        if self.weights is not None:
            return load_weights(self.weights)[0]
        dataset = self._dataset()
        path = shipped_weights(dataset.name)
        if not os.path.exists(path):
            raise NotApplicableError(f"no shipped unet weights for dataset {dataset.name!r}; train them with "
                                     f"`denoisebench train --dataset {dataset.name} --out FILE` and use unet:weights=FILE")
        module, meta = load_weights(path)
        _check_same_dataset(meta["training"], dataset, path)
        return module

    def _dataset(self):
        if self.dataset is None:
            raise NotApplicableError("unet without weights=PATH needs dataset=...: it picks that dataset's shipped weights")
        if isinstance(self.dataset, str):
            from ..registry import make_dataset

            return make_dataset(self.dataset)
        return self.dataset

    def torch_module(self, device="cpu", dtype=None):
        """The network (eval mode) on ``device`` in ``dtype`` (torch dtype; default float32), cached."""
        import torch

        base = self._base_module()
        dtype = dtype or torch.float32
        key = (str(torch.device(device)), dtype)
        modules = self.__dict__["_modules"]
        if key not in modules:
            modules[key] = copy.deepcopy(base).to(device=device, dtype=dtype).eval()
            for p in modules[key].parameters():
                p.requires_grad_(False)
        return modules[key]

    # -- denoising -------------------------------------------------------------------------------
    def differentiable_denoise(self, y, sigma=None):
        """``D(y)`` for a torch tensor ``y`` (N, C, H, W), inside autograd (σ is ignored: blind).

        The hook of :mod:`denoisebench.analysis` for exact Jacobians (``torch.func`` works through it).
        """
        from .._bfunet import apply_padded

        return apply_padded(self.torch_module(y.device, y.dtype), y)

    def _denoise(self, y, sigma, xp):
        import torch

        to_torch, back = _CONVERSIONS[_namespace_kind(xp)]
        t = to_torch(y, xp, self.device)
        autocast = bool(self.amp) and t.device.type == "cuda" and t.dtype == torch.float32
        with torch.no_grad(), torch.autocast(t.device.type, dtype=torch.bfloat16, enabled=autocast):
            out = self.differentiable_denoise(t).to(t.dtype)
        return back(out, xp)


def _check_same_dataset(training, dataset, path):
    """Shipped weights apply to the dataset they were trained on, at any size."""
    trained = {k: v for k, v in training.get("dataset_params", {}).items() if k != "size"}
    current = {k: (list(v) if isinstance(v, tuple) else v) for k, v in dataset.get_params().items() if k != "size"}
    if training.get("dataset_name") != dataset.name or trained != current:
        raise NotApplicableError(f"the shipped unet weights {os.path.basename(path)} were trained on "
                                 f"{training.get('dataset')!r}, not on {dataset.spec()!r}; train weights for it "
                                 "with `denoisebench train` and use unet:weights=FILE")
