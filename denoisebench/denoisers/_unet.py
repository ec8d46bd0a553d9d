"""``unet``: the trained U-Net, shipped per dataset in three variants.

``variant=blind`` (the default): bias-free, σ not an input; ``variant=centered``: bias-free about the
training mean, ``D(y) = m + D₀(y − m)``; ``variant=conditioned``: σ an input, EDM preconditioning
(:mod:`denoisebench.networks._bfunet`).  Weights come from ``denoisebench/networks/weights/<dataset><suffix>.safetensors``
(suffix ``-rgb`` for three channels, then ``-centered`` or ``-cond`` for the variant; trained by
``denoisebench train``; :func:`shipped_weights`), or any file (``unet:weights=PATH``, whose
architecture decides the variant).  A dataset without weights of its own listed in
:data:`FALLBACK_WEIGHTS` (a ``folder`` of the user's images) uses those of its fallback (``natural``)
for its channel count.  On three-channel images a one-channel network runs on each orthonormal
opponent channel (``color='opponent'``, the default: the gray network scored above the shipped RGB
one, reports/color.md) or on each RGB channel (``'channels'``); ``color='rgb'`` picks the
three-channel network.  Arrays cross to torch without leaving their device: torch
input is used as is, cupy input through DLPack, numpy and array_api_strict input (host memory)
as a CPU tensor — or on ``device`` when given.  The result returns in the input's namespace.
"""
from __future__ import annotations

import copy
import os
import warnings

import array_api_compat
import numpy as np

from ..base import Denoiser, NotApplicableError
from ..registry import register_denoiser

__all__ = ["COLORS", "FALLBACK_WEIGHTS", "UNet", "VARIANT_SUFFIXES", "shipped_weights", "WEIGHTS_DIR"]

#: Folder of the shipped weight files, one per dataset name (package data).
WEIGHTS_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "networks", "weights")


#: Datasets without shipped weights of their own → the dataset whose weights they use (same channel
#: count): a folder of photographs gets the weights trained on the bundled photographs.
FALLBACK_WEIGHTS = {"folder": "natural"}

#: Variant → file-name suffix of its shipped weights.
VARIANT_SUFFIXES = {"blind": "", "centered": "-centered", "conditioned": "-cond"}


def shipped_weights(dataset_name, channels=1, variant="blind"):
    """Path of the shipped weights for ``dataset_name``, ``channels`` and ``variant`` (it may not
    exist): ``<name>.safetensors`` for 1 channel, ``<name>-rgb`` for 3, ``<name>-c<C>`` otherwise,
    then the variant's suffix (:data:`VARIANT_SUFFIXES`): ``natural-cond.safetensors``."""
    suffix = {1: "", 3: "-rgb"}.get(channels, f"-c{channels}") + VARIANT_SUFFIXES[variant]
    return os.path.join(WEIGHTS_DIR, f"{dataset_name}{suffix}.safetensors")


#: Values of ``color``: how three-channel images meet the network.  ``'opponent'`` and ``'channels'``
#: run a one-channel network per channel in that colour space (:mod:`denoisebench._color`);
#: ``'rgb'`` runs a three-channel network on the RGB image.
COLORS = ("opponent", "channels", "rgb")


#: ``color`` → (scale, shift) per channel that brings each channel of an image in [0, 1] to the gray
#: images' range before a one-channel network sees it (σ divided by the scale): the opponent
#: luminance (R + G + B)/√3 is divided by √3 (the mean of R, G, B); the two colour differences,
#: centred on 0, are shifted by 1/2.  A bias-free network is homogeneous, so the scale changes
#: nothing for it; a σ-conditioned one is trained on [0, 1] images only.
_CHANNEL_RANGE = {"opponent": ((3 ** 0.5, 1.0, 1.0), (0.0, 0.5, 0.5)),
                  "channels": ((1.0, 1.0, 1.0), (0.0, 0.0, 0.0))}


def _per_channel(color, image_channels, network_channels):
    """True when a one-channel network meets three-channel images channel by channel."""
    return color != "rgb" and image_channels == 3 and network_channels == 1


def _shipped_for(dataset, variant, channels=None):
    """``(path, own)``: the dataset's shipped weights for ``channels`` (default: the dataset's channel
    count) and ``variant``, or its fallback's (``own`` False) when it has none and
    :data:`FALLBACK_WEIGHTS` names one."""
    channels = channels or getattr(dataset, "channels", 1)
    path = shipped_weights(dataset.name, channels, variant)
    if os.path.exists(path) or dataset.name not in FALLBACK_WEIGHTS:
        return path, True
    return shipped_weights(FALLBACK_WEIGHTS[dataset.name], channels, variant), False


def _check_variant(module, variant, path):
    """Weights given by path must be of the variant asked for, when one is asked for."""
    from ..networks._bfunet import variant_of

    found = variant_of(module.hparams)
    if variant is not None and found != variant:
        raise ValueError(f"unet: variant={variant} asked for, but the weights {os.fspath(path)} are a {found} network")


def _check_channels(module, dataset, path, color="rgb"):
    """A network trained on C channels is not applicable to a dataset of another channel count (a
    one-channel network on three-channel images runs per channel unless ``color='rgb'``)."""
    channels, expected = module.hparams["channels"], getattr(dataset, "channels", 1)
    if channels != expected and not _per_channel(color, expected, channels):
        raise NotApplicableError(f"unet weights {os.path.basename(os.fspath(path))} take {channels}-channel images; "
                                 f"dataset {dataset.spec()!r} has {expected} channels")


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
    """Trained U-Net: bias-free and blind (``D(λy) = λ D(y)``), centered, or σ-conditioned (``variant``).

    Parameters
    ----------
    weights : str, path-like, torch module, or None
        A weight file written by ``denoisebench train``; or an in-memory
        :class:`~denoisebench.networks._bfunet.BiasFreeUNet` (tests, notebooks); ``None``: the shipped
        weights of ``dataset`` for its channel count (:func:`shipped_weights`, or those of
        :data:`FALLBACK_WEIGHTS`; :class:`NotApplicableError` if there are none, or if they were
        trained on other dataset parameters than ``dataset``'s, the size aside).  Weights of
        another channel count than the dataset's are not applicable either.
    dataset : Dataset or spec, optional
        The dataset being scored (set by the runner); used only when ``weights`` is ``None``.
    variant : {None, 'blind', 'centered', 'conditioned'}
        Which shipped network: ``None`` is ``'blind'`` for shipped weights and whatever the file is
        for ``weights=PATH`` (a file of another variant than one asked for is a ``ValueError``).
        ``'blind'``: bias-free, σ not an input (the homogeneity and Jacobian analyses are about
        it).  ``'centered'``: bias-free about the training mean ``m``, ``D(y) = m + D₀(y − m)``.
        ``'conditioned'``: σ is an input, EDM preconditioning; ``D(y, σ) → y`` as σ → 0.
    device : str, optional
        Torch device for host (numpy, array_api_strict) input; default ``'cpu'``.  Device arrays
        are always computed on their own device.
    amp : bool
        bfloat16 autocast for float32 input on CUDA (faster, ~3 significant digits).
    color : {'opponent', 'channels', 'rgb'}
        How three-channel images meet the network (other channel counts: ignored).  ``'opponent'``
        (default) and ``'channels'``: the one-channel network (the dataset's gray weights when
        ``weights`` is ``None``) denoises each orthonormal opponent channel, or each RGB channel, at
        the same σ — the orthonormal transform keeps white noise white with the same σ.
        ``'rgb'``: a three-channel network (the ``-rgb`` shipped weights).  A three-channel file
        given as ``weights`` always runs on RGB.
    calibrated : bool
        Apply the weight file's ring gains after the network, where it has them (a σ-conditioned file
        written by ``denoisebench train --calibrate``): ``D'(y, σ) = m + F⁻¹ a(σ, |ξ|) F (D(y, σ) − m)``,
        the least-squares Fourier-diagonal correction of the network's gain
        (:mod:`denoisebench.networks.calibration`).  ``False``: the network alone.

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
    K. Dabov, A. Foi, V. Katkovnik, K. Egiazarian, ICIP 2007, §2 (denoising in opponent colours).
    """

    needs_dataset = True
    #: The ``color`` parameter picks the network too, so :meth:`_denoise` applies it itself.
    own_color = True
    #: What a default run covers: the three variants (each not applicable where it has no weights).
    default_specs = ("unet", "unet:variant=centered", "unet:variant=conditioned")
    #: Feature maps: about 300 times the input's bytes measured (64 images of 128x128).
    memory_factor = 320
    from ..registry._params import AnyOf, Bool, Check, Device, Opt, Path  # the rule vocabulary (not kept on the class)
    from ..registry._rules import OneOf
    param_rules = {"weights": AnyOf(Opt(Path(), "the dataset's shipped weights"),
                                    Check(lambda w: hasattr(w, "hparams"), "a BiasFreeUNet module")),
                   "device": Device(), "amp": Bool(), "variant": Opt(OneOf(*VARIANT_SUFFIXES), "blind when shipped"),
                   "color": OneOf(*COLORS), "calibrated": Bool()}
    del AnyOf, Bool, Check, Device, OneOf, Opt, Path

    def __init__(self, weights=None, dataset=None, device=None, amp=False, variant=None, color="opponent",
                 calibrated=True):
        self.weights = weights
        self.dataset = dataset
        self.device = device
        self.amp = amp
        self.variant = variant
        self.color = color
        self.calibrated = calibrated

    # -- weights ---------------------------------------------------------------------------------
    def input_files(self):
        """The weight file this denoiser reads (its contents enter the cell fingerprint); none for an
        in-memory module or when no dataset is set to pick the shipped weights."""
        if isinstance(self.weights, (str, os.PathLike)):
            return [os.fspath(self.weights)]
        if self.weights is None and self.dataset is not None:
            dataset = self._dataset()
            path = _shipped_for(dataset, self.variant or "blind", self._shipped_channels(dataset))[0]
            return [path] if os.path.exists(path) else []
        return []

    def _shipped_channels(self, dataset):
        """Channel count of the shipped network for ``dataset``: one for three-channel images unless
        ``color='rgb'``, else the dataset's."""
        channels = getattr(dataset, "channels", 1)
        return 1 if _per_channel(self.color, channels, 1) else channels

    def _base_module(self):
        cached = self.__dict__.get("_loaded")
        if cached is not None and cached[0] is self.weights:
            return cached[1]
        module, meta = self._load()
        self.__dict__["_loaded"], self.__dict__["_modules"] = (self.weights, module), {}
        self.__dict__["_training"], self.__dict__["_calibration"] = meta.get("training"), meta.get("calibration")
        return module

    @property
    def trained_on(self):
        """The dataset spec the loaded weights were trained on (their metadata); ``None`` for a module."""
        self._base_module()
        return (self.__dict__["_training"] or {}).get("dataset")

    @property
    def calibration(self):
        """The ring gains applied after the network (:class:`~denoisebench.networks.calibration.RingGains`),
        or ``None``: none in the file, an in-memory module, or ``calibrated=False``."""
        self._base_module()
        return self.__dict__["_calibration"] if self.calibrated else None

    def _load(self):
        """``(module, {'training', 'calibration'})``; the file is validated before a network is built."""
        from ..networks.weights_io import load_weights

        if self.weights is not None and not isinstance(self.weights, (str, os.PathLike)):
            if not hasattr(self.weights, "hparams"):
                raise TypeError("unet weights must be a path or a BiasFreeUNet module")
            _check_variant(self.weights, self.variant, "given as a module")
            return copy.deepcopy(self.weights).float().cpu().eval(), {}
        if self.weights is not None:
            module, meta = load_weights(self.weights)
            _check_variant(module, self.variant, self.weights)
            if self.dataset is not None:
                _check_channels(module, self._dataset(), self.weights, self.color)
                _warn_other_dataset(meta["training"], self._dataset(), self.weights)
            return module, meta
        dataset = self._dataset()
        variant = self.variant or "blind"
        channels = self._shipped_channels(dataset)
        path, own = _shipped_for(dataset, variant, channels)
        if not os.path.exists(path):
            raise NotApplicableError(f"no shipped unet weights for dataset {dataset.name!r} (variant={variant}) with "
                                     f"{channels} channel(s); train them with `denoisebench "
                                     f"train --dataset {dataset.spec()} --variant {variant} --out FILE` and use "
                                     "unet:weights=FILE")
        module, meta = load_weights(path)
        _check_variant(module, variant, path)
        if own:
            _check_same_dataset(meta["training"], dataset, path, ignore=("size", "color") if channels == 1 else ("size",))
        _check_channels(module, dataset, path, self.color)
        return module, meta

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
        """``D(y, σ)`` for a torch tensor ``y`` (N, C, H, W), inside autograd.

        ``sigma`` (a float, or one per image) is ignored by a blind or centered network and
        required by a conditioned one.  The hook of :mod:`denoisebench.analysis` for exact
        Jacobians (``torch.func`` works through it).
        """
        import torch

        from ..networks._bfunet import apply_padded

        module = self.torch_module(y.device, y.dtype)
        channels = module.hparams["channels"]
        if y.ndim == 4 and _per_channel(self.color, y.shape[1], channels):
            return self._per_channel_denoise(y, sigma)
        if y.ndim not in (3, 4) or y.shape[-3] != channels:
            raise ValueError(f"unet: the network takes {channels}-channel images (N, {channels}, H, W); "
                             f"got shape {tuple(y.shape)}")
        if not module.conditioned:
            return apply_padded(module, y)
        if sigma is None:
            raise ValueError("unet: a conditioned network needs sigma")
        s = torch.as_tensor(sigma).to(device=y.device, dtype=y.dtype).reshape(-1)
        gains = self.calibration
        out = apply_padded(module, y[None] if y.ndim == 3 else y, s)
        out = out if gains is None else gains.apply(out, sigma)  # sigma as given: s may be a torch.func wrapper
        return out[0] if y.ndim == 3 else out

    def _per_channel_denoise(self, y, sigma):
        """A one-channel network on each channel of (N, 3, H, W) images, in the ``color`` space."""
        import torch

        from .._color import from_color_space, to_color_space

        n, c, h, w = y.shape
        scale, shift = _CHANNEL_RANGE[self.color]
        scale, shift = (torch.tensor(v, device=y.device, dtype=y.dtype).reshape(1, c, 1, 1) for v in (scale, shift))
        z = to_color_space(y, self.color) / scale + shift
        s = torch.as_tensor(1.0 if sigma is None else sigma).to(device=y.device, dtype=y.dtype).reshape(-1, 1)
        s = (s.expand(n, 1) / scale.reshape(1, c)).reshape(-1)  # σ per image → per channel image
        out = self.differentiable_denoise(z.reshape(n * c, 1, h, w), s).reshape(n, c, h, w)
        return from_color_space((out - shift) * scale, self.color)

    def _denoise(self, y, sigma, xp):
        import torch

        from .._array_api import to_numpy

        to_torch, back = _CONVERSIONS[_namespace_kind(xp)]
        t = to_torch(y, xp, self.device)
        s = torch.from_numpy(np.asarray(to_numpy(sigma), dtype=np.float64).reshape(-1)).to(t.device)
        autocast = bool(self.amp) and t.device.type == "cuda" and t.dtype == torch.float32
        with torch.no_grad(), torch.autocast(t.device.type, dtype=torch.bfloat16, enabled=autocast):
            out = self.differentiable_denoise(t, s).to(t.dtype)
        return back(out, xp)


def _trained_name(training):
    return training.get("dataset_name") or str(training.get("dataset", "")).split(":", 1)[0]


def _warn_other_dataset(training, dataset, path):
    """Weights given by path may be used anywhere, but not silently on another dataset than their own."""
    if _trained_name(training) != dataset.name:
        warnings.warn(f"unet weights {os.fspath(path)} were trained on {training.get('dataset')!r}, used here on "
                      f"{dataset.spec()!r}", UserWarning, stacklevel=2)


def _check_same_dataset(training, dataset, path, ignore=("size",)):
    """Shipped weights apply to the dataset they were trained on, at any size (and any colour, for a
    one-channel network run per channel: ``ignore``).

    A parameter the metadata lacks (added to the dataset after training) counts at its default.
    """
    import inspect

    listed = lambda params: {k: (list(v) if isinstance(v, tuple) else v) for k, v in params.items()}  # noqa: E731
    defaults = {k: p.default for k, p in inspect.signature(type(dataset).__init__).parameters.items()
                if p.default is not inspect.Parameter.empty}
    current = {k: v for k, v in listed(dataset.get_params()).items() if k not in ignore}
    saved = training.get("dataset_params")
    trained = {k: v for k, v in {**listed({k: defaults[k] for k in current if k in defaults}),
                                 **(saved if isinstance(saved, dict) else {})}.items() if k not in ignore}
    if training.get("dataset_name") != dataset.name or trained != current:
        raise NotApplicableError(f"the shipped unet weights {os.path.basename(path)} were trained on "
                                 f"{training.get('dataset')!r}, not on {dataset.spec()!r}; train weights for it "
                                 "with `denoisebench train` and use unet:weights=FILE")
