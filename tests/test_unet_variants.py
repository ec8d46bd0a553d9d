"""The U-Net's centered and σ-conditioned variants: EDM preconditioning against its defining
identities, homogeneity about the mean, the identity limit, training buffers, augmentation, files."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")

import denoisebench as db  # noqa: E402
from denoisebench.networks import weights_io  # noqa: E402
from denoisebench.networks._bfunet import build, default_hparams, edm_scalings, validate_hparams, variant_of  # noqa: E402
from denoisebench.testing import check_denoiser  # noqa: E402
from denoisebench.networks.train import VARIANTS, draw_batch, train  # noqa: E402

TINY = dict(n_train=16, steps=6, patch=8, width=4, batch=4, n_val=3, val_every=3, ckpt_every=2, progress=False)


pytestmark = pytest.mark.usefixtures("torch_one_thread")


def random_net(variant, width=4, seed=0, channels=1):
    """A random network of ``variant`` whose every layer matters (random last layer, buffers, gains)."""
    torch.manual_seed(seed)
    m = build(default_hparams(width, channels, "zeros", **VARIANTS[variant]))
    with torch.no_grad():
        torch.nn.init.normal_(m.out.weight, std=2.0)
        for name, buf in m.named_buffers():
            if buf.is_floating_point():
                buf.copy_(0.5 + torch.rand_like(buf))
    return m.eval()


def test_legacy_architecture_is_unchanged_and_variants_are_named():
    """The blind network's architecture dict is exactly the original one (files written before the
    variants existed validate), and each variant reads back from its hyper-parameters."""
    assert default_hparams() == {"name": "bf-unet", "width": 32, "channels": 1, "scales": 3, "convs_per_scale": 2,
                                 "padding": "zeros"}
    for variant, keys in VARIANTS.items():
        assert variant_of(default_hparams(**keys)) == variant
    with pytest.raises(ValueError, match="conditioning"):
        validate_hparams({**default_hparams(), "conditioning": "film"})
    with pytest.raises(ValueError, match="centered"):
        validate_hparams({**default_hparams(), "centered": "yes"})
    with pytest.raises(ValueError, match="unexpected"):
        validate_hparams({**default_hparams(), "bias": True})


@pytest.mark.parametrize("sigma_data", [0.2, 0.5, 1.0])
def test_edm_scalings_give_a_unit_variance_target_and_input(sigma_data):
    """Karras et al. (2022) table 1: with x of variance σ_d² and independent noise of variance σ²,
    the input c_in·y and the target (x − c_skip y)/c_out both have unit variance, and
    c_skip minimises that target's variance (its derivative in c_skip vanishes)."""
    s = torch.tensor([1e-3, 0.01, 0.1, 0.5, 1.0, 10.0], dtype=torch.float64)
    c_skip, c_out, c_in, c_noise = edm_scalings(s, sigma_data)
    target_var = ((1 - c_skip) ** 2 * sigma_data ** 2 + c_skip ** 2 * s ** 2) / c_out ** 2
    torch.testing.assert_close(target_var, torch.ones_like(s), rtol=1e-12, atol=0)
    torch.testing.assert_close(c_in ** 2 * (sigma_data ** 2 + s ** 2), torch.ones_like(s), rtol=1e-12, atol=0)
    d_var = -2 * (1 - c_skip) * sigma_data ** 2 + 2 * c_skip * s ** 2  # ∂/∂c_skip of the target's variance
    assert torch.all(d_var.abs() < 1e-12)
    torch.testing.assert_close(c_noise, torch.log(s) / 4)


@pytest.mark.parametrize("dtype, tol", [("float64", 1e-12), ("float32", 2e-5)])
def test_centered_network_is_homogeneous_about_its_mean(dtype, tol):
    """D(m + λu) − m = λ (D(m + u) − m) for λ > 0, on an odd size; and it is not homogeneous about 0."""
    net = random_net("centered")
    m = float(net.mean)
    d = db.make_denoiser("unet", weights=net)
    u = np.random.default_rng(0).standard_normal((2, 1, 37, 31)).astype(dtype)
    base = d((m + u).astype(dtype), 0.1).astype(np.float64) - m
    assert np.linalg.norm(base - u) > 1e-2 * np.linalg.norm(u)
    for lam in (0.05, 0.5, 3.0):
        out = d((m + lam * u).astype(dtype), 0.1).astype(np.float64) - m
        assert np.max(np.abs(out - lam * base)) <= tol * max(lam, 1) * (np.max(np.abs(base)) + m)
    y = (m + u).astype(np.float64)
    assert np.max(np.abs(d(2 * y, 0.1) - 2 * d(y, 0.1))) > 1e-3


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_conditioned_network_tends_to_the_identity_as_sigma_vanishes(dtype):
    """D(y, σ) − y = (c_skip − 1)(y − m) + c_out F = O(σ): whatever F is, the error ratio
    |D − y| / σ stays bounded as σ → 0 and D(y, σ) → y."""
    d = db.make_denoiser("unet", weights=random_net("conditioned"))
    y = np.random.default_rng(1).standard_normal((2, 1, 37, 31)).astype(dtype)
    ratios = []
    for s in (1e-2, 1e-3, 1e-4):
        out = d(y, s).astype(np.float64)
        ratios.append(np.max(np.abs(out - y)) / s)
    assert 0 < ratios[-1] < 1e3 and ratios[-1] <= 2 * ratios[0]
    assert np.max(np.abs(d(y, 0.5) - d(y, 0.05))) > 1e-3  # σ is an input: the output depends on it


def test_conditioned_network_needs_sigma_and_uses_each_images_own():
    net = random_net("conditioned")
    d = db.make_denoiser("unet", weights=net)
    y = torch.randn(3, 1, 12, 12, dtype=torch.float64)
    with pytest.raises(ValueError, match="needs sigma"):
        d.differentiable_denoise(y)
    per_image = d.differentiable_denoise(y, torch.tensor([0.05, 0.2, 0.8]))
    for i, s in enumerate((0.05, 0.2, 0.8)):
        torch.testing.assert_close(per_image[i:i + 1], d.differentiable_denoise(y[i:i + 1], s))


@pytest.mark.parametrize("variant", ["centered", "conditioned"])
def test_variants_conform(variant, backend):
    check_denoiser(db.make_denoiser("unet", weights=random_net(variant)), backend=backend, shape=(3, 1, 37, 31))


@pytest.mark.parametrize("variant", ["centered", "conditioned"])
def test_variant_weights_round_trip_and_a_mismatched_variant_is_refused(variant, tmp_path):
    net = random_net(variant)
    path = str(tmp_path / "w.safetensors")
    weights_io.save_weights(path, net, {"dataset": "gaussian"})
    y = np.random.default_rng(2).standard_normal((2, 1, 12, 20)).astype(np.float32)
    np.testing.assert_array_equal(db.make_denoiser("unet", weights=net)(y, 0.1),
                                  db.make_denoiser(f"unet:weights={path},variant={variant}")(y, 0.1))
    with pytest.raises(ValueError, match=f"variant=blind asked for.*{variant}"):
        db.make_denoiser(f"unet:weights={path},variant=blind")(y, 0.1)


@pytest.mark.parametrize("variant", ["centered", "conditioned"])
def test_training_measures_the_data_constants_and_resumes_bit_for_bit(variant, tmp_path):
    """The buffers hold the training images' per-channel mean and pixel std (computed here from
    the dataset's own draw); a resumed run equals the uninterrupted one bit for bit."""
    cfg = {**TINY, "variant": variant, "sigma_min": 0.002}
    straight = train("natural:size=16", out=str(tmp_path / "a.safetensors"), **cfg)
    train("natural:size=16", out=str(tmp_path / "b.safetensors"), stop_at=3, **cfg)
    train("natural:size=16", out=str(tmp_path / "b.safetensors"), **cfg)
    a, meta = weights_io.load_weights(straight["out"])
    b, _ = weights_io.load_weights(str(tmp_path / "b.safetensors"))
    sa, sb = a.state_dict(), b.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    x = db.make_dataset("natural", size=16).sample(16 + 3, 0, split="train")[:16].astype(np.float64)
    assert abs(float(a.mean) - x.mean()) < 1e-6
    if variant == "conditioned":
        assert abs(float(a.sigma_data) - x.std()) < 1e-6
    assert variant_of(meta["architecture"]) == variant and meta["training"]["variant"] == variant


def test_dihedral_augmentation_draws_the_eight_symmetries_of_each_crop():
    """Augmentation comes after every other draw: the crops' positions, σ and noise are those of
    the un-augmented batch, and each crop is one of the 8 symmetries of the square of its original."""
    images = torch.arange(2 * 12 * 12, dtype=torch.float32).reshape(2, 1, 12, 12)
    args = (images, 5, 0, 64, 8, False, "log-uniform", 0.01, 1.0)
    plain, s0, z0 = draw_batch(*args)
    aug, s1, z1 = draw_batch(*args, augment="dihedral")
    assert torch.equal(s0, s1) and torch.equal(z0, z1)
    seen = set()
    for p, a in zip(plain, aug):
        syms = [torch.rot90(p, k, dims=(-2, -1)) for k in range(4)]
        syms += [torch.flip(t, dims=(-1,)) for t in syms]
        hits = [i for i, t in enumerate(syms) if torch.equal(t, a)]
        assert len(hits) == 1
        seen.add(hits[0])
    assert seen == set(range(8))


@pytest.mark.parametrize("variant", ["centered", "conditioned"])
def test_jacobian_analysis_works_on_the_variants(variant):
    """The autograd Jacobian (σ passed through for the conditioned network) equals finite
    differences; a centered network satisfies Euler's identity about its mean, D(y) − m = J(y)(y − m);
    the conditioned one is measured as not homogeneous."""
    from denoisebench.analysis import homogeneity_error, jacobian

    net = random_net(variant, seed=3)
    d = db.make_denoiser("unet", weights=net)
    y = np.random.default_rng(4).standard_normal((1, 1, 6, 7)) + 0.5
    j_auto = jacobian(d, y, 0.1, derivative="autograd")[0]
    j_fd = jacobian(d, y, 0.1, derivative="fd", eps=1e-6)[0]
    np.testing.assert_allclose(j_auto, j_fd, atol=1e-6 * np.abs(j_auto).max())
    if variant == "centered":
        m = float(net.mean)
        np.testing.assert_allclose(j_auto @ (y.ravel() - m), d(y, 0.1).ravel() - m, rtol=1e-10, atol=1e-12)
    else:
        assert np.all(homogeneity_error(d, y, 0.1) > 1e-3)
