"""Forward + inverse of the two curvelet tight frames (undecimated and wrapping), batched.

Parameters: frame (``undecimated``, ``wrap``) × (batch, size) ∈ {(64, 64), (8, 256)} — the shapes of
the UDCT comparison in ``denoisebench perf`` — × backend (numpy, torch-cpu).  Setup builds the frame
(cached windows) and makes one untimed call; the timed call is ``inverse(forward(y))``, as the
denoisers run it.
"""
from .common import PEAKMEM_NOTE, require, to_backend


class CurveletFrames:
    params = (["undecimated", "wrap"], ["64x64", "8x256"], ["numpy", "torch-cpu"])
    param_names = ["frame", "batch_x_size", "backend"]
    repeat = (1, 5, 4.0)
    rounds = 1
    processes = 1
    warmup_time = 0.1
    timeout = 300

    def setup(self, frame, batch_x_size, backend):
        perf = require("denoisebench.perf")
        from denoisebench.denoisers._curvelet import FRAMES

        batch, size = (int(v) for v in batch_x_size.split("x"))
        _, y = perf.noisy_batch("natural", size, batch)
        self.y = to_backend(y, backend)
        self.frame = FRAMES[frame]((size, size))
        self._call()

    def _call(self):
        from denoisebench._array_api import synchronize

        synchronize(self.frame.apply(lambda sl, *c: c[0], self.y))

    def time_forward_inverse(self, frame, batch_x_size, backend):
        self._call()

    def peakmem_forward_inverse(self, frame, batch_x_size, backend):
        self._call()

    peakmem_forward_inverse.__doc__ = PEAKMEM_NOTE
