"""The U-Net (a torch module): bias-free and blind by default, so ``D(λy) = λ D(y)``; two variants.

Variants (architecture keys ``centered`` and ``conditioning``; absent in a file means off):

- ``centered``: ``D(y) = m + D₀(y − m)``, ``m`` the training data's per-channel mean (a stored
  buffer) and ``D₀`` bias-free: homogeneous *about* ``m`` (``D(m + λu) = m + λ D₀(u)``), so the data's
  constant level is a prior constant instead of something read from the noisy image.
- ``conditioning='edm'``: non-blind.  EDM's preconditioning of Karras et al. (2022, §5, table 1)
  around ``m``: ``D(y, σ) = m + c_skip(σ)(y − m) + c_out(σ) F(c_in(σ)(y − m), c_noise(σ))`` with
  ``c_skip = σ_d²/(σ² + σ_d²)``, ``c_out = σσ_d/√(σ² + σ_d²)``, ``c_in = 1/√(σ² + σ_d²)``, ``c_noise =
  ln(σ)/4`` fed as a constant extra input channel (a noise-level map, as FFDNet); ``F`` has biases and
  batch normalisation with a shift.  As σ → 0, ``c_skip → 1`` and ``c_out → 0``: ``D`` tends to the
  identity whatever ``F`` is, and the loss weight ``1/c_out²`` asks ``F`` for a unit-variance target
  at every σ.

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
T. Karras, M. Aittala, T. Aila, S. Laine, "Elucidating the design space of diffusion-based generative
models", NeurIPS 2022, §5 and table 1 (preconditioning).
K. Zhang, W. Zuo, L. Zhang, "FFDNet: toward a fast and flexible solution for CNN-based image
denoising", IEEE TIP 2018, §III (the noise level map as an input channel).
S. Mohan, Z. Kadkhodaie, E. P. Simoncelli, C. Fernandez-Granda, "Robust and interpretable blind
image denoising via bias-free convolutional neural networks", ICLR 2020, §3 and appendix (BF-BN).
Z. Kadkhodaie, F. Guth, E. P. Simoncelli, S. Mallat, "Generalization in diffusion models arises
from geometry-adaptive harmonic representations", ICLR 2024, appendix A (the U-Net).
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["ARCHITECTURE", "BFNorm", "CONDITIONINGS", "BiasFreeUNet", "MAX_BORDER", "MAX_CHANNELS", "MAX_WIDTH",
           "OPTIONAL", "PADDINGS", "SCALES", "VIEW_KEYS", "apply_padded", "build", "check_border", "default_hparams",
           "edm_scalings", "expected_state", "expert_borders", "expert_levels", "validate_hparams", "variant_of",
           "weight_keys"]

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
#: σ conditioning: ``'none'`` (blind, bias-free) or ``'edm'`` (σ input and EDM preconditioning).
CONDITIONINGS = ("none", "edm")
#: Optional architecture keys and their defaults: written only when not the default, so the files
#: of the plain bias-free network keep exactly their original architecture.  ``sigma_split``: a
#: conditioned network made of two noise-level experts (below).
OPTIONAL = {"centered": False, "conditioning": "none", "sigma_split": None, "high_downsample": 1, "border": 0}
#: Largest ``border`` (pixels of reflected image around an expert's input).
MAX_BORDER = 32
#: Architecture keys that change what the network sees, not its weights: a warm start or a join may differ in them.
VIEW_KEYS = ("border",)


def default_hparams(width=32, channels=1, padding="zeros", centered=False, conditioning="none", sigma_split=None,
                    high_downsample=1, border=0):
    """The hyper-parameters that define the architecture (stored in every weight file)."""
    hp = {"name": ARCHITECTURE, "width": int(width), "channels": int(channels), "scales": SCALES,
          "convs_per_scale": 2, "padding": str(padding)}
    listed = lambda v: list(v) if isinstance(v, tuple) else v  # noqa: E731  JSON has lists, not tuples
    extra = {"centered": centered, "conditioning": conditioning, "sigma_split": listed(sigma_split),
             "high_downsample": listed(high_downsample), "border": listed(border)}
    return {**hp, **{k: v for k, v in extra.items() if v != OPTIONAL[k]}}


def expert_levels(hparams):
    """``(splits, downsamples)`` of a network's noise-level experts, as lists: ``([], [1])`` for a
    single network, ``([s], [f])`` for a pair, ``([s₁, s₂, …], [f₁, f₂, …])`` for more (expert ``k + 1``
    for ``s_k < σ ≤ s_{k+1}``, on ``f_k × f_k`` block means)."""
    split, down = hparams.get("sigma_split"), hparams.get("high_downsample", 1)
    splits = [] if split is None else list(split) if isinstance(split, (list, tuple)) else [split]
    downs = list(down) if isinstance(down, (list, tuple)) else [down] * max(len(splits), 1)
    return splits, downs


def expert_borders(hparams):
    """The ``border`` of each noise-level expert, lowest first (one per expert: ``len(splits) + 1``).

    An integer is the lowest expert's (the others have none); a list gives one per expert.
    """
    border, n = hparams.get("border", 0), len(expert_levels(hparams)[0]) + 1
    return list(border) if isinstance(border, (list, tuple)) else [border] + [0] * (n - 1)


def weight_keys(hparams):
    """``hparams`` without :data:`VIEW_KEYS`: two networks whose weights are interchangeable agree on these."""
    return {k: v for k, v in hparams.items() if k not in VIEW_KEYS}


def check_border(border, n_experts=None, name="border"):
    """Raise ``ValueError`` (naming ``name``) unless ``border`` is a multiple of 4 in ``[0, MAX_BORDER]`` (keeping
    the pooling grid on the image's) or, with ``n_experts``, a list of ``n_experts`` of them."""
    borders = list(border) if n_experts and isinstance(border, (list, tuple)) else [border]
    if not all(isinstance(b, int) and not isinstance(b, bool) and 0 <= b <= MAX_BORDER and b % 4 == 0
               for b in borders) or (isinstance(border, (list, tuple)) and len(borders) != n_experts):
        raise ValueError(f"{name} must be a multiple of 4 in [0, {MAX_BORDER}] (keeping the pooling grid on the "
                         f"image's){', or a list of them, one per expert' if n_experts else ''}; got {border!r}")


def _one_or_list(values):
    return values[0] if len(values) == 1 else list(values)


def variant_of(hparams):
    """``'blind'``, ``'centered'`` or ``'conditioned'``: the variant the hyper-parameters describe."""
    if hparams.get("conditioning", "none") != "none":
        return "conditioned"
    return "centered" if hparams.get("centered", False) else "blind"


def validate_hparams(hp):
    """Raise ``ValueError`` naming the problem unless ``hp`` describes a buildable bias-free U-Net."""
    if not isinstance(hp, dict):
        raise ValueError(f"architecture must be a JSON object; got {type(hp).__name__}")
    expected = default_hparams()
    missing = sorted(set(expected) - set(hp))
    extra = sorted(set(hp) - set(expected) - set(OPTIONAL))
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
    check_border(hp.get("border", 0), n_experts=len(expert_levels(hp)[0]) + 1, name="architecture border")
    if not isinstance(hp.get("centered", False), bool):
        raise ValueError(f"architecture centered must be true or false; got {hp['centered']!r}")
    if hp.get("conditioning", "none") not in CONDITIONINGS:
        raise ValueError(f"architecture conditioning must be one of {CONDITIONINGS}; got {hp['conditioning']!r}")
    splits, downs = expert_levels(hp)
    if splits:
        if hp.get("conditioning", "none") == "none":
            raise ValueError("architecture sigma_split needs a conditioned network (conditioning 'edm')")
        if not all(isinstance(v, float) and 0 < v < 1e6 for v in splits) or any(
                a >= b for a, b in zip(splits, splits[1:])):
            raise ValueError("architecture sigma_split must be a number in (0, 1e6), or a list of increasing ones; "
                             f"got {hp['sigma_split']!r}")
    down = hp.get("high_downsample", 1)
    ok = all(isinstance(f, int) and not isinstance(f, bool) and 1 <= f <= 16 for f in downs)
    if not ok or (downs != [1] and not splits) or (splits and len(downs) != len(splits)) or any(
            b % a for a, b in zip(downs, downs[1:])):
        raise ValueError("architecture high_downsample must be an integer in [1, 16] with sigma_split, or a list of "
                         f"them as long as sigma_split, each a multiple of the one before; got {down!r}")
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


def _block(c_in, c_out, padding, bias):
    conv = nn.Conv2d(c_in, c_out, 3, padding=1, bias=bias, padding_mode=padding)
    return nn.Sequential(conv, nn.BatchNorm2d(c_out) if bias else BFNorm(c_out), nn.ReLU())


def _scale(c_in, c_out, padding, bias=False):
    return nn.Sequential(_block(c_in, c_out, padding, bias), _block(c_out, c_out, padding, bias))


def edm_scalings(sigma, sigma_data):
    """EDM's ``(c_skip, c_out, c_in, c_noise)`` at ``sigma`` (a tensor) for data std ``sigma_data``.

    References
    ----------
    Karras et al., NeurIPS 2022, table 1 ("Preconditioning", EDM column).
    """
    total = sigma ** 2 + sigma_data ** 2
    return sigma_data ** 2 / total, sigma * sigma_data / total.sqrt(), 1 / total.sqrt(), sigma.log() / 4


class BiasFreeUNet(nn.Module):
    """``y ↦ y − f(y)``, ``f`` a 3-scale bias-free U-Net predicting the noise (blind: no σ input);
    or a centered or σ-conditioned variant (module docstring).

    Parameters
    ----------
    width : int
        Channels at the finest scale; scale ``s`` has ``width · 2^s``.
    channels : int
        Image channels.
    padding : {'zeros', 'circular'}
        Convolution padding: ``'circular'`` for periodic data (stationary fields on a torus).
    centered : bool
        ``D(y) = m + D₀(y − m)`` with the buffer ``mean`` (set by the trainer to the data's mean).
    conditioning : {'none', 'edm'}
        ``'edm'``: σ is an input (buffers ``mean`` and ``sigma_data`` set by the trainer).
    sigma_split : float, optional
        Two noise-level experts (conditioned only): this network for ``σ ≤ sigma_split`` and a second
        one of the same architecture, the submodule ``high``, for ``σ > sigma_split``, each image
        routed by its own σ.  Each expert is trained on its range (``denoisebench train --join``), so
        a network for the sampler's large σ is added without changing a single output at small σ —
        the ensemble of expert denoisers of Balaji et al. (eDiff-I, 2022, §4).  A list of increasing
        splits ``[s₁, s₂, …]`` makes more experts: this network for ``σ ≤ s₁``, then ``high`` (itself
        nested) for ``s₁ < σ ≤ s₂`` and so on (:func:`expert_levels`).
    high_downsample : int or list of int
        The ``high`` expert works on the image averaged over ``f × f`` blocks (noise std σ/f there;
        trained with ``denoisebench train --downsample f``) and its output is repeated over each
        block: ``D(y, σ) = P⁺ D_high(P y, σ/f)``.  At σ above the split the data's fine scales are
        buried in noise, and on the ``f``-times smaller image the network's receptive field spans
        the whole picture, so it can place one object in the frame — which a network seeing 45
        pixels of a 64² image cannot (docs/theory.md §16; the multiscale idea of Guth, Kadkhodaie,
        Mallat and Simoncelli).  With several splits, one block size per split (``f_k`` for the
        expert above ``s_k``), each a multiple of the one before.
    border : int or list of int
        Pixels (a multiple of 4) of the image reflected around an expert's input, cropped off its
        output (an integer: the lowest expert's; a list: one per expert, lowest first): ``D(y) = C D₀(R y)``, ``R`` the
        reflection (a linear map: homogeneity is kept), ``C`` the crop.  Applied the same way in
        training and use.  Without it, zero padding makes the pixels at the image's border and corners
        see a dark frame; their small error is invisible in a denoising table but the sampler
        integrates it over ~5 decades of σ into specks at the corners (docs/theory.md §17).
    """

    def __init__(self, width=32, channels=1, padding="zeros", scales=SCALES, convs_per_scale=2, name=ARCHITECTURE,
                 centered=False, conditioning="none", sigma_split=None, high_downsample=1, border=0):
        super().__init__()
        validate_hparams({"name": name, "width": width, "channels": channels, "scales": scales,
                          "convs_per_scale": convs_per_scale, "padding": padding, "centered": centered,
                          "conditioning": conditioning, "sigma_split": sigma_split,
                          "high_downsample": high_downsample, "border": border})
        w = [width * 2 ** s for s in range(SCALES)]
        self.hparams = default_hparams(width, channels, padding, centered, conditioning, sigma_split, high_downsample,
                                       border)
        (self._splits, self._downs), self._borders = expert_levels(self.hparams), expert_borders(self.hparams)
        self.high = None if sigma_split is None else self._next_expert(width, channels, padding, centered, conditioning)
        self.conditioned = bias = conditioning != "none"
        if centered or self.conditioned:
            self.register_buffer("mean", torch.zeros(1, channels, 1, 1))
        if self.conditioned:
            self.register_buffer("sigma_data", torch.ones(()))
        self.down = nn.ModuleList([_scale(channels + bias, w[0], padding, bias), _scale(w[0], w[1], padding, bias)])
        self.mid = _scale(w[1], w[2], padding, bias)
        self.up = nn.ModuleList([nn.ConvTranspose2d(w[2], w[1], 2, stride=2, bias=bias),
                                 nn.ConvTranspose2d(w[1], w[0], 2, stride=2, bias=bias)])
        self.dec = nn.ModuleList([_scale(2 * w[1], w[1], padding, bias), _scale(2 * w[0], w[0], padding, bias)])
        self.out = nn.Conv2d(w[0], channels, 3, padding=1, bias=bias, padding_mode=padding)
        nn.init.zeros_(self.out.weight)  # start as D(y) = y (blind) or m + c_skip (y − m): stable early losses
        if bias:
            nn.init.zeros_(self.out.bias)

    def _next_expert(self, width, channels, padding, centered, conditioning):
        """The ``high`` submodule: one network, or (three experts or more) the experts above the first
        split, themselves nested, with σ and block sizes in the units of the ``f₁``-times smaller image."""
        (_, *splits), (f, *downs) = self._splits, self._downs
        rest = {} if not splits else {"sigma_split": _one_or_list([v / f for v in splits]),
                                      "high_downsample": _one_or_list([d // f for d in downs])}
        above = self._borders[1:]
        if any(above):
            rest["border"] = _one_or_list(above)
        return BiasFreeUNet(width, channels, padding, centered=centered, conditioning=conditioning, **rest)

    def _features(self, h):
        skips = []
        for stage in self.down:
            h = stage(h)
            skips.append(h)
            h = F.avg_pool2d(h, 2)
        h = self.mid(h)
        for up, dec, skip in zip(self.up, self.dec, reversed(skips)):
            h = dec(torch.cat([up(h), skip], dim=1))
        return self.out(h)

    def _bordered(self, fn, y, *args):
        """``fn(y, *args)`` on ``y`` with ``border`` reflected pixels around it, cropped back."""
        b = self._borders[0]
        if not b:
            return fn(y, *args)
        h, w = y.shape[-2:]
        mode = "circular" if self.hparams["padding"] == "circular" else "reflect" if b < min(h, w) else "replicate"
        return fn(F.pad(y, (b, b, b, b), mode=mode), *args)[..., b:b + h, b:b + w]

    def forward(self, y, sigma=None):
        """``D(y)`` (blind, centered: ``sigma`` is ignored) or ``D(y, σ)`` (conditioned: ``sigma`` a
        positive float or a tensor of one σ per image is required)."""
        if not self.conditioned:
            m = getattr(self, "mean", None)
            u = y if m is None else y - m.to(y.dtype)
            out = u - self._bordered(self._features, u)
            return out if m is None else out + m.to(y.dtype)
        if sigma is None:
            raise ValueError("a sigma-conditioned U-Net needs sigma: call it as module(y, sigma)")
        s = torch.as_tensor(sigma, dtype=y.dtype, device=y.device).reshape(-1).expand(y.shape[0])
        if self.high is None:
            return self._bordered(self._conditioned, y, s)
        high = s > self._splits[0]
        n_high = int(high.sum())
        if n_high in (0, len(s)):  # one expert for the whole batch (autograd and torch.func friendly)
            return self._high(y, s) if n_high else self._bordered(self._conditioned, y, s)
        out = torch.empty_like(y)
        out[~high] = self._bordered(self._conditioned, y[~high], s[~high])
        out[high] = self._high(y[high], s[high])
        return out

    def _high(self, y, s):
        """The ``high`` expert, on the ``f × f`` block means when ``high_downsample`` is ``f > 1``."""
        f = self._downs[0]
        if f == 1:
            return self.high(y, s)
        h, w = y.shape[-2:]
        mode = "circular" if self.hparams["padding"] == "circular" else "replicate"
        yp = F.pad(y, (0, -w % f, 0, -h % f), mode=mode) if h % f or w % f else y
        out = apply_padded(self.high, F.avg_pool2d(yp, f), s / f)
        return out.repeat_interleave(f, dim=-2).repeat_interleave(f, dim=-1)[..., :h, :w]

    def _conditioned(self, y, s):
        """EDM's preconditioned ``D(y, σ)`` of this network (``s``: one σ per image)."""
        m = self.mean.to(y.dtype)
        u = y - m
        c_skip, c_out, c_in, c_noise = edm_scalings(s.reshape(-1, 1, 1, 1), self.sigma_data.to(y.dtype))
        level = c_noise.expand(y.shape[0], 1, *y.shape[-2:])
        return c_skip * u + c_out * self._features(torch.cat([c_in * u, level], dim=1)) + m


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


def apply_padded(module, y, sigma=None):
    """``module(y, sigma)`` for any ``H, W``: pad to a multiple of ``2**(SCALES-1)``, run, crop back.

    The padding splits evenly between both sides and reflects the image (``'reflect'``), or wraps
    it for a circular network (``'circular'``, exact when ``H, W`` are already multiples).
    Padding is a linear map of ``y``, so homogeneity (about ``m`` for a centered network) is kept.
    """
    m = 2 ** (SCALES - 1)
    h, w = y.shape[-2:]
    ph, pw = -h % m, -w % m
    if ph == 0 and pw == 0:
        return module(y, sigma)
    mode = "circular" if module.hparams["padding"] == "circular" else "reflect"
    pad = (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2)
    if mode == "reflect" and (ph >= h or pw >= w):  # reflect needs pad < size
        mode = "replicate"
    out = module(F.pad(y, pad, mode=mode), sigma)
    return out[..., pad[2]:pad[2] + h, pad[0]:pad[0] + w]
