"""Speed of the wavelet paths issue #14 items 3–4 changed: the batched DWT by matrices (periodic and
symmetric boundary, 256 × 64² and 8 × 256², db4), ``wavelet`` at 256 × 64² and ``wavelet-ti`` at
8 × 256² (4 levels, BayesShrink soft: the rows of ``denoisebench perf``'s peer table), each on numpy and
torch-cpu so asv tracks the torch-CPU / numpy ratio.  Skipped (NotImplementedError) where the
benchmarked commit lacks the symmetric boundary or the backend is absent.
"""
import inspect

from .common import require, skip, to_backend

BACKENDS = ["numpy", "torch-cpu"]


class OrthogonalDWT:
    params = (["periodic", "symmetric"], ["256x64", "8x256"], BACKENDS)
    param_names = ["boundary", "batch_side", "backend"]
    repeat = (1, 5, 4.0)
    rounds = 1
    processes = 1

    def setup(self, boundary, batch_side, backend):
        transforms = require("denoisebench.transforms")
        if "boundary" not in inspect.signature(transforms.dwt2).parameters:
            skip("dwt2 has no boundary argument in this commit")
        n, side = (int(v) for v in batch_side.split("x"))
        _, y = require("denoisebench.perf").noisy_batch("natural", side, n)
        self.y, self.t, self.levels = to_backend(y, backend), transforms, 3 if side == 64 else 4
        self.time_forward_inverse(boundary, batch_side, backend)

    def time_forward_inverse(self, boundary, batch_side, backend):
        c = self.t.dwt2(self.y, "db4", self.levels, boundary=boundary)
        self.t.idwt2(c, "db4", boundary, shape=self.y.shape)


class WaveletPeers:
    """The denoisers of the peer table: ``wavelet`` (256 × 64², 3 levels), ``wavelet-ti`` (8 × 256², 4 levels)."""

    params = (["wavelet", "wavelet-ti"], BACKENDS)
    param_names = ["denoiser", "backend"]
    repeat = (1, 5, 4.0)
    rounds = 1
    processes = 1

    def setup(self, denoiser, backend):
        perf = require("denoisebench.perf")
        from denoisebench.registry import make_denoiser

        n, side, levels = (256, 64, 3) if denoiser == "wavelet" else (8, 256, 4)
        _, y = perf.noisy_batch("natural", side, n)
        self.y, self.sigma = to_backend(y, backend), perf.SIGMA
        self.d = make_denoiser(denoiser, wavelet="db4", levels=levels, mode="soft", threshold="bayes", coarse="keep",
                                clip=False)  # as pywt / skimage: the coarse band kept, no clip
        self.d(self.y, self.sigma)

    def time_denoise(self, denoiser, backend):
        self.d(self.y, self.sigma)
