"""Speed of one step of EDM's Heun sampler (two denoiser calls), from ``denoisebench.sampling``.

The step goes from σ = 0.5 to σ = 0.25 (a second-order step: ``heun`` with the schedule
``[0.5, 0.25]``), driven by the ``gaussian`` dataset's exact MMSE denoiser (``optimal``) or
by ``wavelet``, on a batch of 16 images.
"""
from .common import require, to_backend


class HeunStep:
    params = (["optimal", "wavelet"], [64, 256], ["numpy", "torch-cpu", "torch-cuda", "cupy"])
    param_names = ["denoiser", "size", "backend"]
    repeat = (1, 5, 4.0)
    rounds = 1
    processes = 1
    timeout = 300
    batch = 16

    def setup(self, denoiser, size, backend):
        import numpy as np

        sampling = require("denoisebench.sampling")
        perf = require("denoisebench.perf")
        self.heun = sampling.heun
        self.sigmas = np.array([0.5, 0.25])
        noise = sampling.initial_noise(self.batch, (1, size, size), 0.5, seed=0, mean=0.5)
        self.x = to_backend(noise.astype(np.float32), backend)
        self.d = perf.build_for_timing(denoiser, size)
        self.time_heun_step(denoiser, size, backend)

    def time_heun_step(self, denoiser, size, backend):
        from denoisebench._array_api import synchronize

        synchronize(self.heun(self.d, self.x, self.sigmas).samples)
