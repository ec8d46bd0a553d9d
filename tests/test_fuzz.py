"""Property-based fuzzing (hypothesis) of the denoiser contract, σ handling and spec validation.

Fast by default (about 25 examples a property, no deadline); ``-m slow`` runs deeper variants.
"""
import math

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import denoisebench as db  # noqa: E402
from denoisebench.registry import _rules as R  # noqa: E402
from denoisebench.base import NotApplicableError  # noqa: E402
from denoisebench.registry import SpecError, _DATASETS, _DENOISERS, denoiser_class  # noqa: E402
from denoisebench.registry.specs import parse_value  # noqa: E402

FAST = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
DEEP = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# -- the denoiser contract on random shapes, dtypes and σ ----------------------------------------
def _tiny_unet():
    import torch

    from denoisebench.networks._bfunet import BiasFreeUNet

    torch.manual_seed(0)
    return BiasFreeUNet(width=4)


#: As tests/test_contract.py: heavy peers and denoisers needing a file are left out here.
NEEDS_FILE = {"torchscript", "deepinv"}
NAMES = [n for n in db.list_denoisers() if not getattr(denoiser_class(n), "heavy", False) or n == "unet"]
NAMES = [n for n in NAMES if n not in NEEDS_FILE]


def _build(name, dataset):
    if name == "unet":
        return db.make_denoiser("unet", weights=_tiny_unet())
    if name == "ffdnet":  # in a grid it applies to photographs only; called directly, to any image
        return db.make_denoiser("ffdnet")
    cls = denoiser_class(name)
    d = db.make_denoiser(name, **({"dataset": dataset} if cls.needs_dataset else {}))
    return d.fit(dataset.sample(8, seed=3, split="train")) if d.learns else d


@st.composite
def batches(draw):
    n = draw(st.integers(1, 3))
    h, w = draw(st.integers(5, 40)), draw(st.integers(5, 40))
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    per_image = draw(st.booleans())
    sig = st.floats(1e-3, 10.0, allow_nan=False, allow_infinity=False)
    sigma = np.array(draw(st.lists(sig, min_size=n, max_size=n))) if per_image else draw(sig)
    seed = draw(st.integers(0, 2**16))
    return n, (h, w), dtype, sigma, seed


@pytest.mark.parametrize("name", NAMES)
@FAST
@given(batch=batches())
def test_every_denoiser_on_random_batches(name, batch):
    """Finite output of the input's shape and dtype; the input (y, σ, clean) is left unchanged."""
    n, shape, dtype, sigma, seed = batch
    ds = db.make_dataset("gmm", size=shape)
    d = _build(name, ds)
    x = ds.sample(n, seed=seed)
    s_host = np.broadcast_to(np.asarray(sigma, dtype=np.float64), (n,))
    y = (x + s_host[:, None, None, None] * np.random.default_rng(seed).standard_normal(x.shape)).astype(dtype)
    y0, sigma0, x0 = y.copy(), np.copy(sigma), x.astype(dtype)
    clean = x0.copy()
    try:
        out = d(y, sigma, clean=clean) if d.bound else d(y, sigma)
    except ValueError as exc:  # a clear refusal is allowed only for sizes a transform cannot take
        assert "too small" in str(exc) or "levels" in str(exc), exc
        return
    assert out.shape == y.shape and out.dtype == y.dtype
    assert np.all(np.isfinite(out))
    np.testing.assert_array_equal(y, y0)
    np.testing.assert_array_equal(sigma, sigma0)
    np.testing.assert_array_equal(clean, x0)


# -- σ of any form: accepted as documented, else TypeError / ValueError ------------------------------
def _full(shape, kind, value):
    with np.errstate(invalid="ignore"):
        return np.full(shape, value).astype(kind)


def _sigma_values():
    scalars = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-10, 10**9), st.booleans(),
                        st.none(), st.text(max_size=3), st.complex_numbers(max_magnitude=10))
    arrays = st.builds(_full,
                       st.sampled_from([(), (1,), (2,), (3,), (3, 1), (1, 3)]),
                       st.sampled_from(["float32", "float64", "int64", "bool", "complex128"]),
                       st.one_of(st.floats(-1, 1e7), st.just(math.nan)))
    return st.one_of(scalars, arrays, st.lists(st.floats(-1, 2), min_size=0, max_size=4))


@FAST
@given(sigma=_sigma_values(), dtype=st.sampled_from([np.float32, np.float64]))
def test_sigma_is_accepted_or_refused_with_a_type_or_value_error(sigma, dtype):
    y = np.full((3, 1, 6, 5), 0.5, dtype)
    try:
        out = db.make_denoiser("wavelet", coarse="keep", clip=False)(y, sigma)
    except (TypeError, ValueError) as exc:
        assert "\n" not in str(exc)
        return
    values = np.broadcast_to(np.asarray(sigma, dtype=np.float64), (3,))
    assert not isinstance(sigma, (bool, str, complex)) and sigma is not None
    assert np.all(np.isfinite(values)) and np.all(values > 0) and np.all(values <= 1e6)
    assert np.all(np.isfinite(out))


# -- random spec strings from each class's declared rules ----------------------------------------
_SPEC_SAFE = st.text(alphabet="abcdefghijklmnopqrstuvwyz_", min_size=1, max_size=8).filter(
    lambda t: isinstance(parse_value(t), str) and t not in {"nan", "inf", "infinity"})


def _fmt(value):
    if value is None:
        return "none"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return repr(value)
    return str(value)


def valid_values(rule):
    """A strategy of spec-expressible values ``rule`` accepts (None: none can be written in a spec)."""
    if isinstance(rule, R.Real):
        lo = None if rule.lo == -math.inf else rule.lo
        hi = None if rule.hi == math.inf else rule.hi
        return st.floats(lo, hi, exclude_min=rule.lo_open and lo is not None, exclude_max=rule.hi_open and hi is not None,
                         allow_nan=False, allow_infinity=False)
    if isinstance(rule, R.Int):
        return st.integers(rule.lo, rule.hi)
    if isinstance(rule, R.OneOf):
        return st.sampled_from(rule.choices)
    if isinstance(rule, R.Bool):
        return st.booleans()
    if isinstance(rule, (R.Text, R.Path)):
        return _SPEC_SAFE
    if isinstance(rule, R.Opt):
        inner = valid_values(rule.rule)
        return st.none() if inner is None else st.one_of(st.none(), inner)
    if isinstance(rule, R.AnyOf):
        options = [s for s in map(valid_values, rule.rules) if s is not None]
        return st.one_of(*options) if options else None
    if isinstance(rule, R.Size):
        side = st.integers(rule.side.lo, rule.side.hi)
        return st.one_of(side, st.tuples(side, side).map(lambda hw: f"{hw[0]}x{hw[1]}"))
    if isinstance(rule, R.Reals):
        if not rule.text:
            return None
        item = valid_values(rule.item)
        return st.lists(item, min_size=rule.min_len, max_size=rule.max_len).map(lambda v: "x".join(map(repr, v)))
    if isinstance(rule, R.Wavelet):
        return st.sampled_from(sorted(R._wavelets(rule.orthogonal)))
    if isinstance(rule, R.Device):
        return st.sampled_from([None, "cpu"])
    return None  # Check: objects (an in-memory network) have no spec form


def invalid_values(rule):
    """A strategy of spec-expressible values ``rule`` refuses."""
    candidates = st.one_of(
        st.sampled_from([math.nan, math.inf, -math.inf, -1e300, 1e300, -1, 0, 1, 3, 10**7, 0.5, 2.5, True, False,
                         None, "nosuch", "bior4.4", "meta", "cuda:99", "3x5000", "0.1x0.9x0.2", "1x2"]),
        st.floats(allow_nan=True), st.integers(-10**6, 10**13), _SPEC_SAFE)
    return candidates.filter(lambda v: not rule.accepts(parse_value(_fmt(v))))


def _spec_cases(table):
    return [pytest.param(name, id=name) for name in sorted(table)]


def _check_specs(name, cls, make, data):
    rules = cls.param_rules
    params, bad = {}, set()
    for key, rule in sorted(rules.items()):
        choice = data.draw(st.sampled_from(["default", "valid", "invalid"]), label=f"{key} kind")
        if choice == "valid" and valid_values(rule) is not None:
            params[key] = data.draw(valid_values(rule), label=key)
        elif choice == "invalid":
            params[key] = data.draw(invalid_values(rule), label=key)
            bad.add(key)
    spec = name + (":" + ",".join(f"{k}={_fmt(v)}" for k, v in params.items()) if params else "")
    try:
        make(spec)
    except SpecError as exc:
        assert bad, f"{spec}: a valid spec was refused: {exc}"
        assert any(f"{k} must be" in str(exc) for k in bad), (spec, str(exc))
        assert "\n" not in str(exc)
        return
    assert not bad, f"{spec}: invalid {sorted(bad)} accepted"


@pytest.mark.parametrize("name", _spec_cases(_DENOISERS))
@FAST
@given(data=st.data())
def test_denoiser_specs_from_the_rules(name, data):
    _check_specs(name, _DENOISERS[name], db.make_denoiser, data)


@pytest.mark.parametrize("name", _spec_cases(_DATASETS))
@FAST
@given(data=st.data())
def test_dataset_specs_from_the_rules(name, data):
    _check_specs(name, _DATASETS[name], db.make_dataset, data)


# -- deeper: valid random parameters, then a call: a result or a clear refusal ----------------------
LIGHT = [n for n in NAMES if n not in {"unet"} and not denoiser_class(n).needs_dataset and not denoiser_class(n).learns]


@pytest.mark.slow
@pytest.mark.parametrize("name", LIGHT)
@DEEP
@given(data=st.data(), batch=batches())
def test_valid_random_parameters_denoise_or_refuse_clearly(name, data, batch):
    cls = denoiser_class(name)
    params = {}
    for key, rule in sorted(cls.param_rules.items()):
        strategy = valid_values(rule)
        if strategy is not None and data.draw(st.booleans(), label=f"set {key}"):
            params[key] = data.draw(strategy, label=key)
    n, shape, dtype, sigma, seed = batch
    if params.get("scales") and params["scales"] > 6 or params.get("angles", 0) > 16:
        params.pop("scales", None), params.pop("angles", None)  # keep frames small here
    d = db.make_denoiser(name, **params)
    x = np.random.default_rng(seed).uniform(0, 1, (n, 1, *shape)).astype(dtype)
    y = x + np.asarray(sigma if np.ndim(sigma) == 0 else np.asarray(sigma)[:, None, None, None]).astype(dtype)
    try:
        out = d(y, sigma, clean=x) if d.bound else d(y, sigma)
    except (ValueError, NotApplicableError) as exc:
        assert "\n" not in str(exc)
        return
    assert np.all(np.isfinite(out)) and out.shape == y.shape and out.dtype == y.dtype
