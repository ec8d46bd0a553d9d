"""Linear measurement operators ``c = A x + s η`` as spec strings, in any array namespace.

``make_operator("inpaint:fraction=0.5", (H, W))`` builds one from :data:`OPERATORS`.  Every
operator acts on ``(n, C, H, W)`` batches of any array-API namespace (numpy, torch, …) and
offers ``forward`` (A), ``adjoint`` (Aᵀ), ``pinv`` (A⁺ = Aᵀ(AAᵀ)⁻¹, or its truncation), the
measurement noise ``noise`` (s, default 0) and ``symbol``: the real, even Fourier symbol
b̂(k) on the full DFT grid when A is diagonal there (A x = ifft2(b̂ · fft2 x)), else None.

- ``inpaint:fraction=f[,mode=random|box][,seed=k]``: keeps a fraction ``f`` of the pixels, at
  random (seeded) or all but a centred box of area ``1 − f``; ``c`` is the vector of kept
  pixels, shape ``(n, C, m)``.  Rows of A are orthonormal: A⁺ = Aᵀ.
- ``superres:factor=f``: averages ``f × f`` blocks; ``c`` has shape ``(n, C, H/f, W/f)``.
  H and W must be multiples of f (a ``ValueError`` otherwise: no cropping rule is guessed).
  AAᵀ = I/f², so A⁺ = f² Aᵀ and M = f·A is semi-orthogonal.
- ``blur:sigma=s[,cut=t]``: periodic convolution with the normalised, wrapped Gaussian
  kernel of std ``s`` pixels; A⁺ inverts the modes with |b̂| > ``cut`` and zeroes the others.
- ``fourier:fraction=f[,seed=k]``: Fourier compressed sensing, the orthogonal projection
  onto a seeded random, conjugate-symmetric set of about ``f`` of the frequencies (k = 0
  always kept); ``c`` lives in image space.

References
----------
Z. Kadkhodaie, E. P. Simoncelli, "Stochastic solutions for linear inverse problems using
the prior implicit in a denoiser", NeurIPS 2021, §3 (the operators and their semi-orthogonal
forms); docs/theory.md, "Conditioning".
"""
from __future__ import annotations

import inspect
import math

import numpy as np

from .._array_api import array_namespace, asarray_like, device_of, fft_of
from ..noise import STREAMS
from ..registry.specs import SpecError, parse_spec

__all__ = ["OPERATORS", "Operator", "make_operator", "measurement_rng"]

_AXES = (-2, -1)


def measurement_rng(seed, i):
    """Generator of image ``i``'s measurement noise: a spawned child of the ``noise`` stream."""
    return np.random.default_rng(np.random.SeedSequence([int(seed), STREAMS["noise"], int(i)], spawn_key=(2,)))


def _check_fraction(fraction, what="fraction"):
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not 0 < fraction < 1:
        raise ValueError(f"{what} must be a number in (0, 1); got {fraction!r}")
    return float(fraction)


def _check_noise(noise):
    if isinstance(noise, bool) or not isinstance(noise, (int, float)) or not (math.isfinite(noise) and noise >= 0):
        raise ValueError(f"noise must be a finite number >= 0; got {noise!r}")
    return float(noise)


def _check_batch(x, shape, who):
    if getattr(x, "ndim", None) != 4 or tuple(x.shape[-2:]) != tuple(shape):
        raise ValueError(f"{who} takes (n, C, {shape[0]}, {shape[1]}) batches; got shape {tuple(getattr(x, 'shape', ()))}")
    return array_namespace(x)


class Operator:
    """A linear measurement operator on ``(H, W)`` images (see the module docstring).

    Subclasses define ``forward``, ``adjoint``, ``pinv`` and ``measurement_shape``.
    """

    symbol = None  #: real even Fourier symbol on the full grid when A is Fourier-diagonal

    def __init__(self, shape, noise=0.0):
        self.shape = (int(shape[0]), int(shape[1]))
        self.noise = _check_noise(noise)
        self.spec = ""

    @property
    def d(self):
        """Pixels per channel."""
        return self.shape[0] * self.shape[1]

    def measure(self, x, seed=0, start=0):
        """``c = A x + s η``, image ``i``'s η from :func:`measurement_rng` ``(seed, start + i)``."""
        c = self.forward(x)
        if self.noise == 0:
            return c
        eta = np.stack([measurement_rng(seed, start + i).standard_normal(tuple(c.shape[1:]))
                        for i in range(c.shape[0])])
        return c + self.noise * asarray_like(eta, c)

    def null_project(self, x):
        """``(I − A⁺A) x``: the part of ``x`` the measurement does not see."""
        return x - self.pinv(self.forward(x))

    def check_measurement(self, c, n_channels):
        """``ValueError`` unless ``c`` has this operator's measurement shape."""
        want = self.measurement_shape(c.shape[0] if getattr(c, "ndim", 0) else 0, n_channels)
        if tuple(getattr(c, "shape", ())) != want:
            raise ValueError(f"measurement of {self.spec!r} must have shape {want}; got {tuple(getattr(c, 'shape', ()))}")


class Inpaint(Operator):
    def __init__(self, shape, fraction=0.5, mode="random", seed=0, noise=0.0):
        super().__init__(shape, noise)
        fraction = _check_fraction(fraction)
        if mode not in _MASKS:
            raise ValueError(f"inpaint mode must be one of {', '.join(_MASKS)}; got {mode!r}")
        mask = _MASKS[mode](self.shape, fraction, int(seed)).ravel()
        if not mask.any():
            raise ValueError(f"inpaint:fraction={fraction} keeps no pixel of a {self.shape[0]}x{self.shape[1]} image")
        self.mask = mask.reshape(self.shape)
        self.index = np.flatnonzero(mask)
        inverse = np.full(mask.size, self.index.size)  # unseen pixels read an appended zero
        inverse[self.index] = np.arange(self.index.size)
        self.inverse = inverse
        for a in (self.mask, self.index, self.inverse):
            a.flags.writeable = False

    def measurement_shape(self, n, c):
        return (n, c, self.index.size)

    def forward(self, x):
        xp = _check_batch(x, self.shape, "inpaint")
        flat = xp.reshape(x, (x.shape[0], x.shape[1], self.d))
        return xp.take(flat, asarray_like(self.index, x, dtype=xp.int64), axis=2)

    def adjoint(self, c):
        xp = array_namespace(c)
        padded = xp.concat([c, xp.zeros((*c.shape[:2], 1), dtype=c.dtype, device=device_of(c))], axis=2)
        full = xp.take(padded, asarray_like(self.inverse, c, dtype=xp.int64), axis=2)
        return xp.reshape(full, (c.shape[0], c.shape[1], *self.shape))

    pinv = adjoint


def _random_mask(shape, fraction, seed):
    return np.random.default_rng(np.random.SeedSequence([seed, 7919])).random(shape) < fraction


def _box_mask(shape, fraction, seed):
    h, w = shape
    bh, bw = round(h * math.sqrt(1 - fraction)), round(w * math.sqrt(1 - fraction))
    mask = np.ones(shape, bool)
    mask[(h - bh) // 2:(h - bh) // 2 + bh, (w - bw) // 2:(w - bw) // 2 + bw] = False
    return mask


_MASKS = {"random": _random_mask, "box": _box_mask}


class SuperRes(Operator):
    def __init__(self, shape, factor=2, noise=0.0):
        super().__init__(shape, noise)
        if isinstance(factor, bool) or not isinstance(factor, int) or factor < 2:
            raise ValueError(f"superres factor must be an integer >= 2; got {factor!r}")
        if self.shape[0] % factor or self.shape[1] % factor:
            raise ValueError(f"superres:factor={factor} needs H and W divisible by {factor}; "
                             f"got {self.shape[0]}x{self.shape[1]} (crop the images first)")
        self.factor = factor

    def measurement_shape(self, n, c):
        f = self.factor
        return (n, c, self.shape[0] // f, self.shape[1] // f)

    def forward(self, x):
        xp = _check_batch(x, self.shape, "superres")
        n, c, (h, w), f = x.shape[0], x.shape[1], self.shape, self.factor
        return xp.mean(xp.reshape(x, (n, c, h // f, f, w // f, f)), axis=(3, 5))

    def adjoint(self, c):
        xp = array_namespace(c)
        n, ch, h, w = c.shape
        f = self.factor
        up = xp.broadcast_to(xp.reshape(c, (n, ch, h, 1, w, 1)), (n, ch, h, f, w, f))
        return xp.reshape(up, (n, ch, h * f, w * f)) / (f * f)

    def pinv(self, c):
        return (self.factor ** 2) * self.adjoint(c)


class _FourierDiagonal(Operator):
    """A = ifft2(b̂ · fft2 ·) with a real even symbol b̂: self-adjoint; A⁺ inverts |b̂| > cut."""

    cut = 0.0

    def _set_symbol(self, b):
        b = np.ascontiguousarray(b, dtype=np.float64)
        b.flags.writeable = False
        self.symbol = b
        w = b.shape[1] // 2 + 1
        self._half = np.ascontiguousarray(b[:, :w])
        inv = np.where(np.abs(self._half) > self.cut, 1.0 / np.where(self._half == 0, 1.0, self._half), 0.0)
        self._inv_half = inv
        for a in (self._half, self._inv_half):
            a.flags.writeable = False

    def measurement_shape(self, n, c):
        return (n, c, *self.shape)

    def _apply(self, x, half):
        xp = array_namespace(x)
        fft = fft_of(xp)
        return fft.irfftn(fft.rfftn(x, axes=_AXES) * asarray_like(half, x), s=self.shape, axes=_AXES)

    def forward(self, x):
        _check_batch(x, self.shape, self.spec or type(self).__name__)
        return self._apply(x, self._half)

    def adjoint(self, c):
        return self._apply(c, self._half)

    def pinv(self, c):
        return self._apply(c, self._inv_half)


class Blur(_FourierDiagonal):
    def __init__(self, shape, sigma=1.5, cut=1e-2, noise=0.0):
        super().__init__(shape, noise)
        if isinstance(sigma, bool) or not isinstance(sigma, (int, float)) or not (math.isfinite(sigma) and sigma > 0):
            raise ValueError(f"blur sigma must be a finite number > 0; got {sigma!r}")
        if isinstance(cut, bool) or not isinstance(cut, (int, float)) or not 0 <= cut < 1:
            raise ValueError(f"blur cut must be a number in [0, 1); got {cut!r}")
        self.sigma, self.cut = float(sigma), float(cut)
        h, w = self.shape
        dy = np.minimum(np.arange(h), h - np.arange(h))[:, None]  # periodic distances to pixel (0, 0)
        dx = np.minimum(np.arange(w), w - np.arange(w))[None, :]
        kernel = np.exp(-(dy ** 2 + dx ** 2) / (2 * self.sigma ** 2))
        self._set_symbol(np.real(np.fft.fft2(kernel / kernel.sum())))


class FourierSampling(_FourierDiagonal):
    def __init__(self, shape, fraction=0.25, seed=0, noise=0.0):
        super().__init__(shape, noise)
        fraction = _check_fraction(fraction)
        h, w = self.shape
        u = np.random.default_rng(np.random.SeedSequence([int(seed), 104729])).random(self.shape)
        ky, kx = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
        ny, nx = (-ky) % h, (-kx) % w  # the conjugate frequency −k
        first = ky * w + kx <= ny * w + nx  # one draw per conjugate pair
        u = np.where(first, u, u[ny, nx])
        mask = u < fraction
        mask[0, 0] = True
        self._set_symbol(mask.astype(np.float64))


#: Operators by name: ``OPERATORS[name](shape, **params)``.
OPERATORS = {"inpaint": Inpaint, "superres": SuperRes, "blur": Blur, "fourier": FourierSampling}


def make_operator(spec, shape):
    """The operator of ``spec`` (``'name:key=value,...'``) on ``shape = (H, W)`` images.

    Raises
    ------
    SpecError (a ValueError)
        An unknown operator or parameter, or an out-of-range value (one line).
    """
    name, params = parse_spec(spec)
    if name not in OPERATORS:
        raise SpecError(f"unknown operator {name!r}; valid: {', '.join(OPERATORS)}")
    cls = OPERATORS[name]
    valid = [k for k in inspect.signature(cls.__init__).parameters if k not in ("self", "shape")]
    bad = sorted(set(params) - set(valid))
    if bad:
        raise SpecError(f"unknown parameter(s) {bad} of operator {name!r}; valid: {', '.join(valid)}")
    try:
        op = cls(shape, **params)
    except ValueError as exc:
        raise SpecError(f"operator {spec!r}: {exc}") from None
    op.spec = spec
    return op
