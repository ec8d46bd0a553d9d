"""Bounds everywhere: declared parameter rules checked at plan time, memory refused before a run,
host chunking for every denoiser, σ and y accepted only in their documented forms, NaN never returned."""
import math
import re

import numpy as np
import pytest

import denoisebench as db
from denoisebench import memory as _memory
from denoisebench.memory._plan import check_cells_fit
from denoisebench._array_api import SIGMA_MAX, Y_MAX, sigma_min
from denoisebench.base import Denoiser
from denoisebench.grid import plan
from denoisebench.registry import SpecError, dataset_class, denoiser_class
from denoisebench.registry.specs import init_params
from denoisebench.testing import check_denoiser

SHAPE = (3, 1, 37, 31)


# -- every parameter has a rule ---------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(db.registry._DENOISERS))
def test_every_denoiser_parameter_has_a_rule(name):
    cls = denoiser_class(name)
    exempt = {"dataset"} if cls.needs_dataset else set()  # the runner passes the dataset object
    assert set(init_params(cls)) - exempt == set(cls.param_rules), name


@pytest.mark.parametrize("name", sorted(db.registry._DATASETS))
def test_every_dataset_parameter_has_a_rule(name):
    cls = dataset_class(name)
    assert set(init_params(cls)) == set(cls.param_rules), name


@pytest.mark.parametrize("cls_name", sorted(db.registry._DENOISERS) + sorted(db.registry._DATASETS))
def test_the_defaults_obey_the_rules(cls_name):
    cls = db.registry._DENOISERS.get(cls_name) or db.registry._DATASETS[cls_name]
    db.registry._params.validate_params(cls, {})


# -- bad specs are refused when the grid is planned, in one line naming the parameter ----------
BAD_DENOISERS = [
    ("wavelet:k=nan", "k", "nan"),
    ("wavelet:k=-1", "k", "-1"),
    ("wavelet:k=inf", "k", "inf"),
    ("wavelet:mode=medium", "mode", "'medium'"),
    ("wavelet:levels=0", "levels", "0"),
    ("wavelet:wavelet=bior4.4", "wavelet", "bior4.4"),
    ("wavelet-ti:threshold=best", "threshold", "'best'"),
    ("wiener:eps=-1", "eps", "-1"),
    ("curvelet:scales=50", "scales", "50"),
    ("curvelet:angles=1000000", "angles", "1000000"),
    ("curvelet:keep_coarse=2", "keep_coarse", "2"),
    ("oracle-curvelet:angles=1", "angles", "1"),
    ("oracle-wavelet:levels=2.5", "levels", "2.5"),
    ("unet:amp=maybe", "amp", "'maybe'"),
    ("unet:device=nosuch", "device", "'nosuch'"),
    ("unet:device=meta", "device", "'meta'"),
    ("torchscript:takes_sigma=7", "takes_sigma", "7"),
]
BAD_DATASETS = [
    ("gaussian:std=-1", "std", "-1"),
    ("gaussian:std=0", "std", "0"),
    ("gaussian:size=100000", "size", "100000"),
    ("gaussian:size=3", "size", "3"),
    ("gaussian:cutoff=0", "cutoff", "0"),
    ("gaussian:exponent=nan", "exponent", "nan"),
    ("gmm:n_mc=1", "n_mc", "1"),
    ("cartoon:alpha=0", "alpha", "0"),
    ("cartoon:supersample=100", "supersample", "100"),
    ("disks:radius=0.9", "radius", "0.9"),
    ("disks:radius=0.1x0.2x0.3", "radius", "0.1x0.2x0.3"),
    ("natural:color=blue", "color", "'blue'"),
    ("natural:size=64x5000", "size", "64x5000"),
]


@pytest.mark.parametrize("spec, param, value", BAD_DENOISERS)
def test_bad_denoiser_specs_are_refused_at_plan_time(spec, param, value):
    with pytest.raises(SpecError, match=f"{param} must be") as info:
        plan(["gaussian:size=16"], [spec], sigmas=[0.1], n=2)
    message = str(info.value)
    assert "\n" not in message and value in message, message


@pytest.mark.parametrize("spec, param, value", BAD_DATASETS)
def test_bad_dataset_specs_are_refused_at_plan_time(spec, param, value):
    with pytest.raises(SpecError, match=f"{param} must be") as info:
        plan([spec], ["identity"], sigmas=[0.1], n=2)
    message = str(info.value)
    assert "\n" not in message and value in message, message


def test_the_same_rules_hold_for_objects_built_directly():
    with pytest.raises(ValueError, match="k must be a finite number"):
        db.denoisers.Wavelet(k=math.nan)(np.zeros((1, 1, 16, 16)), 0.1)
    with pytest.raises(ValueError, match="std must be"):
        db.datasets.GaussianField(std=-1).sample(1)


def test_good_specs_still_plan():
    cells = plan(["gaussian:size=16,std=0.3", "disks:radius=0.1x0.2"], ["wavelet:k=2.5,levels=2", "curvelet:scales=3"],
                 sigmas=[0.1], n=2)
    assert len(cells) == 4


# -- memory -----------------------------------------------------------------------------------
def test_available_bytes_is_positive_and_below_the_machine(monkeypatch):
    avail = _memory.available_bytes()
    assert avail > 0
    try:
        total = next(int(l.split()[1]) * 1024 for l in open("/proc/meminfo") if l.startswith("MemTotal:"))
    except OSError:
        pytest.skip("no /proc/meminfo")
    assert avail <= total
    monkeypatch.setattr(_memory, "_meminfo_available", lambda: None)
    monkeypatch.setattr(_memory, "_cgroup_available", lambda: None)
    monkeypatch.setattr(_memory, "_address_space_available", lambda: None)
    assert _memory.available_bytes() == _memory.FALLBACK_AVAILABLE


def test_a_grid_that_cannot_fit_is_refused_with_the_numbers(monkeypatch):
    monkeypatch.setattr(_memory, "available_bytes", lambda: 16 * 10**9)
    with pytest.raises(SpecError, match=r"n=10000000 .* needs about [\d,]+ GB but 16 GB") as info:
        plan(["gaussian"], ["identity"], sigmas=[0.1], n=10**7)  # refused when the grid is planned
    # At least the clean, noisy and denoised float32 batches: 3 · 10⁷ · 64² · 4 B = 492 GB.
    needed = float(str(info.value).split("needs about ")[1].split(" GB")[0].replace(",", ""))
    assert needed >= 3 * 10**7 * 64 * 64 * 4 / 1e9
    check_cells_fit(plan(["gaussian"], ["identity"], sigmas=[0.1], n=64))  # 64 images fit


def test_curvelet_frame_bytes_counts_the_subbands():
    """S = 1 + angles · Σ_j 2^⌊(j−1)/2⌋ (the frame's own count is the reference)."""
    from denoisebench.transforms._curvelet import curvelet_frame

    d = db.make_denoiser("curvelet:scales=4,angles=6")
    frame = curvelet_frame((40, 33), 4, 6)
    assert frame.n_subbands == 1 + 6 * (1 + 1 + 2)
    coefficients = frame.n_subbands * 40 * 33 * 8  # one image's, below the 2**24 chunk
    assert _memory.curvelet_frame_bytes(d, (40, 33)) == 5 * coefficients + 3 * coefficients


def test_a_frame_too_large_for_the_memory_is_refused_before_it_is_built(monkeypatch):
    monkeypatch.setattr(_memory, "available_bytes", lambda: 10**8)
    d = db.make_denoiser("curvelet:scales=8,angles=64,coarse=keep,clip=false")
    with pytest.raises(SpecError, match="curvelet.*on 64x64 images needs about .* but 100 MB"):
        d(np.zeros((1, 1, 64, 64), np.float32), 0.1)
    with pytest.raises(SpecError, match="needs about"):
        check_cells_fit(plan(["gaussian"], ["curvelet:scales=8,angles=64"], sigmas=[0.1], n=1))


def test_sampling_more_than_fits_is_refused(monkeypatch):
    monkeypatch.setattr(_memory, "available_bytes", lambda: 10**9)
    with pytest.raises(SpecError, match="gaussian: 100000000 images of 1x64x64 needs about"):
        db.make_dataset("gaussian").sample(10**8)
    with pytest.raises(SpecError, match="supersample"):
        db.make_dataset("cartoon:size=4096,supersample=16").sample(1)


CHUNKED = ["identity", "wiener", "empirical", "optimal", "wavelet", "wavelet-ti", "curvelet", "oracle-wavelet", "unet"]


def _build(name, dataset):
    if name == "unet":
        import torch

        from denoisebench.networks._bfunet import BiasFreeUNet

        torch.manual_seed(0)
        return db.make_denoiser("unet", weights=BiasFreeUNet(width=4))
    cls = denoiser_class(name)
    d = db.make_denoiser(name, **({"dataset": dataset} if cls.needs_dataset else {}))
    return d.fit(dataset.sample(16, seed=3, split="train")) if d.learns else d


@pytest.mark.parametrize("name", CHUNKED)
def test_host_batches_are_chunked_and_equal_the_whole_batch(name, monkeypatch):
    """With little host memory every denoiser splits its batch, and the result does not change."""
    ds = db.make_dataset("gmm", size=(37, 31))
    d = _build(name, ds)
    x = ds.sample(5, seed=4)
    y = db.add_noise(x, 0.1, seed=4)
    sigma = np.array([0.05, 0.1, 0.2, 0.3, 0.4])
    extra = {"clean": x} if d.bound else {}
    with _memory.memory_budget(10**12):
        whole = d(y, sigma, **extra)
    per_image = y[0].nbytes * d.memory_factor
    budget = int(2.5 * per_image / _memory.HOST_FRACTION)  # two images per chunk
    if d.setup_bytes((37, 31)) > budget:
        pytest.fail(f"{name}: fixed working memory {d.setup_bytes((37, 31))} B does not fit the test's budget")
    monkeypatch.setattr(_memory, "available_bytes", lambda: budget)
    assert _memory.chunk_size(y, d.memory_factor) == 2
    calls = []
    original = type(d)._dispatch
    monkeypatch.setattr(type(d), "_dispatch", lambda self, *a: calls.append(a[0].shape[0]) or original(self, *a))
    chunked = d(y, sigma, **extra)
    assert calls == [2, 2, 1]
    np.testing.assert_allclose(chunked, whole, rtol=0, atol=1e-6)


# -- σ and y --------------------------------------------------------------------------------------
def _y(dtype=np.float64, n=3):
    return np.random.default_rng(0).uniform(0, 1, (n, 1, 9, 7)).astype(dtype)


@pytest.mark.parametrize("sigma, kind", [
    (None, "NoneType"), (0.1 + 0j, "complex"), (np.complex128(0.1), "complex"), ("0.1", "str"), (True, "bool"),
    (np.bool_(True), "bool"), (np.ones((3, 1)) * 0.1, "shape"), (np.array([0.1, 0.1, 0.1], dtype=complex), "dtype"),
    (np.array(["a", "b", "c"]), "dtype"), ({"sigma": 0.1}, "dict"), ([0.1, None, 0.1], "dtype"),
])
def test_sigma_of_another_type_is_a_type_error(sigma, kind):
    with pytest.raises(TypeError, match=f"sigma must be a positive float .*{kind}"):
        db.make_denoiser("identity")(_y(), sigma)


def test_sigma_forms_that_are_accepted_give_the_same_result():
    d = db.make_denoiser("wavelet:coarse=keep,clip=false")
    y = _y()
    ref = d(y, 0.1)
    for sigma in (np.float64(0.1), np.float32(0.1).item(), np.array(0.1), [0.1, 0.1, 0.1], (0.1,) * 3,
                  np.full(3, 0.1), np.full(3, 0.1, np.float32).astype(np.float64)):
        np.testing.assert_array_equal(d(y, sigma), ref)
    np.testing.assert_array_equal(db.make_denoiser("identity")(y, 1), y)  # an int σ


def test_zero_dim_sigma_from_numpy_and_torch():
    torch = pytest.importorskip("torch")
    d = db.make_denoiser("wavelet:coarse=keep,clip=false")
    y = torch.from_numpy(_y())
    ref = d(y, 0.1)
    for sigma in (torch.tensor(0.1, dtype=torch.float64), np.array(0.1), np.float64(0.1)):
        assert torch.equal(d(y, sigma), ref)
    with pytest.raises(TypeError, match="sigma must be .*dtype"):
        d(y, torch.tensor([0.1, 0.1, 0.1j]))
    with pytest.raises(TypeError, match="sigma must be .*shape"):
        d(y, torch.full((3, 1), 0.1, dtype=torch.float64))


@pytest.mark.parametrize("sigma, message", [
    (0.0, "> 0"), (-1.0, "> 0"), (math.nan, "finite"), (math.inf, "finite"), (2 * SIGMA_MAX, re.escape(f"<= {SIGMA_MAX:g}")),
    ([0.1, 0.2], "length 3"),
])
def test_sigma_values_out_of_range_are_value_errors(sigma, message):
    with pytest.raises(ValueError, match=message):
        db.make_denoiser("identity")(_y(), sigma)


def test_sigma_below_the_dtype_floor_is_refused_and_empirical_is_finite_above_it():
    """σ² must be a normal float: √tiny is 1.08e-19 in float32 (the issue's 1e-20 is refused)."""
    assert sigma_min("float32") == pytest.approx(math.sqrt(np.finfo(np.float32).tiny))
    ds = db.make_dataset("gaussian", size=8)
    d = db.make_denoiser("empirical").fit(ds.sample(16, seed=1, split="train"))
    y = db.add_noise(ds.sample(3, seed=2), 0.1, seed=2).astype(np.float32)
    with pytest.raises(ValueError, match="sigma must be >= 1.08e-19 for float32"):
        d(y, 1e-20)
    out = d(y, 2e-19)  # the posterior mean of a tiny σ is the nearest training image
    atoms = d.atoms_ + d.centre_
    nearest = np.argmin(((y.reshape(3, -1)[:, None, :] - atoms[None]) ** 2).sum(-1), axis=1)
    np.testing.assert_allclose(out.reshape(3, -1), atoms[nearest], atol=1e-6)
    assert np.all(np.isfinite(d(y.astype(np.float64), 1e-100)))


def test_y_beyond_the_limit_is_refused_with_the_limit():
    y = _y(np.float32)
    y[0, 0, 0, 0] = 1e38
    with pytest.raises(ValueError, match=re.escape(f"|y| <= {Y_MAX:g}")):
        db.make_denoiser("wavelet")(y, 0.1)


@pytest.mark.parametrize("name", ["wavelet", "wavelet-ti", "curvelet", "wiener", "empirical", "optimal",
                                  "oracle-fourier", "oracle-wavelet", "oracle-curvelet", "unet"])
def test_float32_inputs_at_the_limits_stay_finite(name):
    """|y| up to Y_MAX with σ up to SIGMA_MAX in float32: a finite result (no overflow inside)."""
    ds = db.make_dataset("gmm", size=(37, 31))
    d = _build(name, ds)
    x = ds.sample(2, seed=5)
    y = (x * (Y_MAX / 2)).astype(np.float32)
    extra = {"clean": (x * (Y_MAX / 2)).astype(np.float32)} if d.bound else {}
    for sigma in ([SIGMA_MAX, 1e-3], [1.0, 1e-6]):
        assert np.all(np.isfinite(d(y, np.array(sigma), **extra))), (name, sigma)


# -- NaN inside, input modified -------------------------------------------------------------------
class _NaNAboveHalf(Denoiser):
    """Returns NaN for the images whose σ exceeds 0.5 (a numerical bug)."""

    name = "nan-toy"

    def __init__(self):
        pass

    def _denoise(self, y, sigma, xp):
        return xp.where(sigma > 0.5, xp.full_like(y, math.nan), y)


def test_nan_produced_inside_a_denoiser_is_an_error_naming_it_and_sigma():
    y = _y()
    np.testing.assert_array_equal(_NaNAboveHalf()(y, 0.1), y)
    with pytest.raises(FloatingPointError, match=r"nan-toy produced NaN or inf from finite input on 1 of 3 images "
                                                 r"\(sigma = 0.7\)"):
        _NaNAboveHalf()(y, np.array([0.1, 0.7, 0.2]))


class _InPlace(Denoiser):
    """Shrinks its input in place (and returns it): a contract violation."""

    def __init__(self):
        pass

    def _denoise(self, y, sigma, xp):
        y[...] = y * 0.5
        return y


def test_check_denoiser_catches_a_denoiser_that_modifies_its_input(backend):
    with pytest.raises(AssertionError, match="modified its input y in place"):
        check_denoiser(_InPlace(), backend=backend, shape=SHAPE)


# -- datasets: mmse and sample --------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(db.registry._DATASETS))
@pytest.mark.parametrize("sigma, error", [(-1, ValueError), (0, ValueError), (math.nan, ValueError),
                                          (math.inf, ValueError), (None, TypeError), ("0.1", TypeError),
                                          (True, TypeError), (0.1j, TypeError)])
def test_mmse_refuses_a_bad_sigma(name, sigma, error):
    ds = db.make_dataset(name, **({"size": 8} if "size" in init_params(dataset_class(name)) else {}))
    with pytest.raises(error, match="sigma must be"):
        ds.mmse(sigma)
    with pytest.raises(error, match="sigma must be"):
        ds.mmse_stderr(sigma)


@pytest.mark.parametrize("name", sorted(db.registry._DATASETS))
@pytest.mark.parametrize("n, error", [(1.7, TypeError), (1.0, TypeError), ("2", TypeError), (True, TypeError),
                                      (0, ValueError), (-3, ValueError)])
def test_sample_needs_an_integer_count(name, n, error):
    ds = db.make_dataset(name, **({"size": 8} if "size" in init_params(dataset_class(name)) else {}))
    with pytest.raises(error, match="n must be an integer >= 1"):
        ds.sample(n)


def test_mmse_at_a_good_sigma_and_numpy_integers_still_work():
    ds = db.make_dataset("gaussian", size=8)
    assert ds.mmse(np.float32(0.5)) == pytest.approx(ds.mmse(0.5), rel=1e-6)
    assert ds.mmse(np.array(0.5)) == ds.mmse(0.5)
    assert ds.sample(np.int64(2)).shape == (2, 1, 8, 8)
