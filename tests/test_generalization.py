"""The memorising optimum and the memorisation → generalisation experiment.

Independent references: the empirical posterior mean written as a literal per-image loop with
scipy's ``logsumexp``; brute-force cosine similarities; the theorem that the probability-flow
ODE of a finite set of atoms ends on an atom (so heun with the empirical denoiser copies
training images); files and resumption of ``denoisebench generalization``.
"""
import json
import os

import numpy as np
import pytest
from scipy.special import logsumexp

import denoisebench as db
from denoisebench import compare
from denoisebench.cli import main
from denoisebench.experiments.generalization import model_seeds, run_generalization
from denoisebench.registry import SpecError
from denoisebench.sampling import heun, initial_noise, karras_sigmas


def _literal_posterior_mean(atoms, y, sigma):
    out = np.empty_like(y, dtype=np.float64)
    flat = atoms.reshape(atoms.shape[0], -1).astype(np.float64)
    for i in range(y.shape[0]):
        d2 = np.sum((flat - y[i].reshape(-1)) ** 2, axis=1)
        log_w = -d2 / (2 * sigma[i] ** 2)
        w = np.exp(log_w - logsumexp(log_w))
        out[i] = (w @ flat).reshape(y.shape[1:])
    return out


@pytest.mark.parametrize("dtype, tol", [(np.float64, 1e-10), (np.float32, 2e-4)])
def test_empirical_posterior_equals_the_literal_softmax_formula(dtype, tol):
    ds = db.make_dataset("disks", size=(37, 31))
    atoms = ds.sample(12, seed=1, split="train")
    x = ds.sample(5, seed=2, split="test")
    sigma = np.array([0.05, 0.2, 0.5, 1.0, 3.0])
    y = (x + sigma[:, None, None, None] * np.random.default_rng(0).standard_normal(x.shape)).astype(dtype)
    d = db.make_denoiser("empirical").fit(atoms)
    got = d(y, sigma.astype(dtype))
    assert got.dtype == dtype and got.shape == y.shape
    np.testing.assert_allclose(got, _literal_posterior_mean(atoms, y.astype(np.float64), sigma), atol=tol)


def test_empirical_posterior_limits_nearest_atom_and_mean():
    ds = db.make_dataset("cartoon", size=16)
    atoms = ds.sample(6, seed=0, split="train")
    d = db.make_denoiser("empirical").fit(atoms)
    y = atoms[[4, 1]] + 1e-3 * np.random.default_rng(1).standard_normal((2, *atoms.shape[1:]))
    np.testing.assert_allclose(d(y, 1e-3), atoms[[4, 1]], atol=1e-10)  # σ → 0: the nearest atom
    np.testing.assert_allclose(d(y, 1e4), np.broadcast_to(atoms.mean(axis=0), y.shape), atol=1e-6)  # σ → ∞: the mean


def test_empirical_posterior_refuses_other_shapes_and_unfitted_use():
    d = db.make_denoiser("empirical")
    with pytest.raises(db.NotFittedError):
        d(np.zeros((1, 1, 8, 8)), 0.1)
    d.fit(np.zeros((3, 1, 8, 8)))
    with pytest.raises(ValueError, match="shape"):
        d(np.zeros((1, 1, 8, 9)), 0.1)
    with pytest.raises(ValueError, match="NaN"):
        d.fit(np.full((2, 1, 8, 8), np.nan))


def test_heun_with_the_empirical_optimum_returns_training_images():
    # The probability-flow ODE of (1/M) Σ δ_{x_m} ends on one of the x_m (Kadkhodaie et al. 2024, §2).
    ds = db.make_dataset("disks", size=16)
    atoms = ds.sample(4, seed=3, split="train")
    d = db.make_denoiser("empirical").fit(atoms)
    x0 = initial_noise(8, atoms.shape[1:], 10.0, seed=0, mean=float(atoms.mean()))
    samples = heun(d, x0, karras_sigmas(40, 0.005, 10.0)).samples
    cos, index = compare.nearest_cosine(samples, atoms)
    assert np.all(cos > 0.9999)
    np.testing.assert_allclose(samples, atoms[index], atol=1e-4)
    assert len(set(index.tolist())) > 1  # different noise reaches different atoms


def test_nearest_cosine_matches_brute_force():
    rng = np.random.default_rng(0)
    ref = rng.standard_normal((7, 1, 5, 3))
    x = np.concatenate([3.0 * ref[[2]] + 1.0, -ref[[5]], rng.standard_normal((4, 1, 5, 3))])
    cos, index = compare.nearest_cosine(x, ref, chunk=2)

    def c(a, b):
        a, b = a.ravel() - a.mean(), b.ravel() - b.mean()
        return a @ b / np.linalg.norm(a) / np.linalg.norm(b)

    brute = np.array([[c(a, b) for b in ref] for a in x])
    np.testing.assert_allclose(cos, brute.max(axis=1), atol=1e-12)
    np.testing.assert_array_equal(index, brute.argmax(axis=1))
    assert index[0] == 2 and cos[0] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="size"):
        compare.nearest_cosine(x, ref[..., :2])


TINY = {"sizes": [1, 2], "steps": 3, "width": 4, "batch": 4, "n": 3, "sampler_steps": 3, "n_data": 8}


def test_generalization_writes_its_files_and_reuses_trained_weights(tmp_path, monkeypatch):
    out = str(tmp_path / "gen")
    paths = run_generalization("disks:size=8", out=out, progress=False, **TINY)
    assert all(os.path.exists(p) for p in paths)
    report = json.load(open(os.path.join(out, "generalization.json")))
    assert list(report["sizes"]) == ["1", "2"]
    assert report["settings"]["model_seeds"] == model_seeds(0) == {"a": 0, "b": 1}
    for n, m in report["sizes"].items():
        assert -1 <= m["cos_ab"]["mean"] <= 1
        assert -1 <= m["nearest_train_cos"]["both"]["mean"] <= 1
        assert -1 <= m["cos_empirical"]["mean"] <= 1
        assert m["train_sets_min_distance"] > 0  # the two training sets share no image
        assert len(m["nearest_index"]["a"]) == TINY["n"] and max(m["nearest_index"]["a"]) < int(n)
        for k in "ab":
            assert np.load(os.path.join(out, f"samples_n{n}_{k}.npy")).shape == (TINY["n"], 1, 8, 8)
    # the same-seed cosine in the report is the one of the saved samples
    a, b = (np.load(os.path.join(out, f"samples_n2_{k}.npy")) for k in "ab")
    assert report["sizes"]["2"]["cos_ab"]["mean"] == pytest.approx(np.mean(compare.same_seed_cosine(a, b)), abs=1e-6)
    assert "denoisebench generalization --dataset disks:size=8" in open(paths[1]).read()

    # rerun: the weights are reused, nothing is trained again
    import denoisebench.networks.train as train_module

    monkeypatch.setattr(train_module, "train", lambda *a, **k: pytest.fail("retrained finished weights"))
    again = run_generalization("disks:size=8", out=out, progress=False, **TINY)
    redone = json.load(open(again[0]))["sizes"]
    assert [m["cos_ab"] for m in redone.values()] == [m["cos_ab"] for m in report["sizes"].values()]
    np.testing.assert_array_equal(np.load(os.path.join(out, "samples_n2_a.npy")), a)
    # weights made with other settings are refused, not silently reused
    with pytest.raises(ValueError, match="other settings"):
        run_generalization("disks:size=8", out=out, progress=False, **{**TINY, "steps": 4})


@pytest.mark.parametrize("kwargs, match", [
    ({"sizes": [0]}, "sizes"), ({"sizes": []}, "sizes"), ({"steps": 0}, "steps"),
    ({"sampler": "nope"}, "sampler"), ({"sigma_min": 2.0, "sigma_max": 1.0}, "sigma_min"),
])
def test_generalization_refuses_bad_requests_before_training(tmp_path, kwargs, match):
    with pytest.raises(SpecError, match=match):
        run_generalization("disks:size=8", out=str(tmp_path), progress=False, **{**TINY, **kwargs})


@pytest.mark.parametrize("argv", [
    ["--sizes", "0"], ["--sizes", "a,b"], ["--dataset", "nope"], ["--dataset", "disks:size=10"], ["--steps", "-1"],
])
def test_generalization_cli_usage_errors_exit_2(tmp_path, capsys, argv):
    assert main(["generalization", "--out", str(tmp_path), "--quiet", *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("denoisebench: error:") and "Traceback" not in err


def test_parallel_training_gives_the_weights_of_serial_training(tmp_path):
    from denoisebench.networks.weights_io import load_weights

    settings = {**TINY, "sizes": [2]}
    run_generalization("disks:size=8", out=str(tmp_path / "serial"), progress=False, **settings)
    run_generalization("disks:size=8", out=str(tmp_path / "parallel"), progress=False, jobs=2, **settings)
    for k in "ab":
        serial, parallel = (load_weights(str(tmp_path / d / "weights" / f"n2-{k}.safetensors"))[0]
                            for d in ("serial", "parallel"))
        for (name, p), q in zip(serial.state_dict().items(), parallel.state_dict().values()):
            np.testing.assert_allclose(p.numpy(), q.numpy(), rtol=1e-4, atol=1e-6, err_msg=name)
