"""Quality tracked like speed: each denoiser's gap to the optimum (dB) or PSNR (dB) at three σ.

On fixed seeded data (seed 0, 64×64, float32, numpy), through the benchmark's own cell
evaluation (:func:`denoisebench.runner.evaluate_cell`): ``gap_db`` = 10 log10(MSE / MMSE) on
``gaussian`` and ``gmm`` (which have an exact optimum; lower is better), PSNR on ``cartoon``
and ``natural`` (higher is better).  8 test images per cell (2 for heavy denoisers); learning
denoisers fit on 64 training images.  The whole grid is computed once per run in
``setup_cache``; a cell that does not apply (no weights, no known spectrum) is skipped.
"""
from .common import denoiser_names, skip, spine

#: dataset → the metric tracked (a column of the benchmark's store rows).
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
    cell_class, evaluate_cell = spine()
    try:
        row = evaluate_cell(_cell(cell_class, dataset, denoiser, sigma))
    except Exception as exc:  # recorded, and raised by the track of this cell alone
        return ("error", f"{type(exc).__name__}: {exc}")
    if row["status"] != "done":
        return ("skip", row["reason"])
    return ("value", row[METRIC[dataset]])


class Quality:
    params = (list(METRIC), denoiser_names(), SIGMAS)
    param_names = ["dataset", "denoiser", "sigma"]
    unit = "dB"
    timeout = 1200

    def setup_cache(self):
        return {(ds, dn, s): _evaluate(ds, dn, s)
                for ds in METRIC for dn in denoiser_names() for s in SIGMAS}

    def setup(self, cache, dataset, denoiser, sigma):
        kind, value = cache.get((dataset, denoiser, sigma), ("skip", "not in this commit"))
        if kind == "skip":
            skip(value)

    def track_quality(self, cache, dataset, denoiser, sigma):
        kind, value = cache[(dataset, denoiser, sigma)]
        if kind == "error":
            raise RuntimeError(value)
        return value

    track_quality.unit = "dB"
