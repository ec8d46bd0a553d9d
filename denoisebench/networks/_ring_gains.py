"""The ring-gain table a weight file may carry: storage, validation, interpolation and use.

The table and how it is fitted: :mod:`denoisebench.networks.calibration` (which re-exports :class:`RingGains`);
read back by :mod:`denoisebench.networks.weights_io`, applied by the ``unet`` denoiser.
"""
from __future__ import annotations

import json
import math

import numpy as np

__all__ = ["CLIP", "RingGains"]

#: Fitted gains are clipped to this range: a negative or very large ratio is estimation noise on rings
#: where the output carries no signal (the block-mean experts' high rings at large σ).
CLIP = (0.0, 2.0)
#: Bounds on a stored table (rows of σ, columns of rings), checked on load.
_MAX_SIGMAS, _MAX_RINGS = 256, 1024


class RingGains:
    """A table of gains ``a(σ, |ξ|)`` and the level ``mean`` they act about
    (:mod:`denoisebench.networks.calibration`).

    Parameters
    ----------
    sigmas : (G,) increasing positive floats
    frequencies : (R,) increasing floats in [0, 1], cycles per pixel (ring ``r`` of an ``N``-pixel side: ``r/N``)
    gains : (G, R) finite floats
    mean : float
    fit : dict, optional
        How the table was fitted (images, seed, σ levels): recorded, not used.
    """

    def __init__(self, sigmas, frequencies, gains, mean, fit=None):
        self.sigmas = np.asarray(sigmas, dtype=np.float64)
        self.frequencies = np.asarray(frequencies, dtype=np.float64)
        self.gains = np.asarray(gains, dtype=np.float64)
        self.mean = float(mean)
        self.fit = dict(fit or {})

    # -- storage -----------------------------------------------------------------------------
    def to_json(self):
        """A JSON-able dict (float lists; ``repr`` round-trips every value exactly)."""
        return {"sigmas": self.sigmas.tolist(), "frequencies": self.frequencies.tolist(),
                "gains": self.gains.tolist(), "mean": self.mean, "fit": self.fit}

    @classmethod
    def from_text(cls, text, where="calibration"):
        """:meth:`from_json` of a JSON string (a one-line ``ValueError`` if it is not JSON)."""
        try:
            obj = json.loads(text)
        except (TypeError, ValueError, RecursionError) as exc:
            raise ValueError(f"{where}: not valid JSON ({type(exc).__name__})") from None
        return cls.from_json(obj, where)

    @classmethod
    def from_json(cls, obj, where="calibration"):
        """The table stored by :meth:`to_json`, validated: a one-line ``ValueError`` names what is wrong."""
        if not isinstance(obj, dict) or set(obj) - {"fit"} != {"sigmas", "frequencies", "gains", "mean"} or \
                not isinstance(obj.get("fit", {}), dict):
            raise ValueError(f"{where}: must be an object with sigmas, frequencies, gains, mean (and a fit object)")
        try:
            s, f, g = (np.asarray(obj[k], dtype=np.float64) for k in ("sigmas", "frequencies", "gains"))
            mean = float(obj["mean"])
        except (TypeError, ValueError, OverflowError):
            raise ValueError(f"{where}: sigmas, frequencies, gains and mean must be numbers") from None
        if not (s.ndim == 1 and 2 <= s.size <= _MAX_SIGMAS and f.ndim == 1 and 1 <= f.size <= _MAX_RINGS):
            raise ValueError(f"{where}: need 2 to {_MAX_SIGMAS} sigmas and 1 to {_MAX_RINGS} frequencies")
        if g.shape != (s.size, f.size):
            raise ValueError(f"{where}: gains has shape {g.shape}, expected {(s.size, f.size)}")
        if not all(np.all(np.isfinite(v)) for v in (s, f, g)) or not math.isfinite(mean):
            raise ValueError(f"{where}: values must be finite")
        if not (np.all(s > 0) and np.all(np.diff(s) > 0) and f[0] >= 0 and f[-1] <= 1 and np.all(np.diff(f) > 0)):
            raise ValueError(f"{where}: sigmas must increase from > 0, frequencies increase within [0, 1]")
        if np.any(g < CLIP[0]) or np.any(g > CLIP[1]):
            raise ValueError(f"{where}: gains must lie in [{CLIP[0]:g}, {CLIP[1]:g}]")
        return cls(s, f, g, mean, obj.get("fit"))

    # -- use ---------------------------------------------------------------------------------
    def at(self, sigma, shape):
        """Gains on the ``rfft2`` half plane of an ``(H, W)`` image, per σ: numpy ``(len(sigma), H, W//2+1)``."""
        log_s = np.log(np.clip(np.asarray(sigma, dtype=np.float64).reshape(-1), self.sigmas[0], self.sigmas[-1]))
        rows = np.stack([np.interp(log_s, np.log(self.sigmas), col) for col in self.gains.T], axis=1)
        h, w = shape
        xi = np.hypot(np.fft.fftfreq(h)[:, None], np.fft.rfftfreq(w)[None, :])
        return np.stack([np.interp(xi, self.frequencies, row) for row in rows])

    def apply(self, out, sigma):
        """``m + F⁻¹ a(σ) F (out − m)`` for a torch batch ``out`` (N, C, H, W), σ a float or one per image."""
        import torch

        n, h, w = out.shape[0], *out.shape[-2:]
        # σ is data, not a variable: read on the host (a float, or a tensor made outside any torch.func transform)
        s = sigma.detach().cpu().double().numpy() if isinstance(sigma, torch.Tensor) else np.asarray(sigma, float)
        levels, which = np.unique(np.broadcast_to(s.reshape(-1), (n,)), return_inverse=True)  # one lookup per σ
        a = torch.from_numpy(self.at(levels, (h, w))[which]).to(device=out.device, dtype=out.dtype)[:, None]
        spectrum = torch.fft.rfft2(out - self.mean)
        return torch.fft.irfft2(spectrum * a, s=(h, w)) + self.mean
