"""The shipped U-Net weights against the identity and the exact optimum (what reports/unet.md
measures at n = 64, checked here on fewer images so that a regressed weight file fails the suite)."""
import os

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import denoisebench as db  # noqa: E402
from denoisebench.denoisers import _unet  # noqa: E402
from denoisebench.grid import default_sigmas  # noqa: E402

DATASETS = ("gaussian", "gmm", "cartoon", "disks", "natural")


pytestmark = pytest.mark.usefixtures("torch_one_thread")


def shipped(variant):
    return [pytest.param(name, marks=pytest.mark.skipif(not os.path.exists(_unet.shipped_weights(name, 1, variant)),
                                                         reason=f"no shipped {variant} weights for {name}"))
            for name in DATASETS]


def _mse_against_identity(dataset, variant, n=16):
    ds = db.make_dataset(dataset)
    x = ds.sample(n, seed=1, split="test")
    d = db.make_denoiser("unet", dataset=ds, variant=variant)
    rows = []
    for i, s in enumerate(default_sigmas()):
        y = db.add_noise(x, s, seed=10 + i)
        rows.append((s, float(np.mean((d(y, s) - x) ** 2)), float(np.mean((y - x) ** 2))))
    return rows


@pytest.mark.parametrize("dataset", shipped("conditioned"))
def test_conditioned_networks_are_never_worse_than_the_identity(dataset):
    """On the same noisy images: MSE(D) ≤ MSE(identity) at every σ of the default grid."""
    worse = [(s, m, i) for s, m, i in _mse_against_identity(dataset, "conditioned") if m > i]
    assert not worse, worse


@pytest.mark.parametrize("dataset, target", [("gaussian", 0.3), ("gmm", 0.5)])
def test_conditioned_networks_meet_the_optimum_targets(dataset, target):
    """Against the exact optimum (Wiener with the true spectrum; the exact mixture posterior mean), on
    the same 16 noisy images: the conditioned network's MSE is within the issue's target (0.3 dB on
    gaussian, 0.5 dB on gmm) at σ = 0.1 and 0.5 (reports/unet.md measures every σ at n = 64)."""
    if not os.path.exists(_unet.shipped_weights(dataset, 1, "conditioned")):
        pytest.skip(f"no shipped conditioned weights for {dataset}")
    ds = db.make_dataset(dataset)
    x = ds.sample(16, seed=1, split="test")
    d, opt = db.make_denoiser("unet", dataset=ds, variant="conditioned"), db.make_denoiser("optimal", dataset=ds)
    for s in (0.1, 0.5):
        y = db.add_noise(x, s, seed=3)
        gap = 10 * np.log10(np.mean((d(y, s) - x) ** 2) / np.mean((opt(y, s) - x) ** 2))
        assert gap < target, (dataset, s, gap)
