"""Seeded randomness: per-image streams, so image i never depends on the batch size."""
from __future__ import annotations

import numpy as np

__all__ = ["add_noise", "image_rng", "STREAMS"]

#: Independent random streams of one seed.
STREAMS = {"train": 0, "test": 1, "noise": 2, "mmse": 3, "sampler": 4, "check": 5}


def image_rng(seed, stream, i):
    """The generator of image ``i`` in ``stream`` for ``seed`` (a numpy ``Generator``)."""
    return np.random.default_rng(np.random.SeedSequence([int(seed), STREAMS[stream], int(i)]))


def add_noise(x, sigma, seed, start=0):
    """``y = x + sigma * z``, ``z`` white standard normal drawn per image from ``seed``.

    Parameters
    ----------
    x : numpy array (n, C, H, W)
    sigma : float or array (n,)
    seed : int
    start : int
        Index of ``x[0]`` in the seeded sequence (so a chunk draws the same noise as the whole).
    """
    x = np.asarray(x)
    sigma = np.broadcast_to(np.asarray(sigma, dtype=np.float64), (x.shape[0],))
    z = np.stack([image_rng(seed, "noise", start + i).standard_normal(x.shape[1:]) for i in range(x.shape[0])])
    return (x + sigma[:, None, None, None] * z).astype(x.dtype)
