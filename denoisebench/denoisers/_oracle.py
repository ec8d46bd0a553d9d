"""Mallat's oracle bounds in orthonormal bases: ``oracle-wavelet`` and ``oracle-fourier``.

In an orthonormal basis with clean coefficients ``x_m`` and noise std σ per coefficient, the
oracle attenuation ``x̂_m = |x_m|² / (|x_m|² + σ²) · y_m`` has risk
``r_inf = Σ_m σ² |x_m|² / (σ² + |x_m|²)`` — the best diagonal (per-coefficient linear) estimator —
and the oracle projection (keep ``y_m`` iff ``|x_m| > σ``) has ``r_pr = Σ_m min(σ², |x_m|²)``, with
``r_inf ≤ r_pr ≤ 2 r_inf`` (docs/theory.md §4).  Every coefficient takes part, the coarse
approximation's included.  The Fourier basis is the unitary DFT ``fft2(x) / √N``: numpy's
unnormalised ``fft2`` gives noise variance ``N σ²`` per coefficient, hence the gain
``|X_k|² / (|X_k|² + N σ²)`` on ``fft2(y)``.  The wavelet basis is the periodic orthonormal one of
:func:`~denoisebench.transforms.dwt2`; sizes not divisible by ``2**levels`` are padded as in
:class:`~denoisebench.denoisers.Wavelet` (the risks then refer to the padded image).

References
----------
S. Mallat, *A Wavelet Tour of Signal Processing*, 3rd ed., §11.1.2 (oracle attenuation and
projection), Theorem 11.7 (``r_inf ≤ r_pr ≤ 2 r_inf``).
"""
from __future__ import annotations

from .._array_api import array_namespace, as_sigma, asarray_like, fft_of
from .._color import COLOR_SPACES
from .._fourier import rfft_multiplicity
from ..registry._params import Int, OneOf, Opt, Wavelet as WaveletName
from ..base import Denoiser
from ..registry import register_denoiser
from ..transforms import dwt2, idwt2
from ._shrink import _pick, oracle_gain
from ._wavelet import crop, pad_symmetric, resolve_levels

__all__ = ["OracleFourier", "OracleWavelet", "oracle_risks"]

_AXES = (-2, -1)


def _wavelet_power(x, params, xp):
    """``[(|x_m|² of one subband, weight 1), …]`` in the orthonormal wavelet basis."""
    levels = resolve_levels(x.shape, params["wavelet"], params["levels"])
    coeffs = dwt2(pad_symmetric(x, 2**levels, xp), params["wavelet"], levels)
    return [(c * c, 1.0) for c in [coeffs[0]] + [c for level in coeffs[1:] for c in level]]


def _fourier_power(x, params, xp):
    """``[(|X_k|² / N on the rfft half plane, multiplicity of each column)]`` (unitary DFT)."""
    n_pixels = x.shape[-2] * x.shape[-1]
    spectrum = fft_of(xp).rfftn(x, axes=_AXES)
    power = (xp.real(spectrum) ** 2 + xp.imag(spectrum) ** 2) / n_pixels
    return [(power, asarray_like(rfft_multiplicity(x.shape[-2:]), power))]


#: The orthonormal bases: coefficient powers ``|x_m|²`` with the weight each stands for.
BASES = {"wavelet": _wavelet_power, "fourier": _fourier_power}

#: Oracle risk per coefficient from ``(|x_m|², σ²)``.
RISKS = {
    "r_inf": lambda p, s2, xp: s2 * p / (s2 + p),
    "r_pr": lambda p, s2, xp: xp.minimum(p, s2),
}


def oracle_risks(x, sigma, basis="wavelet", wavelet="db4", levels=None):
    """Oracle attenuation and projection risks of each image (summed over its coefficients).

    Parameters
    ----------
    x : array (N, C, H, W)
        Clean images, any array-API namespace.
    sigma : float or array (N,)
    basis : {'wavelet', 'fourier'}
    wavelet, levels :
        The orthonormal wavelet basis (as :class:`~denoisebench.denoisers.Wavelet`).

    Returns
    -------
    dict
        ``{'r_inf': (N,), 'r_pr': (N,)}`` in ``x``'s namespace: risks as ``‖x̂ − x‖²`` (MSE·N).
    """
    xp = array_namespace(x)
    s2 = as_sigma(sigma, x) ** 2
    terms = _pick(BASES, basis, "basis")(x, {"wavelet": wavelet, "levels": levels}, xp)
    return {name: sum(xp.sum(w * risk(p, s2, xp), axis=(1, 2, 3)) for p, w in terms)
            for name, risk in RISKS.items()}


@register_denoiser("oracle-wavelet")
class OracleWavelet(Denoiser):
    """Oracle attenuation in the orthonormal periodic wavelet basis (a bound, not a denoiser).

    ``x̂ = W⁻¹[ |Wx|² / (|Wx|² + σ²) · Wy ]`` using the clean image ``x``; its risk is ``r_inf``
    of :func:`oracle_risks`.

    Parameters
    ----------
    wavelet : str
        An orthogonal pywt wavelet.
    levels : int or None
        As for :class:`~denoisebench.denoisers.Wavelet`.
    color : {'opponent', 'channels'}
        Colour images (C = 3): the oracle in orthonormal opponent colours (default; the clean image
        is mapped too) or per RGB channel (:mod:`denoisebench._color`).

    References
    ----------
    S. Mallat, *A Wavelet Tour of Signal Processing*, 3rd ed., §11.1.2.
    """

    bound = True
    param_rules = {"wavelet": WaveletName(), "levels": Opt(Int(1, 12), "automatic"), "color": OneOf(*COLOR_SPACES)}

    def __init__(self, wavelet="db4", levels=None, color="opponent"):
        self.wavelet = wavelet
        self.levels = levels
        self.color = color

    def _denoise_oracle(self, y, sigma, xp, clean):
        levels = resolve_levels(y.shape, self.wavelet, self.levels)
        cy = dwt2(pad_symmetric(y, 2**levels, xp), self.wavelet, levels)
        cx = dwt2(pad_symmetric(clean, 2**levels, xp), self.wavelet, levels)

        def attenuate(a, b):
            return oracle_gain(b, sigma) * a

        out = [attenuate(cy[0], cx[0])] + [tuple(attenuate(a, b) for a, b in zip(ly, lx))
                                            for ly, lx in zip(cy[1:], cx[1:])]
        return crop(idwt2(out, self.wavelet), y.shape)


@register_denoiser("oracle-fourier")
class OracleFourier(Denoiser):
    """Oracle attenuation in the unitary Fourier basis (a bound, not a denoiser).

    ``x̂ = ifft2[ |X|² / (|X|² + N σ²) · fft2(y) ]`` with ``X = fft2(x)`` of the clean image
    (numpy's unnormalised DFT, so the noise variance per coefficient is ``N σ²``): the best
    per-image, per-frequency linear filter, i.e. an image-adapted Wiener filter.

    Parameters
    ----------
    color : {'opponent', 'channels'}
        As for :class:`OracleWavelet`.

    References
    ----------
    S. Mallat, *A Wavelet Tour of Signal Processing*, 3rd ed., §11.1.2 and §11.2.1.
    """

    bound = True
    param_rules = {"color": OneOf(*COLOR_SPACES)}

    def __init__(self, color="opponent"):
        self.color = color

    def _denoise_oracle(self, y, sigma, xp, clean):
        n_pixels = y.shape[-2] * y.shape[-1]
        spectrum = fft_of(xp).rfftn(clean, axes=_AXES)
        power = xp.real(spectrum) ** 2 + xp.imag(spectrum) ** 2
        gain = power / (power + n_pixels * sigma * sigma)
        return fft_of(xp).irfftn(fft_of(xp).rfftn(y, axes=_AXES) * gain, s=tuple(y.shape[-2:]), axes=_AXES)

