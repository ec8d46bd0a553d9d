"""Speed and peak memory of every registered denoiser: one call ``D(y, σ)`` on a batch.

Parameters: denoiser × image size (64, 256) × batch (1, 16) × backend (numpy, torch-cpu,
torch-cuda, cupy).  Setup builds the denoiser as ``denoisebench perf`` does
(:func:`denoisebench.perf.measure.build_for_timing`: the ``gaussian`` dataset for those that need
one, a fit on 8 images for those that learn, random weights for ``unet``) and moves a
seeded noisy batch (σ = 0.1) to the backend.  Skipped (NotImplementedError): absent
backends, host-only peers on a GPU, heavy denoisers (bm3d) beyond one 64×64 image, denoisers
that need a file (``torchscript``).  ``peakmem_`` includes the import baseline (see
:data:`benchmarks.common.PEAKMEM_NOTE`).
"""
from .common import PEAKMEM_NOTE, denoiser_names, needs_a_file, require, skip, to_backend


class Denoise:
    params = (denoiser_names(), [64, 256], [1, 16], ["numpy", "torch-cpu", "torch-cuda", "cupy"])
    param_names = ["denoiser", "size", "batch", "backend"]
    # A few samples per combination keep the whole grid affordable; one process, one round.
    repeat = (1, 5, 4.0)
    rounds = 1
    processes = 1
    warmup_time = 0.1
    timeout = 300

    def setup(self, denoiser, size, batch, backend):
        perf = require("denoisebench.perf")
        from denoisebench.registry import denoiser_class

        cls = denoiser_class(denoiser)
        reason = needs_a_file(denoiser)
        if reason:
            skip(reason)
        if getattr(cls, "heavy", False) and (size, batch) != (64, 1):
            skip(f"{denoiser} is heavy: timed on one 64x64 image only")
        if getattr(cls, "host_only", False) and backend not in ("numpy", "torch-cpu"):
            skip(f"{denoiser} runs on the host only")
        x, y = perf.noisy_batch("gaussian", size, batch)
        self.y = to_backend(y, backend)
        self.x = to_backend(x, backend) if cls.bound else None
        self.d = perf.build_for_timing(denoiser, size)
        self.sigma = perf.SIGMA
        self._call()  # first call outside the timing: FFT plans, windows, kernels, lazy imports

    def _call(self):
        from denoisebench._array_api import synchronize

        out = self.d(self.y, self.sigma, clean=self.x) if self.x is not None else self.d(self.y, self.sigma)
        synchronize(out)  # device work finishes before the clock stops
        return out

    def time_denoise(self, denoiser, size, batch, backend):
        self._call()

    def peakmem_denoise(self, denoiser, size, batch, backend):
        self._call()

    peakmem_denoise.__doc__ = PEAKMEM_NOTE
