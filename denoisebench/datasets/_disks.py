"""Images of one disk: a 5-dimensional manifold (centre, radius, two intensities)."""
from __future__ import annotations

import numpy as np

from ..registry._params import AnyOf, Int, Real, Reals, Size
from ..registry import register_dataset
from ._base import Dataset

__all__ = ["Disks", "disk_parameters", "render_disk"]


def disk_parameters(rng, shape, radius=(0.1, 0.3)):
    """Draw one disk for an ``(H, W)`` image, in pixel units.

    Returns a dict: ``centre`` ``(row, col)``, ``radius`` (``uniform(*radius)`` times
    ``min(H, W)``), ``fg`` and ``bg`` (both uniform in ``[0, 1]``).  The centre is uniform
    over the positions that keep the whole disk inside ``[0, H] x [0, W]``.
    """
    lo, hi = _radius_range(radius)
    H, W = shape
    r = rng.uniform(lo, hi) * min(H, W)
    centre = (rng.uniform(r, H - r), rng.uniform(r, W - r))
    fg, bg = rng.uniform(0.0, 1.0, size=2)
    return {"centre": centre, "radius": r, "fg": float(fg), "bg": float(bg)}


def _radius_range(radius):
    """``(lo, hi)``, a number ``r`` (fixed radius) or the spec form ``'LOxHI'``."""
    try:
        if isinstance(radius, str):
            radius = [float(p) for p in radius.lower().split("x")]
        lo, hi = (float(radius), float(radius)) if np.ndim(radius) == 0 else (float(r) for r in radius)
    except (TypeError, ValueError):
        lo = hi = np.nan
    if not 0 < lo <= hi <= 0.5:
        raise ValueError(f"radius must be a range (lo, hi) with 0 < lo <= hi <= 0.5; got {radius!r}")
    return lo, hi


def render_disk(shape, centre, radius, fg, bg, supersample=4):
    """Anti-aliased disk: pixel ``(i, j)`` covers ``[i, i+1) x [j, j+1)`` and holds
    ``bg + (fg - bg) * coverage``, the covered fraction estimated on a
    ``supersample x supersample`` grid of sub-pixel centres."""
    H, W = shape
    s = int(supersample)
    if s < 1:
        raise ValueError(f"supersample must be >= 1; got {supersample!r}")
    rows = (np.arange(H * s) + 0.5) / s - centre[0]
    cols = (np.arange(W * s) + 0.5) / s - centre[1]
    inside = rows[:, None] ** 2 + cols[None, :] ** 2 < radius**2
    coverage = inside.reshape(H, s, W, s).mean(axis=(1, 3))
    return bg + (fg - bg) * coverage


@register_dataset("disks")
class Disks(Dataset):
    """One disk on a uniform background: images on a 5-dimensional manifold.

    Each image is a disk of random centre (the whole disk inside the image), random radius
    (``uniform(*radius)`` times the image's smaller side, in pixels) and random foreground
    intensity on a random background intensity, both uniform in ``[0, 1]`` and independent.
    Pixel ``(i, j)`` covers ``[i, i+1) x [j, j+1)`` and holds the average of the continuum
    image over it, computed on ``supersample x supersample`` sub-pixels (anti-aliased).

    Parameters
    ----------
    size : int, tuple (H, W) or str 'HxW', default 64
    radius : tuple (lo, hi), float or str 'LOxHI', default (0.1, 0.3)
        Range of the radius as a fraction of ``min(H, W)``; ``0 < lo <= hi <= 0.5``
        (a single number fixes the radius).
    supersample : int, default 4
        Sub-pixels per pixel side.

    Notes
    -----
    The images form a smooth 5-dimensional manifold (centre row, centre column, radius,
    foreground, background) in the ``H W``-dimensional pixel space: a class whose
    optimal denoiser is far from a harmonic-basis shrinkage, as in [1]_.
    :func:`disk_parameters` and :func:`render_disk` are the two steps of one draw.

    References
    ----------
    .. [1] Z. Kadkhodaie, F. Guth, E. P. Simoncelli, S. Mallat, "Generalization in
       diffusion models arises from geometry-adaptive harmonic representations", ICLR
       2024 (arXiv:2310.02557), section on low-dimensional manifolds.
    """

    scale = "[0, 1]: disk and background intensities uniform in [0, 1], anti-aliased edge"
    param_rules = {"size": Size(), "supersample": Int(1, 16),
                   "radius": AnyOf(Real(0, 0.5, lo_open=True), Reals(0, 0.5, lo_open=True, min_len=2, max_len=2, text=True))}

    def __init__(self, size=64, radius=(0.1, 0.3), supersample=4):
        self.size = size
        self.radius = radius
        self.supersample = supersample

    def _image(self, rng, shape):
        params = disk_parameters(rng, shape, self.radius)
        return render_disk(shape, supersample=self.supersample, **params)
