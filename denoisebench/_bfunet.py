"""The bias-free U-Net (a torch module): no additive constant anywhere, so ``f(λy) = λ f(y)``.

Imported lazily (it imports torch) by ``denoisers/_unet.py``, ``weights_io.py`` and ``train.py``.

Architecture (Kadkhodaie, Guth, Simoncelli, Mallat, ICLR 2024, appendix; bias-free as in Mohan,
Kadkhodaie, Simoncelli, Fernandez-Granda, ICLR 2020): three scales with ``width · 2^s`` channels at
scale ``s``; each scale has two blocks ``conv 3×3 (no bias) → BFNorm → ReLU``; 2×2 average pooling
down, 2×2 transposed convolution (no bias) up, skip connections by concatenation; a last 3×3
convolution (zero-initialised, so training starts from ``D(y) = y``) predicts the noise ``σz`` and
the output is ``y − f(y)``.  Every operation is
positively homogeneous of degree 1 (linear maps, ReLU, division by a *fixed* running std in eval
mode), hence ``D(λy) = λ D(y)`` for λ > 0 and ``D(y) = J(y) y`` (docs/theory.md §7).

References
----------
S. Mohan, Z. Kadkhodaie, E. P. Simoncelli, C. Fernandez-Granda, "Robust and interpretable blind
image denoising via bias-free convolutional neural networks", ICLR 2020, §3 and appendix (BF-BN).
Z. Kadkhodaie, F. Guth, E. P. Simoncelli, S. Mallat, "Generalization in diffusion models arises
from geometry-adaptive harmonic representations", ICLR 2024, appendix A (the U-Net).
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["ARCHITECTURE", "BFNorm", "BiasFreeUNet", "MAX_CHANNELS", "MAX_WIDTH", "PADDINGS", "SCALES", "apply_padded",
           "build", "default_hparams", "expected_state", "validate_hparams"]

#: The architecture name written into weight files.
ARCHITECTURE = "bf-unet"
#: Number of scales (the input size must be divisible by 2**(SCALES-1); the wrapper pads).
SCALES = 3
#: Convolution paddings the network and the trainer support.
PADDINGS = ("zeros", "circular")
#: Largest width: ≈ 454·width² parameters (29.8 M, 119 MB in float32 at 256; a checkpoint holds three
#: times that with Adam's moments), and a training step's activations grow as batch·width·patch².
#: Default 32; 256 leaves room to experiment while any file's network stays under 0.5 GB.
MAX_WIDTH = 256
#: Image channels: 1 (grayscale) to 4 (RGBA).
MAX_CHANNELS = 4


def default_hparams(width=32, channels=1, padding="zeros"):
    """The hyper-parameters that define the architecture (stored in every weight file)."""
    return {"name": ARCHITECTURE, "width": int(width), "channels": int(channels), "scales": SCALES,
            "convs_per_scale": 2, "padding": str(padding)}


def validate_hparams(hp):
    """Raise ``ValueError`` naming the problem unless ``hp`` describes a buildable bias-free U-Net."""
    if not isinstance(hp, dict):
        raise ValueError(f"architecture must be a JSON object; got {type(hp).__name__}")
    expected = default_hparams()
    missing = sorted(set(expected) - set(hp))
    extra = sorted(set(hp) - set(expected))
    if missing or extra:
        raise ValueError(f"architecture keys: missing {missing}, unexpected {extra}")
    if hp["name"] != ARCHITECTURE:
        raise ValueError(f"architecture {hp['name']!r} is not {ARCHITECTURE!r}")
    if hp["scales"] != SCALES or hp["convs_per_scale"] != 2:
        raise ValueError(f"only scales={SCALES}, convs_per_scale=2 are implemented; got {hp}")
    for key, top in (("width", MAX_WIDTH), ("channels", MAX_CHANNELS)):
        if not isinstance(hp[key], int) or isinstance(hp[key], bool) or not 1 <= hp[key] <= top:
            raise ValueError(f"architecture {key} must be an integer between 1 and {top}; got {hp[key]!r}")
    if hp["padding"] not in PADDINGS:
        raise ValueError(f"architecture padding must be one of {PADDINGS}; got {hp['padding']!r}")
    return hp


class BFNorm(nn.Module):
    """Bias-free batch normalisation: ``x / sd · γ``, no mean subtraction, no β.

    Training mode divides by the batch std per channel (and updates ``running_sd``); eval mode
    divides by ``running_sd`` only, a fixed linear map, so each image is processed independently
    of the rest of the batch.  Statistics are computed in float32 under autocast.

    References
    ----------
    Mohan et al., ICLR 2020, §3 ("bias-free batch normalisation").
    """

    def __init__(self, channels, momentum=0.1, eps=1e-5):
        super().__init__()
        self.momentum, self.eps = momentum, eps
        self.weight = nn.Parameter(torch.ones(1, channels, 1, 1))
        self.register_buffer("running_sd", torch.ones(1, channels, 1, 1))

    def forward(self, x):
        if self.training:
            sd = torch.sqrt(x.float().var(dim=(0, 2, 3), keepdim=True, unbiased=False) + self.eps)
            with torch.no_grad():
                self.running_sd.mul_(1 - self.momentum).add_(self.momentum * sd)
            sd = sd.to(x.dtype)
        else:
            sd = self.running_sd.to(x.dtype)
        return x / sd * self.weight.to(x.dtype)


def _block(c_in, c_out, padding):
    conv = nn.Conv2d(c_in, c_out, 3, padding=1, bias=False, padding_mode=padding)
    return nn.Sequential(conv, BFNorm(c_out), nn.ReLU())


def _scale(c_in, c_out, padding):
    return nn.Sequential(_block(c_in, c_out, padding), _block(c_out, c_out, padding))


class BiasFreeUNet(nn.Module):
    """``y ↦ y − f(y)``, ``f`` a 3-scale bias-free U-Net predicting the noise (blind: no σ input).

    Parameters
    ----------
    width : int
        Channels at the finest scale; scale ``s`` has ``width · 2^s``.
    channels : int
        Image channels.
    padding : {'zeros', 'circular'}
        Convolution padding: ``'circular'`` for periodic data (stationary fields on a torus).
    """

    def __init__(self, width=32, channels=1, padding="zeros", scales=SCALES, convs_per_scale=2, name=ARCHITECTURE):
        super().__init__()
        validate_hparams({"name": name, "width": width, "channels": channels, "scales": scales,
                          "convs_per_scale": convs_per_scale, "padding": padding})
        w = [width * 2 ** s for s in range(SCALES)]
        self.hparams = default_hparams(width, channels, padding)
        self.down = nn.ModuleList([_scale(channels, w[0], padding), _scale(w[0], w[1], padding)])
        self.mid = _scale(w[1], w[2], padding)
        self.up = nn.ModuleList([nn.ConvTranspose2d(w[2], w[1], 2, stride=2, bias=False),
                                 nn.ConvTranspose2d(w[1], w[0], 2, stride=2, bias=False)])
        self.dec = nn.ModuleList([_scale(2 * w[1], w[1], padding), _scale(2 * w[0], w[0], padding)])
        self.out = nn.Conv2d(w[0], channels, 3, padding=1, bias=False, padding_mode=padding)
        nn.init.zeros_(self.out.weight)  # start as the identity D(y) = y: small, stable early losses

    def forward(self, y):
        skips, h = [], y
        for stage in self.down:
            h = stage(h)
            skips.append(h)
            h = F.avg_pool2d(h, 2)
        h = self.mid(h)
        for up, dec, skip in zip(self.up, self.dec, reversed(skips)):
            h = dec(torch.cat([up(h), skip], dim=1))
        return y - self.out(h)


def build(hparams):
    """A fresh :class:`BiasFreeUNet` from validated ``hparams`` (see :func:`default_hparams`)."""
    hp = validate_hparams(dict(hparams))
    return BiasFreeUNet(**hp)


def expected_state(hparams, parameters_only=False):
    """``{name: (shape, dtype)}`` of the ``state_dict`` of ``build(hparams)``, allocating nothing.

    The network is built on torch's ``meta`` device (shapes and dtypes only, no storage), so a
    weight file's tensor table can be checked against its architecture before any real network
    exists.  ``hparams`` is validated first (:func:`validate_hparams`).  With
    ``parameters_only``, the trainable parameters only, in ``model.parameters()`` order.
    """
    hp = validate_hparams(dict(hparams))
    with torch.device("meta"):
        model = BiasFreeUNet(**hp)
    items = model.named_parameters() if parameters_only else model.state_dict().items()
    return {name: (tuple(t.shape), t.dtype) for name, t in items}


def apply_padded(module, y):
    """``module(y)`` for any ``H, W``: pad to a multiple of ``2**(SCALES-1)``, run, crop back.

    The padding splits evenly between both sides and reflects the image (``'reflect'``), or wraps
    it for a circular network (``'circular'``, exact when ``H, W`` are already multiples).
    Padding is a linear map of ``y``, so homogeneity is kept.
    """
    m = 2 ** (SCALES - 1)
    h, w = y.shape[-2:]
    ph, pw = -h % m, -w % m
    if ph == 0 and pw == 0:
        return module(y)
    mode = "circular" if module.hparams["padding"] == "circular" else "reflect"
    pad = (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2)
    if mode == "reflect" and (ph >= h or pw >= w):  # reflect needs pad < size
        mode = "replicate"
    out = module(F.pad(y, pad, mode=mode))
    return out[..., pad[2]:pad[2] + h, pad[0]:pad[0] + w]
