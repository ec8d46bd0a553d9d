"""Colour spaces for denoisers that work channel by channel: per channel, or opponent colours.

A denoiser calibrated from σ on one channel (wavelet and curvelet thresholding, Wiener filters,
oracle attenuations) is applied to an RGB image channel by channel.  The three channels of a
photograph are strongly correlated (mostly a common luminance), so applying it in a decorrelated
colour space instead — a luminance and two colour-difference channels, as CBM3D does — puts most of
the signal in one channel and leaves sparser, weaker colour channels.

The opponent transform used here is *orthonormal*: its rows are

    ( 1,  1,  1) / √3     (luminance)
    ( 1,  0, −1) / √2     (red − blue)
    ( 1, −2,  1) / √6     (magenta − green)

so ``M Mᵀ = I``.  White Gaussian noise of std σ on each RGB channel (covariance σ² I) stays white
with the same σ on each opponent channel (covariance ``M σ² I Mᵀ = σ² I``): thresholds calibrated
from σ remain valid without any rescaling, and the inverse is ``Mᵀ``.  (Dabov et al.'s CBM3D and the
``bm3d`` package use the same directions with unnormalised rows, rescaling σ per channel.)

Denoisers with a ``color`` parameter (``'opponent'`` or ``'channels'``) are run in that space by
the single hook of :meth:`denoisebench.base.Denoiser._dispatch`: the noisy batch (and an oracle
bound's clean batch) is mapped forward, denoised channel by channel, and mapped back.  Only images
of three channels are transformed; any other channel count (grayscale included) is left as it is,
so ``color`` changes nothing for C ≠ 3.

References
----------
K. Dabov, A. Foi, V. Katkovnik, K. Egiazarian, "Color image denoising via sparse 3D collaborative
filtering with grouping constraint in luminance-chrominance space", ICIP 2007, §2 (opponent colour
transform, decorrelating RGB).
Y. Ohta, T. Kanade, T. Sakai, "Color information for region segmentation", Computer Graphics and
Image Processing 13(3), 1980 (the opponent axes (R+G+B), (R−B), (2G−R−B)).
"""
from __future__ import annotations

import numpy as np

from ._array_api import array_namespace

__all__ = ["COLOR_SPACES", "OPPONENT", "check_color", "from_color_space", "from_opponent", "mean_in_color_space",
           "to_color_space", "to_opponent"]

#: Values of the ``color`` parameter: ``'opponent'`` (orthonormal opponent colours, C = 3 only)
#: or ``'channels'`` (each channel as it is).
COLOR_SPACES = ("opponent", "channels")

#: The orthonormal opponent transform: ``opponent = OPPONENT @ rgb`` (rows: luminance, R − B,
#: R − 2G + B); its inverse is its transpose.
OPPONENT = np.array([[1.0, 1.0, 1.0], [1.0, 0.0, -1.0], [1.0, -2.0, 1.0]]) / np.sqrt([[3.0], [2.0], [6.0]])
OPPONENT.setflags(write=False)

# The entries as Python floats (a Python scalar keeps an array's dtype and device in every namespace).
_FORWARD = tuple(tuple(float(v) for v in row) for row in OPPONENT)
_INVERSE = tuple(tuple(float(v) for v in row) for row in OPPONENT.T)


def _mix(x, matrix, xp, what):
    """``out[:, k] = Σ_c matrix[k][c] · x[:, c]`` for ``x`` of shape (N, 3, H, W)."""
    xp = xp or array_namespace(x)
    if x.ndim != 4 or x.shape[1] != 3:
        raise ValueError(f"{what} takes images of shape (N, 3, H, W); got shape {tuple(x.shape)}")
    channels = [x[:, c : c + 1, ...] for c in range(3)]
    rows = [row[0] * channels[0] + row[1] * channels[1] + row[2] * channels[2] for row in matrix]
    return xp.concat(rows, axis=1)


def to_opponent(x, xp=None):
    """RGB ``(N, 3, H, W)`` to orthonormal opponent colours, in ``x``'s namespace, device and dtype."""
    return _mix(x, _FORWARD, xp, "to_opponent")


def from_opponent(x, xp=None):
    """Opponent colours ``(N, 3, H, W)`` back to RGB (the transpose of :func:`to_opponent`)."""
    return _mix(x, _INVERSE, xp, "from_opponent")


def check_color(color):
    """``color`` if it is one of :data:`COLOR_SPACES`; a one-line ValueError naming it otherwise."""
    if not isinstance(color, str) or color not in COLOR_SPACES:
        raise ValueError(f"color must be one of {', '.join(map(repr, COLOR_SPACES))}; got {color!r}")
    return color


def _applies(x, color):
    return check_color(color) == "opponent" and x.ndim == 4 and x.shape[1] == 3


def to_color_space(x, color, xp=None):
    """``x`` (N, C, H, W) in the colour space ``color``: opponent colours when ``color='opponent'``
    and C = 3, otherwise ``x`` itself (the same object)."""
    return to_opponent(x, xp) if _applies(x, color) else x


def from_color_space(x, color, xp=None):
    """The inverse of :func:`to_color_space`."""
    return from_opponent(x, xp) if _applies(x, color) else x


def mean_in_color_space(mean, channels, color):
    """A per-channel mean vector (length ``channels``, host float64) in the colour space ``color``."""
    mean = np.broadcast_to(np.asarray(mean, dtype=np.float64), (channels,))
    return OPPONENT @ mean if check_color(color) == "opponent" and channels == 3 else mean.copy()

