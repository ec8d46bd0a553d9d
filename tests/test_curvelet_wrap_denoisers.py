"""`curvelet:frame=wrap` and `oracle-curvelet:frame=wrap`: the contract on every backend, and the rule."""
import numpy as np
import pytest

import denoisebench as db
from denoisebench._array_api import to_numpy
from denoisebench.testing import check_denoiser
from conftest import fitted
from denoisebench.transforms import curvelet_wrap_frame

SHAPE = (3, 1, 37, 31)


@pytest.mark.parametrize("spec", ["curvelet:frame=wrap", "oracle-curvelet:frame=wrap",
                                  "curvelet:frame=wrap,mode=soft,scales=3,angles=6"])
def test_contract(spec, backend):
    check_denoiser(fitted(db.make_denoiser(spec), SHAPE), backend=backend, shape=SHAPE)


def test_colour_contract():
    check_denoiser(fitted(db.make_denoiser("curvelet:frame=wrap"), (2, 3, 24, 20)), shape=(2, 3, 24, 20))


def test_threshold_zero_is_the_identity_and_infinite_keeps_the_coarse_band():
    """k = 0 keeps every coefficient (the frame is tight: output = input); k huge keeps only the
    coarse band, i.e. the projection F* P_coarse F y computed here from the frame directly."""
    y = np.random.default_rng(0).uniform(size=(2, 1, 40, 36))
    np.testing.assert_allclose(db.make_denoiser("curvelet:frame=wrap,k=0,coarse=keep,clip=false")(y, 0.1), y, atol=1e-12)
    frame = curvelet_wrap_frame((40, 36))
    coarse = (frame.subband_scale == 0)[frame.subband_of]
    expected = frame.inverse(frame.forward(y) * coarse)
    np.testing.assert_allclose(db.make_denoiser("curvelet:frame=wrap,k=1e9,coarse=keep,clip=false")(y, 0.1), expected, atol=1e-12)


def test_hard_threshold_follows_the_stated_noise_level():
    """Each coefficient is kept iff |c| > k σ ‖ψ_s‖ (an independent loop over subbands)."""
    rng = np.random.default_rng(1)
    y = rng.uniform(size=(1, 1, 32, 32))
    frame = curvelet_wrap_frame((32, 32))
    c = frame.forward(y)
    for s in range(frame.n_subbands):
        sel = frame.subband_of == s
        if frame.subband_scale[s] > 0:
            c[..., sel] *= np.abs(c[..., sel]) > 3 * 0.2 * frame.atom_norms[s]
    np.testing.assert_allclose(db.make_denoiser("curvelet:frame=wrap,coarse=keep,clip=false")(y, 0.2), frame.inverse(c), atol=1e-12)


def test_wrap_denoises_and_the_oracle_bounds_it():
    x = db.make_dataset("cartoon", size=(64, 64)).sample(4, seed=0)
    y = db.add_noise(x, 0.1, seed=0)
    mse = {s: float(np.mean((to_numpy(db.make_denoiser(s)(y, 0.1, **({"clean": x} if "oracle" in s else {}))) - x)
                            ** 2)) for s in ["curvelet:frame=wrap,coarse=keep,clip=false", "oracle-curvelet:frame=wrap"]}
    assert mse["curvelet:frame=wrap,coarse=keep,clip=false"] < 0.5 * 0.1**2
    assert mse["oracle-curvelet:frame=wrap"] < mse["curvelet:frame=wrap,coarse=keep,clip=false"]
