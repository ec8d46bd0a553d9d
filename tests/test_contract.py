"""The denoiser contract: every registered denoiser passes check_denoiser on every backend."""
import numpy as np
import pytest

import denoisebench as db
from denoisebench._array_api import from_numpy, to_numpy
from denoisebench.base import Denoiser, NotFittedError
from denoisebench.registry import SpecError, denoiser_class, parse_spec
from denoisebench.testing import check_denoiser

SHAPE = (3, 1, 37, 31)
# Heavy peers (e.g. bm3d, ~1 s per image) run only with -m slow.
NAMES = [pytest.param(n, marks=[pytest.mark.slow] if getattr(denoiser_class(n), "heavy", False) else [])
         for n in db.list_denoisers()]


def _tiny_unet():
    """A small randomly initialised network: the contract holds whatever the weights."""
    import torch

    from denoisebench.networks._bfunet import BiasFreeUNet

    torch.manual_seed(0)
    return BiasFreeUNet(width=4)


#: Denoisers whose default build needs artefacts this dataset lacks: built from test fixtures.
def _tiny_torchscript(dataset):
    """A traced 3x3 convolution saved with torch.jit.save (what a user's exported network is)."""
    import os
    import tempfile
    import warnings

    import torch

    torch.manual_seed(0)
    path = os.path.join(tempfile.mkdtemp(), "conv.pt")
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*torch\.jit\.\w+.* is deprecated")
        torch.jit.save(torch.jit.trace(torch.nn.Conv2d(1, 1, 3, padding=1, bias=False), torch.zeros(1, 1, 8, 8)), path)
    return db.make_denoiser("torchscript", path=path, takes_sigma=False)


SPECIAL = {"unet": lambda dataset: db.make_denoiser("unet", weights=_tiny_unet()),
           "torchscript": _tiny_torchscript,
           "deepinv": lambda dataset: db.make_denoiser("deepinv:model=dncnn,weights=random"),
           # FFDNet applies to photograph datasets only in a grid; called directly it takes any image.
           "ffdnet": lambda dataset: db.make_denoiser("ffdnet")}


def build(name, dataset):
    cls = denoiser_class(name)
    if name in SPECIAL:
        return SPECIAL[name](dataset)
    d = db.make_denoiser(name, **({"dataset": dataset} if cls.needs_dataset else {}))
    if d.learns:
        d.fit(dataset.sample(32, seed=3, split="train"))
    return d


@pytest.fixture(scope="module")
def gmm_odd():
    return db.make_dataset("gmm", size=SHAPE[-2:])


@pytest.mark.parametrize("name", NAMES)
def test_every_denoiser_conforms(name, backend, gmm_odd):
    d = build(name, gmm_odd)
    if getattr(d, "host_only", False) and backend.device == "cuda":
        y = backend.asarray(np.zeros(SHAPE, np.float32))
        with pytest.raises(TypeError, match="host only"):
            d(y, 0.1)
        return
    check_denoiser(d, backend=backend, shape=SHAPE)


@pytest.mark.parametrize("name", NAMES)
def test_backends_agree_with_numpy(name, backend, gmm_odd, dtype):
    d = build(name, gmm_odd)
    if getattr(d, "host_only", False) and backend.device == "cuda":
        pytest.skip("host-only peer")
    x = gmm_odd.sample(4, seed=1)
    y = db.add_noise(x, 0.1, seed=1).astype(dtype)
    sigma = np.array([0.05, 0.1, 0.2, 0.4], dtype=dtype)

    def run(to):
        extra = {"clean": to(x.astype(dtype))} if d.bound else {}
        return to_numpy(d(to(y), to(sigma), **extra))

    ref = run(np.asarray)
    out = run(lambda a: from_numpy(a, backend.name, backend.device))
    tol = 1e-5 if dtype == np.float32 or getattr(d, "internal_dtype", None) else 1e-12
    np.testing.assert_allclose(out, ref, atol=tol, rtol=0)


class _ReturnsNumpy(Denoiser):
    def __init__(self):
        pass

    def _denoise(self, y, sigma, xp):
        return np.asarray(to_numpy(y))


class _IgnoresPerImageSigma(Denoiser):
    """Uses only the first image's σ: the batch differs from the per-image loop."""

    def __init__(self):
        pass

    def _denoise(self, y, sigma, xp):
        return y / (1 + sigma[0, 0, 0, 0])


class _ChangesDtype(Denoiser):
    def __init__(self):
        pass

    def _denoise(self, y, sigma, xp):
        return xp.astype(y, xp.float64) * 0.5


@pytest.mark.parametrize("broken", [_IgnoresPerImageSigma, _ChangesDtype])
def test_check_denoiser_catches_broken_denoisers(broken):
    with pytest.raises(AssertionError):
        check_denoiser(broken(), shape=SHAPE)


def test_check_denoiser_catches_a_host_round_trip():
    with pytest.raises(AssertionError, match="namespace"):
        check_denoiser(_ReturnsNumpy(), backend=("torch", "cpu"), shape=SHAPE)


def test_float_sigma_equals_constant_array_exactly(gmm_odd):
    d = build("optimal", gmm_odd)
    y = db.add_noise(gmm_odd.sample(3, seed=0), 0.2, seed=0)
    np.testing.assert_array_equal(d(y, 0.2), d(y, np.full(3, 0.2)))


def test_params_stored_verbatim_and_fitted_state_ends_in_underscore(gmm_odd):
    w = db.make_denoiser("wiener:eps=0.001")
    assert w.get_params() == {"eps": 0.001, "color": "opponent"}
    with pytest.raises(NotFittedError):
        w(np.zeros(SHAPE), 0.1)
    before = set(vars(w))
    w.fit(gmm_odd.sample(8, seed=0, split="train"))
    learned = set(vars(w)) - before
    assert learned and all(k.endswith("_") for k in learned)
    assert w.get_params() == {"eps": 0.001, "color": "opponent"}


def test_parse_spec():
    assert parse_spec("gaussian") == ("gaussian", {})
    assert parse_spec("gaussian:size=32,exponent=2.5,mean=none,flag=true,label=ab") == (
        "gaussian", {"size": 32, "exponent": 2.5, "mean": None, "flag": True, "label": "ab"})


@pytest.mark.parametrize("spec, message", [
    ("nosuch", "valid: .*identity"),
    ("wiener:nope=1", "valid: eps"),
    ("wiener:eps", "malformed"),
    ("wiener:=3", "malformed"),
    ("", "empty"),
])
def test_bad_specs_name_the_valid_choices(spec, message):
    with pytest.raises(SpecError, match=message):
        db.make_denoiser(spec)


def test_unknown_dataset_lists_datasets():
    with pytest.raises(SpecError, match="gaussian"):
        db.make_dataset("imagenet")


def test_mixed_namespaces_are_refused():
    torch = pytest.importorskip("torch")
    d = db.make_denoiser("identity")
    with pytest.raises(TypeError, match="mixed array namespaces"):
        d(torch.zeros(2, 1, 8, 8), np.array([0.1, 0.2]))


def test_tweedie_score_of_identity_is_zero():
    y = np.random.default_rng(0).standard_normal(SHAPE)
    assert np.all(db.tweedie_score(db.make_denoiser("identity"))(y, 0.3) == 0)


def test_dataset_bound_denoisers_without_dataset_are_not_applicable():
    with pytest.raises(db.NotApplicableError):
        db.make_denoiser("optimal")(np.zeros(SHAPE), 0.1)


@pytest.mark.parametrize("name", ["optimal", "wavelet", "curvelet", "oracle-wavelet"])
def test_chunked_batches_equal_the_whole_batch(name, gmm_odd):
    """Under a memory budget the batch is split (as on a GPU); the result must not change."""
    from denoisebench.memory import chunk_size, memory_budget

    d = build(name, gmm_odd)
    x = gmm_odd.sample(5, seed=4)
    y = db.add_noise(x, 0.1, seed=4)
    sigma = np.array([0.05, 0.1, 0.2, 0.3, 0.4])
    extra = {"clean": x} if d.bound else {}
    whole = d(y, sigma, **extra)
    per_image = y[0].nbytes * d.memory_factor
    with memory_budget(2 * per_image):
        assert chunk_size(y, d.memory_factor) == 2
        chunked = d(y, sigma, **extra)
    np.testing.assert_allclose(chunked, whole, rtol=0, atol=1e-6)


def test_read_only_constants_cross_once_per_namespace_device_and_dtype(backend):
    from denoisebench._array_api import asarray_like

    host = np.arange(6.0).reshape(2, 3)
    host.flags.writeable = False
    like32 = backend.asarray(np.zeros((1, 1, 2, 3), np.float32))
    first, again = asarray_like(host, like32), asarray_like(host, like32)
    assert first is again  # cached: not re-sent
    np.testing.assert_array_equal(to_numpy(first), host)
    like64 = backend.asarray(np.zeros((1, 1, 2, 3), np.float64))
    other = asarray_like(host, like64)
    assert other is not first and other.dtype == like64.dtype and first.dtype == like32.dtype
    writable = np.arange(6.0)  # a writable array is data, not a constant: a fresh copy each call
    assert asarray_like(writable, like32) is not asarray_like(writable, like32)


def test_the_constant_cache_forgets_a_constant_when_it_dies():
    from denoisebench import _array_api

    like = np.zeros((1, 1, 1, 3), np.float32)
    before = len(_array_api._CONSTANTS)
    tmp = np.ones(3)
    tmp.flags.writeable = False
    _array_api.asarray_like(tmp, like)
    assert len(_array_api._CONSTANTS) == before + 1
    del tmp
    assert len(_array_api._CONSTANTS) == before
