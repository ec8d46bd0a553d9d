"""Weight files checked before anything is built; training refuses what cannot work (issue #10, items 3 and 6).

References are independent of the code under test: the checksum and the version-1 checksum are
recomputed here from their documented recipes on bytes parsed here; shapes come from real networks.
"""
import hashlib
import json
import os
import re
import pickle
import subprocess
import sys
import time

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import denoisebench as db  # noqa: E402
import denoisebench.networks.train as train_module  # noqa: E402
from denoisebench.networks import _bfunet, weights_io  # noqa: E402
from denoisebench.networks._bfunet import build, default_hparams  # noqa: E402
from denoisebench.denoisers import _unet  # noqa: E402
from denoisebench.networks.train import TrainingDivergedError, train  # noqa: E402

TINY = dict(n_train=8, steps=6, patch=8, width=2, batch=2, n_val=2, val_every=3, ckpt_every=2, progress=False)
#: The version-1 checksums (tensors only) of the shipped weights before they were re-saved in version 2.
SHIPPED_V1 = {
    "cartoon": "ecc38341410166c683d53dd140eb4adfbaed92e661897c7b93fb039c2e71e27f",
    "disks": "f5df132339010f1e4d48a651de19e6db7d905d98a0256ebb1293e2d837259286",
    "gaussian": "508c290781d96c50f54030955a42dce591a1148944332c028e09cfb161ae43ec",
    "gmm": "2decc7c33c8981e70ad385267c848ad9d010c1c6be8cbb60ce6326d6f78cd2bd",
    "natural": "7b9642af0cd2773a24a203a5a60b8405ee2471d923e66c2b4c708a0ab95f68fb",
}


pytestmark = pytest.mark.usefixtures("torch_one_thread")


def random_unet(width=4, channels=1, padding="zeros", seed=0):
    """A random network whose output layer is not zero (so it is not the identity)."""
    torch.manual_seed(seed)
    m = build(default_hparams(width, channels, padding))
    with torch.no_grad():
        torch.nn.init.normal_(m.out.weight, std=2.0)
    return m.eval()


def _raw(path):
    """``(metadata, table, data)`` parsed here from the bytes, independently of weights_io."""
    blob = open(path, "rb").read()
    n = int.from_bytes(blob[:8], "little")
    table = json.loads(blob[8:8 + n])
    return table.pop("__metadata__"), table, blob[8 + n:]


def _tensors(path):
    from safetensors.torch import load_file

    return load_file(path)


def _v2_checksum(metadata, table, data):
    """The version-2 recipe of weights_io's docstring."""
    h = hashlib.sha256(b"denoisebench-unet/2\n")
    h.update(json.dumps({k: v for k, v in metadata.items() if k != "sha256"}, sort_keys=True,
                        separators=(",", ":")).encode())
    for name in sorted(table):
        a, b = table[name]["data_offsets"]
        h.update(b"\n" + json.dumps([name, table[name]["dtype"], table[name]["shape"]], separators=(",", ":")).encode())
        h.update(b"\n" + data[a:b])
    return h.hexdigest()


def _v1_checksum(tensors):
    """The version-1 recipe (tensors only), as the old writer computed it."""
    h = hashlib.sha256()
    for name in sorted(tensors):
        t = tensors[name].contiguous()
        h.update(name.encode())
        h.update(str(tuple(t.shape)).encode() + str(t.dtype).encode())
        h.update(t.reshape(-1).numpy().tobytes())
    return h.hexdigest()


def _save(path, model, training=None):
    return weights_io.save_weights(str(path), model, training or {"dataset": "gaussian", "dataset_name": "gaussian"})


def _edit(path, signed=True, tensors=None, **fields):
    """Rewrite ``path`` with edited metadata fields (JSON fields as dicts): re-signed, or with the old checksum."""
    from safetensors.torch import save_file

    metadata, _, _ = _raw(path)
    old = _tensors(path)
    tensors = old if tensors is None else tensors(old)
    metadata.update({k: json.dumps(v) if isinstance(v, dict) else v for k, v in fields.items()})
    if signed:
        blob = weights_io._signed(tensors, metadata)  # before truncating the file the tensors may map
        open(path, "wb").write(blob)
    else:
        save_file(tensors, path, metadata=metadata)
    return path


class _Constructions:
    """Records the default device of every BiasFreeUNet built (``meta`` allocates nothing)."""

    def __init__(self, monkeypatch):
        self.devices = []
        init = _bfunet.BiasFreeUNet.__init__

        def spy(module, *args, **kwargs):
            self.devices.append(str(torch.get_default_device()))
            init(module, *args, **kwargs)

        monkeypatch.setattr(_bfunet.BiasFreeUNet, "__init__", spy)


# -- the checksum covers the whole file ----------------------------------------------------------------
def test_checksum_is_the_documented_recipe_over_metadata_and_tensors(tmp_path):
    path = _save(tmp_path / "w.safetensors", random_unet())
    metadata, table, data = _raw(path)
    assert metadata["format_version"] == "2" and metadata["sha256"] == _v2_checksum(metadata, table, data)


@pytest.mark.parametrize("field, value", [
    ("architecture", {**default_hparams(4), "padding": "circular"}),  # the padding flip of the issue
    ("training", {"dataset": "cartoon", "dataset_name": "cartoon"}),
    ("package_version", "9.9.9"),
    ("kind", "checkpoint"),
])
def test_metadata_edited_without_re_signing_is_refused(tmp_path, field, value):
    path = _save(tmp_path / "w.safetensors", random_unet())
    _edit(path, signed=False, **{field: value})
    with pytest.raises(ValueError, match=r"w\.safetensors: checksum mismatch") if field != "kind" else \
            pytest.raises(ValueError, match="'state'"):
        weights_io.load_weights(path)


def test_the_padding_flip_would_change_the_result(tmp_path):
    """Why it matters: the same tensors with circular padding denoise differently (so it must be signed)."""
    m = random_unet()
    y = torch.rand(1, 1, 16, 16)
    flipped = build(default_hparams(4, 1, "circular"))
    flipped.load_state_dict(m.state_dict())
    with torch.no_grad():
        assert not torch.allclose(m(y), flipped.eval()(y))


# -- architecture bounded, tensor table compared before any network is built ----------------------------
@pytest.mark.parametrize("width", [200_000, 700, 257])
def test_a_crafted_huge_width_is_refused_before_anything_is_built(tmp_path, monkeypatch, width):
    path = _save(tmp_path / "w.safetensors", random_unet())
    _edit(path, architecture={**default_hparams(4), "width": width})  # re-signed, as an attacker can
    built = _Constructions(monkeypatch)
    t0 = time.perf_counter()
    with pytest.raises(ValueError, match=rf"w\.safetensors: invalid architecture: .*width must be an integer "
                                         rf"between 1 and 256; got {width}"):
        weights_io.load_weights(path)
    assert built.devices == [] and time.perf_counter() - t0 < 2.0


def test_a_width_in_bounds_but_not_the_tensors_is_refused_on_the_meta_device_only(tmp_path, monkeypatch):
    path = _save(tmp_path / "w.safetensors", random_unet())
    _edit(path, architecture={**default_hparams(4), "width": 256})
    built = _Constructions(monkeypatch)
    with pytest.raises(ValueError, match=r"tensor model\.\S+ has shape \(\d+, \d+, 3, 3\), the architecture needs"):
        weights_io.load_weights(path)
    assert built.devices and set(built.devices) == {"meta"}  # shapes only: no storage was allocated


@pytest.mark.parametrize("edit, match", [
    ({"channels": 5}, "channels must be an integer between 1 and 4"),
    ({"channels": 0}, "channels must be an integer between 1 and 4"),
    ({"width": "4"}, "width must be an integer"),
    ({"width": True}, "width must be an integer"),
    ({"width": 4.0}, "width must be an integer"),
    ({"padding": "reflect"}, "padding must be one of"),
    ({"scales": 4}, "scales=3"),
    ({"extra": 1}, "unexpected"),
])
def test_architecture_fields_are_bounded(tmp_path, edit, match):
    path = _save(tmp_path / "w.safetensors", random_unet())
    _edit(path, architecture={**default_hparams(4), **edit})
    with pytest.raises(ValueError, match=f"invalid architecture: .*{match}"):
        weights_io.load_weights(path)


def test_expected_state_equals_a_real_network(tmp_path):
    """The meta-device table is the real one (independent reference: an allocated network)."""
    for hp in (default_hparams(3, 1, "zeros"), default_hparams(5, 3, "circular"), default_hparams(1, 4)):
        real = {k: (tuple(v.shape), v.dtype) for k, v in build(hp).state_dict().items()}
        assert _bfunet.expected_state(hp) == real
        params = [k for k, _ in build(hp).named_parameters()]
        assert list(_bfunet.expected_state(hp, parameters_only=True)) == params


def test_a_crafted_optimizer_tensor_is_refused_before_reading_data(tmp_path):
    model = random_unet()
    opt = torch.optim.Adam(model.parameters())
    (model(torch.rand(1, 1, 8, 8)) ** 2).mean().backward()
    opt.step()
    path = weights_io.save_checkpoint(str(tmp_path / "c.safetensors"), model, opt, 1, {"dataset": "gaussian"})
    _edit(path, tensors=lambda t: {**t, "optim.999.exp_avg": torch.zeros(3)})
    with pytest.raises(ValueError, match="unexpected tensor optim.999.exp_avg"):
        weights_io.load_checkpoint(path, model, torch.optim.Adam(model.parameters()))


# -- files that are not weight files ---------------------------------------------------------------------
def _header_says(path, table_edit):
    """Rewrite the header's tensor table by hand (sizes no longer agree with the data)."""
    metadata, table, data = _raw(path)
    table_edit(table)
    raw = json.dumps({"__metadata__": metadata, **table}).encode()
    open(path, "wb").write(len(raw).to_bytes(8, "little") + raw + data)


@pytest.mark.parametrize("damage, match", [
    (lambda p: open(p, "r+b").truncate(5), "shorter than the 8-byte header length"),
    (lambda p: open(p, "r+b").truncate(200), "header length"),
    (lambda p: open(p, "r+b").truncate(os.path.getsize(p) - 1), "truncated"),
    (lambda p: open(p, "ab").write(b"\0"), "trailing bytes"),
    (lambda p: open(p, "wb").write((2 ** 40).to_bytes(8, "little") + b"{}"), "header length 1099511627776"),
    (lambda p: open(p, "wb").write((3 << 20).to_bytes(8, "little") + b" " * (3 << 20)), "exceeds 1048576"),
    (lambda p: open(p, "wb").write((5).to_bytes(8, "little") + b"[[[[["), "header is not JSON"),
    (lambda p: open(p, "wb").write((2).to_bytes(8, "little") + b"[]"), "not a JSON object"),
    (lambda p: _header_says(p, lambda t: t["model.out.weight"].update(shape=[10 ** 12])), "bytes for shape"),
    (lambda p: _header_says(p, lambda t: t["model.out.weight"].update(dtype="BF16")), "unsupported dtype"),
    (lambda p: _header_says(p, lambda t: t["model.out.weight"].update(shape=[-36])), "invalid shape"),
    (lambda p: _header_says(p, lambda t: t["model.out.weight"].update(data_offsets=[0, 144])), "overlap or leave gaps"),
])
def test_damaged_files_give_one_clear_line(tmp_path, damage, match):
    path = _save(tmp_path / "w.safetensors", random_unet())
    damage(path)
    with pytest.raises(ValueError, match=match) as info:
        weights_io.load_weights(path)
    assert "\n" not in str(info.value) and str(path) in str(info.value)


@pytest.mark.parametrize("seed", range(8))
def test_random_bytes_are_refused(tmp_path, seed):
    rng = np.random.default_rng(seed)
    path = tmp_path / "r.safetensors"
    path.write_bytes(rng.integers(0, 256, int(rng.integers(0, 5000)), dtype=np.uint8).tobytes())
    with pytest.raises(ValueError, match="not a readable safetensors file"):
        weights_io.load_weights(path)


class _Payload:
    """Unpickling this would create a folder: the file must be refused without it."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.mkdir, (self.marker,)


def test_pickle_files_are_refused_and_never_run(tmp_path):
    marker = str(tmp_path / "pwned")
    plain, zipped = tmp_path / "p.safetensors", tmp_path / "z.safetensors"
    plain.write_bytes(pickle.dumps({"model": _Payload(marker)}))
    torch.save({"model": _Payload(marker)}, str(zipped))  # the torch.save zip format
    for path in (plain, zipped):
        with pytest.raises(ValueError, match="not a readable safetensors file"):
            weights_io.load_weights(path)
        with pytest.raises(ValueError):
            db.make_denoiser(f"unet:weights={path}")(np.zeros((1, 1, 8, 8), np.float32), 0.1)
    assert not os.path.exists(marker)


# -- version 1 (checksum over tensors only) ----------------------------------------------------------------
def _v1_file(path, model):
    from safetensors.torch import save_file

    tensors = {f"model.{k}": v.contiguous().clone() for k, v in model.state_dict().items()}
    meta = {"format": "denoisebench-unet", "format_version": "1", "kind": "weights",
            "architecture": json.dumps(model.hparams), "training": json.dumps({"dataset": "gaussian"}),
            "package_version": "0.1.0", "sha256": _v1_checksum(tensors)}
    save_file(tensors, str(path), metadata=meta)
    return str(path), tensors, meta


def test_version_1_is_refused_with_the_way_out_and_resave_keeps_every_tensor(tmp_path):
    path, tensors, meta = _v1_file(tmp_path / "old.safetensors", random_unet(seed=3))
    with pytest.raises(ValueError, match=r"old\.safetensors: format version 1 .*weights_io\.resave\(.*retrain"):
        weights_io.load_weights(path)
    new = weights_io.resave(path, str(tmp_path / "new.safetensors"))
    again = _tensors(new)
    assert again.keys() == tensors.keys() and all(torch.equal(again[k], tensors[k]) for k in tensors)
    metadata, table, data = _raw(new)
    assert {k: v for k, v in metadata.items() if k not in ("format_version", "sha256")} == \
        {k: v for k, v in meta.items() if k not in ("format_version", "sha256")}
    assert metadata["sha256"] == _v2_checksum(metadata, table, data)
    model, _ = weights_io.load_weights(new)
    y = torch.rand(2, 1, 12, 20)
    reference = random_unet(seed=3)
    with torch.no_grad():
        assert torch.equal(model(y), reference(y))


def test_resave_refuses_a_corrupt_or_crafted_version_1_file(tmp_path):
    path, tensors, meta = _v1_file(tmp_path / "old.safetensors", random_unet())
    _edit(path, signed=False, tensors=lambda t: {**t, "model.out.weight": t["model.out.weight"] + 1})
    with pytest.raises(ValueError, match="checksum mismatch"):
        weights_io.resave(path)
    path, _, _ = _v1_file(tmp_path / "crafted.safetensors", random_unet())
    _edit(path, signed=False, architecture={**default_hparams(4), "width": 200_000})
    with pytest.raises(ValueError, match="width must be an integer between 1 and 256"):
        weights_io.resave(path)


@pytest.mark.parametrize("name", sorted(SHIPPED_V1))
def test_shipped_weights_are_version_2_and_hold_the_trained_tensors(name):
    path = _unet.shipped_weights(name)
    metadata, table, data = _raw(path)
    assert metadata["format_version"] == "2" and metadata["sha256"] == _v2_checksum(metadata, table, data)
    assert _v1_checksum(_tensors(path)) == SHIPPED_V1[name]  # the re-save kept every tensor bit for bit
    model, meta = weights_io.load_weights(path)
    assert meta["training"]["dataset_name"] == name and not model.training


SHIPPED_FILES = sorted(f for f in os.listdir(_unet.WEIGHTS_DIR) if f.endswith(".safetensors"))


@pytest.mark.parametrize("filename", SHIPPED_FILES)
def test_every_shipped_file_is_version_2_of_its_dataset_and_variant(filename):
    """Each file's checksum (recomputed here), dataset and variant agree with its name: the name is
    ``<dataset>[-rgb][-centered|-cond].safetensors`` (denoisers/_unet.py picks files by it)."""
    path = os.path.join(_unet.WEIGHTS_DIR, filename)
    metadata, table, data = _raw(path)
    assert metadata["format_version"] == "2" and metadata["sha256"] == _v2_checksum(metadata, table, data)
    model, meta = weights_io.load_weights(path)
    stem = filename.removesuffix(".safetensors")
    suffix, variant = next(((s, v) for s, v in (("-cond", "conditioned"), ("-centered", "centered"))
                            if stem.endswith(s)), ("", "blind"))
    base = stem.removesuffix(suffix)
    assert _bfunet.variant_of(meta["architecture"]) == variant
    assert meta["training"]["dataset_name"] == base.removesuffix("-rgb")
    assert model.hparams["channels"] == (3 if base.endswith("-rgb") else 1)


# -- the denoiser ------------------------------------------------------------------------------------------
def test_a_network_refuses_another_number_of_channels(tmp_path):
    path = _save(tmp_path / 'w.safetensors', random_unet())
    y = np.zeros((2, 3, 37, 31), np.float32)
    for shape in [(2, 3, 37, 31), (2, 2, 37, 31)]:  # color=rgb: no per-channel run; two channels: never
        d = db.make_denoiser(f"unet:weights={path}" + (",color=rgb" if shape[1] == 3 else ""))
        with pytest.raises(ValueError, match=r"takes 1-channel images \(N, 1, H, W\); got shape " + re.escape(str(shape))):
            d(np.zeros(shape, np.float32), 0.1)
    # By default (color=opponent) a 1-channel network runs on each opponent channel of an RGB image.
    assert db.make_denoiser(f"unet:weights={path}")(y, 0.1).shape == y.shape
    colour = db.make_denoiser("unet", weights=random_unet(channels=3))
    assert colour(y, 0.1).shape == y.shape
    with pytest.raises(ValueError, match="3-channel images"):
        colour(np.zeros((1, 1, 8, 8)), 0.1)


def test_weights_of_another_dataset_warn_and_say_where_they_come_from(tmp_path, recwarn):
    path = _save(tmp_path / "c.safetensors", random_unet(), {"dataset": "cartoon", "dataset_name": "cartoon"})
    y = np.random.default_rng(0).random((1, 1, 16, 16)).astype(np.float32)
    same = db.make_denoiser(f"unet:weights={path}", dataset=db.make_dataset("cartoon"))
    same(y, 0.1)
    assert not [w for w in recwarn if issubclass(w.category, UserWarning)] and same.trained_on == "cartoon"
    other = db.make_denoiser(f"unet:weights={path}", dataset=db.make_dataset("gaussian"))
    with pytest.warns(UserWarning, match=r"trained on 'cartoon', used here on 'gaussian"):
        other(y, 0.1)
    assert db.make_denoiser("unet", weights=random_unet()).trained_on is None


# -- training refuses what cannot work, before it starts -------------------------------------------------------
@pytest.mark.parametrize("bad, match", [
    ({"lr": float("inf")}, "lr must be a finite number with 0 < lr <= 1; got inf"),
    ({"lr": float("nan")}, "lr must be .*got nan"),
    ({"lr": 0.0}, "lr must be"), ({"lr": 2.0}, "lr must be"), ({"lr": -1e-3}, "lr must be"),
    ({"clip": float("nan")}, "clip must be a finite number >= 0 .*got nan"),
    ({"clip": -1.0}, "clip must be .*got -1.0"), ({"clip": float("inf")}, "clip must be"),
    ({"steps": 0}, "steps must be an integer >= 1"), ({"steps": 10 ** 7 + 1}, "steps must be .*<= 10000000"),
    ({"width": 257}, "width must be .*<= 256"), ({"width": 100_000}, "width must be"), ({"width": 0}, "width"),
    ({"batch": 0}, "batch"), ({"seed": -1}, "seed"), ({"seed": 10 ** 20}, "seed"), ({"stop_at": -1}, "stop_at"),
    ({"steps": 10 ** 6, "val_every": 1}, "validates 1000000 times; at most 10000 .*val_every >= 100"),
    ({"batch": 4096, "width": 256, "patch": 16}, r"would need about \d+\.\d GiB .*limit is 8 GiB"),
    ({"n_train": 10 ** 8}, "would need about"),
    ({"warmup": float("nan")}, "warmup"), ({"final_lr": float("inf")}, "final_lr"),
    ({"sigma_min": float("nan")}, "sigma_min"),
])
def test_training_refuses_bad_settings_before_any_step(tmp_path, monkeypatch, bad, match):
    monkeypatch.setattr(train_module, "draw_batch", lambda *a, **k: pytest.fail("a training step ran"))
    monkeypatch.setattr(db.make_dataset("natural").__class__, "sample",
                        lambda *a, **k: pytest.fail("training images were drawn"))
    with pytest.raises(ValueError, match=match) as info:
        train("natural:size=16", out=str(tmp_path / "w.safetensors"), **{**TINY, **bad})
    assert "\n" not in str(info.value) and os.listdir(tmp_path) == []


def _out_cases(tmp_path):
    (tmp_path / "file").write_text("x")
    (tmp_path / "dir").mkdir()
    return {"a directory": (tmp_path / "dir", {}, "is a directory"),
            "empty": ("", {}, "empty path"),
            "under a file": (tmp_path / "file" / "w.safetensors", {}, "is a file, not a folder"),
            "missing folder": (tmp_path / "nope" / "w.safetensors", {}, "does not exist"),
            "checkpoint a directory": (tmp_path / "w.safetensors", {"checkpoint": tmp_path / "dir"}, "is a directory"),
            "checkpoint is out": (tmp_path / "w.safetensors", {"checkpoint": tmp_path / "w.safetensors"}, "same file")}


@pytest.mark.parametrize("case", ["a directory", "empty", "under a file", "missing folder", "checkpoint a directory",
                                  "checkpoint is out"])
def test_training_refuses_an_output_it_cannot_write_before_any_step(tmp_path, monkeypatch, case):
    out, extra, match = _out_cases(tmp_path)[case]
    monkeypatch.setattr(train_module, "draw_batch", lambda *a, **k: pytest.fail("a training step ran"))
    monkeypatch.chdir(tmp_path)
    before = sorted(os.listdir(tmp_path))
    with pytest.raises(ValueError, match=match):
        train("natural:size=16", out=out if out == "" else str(out), **{**TINY, **extra})
    assert sorted(os.listdir(tmp_path)) == before


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root writes anywhere")
def test_training_refuses_an_unwritable_folder(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        with pytest.raises(ValueError, match="cannot write in"):
            train("natural:size=16", out=str(folder / "w.safetensors"), **TINY)
    finally:
        folder.chmod(0o755)


def _temps(folder):
    return sorted(f for f in os.listdir(folder) if f.startswith(".tmp-"))


@pytest.mark.parametrize("first_bad_call", [1, 4])
def test_a_non_finite_loss_stops_training_and_writes_no_weights(tmp_path, monkeypatch, first_bad_call):
    calls = []

    def weight(sigma, sd):  # finite until the given step, then inf
        calls.append(1)
        return sigma * 0 + (float("inf") if len(calls) >= first_bad_call else 1.0)

    monkeypatch.setitem(train_module.LOSS_WEIGHTS, "none", weight)
    out = tmp_path / "w.safetensors"
    with pytest.raises(TrainingDivergedError, match=f"training diverged at step {first_bad_call}: the loss \\(inf\\)"):
        train("natural:size=16", out=str(out), weighting="none", **TINY)
    assert isinstance(TrainingDivergedError("x"), RuntimeError)
    assert not out.exists() and _temps(tmp_path) == []
    ckpt = tmp_path / "w.ckpt.safetensors"
    assert ckpt.exists() == (first_bad_call > TINY["ckpt_every"])
    if ckpt.exists():  # the earlier checkpoint is kept, finite and loadable
        assert weights_io.load_weights(str(ckpt))[1]["training"]["weighting"] == "none"


def test_non_finite_weights_are_never_saved(tmp_path, monkeypatch):
    """A NaN that reaches the weights without a NaN loss (no clipping) stops before the checkpoint."""
    real_step = torch.optim.Adam.step

    def poisoned(self, *args, **kwargs):
        out = real_step(self, *args, **kwargs)
        with torch.no_grad():
            self.param_groups[0]["params"][0].view(-1)[0] = float("nan")
        return out

    monkeypatch.setattr(torch.optim.Adam, "step", poisoned)
    out = tmp_path / "w.safetensors"
    with pytest.raises(TrainingDivergedError, match="at step 1: a weight is not finite"):
        train("natural:size=16", out=str(out), clip=0, **{**TINY, "ckpt_every": 1})
    assert os.listdir(tmp_path) == []


def _dead_pid():
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_stale_temporary_files_of_killed_runs_are_removed_on_the_next_start(tmp_path):
    hour_ago = time.time() - 3600
    stale = [f".tmp-{_dead_pid()}-ab12cd.safetensors", ".tmp-k3j_x9.safetensors"]  # killed writer; old naming
    kept = [f".tmp-{os.getpid()}-live.safetensors", ".tmp-notes.txt", "other.safetensors"]
    for name in stale + kept:
        (tmp_path / name).write_bytes(b"")
        os.utime(tmp_path / name, (hour_ago, hour_ago))
    train("natural:size=16", out=str(tmp_path / "w.safetensors"), **{**TINY, "steps": 1})
    assert sorted(os.listdir(tmp_path)) == sorted(kept + ["w.safetensors"])


def test_a_failed_write_leaves_no_temporary_file(tmp_path, monkeypatch):
    def broken(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(weights_io.os, "replace", broken)
    with pytest.raises(OSError, match="No space left"):
        _save(tmp_path / "w.safetensors", random_unet())
    assert os.listdir(tmp_path) == []


def test_the_reader_and_the_checks_never_unpickle():
    import inspect

    from denoisebench.networks import _safetensors, _train_checks

    for module in (_safetensors, _train_checks, weights_io):
        source = inspect.getsource(module)
        assert "torch.load(" not in source and "import pickle" not in source and "safe_open" not in source
