"""Speed against the peers, each ratio timed in one process on the same data (``denoisebench perf``).

The comparisons: batched ``wavelet`` against scikit-image's ``denoise_wavelet``
looped per image with the same wavelet, levels and rule; ``wavelet-ti`` against
``cycle_spin(denoise_wavelet, max_shifts=3)`` (16 shifts); the curvelet frame's forward +
inverse against the ``curvelets`` package's UDCT looped per image; our batched orthogonal
transform against ``pywt.wavedec2``/``waverec2`` looped; and bm3d beside ``wavelet-ti``.
Ours and the peer are timed in alternation (:func:`denoisebench.perf.timing.interleaved_seconds`, medians)
in one process, the peers with one worker, all in float32 at σ = :data:`~denoisebench.perf.timing.SIGMA`
on the ``natural`` dataset.

References
----------
S. van der Walt et al., scikit-image, PeerJ 2:e453, 2014 (``denoise_wavelet``, ``cycle_spin``);
G. Lee et al., PyWavelets, JOSS 4(36), 2019; T. Nguyen, H. Chauris, "Uniform discrete curvelet
transform", IEEE TSP 58(7), 2010 (the ``curvelets`` package); Y. Mäkinen, L. Azzari, A. Foi,
IEEE TIP 29, 2020 (``bm3d``).
"""
from __future__ import annotations

import functools
import importlib.util
import inspect
import sys

import numpy as np

from .timing import SIGMA, _psnr, interleaved_seconds, noisy_batch, profile_line

__all__ = ["SHAPES", "RULES", "compare_all"]

#: (n images, side) per comparison, full and quick.
SHAPES = {
    "full": {"wavelet": (256, 64), "ti": (8, 256), "curvelet": ((64, 64), (8, 256)), "dwt": ((256, 64), (8, 256)),
             "bm3d": (2, 64)},
    "quick": {"wavelet": (4, 32), "ti": (2, 32), "curvelet": ((2, 32),), "dwt": ((4, 32),), "bm3d": (1, 32)},
}
#: Same rule on both sides: label → (our threshold, our mode, skimage method).
RULES = {"BayesShrink, soft": ("bayes", "soft", "BayesShrink"), "VisuShrink, hard": ("universal", "hard", "VisuShrink")}
WAVELET = "db4"


def _looped(fn, y):
    """``fn`` applied to the images of the host batch ``y`` (n, 1, H, W) one at a time."""
    return lambda: np.stack([np.asarray(fn(im)) for im in y[:, 0]])[:, None]


def _versus(label, target, ours, peer, y, x=None, repeats=3, budget=20.0, note=""):
    """One row: ``ours()`` (batched) against ``peer`` looped over ``y``; PSNRs against ``x``."""
    (t_ours, out_ours), (t_peer, out_peer) = interleaved_seconds([ours, _looped(peer, y)], repeats, budget,
                                                                 warmups=[ours, lambda: peer(y[0, 0])])
    n = y.shape[0]
    row = {"comparison": label, "shape": tuple(y.shape), "ours": n / t_ours, "peer": n / t_peer,
           "ratio": t_peer / t_ours, "target": target, "note": note, "profile": profile_line(ours)}
    if x is not None:
        row.update(psnr_ours=_psnr(x, out_ours), psnr_peer=_psnr(x, out_peer))
    else:
        row["note"] = (note + "; " if note else "") + (
            f"max reconstruction error: ours {_err(y, out_ours):.1e}, peer {_err(y, out_peer):.1e}")
    return row


def _err(y, out):
    return float(np.max(np.abs(np.asarray(out, np.float64) - y)))


def _levels(side):
    from ..denoisers._wavelet import resolve_levels

    return resolve_levels((side, side), WAVELET, None)


def wavelet_vs_skimage(n, side, repeats, budget):
    """Batched ``wavelet`` vs ``denoise_wavelet`` per image, same wavelet, levels and rule."""
    from skimage.restoration import denoise_wavelet

    from ..registry import make_denoiser

    x, y = noisy_batch("natural", side, n)
    levels, rows = _levels(side), []
    for label, (rule, mode, method) in RULES.items():
        ours = make_denoiser("wavelet", wavelet=WAVELET, levels=levels, mode=mode, threshold=rule)
        peer = functools.partial(denoise_wavelet, sigma=SIGMA, wavelet=WAVELET, mode=mode, method=method,
                                 wavelet_levels=levels, rescale_sigma=False)
        rows.append(_versus(f"`wavelet` vs skimage `denoise_wavelet` ({label}, {WAVELET}, {levels} levels)",
                            "≥ 3× at equal PSNR", lambda: ours(y, SIGMA), peer, y, x, repeats, budget,
                            note="boundaries: ours periodic, skimage symmetric"))
    return rows


def _one_worker(fn):
    """``cycle_spin``'s keyword for a single worker (``workers`` since skimage 0.26, else ``num_workers``)."""
    return {"workers": 1} if "workers" in inspect.signature(fn).parameters else {"num_workers": 1}


def ti_vs_cycle_spin(n, side, repeats, budget):
    """``wavelet-ti`` (same rule, then the default hard 3σ) vs ``cycle_spin`` with 16 shifts."""
    from skimage.restoration import cycle_spin, denoise_wavelet

    from ..registry import make_denoiser

    x, y = noisy_batch("natural", side, n)
    levels = _levels(side)
    kw = {"sigma": SIGMA, "wavelet": WAVELET, "mode": "soft", "method": "BayesShrink", "wavelet_levels": levels,
          "rescale_sigma": False}
    peer = functools.partial(cycle_spin, func=denoise_wavelet, max_shifts=3, func_kw=kw, channel_axis=None,
                             **_one_worker(cycle_spin))
    ours = {"BayesShrink, soft": make_denoiser("wavelet-ti", wavelet=WAVELET, levels=levels, mode="soft",
                                               threshold="bayes"),
            "ours: default hard 3σ": make_denoiser("wavelet-ti", levels=levels)}
    return [_versus(f"`wavelet-ti` ({label}) vs skimage `cycle_spin(denoise_wavelet)` 16 shifts (BayesShrink, "
                    f"soft, {WAVELET}, {levels} levels)", "≥ 10× at no lower PSNR", lambda d=d: d(y, SIGMA), peer,
                    y, x, repeats, budget) for label, d in ours.items()]


def _n_coefficients(c):
    return int(np.size(c)) if isinstance(c, np.ndarray) else sum(_n_coefficients(v) for v in c)


def curvelet_vs_udct(shapes, repeats, budget):
    """Our curvelet frame's forward + inverse (batched, as the denoiser runs it) vs the UDCT looped."""
    from curvelets.numpy import UDCT

    from ..transforms import curvelet_frame

    rows = []
    for n, side in shapes:
        _, y = noisy_batch("natural", side, n)
        udct = UDCT((side, side), num_scales=4, wedges_per_direction=3)
        redundancy = _n_coefficients(udct.forward(y[0, 0])) / side**2
        for label, frame in (("default", curvelet_frame((side, side))),
                             ("scales=4, angles=6", curvelet_frame((side, side), 4, 6))):
            rows.append(_versus(
                f"`curvelet` frame forward+inverse ({label}) vs `curvelets` UDCT (4 scales, 3 wedges/direction)",
                "≥ 3×", lambda f=frame: f.apply(lambda sl, c: c, y), lambda im: udct.backward(udct.forward(im)),
                y, None, repeats, budget,
                note=f"coefficients per pixel: ours {frame.n_subbands} (undecimated), UDCT {redundancy:.1f}"))
    return rows


def dwt_vs_pywt(shapes, repeats, budget):
    """Our batched periodic orthogonal DWT + inverse vs ``pywt.wavedec2``/``waverec2`` looped."""
    import pywt

    from ..transforms import dwt2, idwt2

    rows = []
    for n, side in shapes:
        _, y = noisy_batch("natural", side, n)
        levels = _levels(side)

        def peer(im, levels=levels):
            coeffs = pywt.wavedec2(im, WAVELET, mode="periodization", level=levels)
            return pywt.waverec2(coeffs, WAVELET, mode="periodization")

        rows.append(_versus(f"orthogonal DWT+inverse ({WAVELET}, {levels} levels) vs pywt `wavedec2`/`waverec2`",
                            "—", lambda lv=levels: idwt2(dwt2(y, WAVELET, lv), WAVELET), peer, y, None,
                            repeats, budget))
    return rows


def bm3d_beside_ti(n, side, repeats, budget):
    """bm3d's images/s and PSNR beside the default ``wavelet-ti`` on the same images."""
    import bm3d

    from ..registry import make_denoiser

    x, y = noisy_batch("natural", side, n)
    ours = make_denoiser("wavelet-ti")
    return [_versus("`wavelet-ti` (default) vs `bm3d` (profile np)", "—", lambda: ours(y, SIGMA),
                    lambda im: bm3d.bm3d(im.astype(np.float64), sigma_psd=SIGMA), y, x, min(repeats, 2), budget)]


#: The comparisons: name → (module they need, function of (shapes, repeats, budget)).
COMPARISONS = {
    "wavelet": ("skimage", lambda s, r, b: wavelet_vs_skimage(*s, r, b)),
    "ti": ("skimage", lambda s, r, b: ti_vs_cycle_spin(*s, r, b)),
    "curvelet": ("curvelets", curvelet_vs_udct),
    "dwt": ("pywt", dwt_vs_pywt),
    "bm3d": ("bm3d", lambda s, r, b: bm3d_beside_ti(*s, r, b)),
}


def compare_all(quick=False, repeats=3, budget=20.0):
    """Run every comparison; a missing peer package or a failure becomes a row saying so."""
    shapes, rows = SHAPES["quick" if quick else "full"], []
    for name, (module, compare) in COMPARISONS.items():
        if importlib.util.find_spec(module) is None:
            rows.append({"comparison": name, "missing": f"the `{module}` package is not importable here "
                         f"(pip install {module}): not measured"})
            continue
        try:
            rows += compare(shapes[name], repeats, budget)
        except Exception as exc:  # one broken peer must not hide the others
            print(f"denoisebench perf: comparison {name!r} failed: {exc!r}", file=sys.stderr)
            rows.append({"comparison": name, "missing": f"failed: {type(exc).__name__}: {exc}"})
    return rows
