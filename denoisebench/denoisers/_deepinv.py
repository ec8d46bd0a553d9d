"""``deepinv``: the pretrained denoisers of the DeepInverse library behind the denoiser contract.

deepinv is an optional dependency (``pip install '.[deepinv]'``; it needs a torchvision that
matches torch, see ``scripts/test_deepinv.sh``): without it, ``deepinv`` is not listed.
"""
from __future__ import annotations

import importlib.util
import os
from typing import Callable, NamedTuple

from ._torchscript import TorchNetwork, _file_key, _first_line
from ..registry import register_denoiser

__all__ = ["DeepInv", "MODELS"]


class _Model(NamedTuple):
    """A deepinv denoiser: its class in ``deepinv.models``, constructor kwargs for C channels."""

    cls: str
    channels: Callable[[int], dict]
    download: tuple = (1, 3)  # channel counts with downloadable weights
    compute_dtype: str | None = None  # a network that casts its input itself
    multiple: int = 1  # H and W the network accepts: multiples of this (padded otherwise)
    blind: bool = False  # σ is accepted and ignored


def _in_out(c):
    return {"in_channels": c, "out_channels": c}


#: Supported models: name → deepinv class and constructor arguments (tested with deepinv 0.5).
MODELS = {
    "drunet": _Model("DRUNet", _in_out),
    "dncnn": _Model("DnCNN", _in_out, blind=True),
    "scunet": _Model("SCUNet", lambda c: {"in_nc": c}, download=(3,), blind=True),
    # GSDRUNet's output is x - ∇g(x), computed by autograd in float32 whatever the input.
    "gsdrunet": _Model("GSDRUNet", _in_out, compute_dtype="float32"),
    # FFDNet's colour weights are for a smaller, wider network; it works on 2×2 pixel blocks.
    "ffdnet": _Model("FFDNet", lambda c: {"img_channels": c, **({"n_conv_layers": 12, "nf": 96} if c == 3 else {})},
                     multiple=2),
}


def _deepinv_installed():
    return importlib.util.find_spec("deepinv") is not None


def _import_deepinv():
    try:
        import deepinv
    except ImportError:
        raise
    except Exception as exc:  # e.g. a torchvision built for another torch: "operator torchvision::nms does not exist"
        raise ValueError(f"deepinv is installed but cannot be imported ({type(exc).__name__}: {_first_line(exc)}); "
                         "it needs a torchvision built for this torch: see scripts/test_deepinv.sh") from None
    return deepinv


def _read_state_dict(path):
    """A state dict from ``path``: safetensors, or ``torch.load(weights_only=True)`` (no arbitrary unpickling)."""
    import torch

    if not os.path.isfile(path):
        raise FileNotFoundError(f"deepinv: no such weights file {path!r}")
    try:
        if path.endswith(".safetensors"):
            from safetensors.torch import load_file

            state = load_file(path, device="cpu")
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # unpickling refused, not a zip, truncated, bad header: all one message
        raise ValueError(f"deepinv: cannot read weights {path!r} as a state dict (.pth written by torch.save, "
                         f"or .safetensors): {_first_line(exc)}") from None
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]  # a checkpoint wrapping its state dict, as deepinv's GSDRUNet files do
    if not isinstance(state, dict) or not all(torch.is_tensor(v) for v in state.values()):
        raise ValueError(f"deepinv: weights {path!r} hold no state dict (name → tensor)")
    return state


@register_denoiser("deepinv")
class DeepInv(TorchNetwork):
    """A deepinv denoiser (DRUNet, DnCNN, SCUNet, GSDRUNet, FFDNet), called as ``net(y, sigma)``.

    Parameters
    ----------
    model : str
        One of :data:`MODELS`: ``drunet``, ``dncnn``, ``scunet``, ``gsdrunet``, ``ffdnet``.  The
        network is built for the input's channel count C (deepinv's pretrained weights exist for
        C = 1 and C = 3; SCUNet's for C = 3 only).
    weights : str, path-like or None
        ``None`` (default): deepinv's pretrained weights, downloaded by deepinv (and cached by torch
        hub); offline, a clear error asks for ``weights=PATH``.  A path: a state dict for this model
        and C, ``.safetensors`` or a ``.pth`` file as deepinv ships them, read with
        ``torch.load(weights_only=True)`` (tensors only, no arbitrary unpickling); nothing is
        downloaded.  ``'random'``: deepinv's random initialisation, seeded by ``seed`` (tests).
    seed : int
        Seed of the random initialisation (``weights='random'`` only); torch's global RNG is untouched.
    device : str, optional
        Torch device for host (numpy, array_api_strict) input; default ``'cpu'``.

    Notes
    -----
    deepinv's denoisers take ``(y, sigma)`` with ``y`` of shape (N, C, H, W) in [0, 1] and
    ``sigma`` (here a tensor of shape (N,)) on the same scale, as denoisebench's images and σ are;
    DnCNN and SCUNet are blind and ignore σ.  Computation is in the input's dtype, except GSDRUNet
    (float32).  FFDNet is given images padded (reflect) to even sizes and cropped back.

    References
    ----------
    K. Zhang, Y. Li, W. Zuo, L. Zhang, L. Van Gool, R. Timofte, "Plug-and-play image restoration
    with deep denoiser prior", IEEE TPAMI 44(10), 2022 (DRUNet).  K. Zhang, W. Zuo, Y. Chen,
    D. Meng, L. Zhang, "Beyond a Gaussian denoiser", IEEE TIP 26(7), 2017 (DnCNN).  K. Zhang, W. Zuo,
    L. Zhang, "FFDNet", IEEE TIP 27(9), 2018.  K. Zhang et al., "Practical blind image denoising via
    Swin-Conv-UNet and data synthesis", Machine Intelligence Research 20, 2023 (SCUNet).
    S. Hurault, A. Leclaire, N. Papadakis, "Gradient step denoiser for convergent plug-and-play",
    ICLR 2022 (GSDRUNet).  J. Tachella et al., "DeepInverse: a Python package for solving imaging
    inverse problems with deep learning", JOSS 10(115), 2025.
    """

    available = staticmethod(_deepinv_installed)
    libraries = ("deepinv",)  # its version enters this denoiser's cell fingerprints
    install = "pip install 'denoisebench[deepinv]' (brings torchvision and a CUDA torch, ~3 GB; see scripts/test_deepinv.sh)"
    memory_factor = 256
    takes_sigma = True
    from ..registry._params import Device, Int, OneOf, Opt, Path  # the rule vocabulary (not kept on the class)
    param_rules = {"model": OneOf(*MODELS), "weights": Opt(Path(), "deepinv's pretrained weights"),
                   "seed": Int(0, 2**63 - 1), "device": Device()}
    del Device, Int, OneOf, Opt, Path

    def __init__(self, model="drunet", weights=None, seed=0, device=None):
        self.model = model
        self.weights = weights
        self.seed = seed
        self.device = device

    @property
    def internal_dtype(self):
        """``'float32'`` for a network that computes in float32 whatever the input (check tolerance)."""
        return self._info().compute_dtype

    @property
    def compute_dtype(self):
        return self._info().compute_dtype

    def _info(self):
        if self.model not in MODELS:
            raise ValueError(f"deepinv: unknown model {self.model!r}; valid: {', '.join(MODELS)}")
        return MODELS[self.model]

    def _weights_path(self):
        if self.weights is None or (isinstance(self.weights, str) and self.weights.lower() == "random"):
            return None
        return os.fspath(self.weights)

    def input_files(self):
        """``[weights]`` when the weights come from a file (its hash goes into the cell fingerprint)."""
        path = self._weights_path()
        return [] if path is None else [path]

    def _label(self):
        path = self._weights_path()
        return f"deepinv {self.model}" + (f" (weights {path!r})" if path else "")

    def _network_key(self):
        self._info()
        path = self._weights_path()
        return (self.model, self.weights if path is None else _file_key(path), self.seed)

    def _load_network(self, channels):
        import torch

        info = self._info()
        cls = getattr(_import_deepinv().models, info.cls)
        kwargs = info.channels(channels)
        path = self._weights_path()
        if path is not None:
            state = _read_state_dict(path)
            net = cls(**kwargs, pretrained=None)
            try:
                net.load_state_dict(state, strict=True)
            except RuntimeError as exc:
                raise ValueError(f"deepinv: weights {path!r} do not fit {self.model} for C = {channels} "
                                 f"channels: {_first_line(exc)}") from None
            return net
        if self.weights is not None:  # 'random'
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(int(self.seed))
                return cls(**kwargs, pretrained=None)
        if channels not in info.download:
            raise ValueError(f"deepinv has no pretrained {self.model} weights for C = {channels} channels "
                             f"(only C = {' or '.join(map(str, info.download))}): pass weights=PATH")
        try:
            return cls(**kwargs, pretrained="download")
        except OSError as exc:  # URLError, ConnectionError, timeouts, deepinv's DownloadError
            raise ValueError(f"deepinv could not download {self.model}'s weights (offline?): pass weights=PATH "
                             f"({type(exc).__name__}: {_first_line(exc)})") from None

    def _forward(self, net, y, sigma):
        import torch.nn.functional as F

        h, w = y.shape[-2:]
        m = self._info().multiple
        ph, pw = -h % m, -w % m
        if ph or pw:
            y = F.pad(y, (0, pw, 0, ph), mode="reflect")
        return net(y, sigma)[..., :h, :w]
