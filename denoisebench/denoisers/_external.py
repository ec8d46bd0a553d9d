"""External peers behind the same contract: scikit-image's wavelet denoiser and BM3D.

They run per image on the host.  numpy, array_api_strict and CPU torch inputs are
converted on the host and returned in the input's namespace and dtype; device
arrays (CUDA torch, cupy) are refused with a clear error rather than silently
copied to the host and back (``host_only = True``; the conformance tests skip
device backends for them).
"""
from __future__ import annotations

import importlib.util

import numpy as np

from .._array_api import asarray_like, device_of, is_host, to_numpy
from .._color import COLOR_SPACES
from ..registry._params import Int, OneOf, Opt, Wavelet
from ..base import Denoiser
from ..registry import register_denoiser

__all__ = ["BM3D", "SkimageWavelet"]


def _installed(module):
    return lambda: importlib.util.find_spec(module) is not None


class _HostPeer(Denoiser):
    """Loops a host function ``_one(image_2d, sigma)`` over images and channels, or
    ``_one_color(image_hw3, sigma)`` over the images when it handles colour itself (``own_color``)."""

    host_only = True

    def _denoise(self, y, sigma, xp):
        if not is_host(y):
            raise TypeError(
                f"{self.name} runs on the host only; got an array on {device_of(y)} "
                "(move it to the CPU yourself, or use a denoiser that runs on the device)"
            )
        y_np = np.asarray(to_numpy(y), dtype=np.float64)
        s = np.asarray(to_numpy(sigma), dtype=np.float64).reshape(-1)
        out = np.empty_like(y_np)
        whole = self.own_color and self.color == "opponent" and y_np.shape[1] == 3
        for i in range(y_np.shape[0]):
            if whole:
                out[i] = np.moveaxis(self._one_color(np.moveaxis(y_np[i], 0, -1), float(s[i])), -1, 0)
                continue
            for c in range(y_np.shape[1]):
                out[i, c] = self._one(y_np[i, c], float(s[i]))
        return asarray_like(out, y)


@register_denoiser("skimage-wavelet")
class SkimageWavelet(_HostPeer):
    """``skimage.restoration.denoise_wavelet`` with the true σ, looped per image.

    Parameters mirror scikit-image's (BayesShrink or VisuShrink; soft or hard;
    symmetric boundaries).  ``rescale_sigma=False`` because the input is not rescaled.
    ``color``: colour images (C = 3) are denoised in orthonormal opponent colours (default) or
    per RGB channel (:mod:`denoisebench._color`), each channel with the true σ.

    References
    ----------
    S. G. Chang, B. Yu, M. Vetterli, "Adaptive wavelet thresholding for image denoising
    and compression", IEEE TIP 9(9), 2000; scikit-image ``denoise_wavelet``.
    """

    available = staticmethod(_installed("skimage"))
    param_rules = {"wavelet": Wavelet(orthogonal=False), "method": OneOf("BayesShrink", "VisuShrink"),
                   "mode": OneOf("soft", "hard"), "levels": Opt(Int(1, 12), "automatic"),
                   "color": OneOf(*COLOR_SPACES)}

    def __init__(self, wavelet="db4", method="BayesShrink", mode="soft", levels=None, color="opponent"):
        self.wavelet = wavelet
        self.method = method
        self.mode = mode
        self.levels = levels
        self.color = color

    def _one(self, image, sigma):
        from skimage.restoration import denoise_wavelet

        return denoise_wavelet(image, sigma=sigma, wavelet=self.wavelet, mode=self.mode,
                               wavelet_levels=self.levels, method=self.method, rescale_sigma=False)


@register_denoiser("bm3d")
class BM3D(_HostPeer):
    """BM3D (the ``bm3d`` package, Mäkinen–Azzari–Foi), looped per image.

    Heavy: about 1.4 s per 64×64 image on one core here, so the default
    ``denoisebench run`` leaves it out (``heavy = True``); name it with
    ``--denoisers bm3d``.  Install with ``pip install bm3d``.

    ``color``: colour images (C = 3) go through the package's CBM3D (``bm3d.bm3d_rgb`` with its
    opponent transform: grouping on the luminance, shared by the colour channels; default) or
    plain BM3D per RGB channel (``'channels'``).  CBM3D handles colour itself (``own_color``).

    References
    ----------
    K. Dabov, A. Foi, V. Katkovnik, K. Egiazarian, "Image denoising by sparse 3-D
    transform-domain collaborative filtering", IEEE TIP 16(8), 2007; Y. Mäkinen, L. Azzari,
    A. Foi, "Collaborative filtering of correlated noise", IEEE TIP 29, 2020; K. Dabov, A. Foi,
    V. Katkovnik, K. Egiazarian, "Color image denoising via sparse 3D collaborative filtering with
    grouping constraint in luminance-chrominance space", ICIP 2007 (CBM3D).
    """

    available = staticmethod(_installed("bm3d"))
    libraries = ("bm3d",)  # its version enters this denoiser's cell fingerprints
    install = "pip install bm3d (or pip install 'denoisebench[peers]')"
    discontinuous = True  # its first stage hard-thresholds: SURE does not apply (Stein's lemma)
    heavy = True
    # The bm3d binary computes in float32 on several threads: repeated calls differ by ~2e-7.
    internal_dtype = "float32"
    own_color = True
    param_rules = {"profile": OneOf("np", "refilter", "vn", "high", "vn_old", "deb"), "color": OneOf(*COLOR_SPACES)}

    def __init__(self, profile="np", color="opponent"):
        self.profile = profile
        self.color = color

    def _one(self, image, sigma):
        import bm3d

        return bm3d.bm3d(image, sigma_psd=sigma, profile=self.profile)

    def _one_color(self, image, sigma):
        import bm3d

        return bm3d.bm3d_rgb(image, sigma_psd=sigma, profile=self.profile, colorspace="opp")
