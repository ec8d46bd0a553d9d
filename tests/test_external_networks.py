"""External networks behind the contract: ``torchscript:path=FILE`` and ``deepinv:model=NAME``.

The TorchScript tests build tiny scripted models in a temporary folder and compare the denoiser
with a numpy reference of the same formula.  The deepinv tests need deepinv, which is not in the
project's environment (it needs a CUDA torch for torchvision): they skip here and run in a second
environment made by ``scripts/test_deepinv.sh``, on randomly initialised networks (no download).
"""
import importlib.util
import os
import pickle
import warnings
import zipfile

import numpy as np
import pytest
from scipy.ndimage import correlate

import denoisebench as db
from denoisebench._array_api import from_numpy, to_numpy
from denoisebench.testing import check_denoiser

torch = pytest.importorskip("torch")

SHAPE = (3, 1, 37, 31)
KERNEL = np.array([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]]) / 4  # a smoothing step: y + k*Δy


# -- tiny TorchScript models ---------------------------------------------------------------------
class _Smooth(torch.nn.Module):
    """``y + σ · (K ⋆ y)`` (zero padding), K the 5-point Laplacian / 4: depends on σ per image."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(1, 1, 3, padding=1, bias=False)
        with torch.no_grad():
            self.conv.weight.copy_(torch.from_numpy(KERNEL).float()[None, None])

    def forward(self, y, sigma):
        return y + sigma.reshape(-1, 1, 1, 1) * self.conv(y)


class _Half(torch.nn.Module):
    def forward(self, y):
        return 0.5 * y


class _Cropped(torch.nn.Module):
    def forward(self, y, sigma):
        return y[:, :, 1:, :]


class _NaN(torch.nn.Module):
    def forward(self, y, sigma):
        return y / 0.0 * 0.0


class _Scribbles(torch.nn.Module):
    """Writes into its input, then returns it: the caller's array must not change."""

    def forward(self, y, sigma):
        y.mul_(0.5)
        return y


def _save(module, path):
    with warnings.catch_warnings():  # torch marks TorchScript deprecated in favour of torch.export
        warnings.filterwarnings("ignore", message=r".*torch\.jit\.\w+.* is deprecated")
        torch.jit.save(torch.jit.script(module), str(path))
    return str(path)


def _reference(y, sigma):
    """The numpy reference of :class:`_Smooth`: ``y + σ_i (K ⋆ y_i)`` with zero padding."""
    out = np.empty_like(y, dtype=np.float64)
    for i in range(y.shape[0]):
        for c in range(y.shape[1]):
            out[i, c] = y[i, c] + sigma[i] * correlate(y[i, c].astype(np.float64), KERNEL, mode="constant")
    return out


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    folder = tmp_path_factory.mktemp("torchscript")
    return {name: _save(cls(), folder / f"{name}.pt") for name, cls in
            [("smooth", _Smooth), ("half", _Half), ("cropped", _Cropped), ("nan", _NaN), ("scribbles", _Scribbles)]}


def _noisy(dtype=np.float64, shape=SHAPE, seed=0):
    rng = np.random.default_rng(seed)
    return (0.5 + 0.2 * rng.standard_normal(shape)).astype(dtype)


# -- torchscript ---------------------------------------------------------------------------------
def test_torchscript_is_registered_heavy_and_needs_its_file():
    assert "torchscript" in db.list_denoisers()
    d = db.make_denoiser("torchscript")
    assert d.heavy  # not in the default grid: it has no file to run without one
    with pytest.raises(ValueError, match="path=FILE"):
        d(_noisy(), 0.1)


def test_torchscript_passes_the_contract(models, backend):
    check_denoiser(db.make_denoiser(f"torchscript:path={models['smooth']}"), backend=backend, shape=SHAPE)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_torchscript_matches_an_independent_reference(models, dtype):
    y = _noisy(dtype)
    sigma = np.array([0.05, 0.2, 0.5])
    out = db.make_denoiser("torchscript", path=models["smooth"])(y, sigma.astype(dtype))
    assert out.dtype == dtype and out.shape == SHAPE
    np.testing.assert_allclose(out, _reference(y, sigma), rtol=0, atol=1e-6 if dtype == np.float32 else 1e-12)


@pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated")
def test_torchscript_output_is_the_models_own(models, backend):
    """On every backend, the result is the scripted model called directly on the same tensor."""
    y, sigma = _noisy(np.float32), np.array([0.1, 0.2, 0.3], np.float32)
    model = torch.jit.load(models["smooth"])
    direct = model(torch.from_numpy(y), torch.from_numpy(sigma)).detach().numpy()
    d = db.make_denoiser("torchscript", path=models["smooth"])
    out = d(from_numpy(y, backend.name, backend.device), from_numpy(sigma, backend.name, backend.device))
    np.testing.assert_allclose(to_numpy(out), direct, rtol=0, atol=1e-6)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_an_exported_unet_denoises_as_the_unet_does(tmp_path, dtype):
    """denoisebench's own U-Net, traced to TorchScript: the same result through the other path."""
    from denoisebench.networks._bfunet import BiasFreeUNet

    torch.manual_seed(0)
    net = BiasFreeUNet(width=4).eval()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*torch\.jit\.\w+.* is deprecated")
        torch.jit.save(torch.jit.trace(net, torch.zeros(1, 1, 32, 32)), str(tmp_path / "unet.pt"))
    y = _noisy(dtype, (3, 1, 32, 32))  # a multiple of 4: the U-Net's own path does not pad it
    exported = db.make_denoiser("torchscript", path=str(tmp_path / "unet.pt"), takes_sigma=False)(y, 0.1)
    np.testing.assert_allclose(exported, db.make_denoiser("unet", weights=net)(y, 0.1), rtol=0,
                               atol=1e-6 if dtype == np.float32 else 1e-12)
    odd = _noisy(dtype, (1, 1, 37, 31))  # the traced network cannot pad: its failure is one line
    with pytest.raises(ValueError, match=r"unet\.pt' failed on a batch of shape \(1, 1, 37, 31\).*: Sizes of tensors"):
        db.make_denoiser("torchscript", path=str(tmp_path / "unet.pt"), takes_sigma=False)(odd, 0.1)


def test_torchscript_without_sigma(models):
    y = _noisy(np.float32)
    d = db.make_denoiser(f"torchscript:path={models['half']},takes_sigma=false")
    assert d.takes_sigma is False
    np.testing.assert_array_equal(d(y, 0.3), 0.5 * y)
    check_denoiser(d, shape=SHAPE)
    with pytest.raises(ValueError, match=r"half\.pt.*takes_sigma=false"):
        db.make_denoiser("torchscript", path=models["half"])(y, 0.3)
    with pytest.raises(ValueError, match="takes_sigma must be true or false"):
        db.make_denoiser("torchscript", path=models["half"], takes_sigma="no")(y, 0.3)


def test_torchscript_never_writes_to_the_callers_array(models):
    y = torch.from_numpy(_noisy())
    before = y.clone()
    out = db.make_denoiser("torchscript", path=models["scribbles"])(y, 0.1)
    assert torch.equal(y, before)
    torch.testing.assert_close(out, 0.5 * before, rtol=0, atol=0)


@pytest.mark.parametrize("name, error, message", [
    ("cropped", ValueError, r"cropped\.pt.* returned shape \(3, 1, 36, 31\) for an input of shape \(3, 1, 37, 31\)"),
    ("nan", ValueError, r"nan\.pt.* returned NaN or inf"),
])
def test_torchscript_bad_outputs_are_refused(models, name, error, message):
    with pytest.raises(error, match=message):
        db.make_denoiser("torchscript", path=models[name])(_noisy(), 0.1)


class _Trap:
    """Unpickling this creates ``marker``: the proof that a file was unpickled."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _bad_files(folder, models):
    marker = folder / "UNPICKLED"
    text = folder / "notes.txt"
    text.write_text("not a model\n")
    whole = open(models["smooth"], "rb").read()
    truncated = folder / "truncated.pt"
    truncated.write_bytes(whole[: len(whole) // 2])
    pickled = folder / "trap.pkl"
    pickled.write_bytes(pickle.dumps(_Trap(marker)))
    checkpoint = folder / "checkpoint.pt"
    torch.save({"model": _Trap(marker)}, str(checkpoint))  # a zip holding a pickle, not a TorchScript archive
    assert zipfile.is_zipfile(checkpoint)
    return marker, {"text": (text, "not a zip"), "truncated": (truncated, "not a zip"),
                    "pickle": (pickled, "not a zip"), "torch.save": (checkpoint, "not a TorchScript archive")}


def test_torchscript_bad_files_are_refused_without_running_them(models, tmp_path):
    marker, files = _bad_files(tmp_path, models)
    for path, message in files.values():
        with pytest.raises(ValueError, match=rf"{os.path.basename(path)}.*{message}"):
            db.make_denoiser("torchscript", path=str(path))(_noisy(), 0.1)
    assert not marker.exists()
    with pytest.raises(FileNotFoundError, match="no such file"):
        db.make_denoiser("torchscript", path=str(tmp_path / "absent.pt"))(_noisy(), 0.1)


def test_torchscript_file_is_its_input_and_its_spec_rebuilds_it(models):
    d = db.make_denoiser(f"torchscript:path={models['smooth']}")
    assert d.input_files() == [models["smooth"]]
    y = _noisy()
    again = db.make_denoiser(d.spec())
    np.testing.assert_array_equal(again(y, 0.2), d(y, 0.2))


def test_a_model_file_replaced_in_place_is_reloaded(models, tmp_path):
    path = tmp_path / "model.pt"
    path.write_bytes(open(models["smooth"], "rb").read())
    d = db.make_denoiser("torchscript", path=str(path))
    y = _noisy()
    np.testing.assert_allclose(d(y, 0.2), _reference(y, np.full(3, 0.2)), rtol=0, atol=1e-12)
    _save(_Half(), path)
    os.utime(path, ns=(0, 10**18))  # a new modification time even on a coarse clock
    with pytest.raises(ValueError, match="takes_sigma=false"):
        d(y, 0.2)


def test_a_loaded_torchscript_denoiser_pickles_without_its_network(models):
    d = db.make_denoiser("torchscript", path=models["smooth"])
    y = _noisy()
    first = d(y, 0.2)
    clone = pickle.loads(pickle.dumps(d))
    assert "_networks" not in vars(clone)
    np.testing.assert_array_equal(clone(y, 0.2), first)


# -- deepinv: what holds without it ---------------------------------------------------------------
HAS_DEEPINV = importlib.util.find_spec("deepinv") is not None


def test_deepinv_is_listed_only_where_installed():
    assert ("deepinv" in db.list_denoisers()) == HAS_DEEPINV


def test_deepinv_parameters_are_checked_before_importing_it():
    with pytest.raises(ValueError, match="model must be one of drunet, dncnn"):
        db.make_denoiser("deepinv:model=nosuch,weights=random")(_noisy(), 0.1)
    assert db.make_denoiser("deepinv:model=dncnn,weights=random").input_files() == []
    assert db.make_denoiser("deepinv:model=dncnn").input_files() == []
    assert db.make_denoiser("deepinv:model=dncnn,weights=/w/dncnn.pth").input_files() == ["/w/dncnn.pth"]


def test_deepinv_weights_are_never_unpickled(tmp_path):
    from denoisebench.denoisers._deepinv import _read_state_dict

    marker = tmp_path / "UNPICKLED"
    trap = tmp_path / "trap.pth"
    torch.save({"conv.weight": _Trap(marker)}, str(trap))
    with pytest.raises(ValueError, match=r"trap\.pth"):
        _read_state_dict(str(trap))
    assert not marker.exists()
    with pytest.raises(FileNotFoundError, match="absent.pth"):
        _read_state_dict(str(tmp_path / "absent.pth"))


# -- deepinv: against the real library (scripts/test_deepinv.sh) ----------------------------------
needs_deepinv = pytest.mark.skipif(not HAS_DEEPINV, reason="deepinv is not installed: run scripts/test_deepinv.sh")


def _deepinv_net(name, channels, state):
    """The deepinv network built directly, with ``state`` loaded: the independent reference."""
    import deepinv

    from denoisebench.denoisers._deepinv import MODELS

    net = getattr(deepinv.models, MODELS[name].cls)(**MODELS[name].channels(channels), pretrained=None)
    net.load_state_dict(state)
    return net.eval()


@needs_deepinv
@pytest.mark.parametrize("name", ["drunet", "dncnn"])
def test_deepinv_random_networks_pass_the_contract(name, backend):
    check_denoiser(db.make_denoiser(f"deepinv:model={name},weights=random"), backend=backend, shape=(2, 1, 37, 31))


@needs_deepinv
@pytest.mark.parametrize("name", ["drunet", "dncnn", "scunet", "gsdrunet", "ffdnet"])
@pytest.mark.parametrize("channels", [1, 3])
def test_deepinv_models_keep_shape_and_dtype(name, channels, dtype):
    d = db.make_denoiser("deepinv", model=name, weights="random", seed=1)
    y = torch.from_numpy(_noisy(dtype, (2, channels, 37, 31)))
    out = d(y, torch.tensor([0.1, 0.2], dtype=y.dtype))
    assert out.shape == y.shape and out.dtype == y.dtype and out.device == y.device
    assert torch.isfinite(out).all()


@needs_deepinv
@pytest.mark.parametrize("name", ["drunet", "dncnn"])
@pytest.mark.parametrize("suffix", [".safetensors", ".pth"])
def test_deepinv_saved_weights_reload_to_the_same_network(name, suffix, tmp_path):
    from safetensors.torch import save_file

    random = db.make_denoiser("deepinv", model=name, weights="random", seed=7)
    state = {k: v.clone() for k, v in random.torch_module(channels=1).state_dict().items()}
    path = str(tmp_path / f"{name}{suffix}")
    save_file(state, path) if suffix == ".safetensors" else torch.save(state, path)
    loaded = db.make_denoiser(f"deepinv:model={name},weights={path}")
    assert loaded.input_files() == [path]
    y, sigma = _noisy(np.float32, (2, 1, 37, 31)), np.array([0.05, 0.2], np.float32)
    out = loaded(y, sigma)
    np.testing.assert_array_equal(out, random(y, sigma))
    with torch.no_grad():
        direct = _deepinv_net(name, 1, state)(torch.from_numpy(y), torch.from_numpy(sigma)).numpy()
    np.testing.assert_allclose(out, direct, rtol=0, atol=1e-6)
    with pytest.raises(ValueError, match=rf"{name}{suffix}' do not fit {name} for C = 3"):
        loaded(_noisy(np.float32, (1, 3, 37, 31)), 0.1)


@needs_deepinv
def test_deepinv_random_weights_are_seeded_and_leave_torchs_rng_alone():
    y = _noisy(np.float32, (1, 1, 37, 31))
    state = torch.get_rng_state()
    a = db.make_denoiser("deepinv:model=dncnn,weights=random,seed=0")(y, 0.1)
    assert torch.equal(torch.get_rng_state(), state)
    np.testing.assert_array_equal(db.make_denoiser("deepinv:model=dncnn,weights=random,seed=0")(y, 0.1), a)
    assert not np.array_equal(db.make_denoiser("deepinv:model=dncnn,weights=random,seed=1")(y, 0.1), a)


@needs_deepinv
def test_deepinv_download_failure_is_one_clear_line(monkeypatch):
    import urllib.error

    def offline(*args, **kwargs):
        raise urllib.error.URLError("[Errno -2] Name or service not known")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", offline)
    with pytest.raises(ValueError, match=r"could not download drunet's weights \(offline\?\): pass weights=PATH"):
        db.make_denoiser("deepinv:model=drunet")(_noisy(np.float32, (1, 1, 16, 16)), 0.1)
    with pytest.raises(ValueError, match="no pretrained scunet weights for C = 1"):
        db.make_denoiser("deepinv:model=scunet")(_noisy(np.float32, (1, 1, 16, 16)), 0.1)
