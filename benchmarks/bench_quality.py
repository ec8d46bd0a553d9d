"""Quality tracked like speed: each denoiser's gap to the optimum (dB) and its MSE in dB, at three σ.

On fixed seeded data (seed 0, 64×64, float32, numpy), through the benchmark's own cell
evaluation (:func:`denoisebench.grid.runner.evaluate_cell`).  asv counts an increase as a regression,
so both tracked numbers are lower-is-better: :class:`GapToOptimum` tracks ``gap_db`` =
10 log10(MSE / MMSE) on ``gaussian`` and ``gmm`` (which have an exact optimum);
:class:`MSEdB` tracks 10 log10(MSE) = −PSNR on ``cartoon`` and ``natural`` (peak 1).  8 test
images per cell (2 for heavy denoisers); learning denoisers fit on 64 training images.  Each grid
is computed once per run in ``setup_cache``; a cell that does not apply (no weights, no known
spectrum, a denoiser that needs a file such as ``torchscript``) is skipped; a cell that fails
fails its ``setup``.
"""
from .common import denoiser_names, needs_a_file, skip, spine

#: dataset → the column of the benchmark's store rows behind the tracked number.
METRIC = {"gaussian": "gap_db", "gmm": "gap_db", "cartoon": "psnr", "natural": "psnr"}
SIGMAS = [0.05, 0.1, 0.2]
N, N_HEAVY, N_TRAIN, SIZE = 8, 2, 64, "64"


def _cell(cell_class, dataset, denoiser, sigma):
    from denoisebench.registry import denoiser_class

    cls = denoiser_class(denoiser)
    return cell_class(dataset=dataset, denoiser=denoiser, sigma=sigma, n=N_HEAVY if getattr(cls, "heavy", False) else N,
                      seed=0, size=SIZE, backend="numpy", device="cpu", dtype="float32",
                      n_train=N_TRAIN if cls.learns else 0)


def _evaluate(dataset, denoiser, sigma):
    reason = needs_a_file(denoiser)
    if reason:
        return ("skip", reason)
    cell_class, evaluate_cell = spine()
    try:
        row = evaluate_cell(_cell(cell_class, dataset, denoiser, sigma))
    except Exception as exc:  # recorded, and raised by the setup of this cell alone
        return ("error", f"{type(exc).__name__}: {exc}")
    if row["status"] != "done":
        return ("skip", row["reason"])
    value = row[METRIC[dataset]]
    return ("value", -value if METRIC[dataset] == "psnr" else value)  # 10 log10(MSE) = −PSNR


class _Tracked:
    """A quality grid over ``DATASETS`` × every denoiser × :data:`SIGMAS`, computed once in ``setup_cache``."""

    DATASETS = ()
    param_names = ["dataset", "denoiser", "sigma"]
    unit = "dB"
    timeout = 1200

    def setup_cache(self):
        return {(ds, dn, s): _evaluate(ds, dn, s)
                for ds in self.DATASETS for dn in denoiser_names() for s in SIGMAS}

    def setup(self, cache, dataset, denoiser, sigma):
        kind, value = cache.get((dataset, denoiser, sigma), ("skip", "not in this commit"))
        if kind == "skip":
            skip(value)
        if kind == "error":
            raise RuntimeError(value)

    def _value(self, cache, dataset, denoiser, sigma):
        return cache[(dataset, denoiser, sigma)][1]


class GapToOptimum(_Tracked):
    """10 log10(MSE / MMSE) in dB on the datasets with an exact optimum (lower is better)."""

    DATASETS = ("gaussian", "gmm")
    params = (list(DATASETS), denoiser_names(), SIGMAS)

    def track_gap_db(self, cache, dataset, denoiser, sigma):
        return self._value(cache, dataset, denoiser, sigma)

    track_gap_db.unit = "dB"


class MSEdB(_Tracked):
    """10 log10(MSE) in dB = −PSNR (peak 1) on cartoons and photographs (lower is better)."""

    DATASETS = ("cartoon", "natural")
    params = (list(DATASETS), denoiser_names(), SIGMAS)

    def track_mse_db(self, cache, dataset, denoiser, sigma):
        return self._value(cache, dataset, denoiser, sigma)

    track_mse_db.unit = "dB"
