"""Curvelet thresholding and the curvelet oracle bound (undecimated Fourier-domain tight frame)."""
from __future__ import annotations

from .._array_api import asarray_like
from .._color import COLOR_SPACES
from .._memory import curvelet_frame_bytes
from .._params import Bool, Int, OneOf, Opt, Real
from ..base import Denoiser
from ..registry import register_denoiser
from ..transforms._curvelet import curvelet_frame
from ._shrink import SHRINK, oracle_gain, shrink

__all__ = ["Curvelet", "CurveletOracle"]


def _per_image(sigma, xp):
    """σ of shape (N, 1, 1, 1) as (N, 1, 1, 1, 1), to broadcast against ``(N, C, S, H, W)``."""
    return xp.reshape(sigma, (sigma.shape[0], 1, 1, 1, 1))


def _band_column(values, sl, like):
    """Host per-subband ``values[sl]`` as a ``(S, 1, 1)`` array like ``like``."""
    return asarray_like(values[sl].reshape(-1, 1, 1), like)


@register_denoiser("curvelet")
class Curvelet(Denoiser):
    """Thresholding in a curvelet-style tight frame, calibrated from σ.

    Each subband ``s`` of the undecimated Fourier-domain curvelet frame
    (:mod:`denoisebench.transforms._curvelet`) is thresholded at ``k · σ · ‖ψ_s‖``, where
    ``σ ‖ψ_s‖`` is the standard deviation of the noise's coefficients there (per image σ);
    the coarse low-pass is kept when ``keep_coarse``; the frame's adjoint (its exact inverse)
    maps back.  Works on any ``H × W``; the frame is translation invariant, so this is also
    the cycle-spun estimator of the decimated frame.

    Parameters
    ----------
    scales : int or None
        Number of scales including the coarse one; ``None``: ``max(2, ⌊log2 min(H, W)⌋ − 2)``.
    angles : int
        Orientations over ``[0, π)`` at the coarsest directional scale (doubled every other scale).
    k : float
        Threshold in units of the noise coefficients' std (3 for hard thresholding,
        Mallat §11.3.1).
    mode : {'hard', 'soft', 'garrote'}
    keep_coarse : bool
        Keep the coarse scale untouched.
    color : {'opponent', 'channels'}
        Colour images (C = 3): threshold in orthonormal opponent colours (default) or per RGB channel
        (:mod:`denoisebench._color`); other channel counts are processed per channel.

    References
    ----------
    .. [1] E. Candès, D. Donoho, "New tight frames of curvelets and optimal representations of
       objects with piecewise C² singularities", Comm. Pure Appl. Math. 57:219-266, 2004.
    .. [2] J.-L. Starck, E. Candès, D. Donoho, "The curvelet transform for image denoising",
       IEEE Trans. Image Process. 11(6):670-684, 2002 (per-subband kσ thresholds).
    .. [3] S. Mallat, *A Wavelet Tour of Signal Processing*, 3rd ed., §11.3.
    """

    #: Scales: at most log2 of the largest image side (4096); the frame's size for the image is
    #: checked against the memory at each call and when a grid is planned (``setup_bytes``).
    param_rules = {"scales": Opt(Int(2, 12), "automatic"), "angles": Int(2, 64), "k": Real(0, 1e12),
                   "mode": OneOf(*SHRINK), "keep_coarse": Bool(),
                   "color": OneOf(*COLOR_SPACES)}
    memory_factor = 32
    setup_bytes = curvelet_frame_bytes

    def __init__(self, scales=None, angles=8, k=3.0, mode="hard", keep_coarse=True, color="opponent"):
        self.scales = scales
        self.angles = angles
        self.k = k
        self.mode = mode
        self.keep_coarse = keep_coarse
        self.color = color

    def _denoise(self, y, sigma, xp):
        if self.mode not in SHRINK:
            raise ValueError(f"unknown mode {self.mode!r}; valid: {', '.join(SHRINK)}")
        if not float(self.k) >= 0:
            raise ValueError(f"k must be >= 0; got {self.k!r}")
        frame = curvelet_frame(y.shape[-2:], self.scales, self.angles)
        factor = float(self.k) * frame.atom_norms
        if self.keep_coarse:
            factor = factor * (frame.subband_scale > 0)
        s = _per_image(sigma, xp)

        def threshold(sl, c):
            return shrink(c, s * _band_column(factor, sl, c), self.mode, xp)

        return frame.apply(threshold, y)


@register_denoiser("oracle-curvelet")
class CurveletOracle(Denoiser):
    """Oracle attenuation in the curvelet frame (a bound: it uses the clean image).

    Every coefficient, the coarse ones included, is multiplied by
    ``|c_x|² / (|c_x|² + σ² ‖ψ_s‖²)`` (``c_x`` the clean image's coefficient, ``σ ‖ψ_s‖`` the
    noise std in subband ``s``), then the frame's adjoint maps back.  In an orthonormal basis
    this is Mallat's oracle attenuation, whose risk ``Σ σ²|x_m|² / (σ² + |x_m|²)`` lower-bounds
    every diagonal estimator; in this redundant frame it is the same rule applied to
    correlated coefficients — a reference, not a proven minimum.

    Parameters
    ----------
    scales, angles, color : see :class:`Curvelet` (the clean image is mapped to the same colour space).

    References
    ----------
    .. [1] S. Mallat, *A Wavelet Tour of Signal Processing*, 3rd ed., §11.1.2 (oracle
       attenuation), §5.1 (tight frames).
    """

    bound = True
    param_rules = {"scales": Opt(Int(2, 12), "automatic"), "angles": Int(2, 64), "color": OneOf(*COLOR_SPACES)}
    memory_factor = 32
    setup_bytes = curvelet_frame_bytes

    def __init__(self, scales=None, angles=8, color="opponent"):
        self.scales = scales
        self.angles = angles
        self.color = color

    def _denoise_oracle(self, y, sigma, xp, clean):
        frame = curvelet_frame(y.shape[-2:], self.scales, self.angles)
        s = _per_image(sigma, xp)

        def attenuate(sl, cy, cx):
            return oracle_gain(cx, s * _band_column(frame.atom_norms, sl, cy)) * cy

        return frame.apply(attenuate, y, clean)
