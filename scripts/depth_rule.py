"""Compare the automatic wavelet depth (every level the filter fits) with a fixed cap, in PSNR.

    python scripts/depth_rule.py            # cartoon and natural, 256² and 512², σ = 0.05, 0.1, 0.2, 4 images

Prints, per (dataset, size, σ), the PSNR (dB) of `wavelet` and `wavelet-ti` with 4, 5 and 6 levels
(db4: the automatic rule gives 5 at 256², 6 at 512²; the old rule capped it at 4).
"""
import numpy as np

from denoisebench.denoisers import Wavelet, WaveletTI
from denoisebench.registry import make_dataset


def main(datasets=("cartoon", "natural"), sizes=(256, 512), sigmas=(0.05, 0.1, 0.2), n=4, seed=0):
    for spec in datasets:
        for size in sizes:
            x = make_dataset(spec, size=size).sample(n, seed, "test")
            rng = np.random.default_rng(seed + 1)
            for sigma in sigmas:
                y = (x + sigma * rng.standard_normal(x.shape)).astype(np.float32)
                cols = []
                for cls in (Wavelet, WaveletTI):
                    for levels in (4, 5, 6):
                        mse = float(np.mean((np.asarray(cls(levels=levels)(y, sigma)) - x) ** 2))
                        cols.append(f"{cls.__name__}[{levels}] {10 * np.log10(1 / mse):.2f}")
                print(f"{spec} {size}² σ={sigma}: " + ", ".join(cols), flush=True)


if __name__ == "__main__":
    main()
