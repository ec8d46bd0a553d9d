"""Generation (issue 20): noise-level experts joined into one network, block-mean training, the structure
statistics of samples, paired gaps, and `sample`'s plan-time refusals."""
import math
import subprocess
import sys

import numpy as np
import pytest

import denoisebench as db

torch = pytest.importorskip("torch")


def _conditioned(width=4, seed=0):
    from denoisebench.networks._bfunet import build, default_hparams

    torch.manual_seed(seed)
    m = build(default_hparams(width, 1, conditioning="edm"))
    for p in m.parameters():  # random, non-zero weights: the experts must differ visibly
        p.data.normal_(0, 0.3)
    m.mean.fill_(0.3 + 0.1 * seed)
    m.sigma_data.fill_(0.2)
    return m.eval()


def _save(module, path, dataset="cartoon", sigma_min=0.002, sigma_max=1.0, **extra):
    from denoisebench.networks.weights_io import save_weights

    training = {"dataset": dataset, "dataset_name": dataset, "dataset_params": {}, "sigma_min": sigma_min,
                "sigma_max": sigma_max, "steps": 1, "variant": "conditioned", **extra}
    save_weights(path, module, training)
    return path


@pytest.fixture
def experts(tmp_path):
    low, high = _conditioned(seed=0), _conditioned(seed=1)
    lo = _save(low, tmp_path / "low.safetensors")
    hi = _save(high, tmp_path / "high.safetensors", sigma_min=0.1, sigma_max=16.0, downsample=4)
    return low, high, lo, hi, tmp_path


def test_joined_network_is_the_low_expert_below_the_split_and_the_block_mean_expert_above(experts):
    from denoisebench.networks._bfunet import apply_padded
    from denoisebench.networks.weights_io import join_experts, load_weights

    low, high, lo, hi, tmp = experts
    out = join_experts(lo, hi, 1.0, tmp / "pair.safetensors")
    pair, meta = load_weights(out)
    assert meta["architecture"]["sigma_split"] == 1.0 and meta["architecture"]["high_downsample"] == 4
    assert (meta["training"]["sigma_min"], meta["training"]["sigma_max"]) == (0.002, 64.0)  # high: 4 × 16
    y = torch.rand(4, 1, 37, 31, dtype=torch.float64)
    s = torch.tensor([0.05, 1.0, 2.0, 40.0], dtype=torch.float64)
    with torch.no_grad():
        got = apply_padded(pair.double(), y, s)
        want_low = apply_padded(low.double(), y[:2], s[:2])
        # above the split: the image reflected to 40 × 32 (apply_padded: rows 1 + 2, columns 0 + 1), its 4 × 4
        # block means, the high expert at σ/4, each value repeated over its block, cropped back
        yp = torch.nn.functional.pad(y[2:], (0, 1, 1, 2), mode="reflect")
        means = yp.reshape(2, 1, 10, 4, 8, 4).mean(dim=(3, 5))
        small = apply_padded(high.double(), means, s[2:] / 4)
        want_high = small.repeat_interleave(4, -2).repeat_interleave(4, -1)[..., 1:38, :31]
    torch.testing.assert_close(got[:2], want_low, rtol=0, atol=1e-12)
    torch.testing.assert_close(got[2:], want_high, rtol=0, atol=1e-12)
    assert [e["file"] for e in meta["training"]["experts"]] == ["low.safetensors", "high.safetensors"]


def test_three_experts_route_each_sigma_to_its_own_network(experts):
    """join(mid, high) then join(low, that): σ ≤ 0.25 the low expert, (0.25, 1] the mid one on the full
    image, above 1 the block-mean one — each checked against that expert's own forward pass."""
    from denoisebench.networks._bfunet import apply_padded
    from denoisebench.networks.weights_io import join_experts, load_weights

    low, high, lo, hi, tmp = experts
    mid = _conditioned(seed=2)
    md = _save(mid, tmp / "mid.safetensors", sigma_min=0.15, sigma_max=1.5)
    upper = join_experts(md, hi, 1.0, tmp / "upper.safetensors")
    three, meta = load_weights(join_experts(lo, upper, 0.25, tmp / "three.safetensors"))
    assert meta["architecture"]["sigma_split"] == [0.25, 1.0] and meta["architecture"]["high_downsample"] == [1, 4]
    assert [e["file"] for e in meta["training"]["experts"]] == ["low.safetensors", "mid.safetensors",
                                                                 "high.safetensors"]
    assert [e["sigma_range"] for e in meta["training"]["experts"]] == [[0.002, 0.25], [0.25, 1.0], [1.0, 64.0]]
    y = torch.rand(5, 1, 37, 31, dtype=torch.float64)
    s = torch.tensor([0.05, 0.25, 0.6, 1.0, 3.0], dtype=torch.float64)
    with torch.no_grad():
        got = apply_padded(three.double(), y, s)
        want_low = apply_padded(low.double(), y[:2], s[:2])
        want_mid = apply_padded(mid.double(), y[2:4], s[2:4])
        yp = torch.nn.functional.pad(y[4:], (0, 1, 1, 2), mode="reflect")
        small = apply_padded(high.double(), yp.reshape(1, 1, 10, 4, 8, 4).mean(dim=(3, 5)), s[4:] / 4)
        want_high = small.repeat_interleave(4, -2).repeat_interleave(4, -1)[..., 1:38, :31]
    torch.testing.assert_close(got[:2], want_low, rtol=0, atol=1e-12)
    torch.testing.assert_close(got[2:4], want_mid, rtol=0, atol=1e-12)
    torch.testing.assert_close(got[4:], want_high, rtol=0, atol=1e-12)
    with pytest.raises(ValueError, match="must lie in both"):  # the split must fall below the mid expert's top
        join_experts(lo, upper, 1.0, tmp / "x.safetensors")


def test_expert_hparams_are_validated():
    from denoisebench.networks._bfunet import default_hparams, validate_hparams

    base = default_hparams(4, 1, conditioning="edm")
    validate_hparams({**base, "sigma_split": [0.25, 1.0], "high_downsample": [1, 4]})
    for bad in ({"sigma_split": [1.0, 0.25], "high_downsample": [1, 4]}, {"sigma_split": [0.25, 1.0],
                "high_downsample": [2, 3]}, {"sigma_split": [0.25, 1.0], "high_downsample": [1]}):
        with pytest.raises(ValueError, match="sigma_split|high_downsample"):
            validate_hparams({**base, **bad})


def test_join_refuses_a_gap_at_the_split_or_another_dataset(experts):
    from denoisebench.networks.weights_io import join_experts

    low, high, lo, hi, tmp = experts
    with pytest.raises(ValueError, match="split 80 must lie in both"):
        join_experts(lo, hi, 80.0, tmp / "x.safetensors")
    other = _save(high, tmp / "other.safetensors", dataset="disks", sigma_min=0.1, sigma_max=16.0)
    with pytest.raises(ValueError, match="trained on"):
        join_experts(lo, other, 1.0, tmp / "x.safetensors")
    assert not (tmp / "x.safetensors").exists()


def test_joined_file_records_the_range_sample_reads(experts):
    from denoisebench.experiments.sample import range_warnings
    from denoisebench.networks.weights_io import join_experts

    _, _, lo, hi, tmp = experts
    path = join_experts(lo, hi, 1.0, tmp / "pair.safetensors")
    d = db.make_denoiser("unet", weights=str(path), dataset="cartoon")
    assert range_warnings([("pair", d)], 32.0) == []
    with pytest.warns(UserWarning, match="outside the σ range"):
        assert len(range_warnings([("pair", d)], 100.0)) == 1


def test_block_means_are_averages_over_blocks():
    from denoisebench.networks._train_checks import block_means

    x = np.arange(2 * 1 * 8 * 12, dtype=np.float32).reshape(2, 1, 8, 12)
    got = block_means(x, 4)
    assert got.shape == (2, 1, 2, 3) and got.dtype == np.float32
    assert got[1, 0, 1, 2] == pytest.approx(x[1, 0, 4:8, 8:12].mean())
    assert block_means(x, 1) is x


def test_train_downsample_trains_on_block_means_and_records_it(tmp_path):
    from denoisebench.networks.train import train
    from denoisebench.networks.weights_io import load_weights

    out = tmp_path / "h.safetensors"
    train("cartoon:size=32", n_train=8, steps=2, width=4, batch=2, variant="conditioned", downsample=4,
          sigma_min=0.1, sigma_max=4.0, out=out, progress=False, val_every=2, n_val=2)
    _, meta = load_weights(out)
    assert meta["training"]["downsample"] == 4 and meta["training"]["patch"] == 8
    with pytest.raises(ValueError, match="downsample must be an integer"):
        train("cartoon:size=30", steps=1, downsample=4, out=tmp_path / "y.safetensors", progress=False)


# -- structure statistics -------------------------------------------------------------------------------
def _disk(shape=(48, 48), centre=(20, 26), radius=9):
    rr, cc = np.mgrid[: shape[0], : shape[1]]
    return 0.2 + 0.6 * ((rr - centre[0]) ** 2 + (cc - centre[1]) ** 2 <= radius**2)


def test_disk_fit_recovers_a_drawn_disk():
    from denoisebench.experiments._structure import disk_fit

    radius, centre, iou = disk_fit(_disk()[None])
    assert radius == pytest.approx(9, abs=0.3) and centre == pytest.approx((20, 26), abs=0.05) and iou > 0.95
    square = np.full((48, 48), 0.2)
    square[10:30, 10:30] = 0.8
    assert disk_fit(square[None])[2] < 0.9  # a square is not round


def test_single_region_tells_one_blob_from_two():
    from denoisebench.experiments._structure import is_single_region

    one = _disk()
    two = np.maximum(_disk(centre=(12, 12), radius=6), _disk(centre=(34, 34), radius=6))
    ring = _disk(radius=14) - 0.6 * (_disk(radius=6) > 0.5)  # a hole: the complement has two components
    assert is_single_region(one[None]) and not is_single_region(two[None]) and not is_single_region(ring[None])


def test_held_out_images_have_the_data_geometry():
    from denoisebench.experiments._structure import structure_statistics

    assert structure_statistics("cartoon", db.make_dataset("cartoon").sample(32, seed=1))["single_region"] >= 0.9
    assert structure_statistics("disks", db.make_dataset("disks").sample(32, seed=1))["round"] == 1.0
    assert structure_statistics("gaussian", np.zeros((2, 1, 8, 8))) is None


# -- paired gaps -------------------------------------------------------------------------------------
def test_paired_gap_standard_error_matches_a_monte_carlo_over_test_sets():
    """The paired gap's standard error (from one test set) against the spread of the gap over 40 disjoint test sets."""
    from denoisebench.report._rows import PAIRED, gap_stderr_db
    from denoisebench.grid.runner import paired_gap

    ds = db.make_dataset("gmm", size=8)
    opt, lin = db.make_denoiser("optimal", dataset=ds), db.make_denoiser("wiener-oracle", dataset=ds)
    sigma, n, sets = 0.3, 16, 40
    x = ds.sample(n * sets, seed=3)
    y = db.add_noise(x, sigma, seed=3)
    per_opt = np.mean((np.asarray(opt(y, sigma)) - x) ** 2, axis=(1, 2, 3))
    per_lin = np.mean((np.asarray(lin(y, sigma)) - x) ** 2, axis=(1, 2, 3))
    gaps, ses = [], []
    for k in range(sets):
        part = slice(k * n, (k + 1) * n)
        o, se, gap = paired_gap(per_lin[part], per_opt[part])
        gaps.append(gap)
        ses.append(gap_stderr_db({"status": "done", "reason": PAIRED, "optimal_stderr": se, "optimal_mse": o,
                                  "mse": float(np.mean(per_lin[part]))}))
    spread = np.std(gaps, ddof=1)
    assert 0.6 < np.mean(ses) / spread < 1.6, (np.mean(ses), spread)
    assert np.all(np.asarray(gaps) > -3 * np.asarray(ses))  # the optimum is never beaten beyond the error


def test_gmm_cells_store_paired_gaps(tmp_path):
    from denoisebench.report._rows import PAIRED
    from denoisebench.grid import plan
    from denoisebench.grid.runner import evaluate_cell

    rows = {c.denoiser: evaluate_cell(c) for c in plan(["gmm:size=8"], ["optimal", "wiener-oracle"], [0.2], n=8)}
    assert rows["optimal"]["gap_db"] == 0.0 and rows["optimal"]["reason"] == PAIRED
    assert rows["wiener-oracle"]["optimal_mse"] == pytest.approx(rows["optimal"]["mse"], rel=1e-12)
    assert rows["wiener-oracle"]["gap_db"] == pytest.approx(
        10 * math.log10(rows["wiener-oracle"]["mse"] / rows["optimal"]["mse"]), rel=1e-9)
    gauss = evaluate_cell(plan(["gaussian:size=8"], ["wiener"], [0.2], n=8)[0])
    assert gauss["reason"] is None  # an exact optimum: the gap is to the exact MMSE


# -- sample refuses before computing ---------------------------------------------------------------------
@pytest.mark.parametrize("args, message", [
    (["--sigma-max", "1e308"], "--sigma-max must be in"),
    (["--size", "2048", "--n", "100000"], "needs about .* of memory is available"),
    (["--sampler", "euler-maruyama", "--churn", "1"], "--churn is a setting of the heun sampler"),
    (["--churn", "-1"], "--churn: must be >= 0"),
    (["--churn", "inf"], "--churn: must be >= 0"),
    (["--churn", "1", "--churn-range", "2", "1"], "s_tmin <= s_tmax"),
    (["--churn-noise", "0"], "--churn-noise: must be > 0"),
])
def test_sample_refuses_an_impossible_request_in_one_line(tmp_path, args, message):
    out = tmp_path / "out"
    r = subprocess.run([sys.executable, "-m", "denoisebench", "sample", "--dataset", "gaussian:size=16",
                        "--denoisers", "identity", "--n", "2", *args, "--out", str(out)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and __import__("re").search(message, lines[0]), r.stderr
    assert not out.exists()


def test_train_join_refuses_a_device_as_out_before_reading(experts, capsys):
    from denoisebench.cli import main

    _, _, lo, hi, _ = experts
    assert main(["train", "--join", str(lo), str(hi), "--split", "1", "--out", "/dev/null"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "character device" in err[0]


# -- the border of the lowest expert -----------------------------------------------------------------------
def _with_border(module, border):
    from denoisebench.networks._bfunet import build

    other = build({**module.hparams, "border": border})
    other.load_state_dict(module.state_dict())
    return other.eval()


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_border_is_the_network_on_the_reflected_image_cropped_back(dtype):
    from denoisebench.networks._bfunet import apply_padded

    plain = _conditioned().to(dtype)
    bordered = _with_border(plain, 8).to(dtype)
    y = torch.rand(3, 1, 37, 31, dtype=dtype)
    s = torch.tensor([0.01, 0.1, 0.5], dtype=dtype)
    with torch.no_grad():
        got = apply_padded(bordered, y, s)
        # by hand: apply_padded's reflection to 40 × 32 (rows 1 + 2, columns 0 + 1), then 8 more pixels each side
        yp = torch.nn.functional.pad(y, (0, 1, 1, 2), mode="reflect")
        want = plain(torch.nn.functional.pad(yp, (8, 8, 8, 8), mode="reflect"), s)[..., 8:48, 8:40][..., 1:38, :31]
        differs = (apply_padded(plain, y, s) - got).abs()
    tol = 1e-5 if dtype == torch.float32 else 1e-12
    torch.testing.assert_close(got, want, rtol=0, atol=tol)
    assert differs[..., :3, :].max() > 1e3 * tol  # the border pixels see the image instead of a dark frame


def test_border_keeps_the_blind_network_homogeneous():
    from denoisebench.networks._bfunet import build, default_hparams

    torch.manual_seed(3)
    m = build(default_hparams(4, 1, border=4))
    for p in m.parameters():
        p.data.normal_(0, 0.3)
    m.eval()
    y = torch.rand(2, 1, 24, 20, dtype=torch.float64)
    m = m.double()
    with torch.no_grad():
        torch.testing.assert_close(m(2.5 * y), 2.5 * m(y), rtol=1e-12, atol=1e-12)


def test_border_is_validated_and_each_expert_keeps_its_own(experts):
    from denoisebench.networks._bfunet import apply_padded, build, default_hparams, validate_hparams
    from denoisebench.networks.weights_io import join_experts, load_weights

    base = default_hparams(4, 1, conditioning="edm")
    for bad in (3, 6, -4, 36, True, 4.0, [4, 4]):
        with pytest.raises(ValueError, match="border"):
            validate_hparams({**base, "border": bad})
    validate_hparams({**base, "sigma_split": 1.0, "border": [4, 8]})
    with pytest.raises(ValueError, match="one per expert"):
        validate_hparams({**base, "sigma_split": 1.0, "border": [4, 8, 0]})
    assert build({**base, "sigma_split": 1.0, "border": 4}).high.hparams.get("border", 0) == 0
    low, high, lo, hi, tmp = experts
    lo_b = _save(_with_border(low, 4), tmp / "low-b.safetensors")
    assert load_weights(join_experts(lo_b, hi, 1.0, tmp / "a.safetensors"))[1]["architecture"]["border"] == 4
    hi_b = _save(_with_border(high, 8), tmp / "high-b.safetensors", sigma_min=0.1, sigma_max=16.0, downsample=4)
    pair, meta = load_weights(join_experts(lo, hi_b, 1.0, tmp / "b.safetensors"))
    assert meta["architecture"]["border"] == [0, 8] and pair.high.hparams["border"] == 8
    y = torch.rand(2, 1, 32, 32, dtype=torch.float64)
    with torch.no_grad():  # above the split: the bordered high expert on the 4 × 4 block means, repeated
        small = apply_padded(_with_border(high, 8).double(), y.reshape(2, 1, 8, 4, 8, 4).mean(dim=(3, 5)),
                             torch.tensor([0.5, 0.5], dtype=torch.float64))
        want = small.repeat_interleave(4, -2).repeat_interleave(4, -1)
        torch.testing.assert_close(pair.double()(y, 2.0), want, rtol=0, atol=1e-12)


def test_train_border_warm_starts_from_a_network_without_one_and_records_it(tmp_path):
    from denoisebench.networks.train import train
    from denoisebench.networks.weights_io import load_weights

    first = train("cartoon:size=16", n_train=8, steps=2, patch=16, width=4, out=str(tmp_path / "a.safetensors"),
                  batch=2, progress=False, variant="conditioned", n_val=2)
    second = train("cartoon:size=16", n_train=8, steps=2, patch=16, width=4, out=str(tmp_path / "b.safetensors"),
                   batch=2, progress=False, variant="conditioned", n_val=2, init=first["out"], border=4)
    _, meta = load_weights(second["out"])
    assert meta["architecture"]["border"] == 4 and meta["training"]["border"] == 4
    with pytest.raises(ValueError, match="border must be a multiple of 4"):
        train("cartoon:size=16", n_train=8, steps=2, patch=16, width=4, out=str(tmp_path / "c.safetensors"),
              batch=2, progress=False, variant="conditioned", n_val=2, border=6)
    assert not (tmp_path / "c.safetensors").exists()
