"""Speed against the peers, each ratio timed in one process on the same data (``denoisebench perf``).

The comparisons: batched ``wavelet`` against scikit-image's ``denoise_wavelet``
looped per image with the same wavelet, levels and rule; ``wavelet-ti`` against
``cycle_spin(denoise_wavelet, max_shifts=3)`` (16 shifts); the curvelet frame's forward +
inverse against the ``curvelets`` package's UDCT looped per image; our batched orthogonal
transform against ``pywt.wavedec2``/``waverec2`` looped; and bm3d beside ``wavelet-ti``.
Ours and the peer are timed in :data:`ROUNDS` rounds of alternated calls
(:func:`denoisebench.perf.timing.alternated_rounds`) in one process; each row gives the median ratio over
rounds with its spread (min–max, IQR), judged against :data:`TARGETS`, and both PSNRs with their
difference; the peers with one worker, all in float32 at σ = :data:`~denoisebench.perf.timing.SIGMA` on
the ``natural`` dataset.

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

from .machine import thread_settings
from .timing import SIGMA, _psnr, alternated_rounds, noisy_batch, profile_line, ratio_spread

__all__ = ["PEER_OWN", "RULES", "SHAPES", "TARGETS", "compare_all"]

#: Our thresholding as the peers compute it: the coarse band kept, no training-range clip (skimage and
#: pywt have neither; the fitted defaults add a Wiener estimate and a clip, denoisebench/denoisers/_coarse.py).
CLASSICAL = {"coarse": "keep", "clip": False}

#: (n images, side) per comparison, full and quick.
SHAPES = {
    "full": {"wavelet": (256, 64), "ti": (8, 256), "curvelet": ((64, 64), (8, 256)),
             "curvelet-floor": ((64, 64), (8, 256)), "ti-floor": ((8, 256),), "dwt": ((256, 64), (8, 256)),
             "bm3d": (2, 64)},
    "quick": {"wavelet": (4, 32), "ti": (2, 32), "curvelet": ((2, 32),), "curvelet-floor": ((2, 32),),
              "ti-floor": ((2, 32),), "dwt": ((4, 32),), "bm3d": (1, 32)},
}
#: Same rule on both sides: label → (our threshold, our mode, skimage method).
RULES = {"BayesShrink, soft": ("bayes", "soft", "BayesShrink"), "VisuShrink, hard": ("universal", "hard", "VisuShrink")}
WAVELET = "db4"


def _looped(fn, y):
    """``fn`` applied to the images of the host batch ``y`` (n, 1, H, W) one at a time."""
    return lambda: np.stack([np.asarray(fn(im)) for im in y[:, 0]])[:, None]


#: Targets of the comparisons, in one place: name → (ratio wanted, ≥; PSNR condition; where it comes from).
#: ``None``: no target (bm3d is another denoiser, timed beside ours for its quality).
TARGETS = {
    "wavelet": (10.0, "no lower PSNR", "the project's speed target"),
    "ti": (10.0, "no lower PSNR", "the project's speed target"),
    "curvelet": (3.0, None, "the project's speed target"),
    "curvelet-floor": (0.667, None, "within 1.5× of the FFT floor"),
    "ti-floor": (None, None, "none: says how close `wavelet-ti` is to the FFTs it must do"),
    "dwt": (1.0, None, "faster than the peer"),
    "bm3d": (None, None, "none: a different denoiser"),
}
#: The peer's own parallelism, beside the process-wide thread settings both sides share.
PEER_OWN = {
    "wavelet": "pywt's single-threaded C, looped per image",
    "ti": "cycle_spin with one worker, looped per image",
    "curvelet": "numpy.fft (single-threaded), looped per image",
    "curvelet-floor": "the FFT floor: our FFT calls alone (scipy.fft, our workers), batched",
    "ti-floor": "the FFT floor: our FFT calls alone (scipy.fft, our workers), batched",
    "dwt": "pywt's single-threaded C, looped per image",
    "bm3d": "scipy.fftpack and the compiled bm4d library, looped per image",
}


def target_text(key):
    """The target of comparison ``key`` as the report writes it, e.g. ``≥ 10× at no lower PSNR``."""
    ratio, psnr, _ = TARGETS[key]
    return "—" if ratio is None else f"≥ {ratio:g}×" + (f" at {psnr}" if psnr else "")


def _threads(key):
    t = thread_settings()
    common = f"BLAS/OpenMP {t['BLAS/OpenMP']}" + (f", torch {t['torch threads']}" if "torch threads" in t else "")
    return {"ours": f"scipy.fft workers {t['scipy.fft workers, ours']}, {common}",
            "peer": f"scipy.fft workers {t['scipy.fft workers, default']}, {common}; {PEER_OWN[key]}"}


def _versus(key, label, ours, peer, y, x=None, rounds=5, calls=2, budget=20.0, note="", looped=True):
    """One row: ``ours()`` (batched) against ``peer`` looped over ``y`` (``looped=False``: ``peer()`` on the
    whole batch) in ``rounds`` rounds of alternated calls; the median ratio (peer seconds / ours) with its
    spread, judged against ``TARGETS[key]``; PSNRs against ``x`` to two decimals, with their difference."""
    whole = _looped(peer, y) if looped else peer
    (t_ours, t_peer), (out_ours, out_peer) = alternated_rounds(
        [ours, whole], rounds, calls, budget, warmups=[ours, lambda: peer(y[0, 0]) if looped else peer()],
        min_rounds=3)
    n = y.shape[0]
    spread = ratio_spread(t_peer, t_ours, TARGETS[key][0])
    row = {"comparison": label, "key": key, "shape": tuple(y.shape), "ours": n / float(np.median(t_ours)),
           "peer": n / float(np.median(t_peer)), "ratio": spread["median"], "spread": spread,
           "target": target_text(key), "verdict": spread["verdict"], "note": note, "threads": _threads(key),
           "profile": profile_line(ours)}
    if x is not None:
        row.update(psnr_ours=_psnr(x, out_ours), psnr_peer=_psnr(x, out_peer))
        row["psnr_diff"] = row["psnr_ours"] - row["psnr_peer"]
        if TARGETS[key][1] and round(row["psnr_diff"], 2) < 0:
            row["verdict"] += f"; PSNR {row['psnr_diff']:+.2f} dB: below the peer's"
    elif looped:
        row["note"] = (note + "; " if note else "") + (
            f"max reconstruction error: ours {_err(y, out_ours):.1e}, peer {_err(y, out_peer):.1e}")
    return row


def _err(y, out):
    return float(np.max(np.abs(np.asarray(out, np.float64) - y)))


def _levels(side):
    from ..denoisers._wavelet import resolve_levels

    return resolve_levels((side, side), WAVELET, None)


def wavelet_vs_skimage(n, side, rounds, budget):
    """Batched ``wavelet`` vs ``denoise_wavelet`` per image, same wavelet, levels and rule."""
    from skimage.restoration import denoise_wavelet

    from ..registry import make_denoiser

    x, y = noisy_batch("natural", side, n)
    levels, rows = _levels(side), []
    for label, (rule, mode, method) in RULES.items():
        ours = make_denoiser("wavelet", wavelet=WAVELET, levels=levels, mode=mode, threshold=rule,
                             boundary="symmetric", **CLASSICAL)
        peer = functools.partial(denoise_wavelet, sigma=SIGMA, wavelet=WAVELET, mode=mode, method=method,
                                 wavelet_levels=levels, rescale_sigma=False)
        rows.append(_versus("wavelet", f"`wavelet` vs skimage `denoise_wavelet` ({label}, {WAVELET}, {levels} levels)",
                            lambda ours=ours: ours(y, SIGMA), peer, y, x, rounds, budget=budget,
                            note="boundaries: both pywt 'symmetric'"))
    return rows


def _one_worker(fn):
    """``cycle_spin``'s keyword for a single worker (``workers`` since skimage 0.26, else ``num_workers``)."""
    return {"workers": 1} if "workers" in inspect.signature(fn).parameters else {"num_workers": 1}


def ti_vs_cycle_spin(n, side, rounds, budget):
    """``wavelet-ti`` (same rule, then the default hard 3σ) vs ``cycle_spin`` with 16 shifts."""
    from skimage.restoration import cycle_spin, denoise_wavelet

    from ..registry import make_denoiser

    x, y = noisy_batch("natural", side, n)
    levels = _levels(side)
    kw = {"sigma": SIGMA, "wavelet": WAVELET, "mode": "soft", "method": "BayesShrink", "wavelet_levels": levels,
          "rescale_sigma": False}
    peer = functools.partial(cycle_spin, func=denoise_wavelet, max_shifts=3, func_kw=kw, channel_axis=None,
                             **_one_worker(cycle_spin))
    ours = {"BayesShrink, soft, symmetric": make_denoiser("wavelet-ti", wavelet=WAVELET, levels=levels, mode="soft",
                                                          threshold="bayes", boundary="symmetric", **CLASSICAL),
            "ours: default hard 3σ": make_denoiser("wavelet-ti", levels=levels, **CLASSICAL)}
    return [_versus("ti", f"`wavelet-ti` ({label}) vs skimage `cycle_spin(denoise_wavelet)` 16 shifts (BayesShrink, "
                    f"soft, {WAVELET}, {levels} levels)", lambda d=d: d(y, SIGMA), peer, y, x, rounds, budget=budget)
            for label, d in ours.items()]


def _n_coefficients(c):
    return int(np.size(c)) if isinstance(c, np.ndarray) else sum(_n_coefficients(v) for v in c)


def curvelet_vs_udct(shapes, rounds, budget):
    """Our curvelet frame's forward + inverse (batched, as the denoiser runs it) vs the UDCT looped."""
    from curvelets.numpy import UDCT

    from ..transforms import curvelet_frame, curvelet_wrap_frame

    rows = []
    for n, side in shapes:
        _, y = noisy_batch("natural", side, n)
        udct = UDCT((side, side), num_scales=4, wedges_per_direction=3)
        redundancy = _n_coefficients(udct.forward(y[0, 0])) / side**2
        wrap = curvelet_wrap_frame((side, side))
        for label, frame, run, kind in (
                ("default", curvelet_frame((side, side)), None, "undecimated"),
                ("scales=4, angles=6", curvelet_frame((side, side), 4, 6), None, "undecimated"),
                ("`frame=wrap`, default", wrap, lambda: wrap.inverse(wrap.forward(y)), "decimated, real")):
            rows.append(_versus(
                "curvelet", f"`curvelet` frame forward+inverse ({label}) vs `curvelets` UDCT (4 scales, 3 wedges/direction)",
                run or (lambda f=frame: f.apply(lambda sl, c: c, y)), lambda im: udct.backward(udct.forward(im)),
                y, None, rounds, budget=budget,
                note=f"coefficients per pixel: ours {frame.redundancy:.2f} ({kind}), UDCT {redundancy:.1f}"))
    return rows


def _bare_ffts(y, n_bands):
    """The FFTs a Fourier-domain frame with ``n_bands`` subbands must do, alone: 1 rfft2 + S irfft2
    (analysis), S rfft2 + 1 irfft2 (synthesis), on ``y``'s batch, library, workers and dtype."""
    from .._array_api import fft_of

    fft, axes, s = fft_of(np), (-2, -1), tuple(y.shape[-2:])
    half = np.zeros(y.shape[:-2] + (n_bands, s[0], s[1] // 2 + 1), np.complex64)
    full = np.zeros(y.shape[:-2] + (n_bands, *s), np.float32)

    def floor():
        fft.rfftn(y, axes=axes), fft.irfftn(half, s=s, axes=axes), fft.rfftn(full, axes=axes)
        return fft.irfftn(half[..., 0, :, :], s=s, axes=axes)

    return floor


def curvelet_fft_floor(shapes, rounds, budget):
    """The undecimated curvelet frame's forward + inverse against the FFTs it must do, timed bare."""
    from ..transforms import curvelet_frame

    rows = []
    for n, side in shapes:
        _, y = noisy_batch("natural", side, n)
        frame = curvelet_frame((side, side))
        rows.append(_versus("curvelet-floor", f"`curvelet` frame forward+inverse (default, S = {frame.n_subbands}) "
                            "vs its bare FFTs (1 + S forward, S + 1 inverse)", lambda f=frame: f.apply(lambda sl, c: c, y),
                            _bare_ffts(y, frame.n_subbands), y, None, rounds, budget=budget, looped=False,
                            note="ratio = FFT seconds / frame seconds: 1 is the floor"))
    return rows


def ti_fft_floor(shapes, rounds, budget):
    """`wavelet-ti` (default) against the FFTs its undecimated transform must do (3 detail subbands per
    level, each analysed and synthesised), timed bare: how much of its time is not FFTs."""
    from ..denoisers import WaveletTI
    from ..denoisers._wavelet import resolve_levels

    rows = []
    for n, side in shapes:
        _, y = noisy_batch("natural", side, n)
        levels = resolve_levels((side, side), WAVELET, None)
        d = WaveletTI(**CLASSICAL)
        rows.append(_versus("ti-floor", f"`wavelet-ti` (default, db4, {levels} levels, S = {3 * levels} detail "
                            "subbands) vs its bare FFTs (1 + S forward, S + 1 inverse)", lambda: d(y, 0.1),
                            _bare_ffts(y, 3 * levels), y, None, rounds, budget=budget, looped=False,
                            note="ratio = FFT seconds / denoiser seconds: 1 is the floor"))
    return rows


def dwt_vs_pywt(shapes, rounds, budget):
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

        rows.append(_versus("dwt", f"orthogonal DWT+inverse ({WAVELET}, {levels} levels) vs pywt `wavedec2`/`waverec2`",
                            lambda lv=levels: idwt2(dwt2(y, WAVELET, lv), WAVELET), peer, y, None,
                            rounds, budget=budget))
    return rows


def bm3d_beside_ti(n, side, rounds, budget):
    """bm3d's images/s and PSNR beside the default ``wavelet-ti`` on the same images."""
    import bm3d

    from ..registry import make_denoiser

    x, y = noisy_batch("natural", side, n)
    ours = make_denoiser("wavelet-ti")
    return [_versus("bm3d", "`wavelet-ti` (default) vs `bm3d` (profile np)", lambda: ours(y, SIGMA),
                    lambda im: bm3d.bm3d(im.astype(np.float64), sigma_psd=SIGMA), y, x, min(rounds, 3), calls=1,
                    budget=budget)]


#: The comparisons: name → (module they need, function of (shapes, rounds, budget)).
COMPARISONS = {
    "wavelet": ("skimage", lambda s, r, b: wavelet_vs_skimage(*s, r, b)),
    "ti": ("skimage", lambda s, r, b: ti_vs_cycle_spin(*s, r, b)),
    "curvelet": ("curvelets", curvelet_vs_udct),
    "curvelet-floor": ("scipy", curvelet_fft_floor),
    "ti-floor": ("scipy", ti_fft_floor),
    "dwt": ("pywt", dwt_vs_pywt),
    "bm3d": ("bm3d", lambda s, r, b: bm3d_beside_ti(*s, r, b)),
}


#: Rounds of alternated calls per comparison (each round: ours, peer, ours, peer).
ROUNDS = 5


def compare_all(quick=False, rounds=ROUNDS, budget=20.0):
    """Run every comparison in ``rounds`` rounds (3 at least, fewer than ``rounds`` only past ``budget``
    seconds per row); a missing peer package or a failure becomes a row saying so."""
    shapes, rows = SHAPES["quick" if quick else "full"], []
    for name, (module, compare) in COMPARISONS.items():
        if importlib.util.find_spec(module) is None:
            rows.append({"comparison": name, "missing": f"the `{module}` package is not importable here "
                         f"(pip install {module}): not measured"})
            continue
        try:
            rows += compare(shapes[name], rounds, budget)
        except Exception as exc:  # one broken peer must not hide the others
            print(f"denoisebench perf: comparison {name!r} failed: {exc!r}", file=sys.stderr)
            rows.append({"comparison": name, "missing": f"failed: {type(exc).__name__}: {exc}"})
    return rows
