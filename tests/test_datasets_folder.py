"""The ``folder`` dataset: a user's image files, checked against the arrays written to disk."""
import os
import struct
import zlib

import imageio.v3 as iio
import numpy as np
import pytest
import tifffile

from denoisebench.base import NotApplicableError
from denoisebench.datasets import _folder
from denoisebench.datasets._folder import Folder
from denoisebench.noise import image_rng
from denoisebench.registry import make_dataset

#: ITU-R BT.709 luma weights (what skimage.color.rgb2gray documents).
BT709 = np.array([0.2125, 0.7154, 0.0721])


def _png16(path, a):
    """A 16-bit colour PNG written by hand (Pillow cannot write one)."""
    h, w, c = a.shape
    raw = b"".join(b"\x00" + row.astype(">u2").tobytes() for row in a)

    def chunk(tag, data):
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    header = struct.pack(">IIBBBBB", w, h, 16, {3: 2, 4: 6}[c], 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def _write_mixed(d, rng):
    """Five files of different sizes and kinds; returns {name: expected float64 in [0, 1]}."""
    d.mkdir(parents=True, exist_ok=True)
    gray8 = rng.integers(0, 256, (37, 31), dtype=np.uint8)
    rgb8 = rng.integers(0, 256, (40, 45, 3), dtype=np.uint8)
    rgba = rng.integers(0, 256, (33, 50, 4), dtype=np.uint8)
    gray16 = rng.integers(0, 65536, (45, 38), dtype=np.uint16)
    flt = rng.random((36, 41))
    iio.imwrite(d / "a_gray8.png", gray8)
    iio.imwrite(d / "b_rgb8.png", rgb8)
    iio.imwrite(d / "c_rgba.png", rgba)
    tifffile.imwrite(d / "d_gray16.tif", gray16)
    np.save(d / "e_float.npy", flt)
    (d / "notes.txt").write_text("not an image")  # not matched by the default pattern
    (d / ".hidden.png").write_text("macOS resource fork")  # dotfiles are skipped
    return {
        "a_gray8.png": gray8 / 255.0,
        "b_rgb8.png": rgb8 / 255.0,
        "c_rgba.png": rgba[..., :3] / 255.0,
        "d_gray16.tif": gray16 / 65535.0,
        "e_float.npy": flt,
    }


def _gray(ref):
    return ref @ BT709 if ref.ndim == 3 else ref


@pytest.fixture
def mixed(tmp_path):
    return tmp_path / "imgs", _write_mixed(tmp_path / "imgs", np.random.default_rng(0))


def test_whole_gray_images_match_the_written_arrays_in_sorted_order(mixed):
    d, refs = mixed
    ds = make_dataset(f"folder:path={d},crop=0")
    assert ds.input_files() == [str(d / name) for name in sorted(refs)]
    assert ds.n_images() == 5 and ds.channels == 1
    images = ds.images()
    assert [im.shape for im in images] == [(1, 1, *refs[n].shape[:2]) for n in sorted(refs)]
    for im, name in zip(images, sorted(refs)):
        assert im.dtype == np.float32
        if refs[name].ndim == 2:  # exact: integer / 255 or / 65535, or the float itself
            np.testing.assert_array_equal(im[0, 0], refs[name].astype(np.float32))
        else:  # colour → BT.709 luma
            np.testing.assert_allclose(im[0, 0], _gray(refs[name]), rtol=0, atol=1e-6)
    assert [im.shape for im in ds.images(n=2)] == [im.shape for im in images[:2]]
    with pytest.raises(ValueError, match="differ in size.*images()"):
        ds.sample(5)
    with pytest.raises(ValueError, match="differ in size"):
        ds.shape


def test_whole_rgb_images_and_gray_repeated(tmp_path):
    rng = np.random.default_rng(1)
    rgb, gray = tmp_path / "rgb", tmp_path / "gray"
    rgb.mkdir(), gray.mkdir()
    a = rng.integers(0, 256, (37, 31, 3), dtype=np.uint8)
    b = rng.integers(0, 65536, (37, 31, 3), dtype=np.uint16)
    c = rng.integers(0, 256, (37, 31, 4), dtype=np.uint8)
    iio.imwrite(rgb / "a.png", a)
    tifffile.imwrite(rgb / "b.tiff", b)
    iio.imwrite(rgb / "c.PNG", c)
    np.save(rgb / "d.npy", b)  # integer .npy: divided by its type's maximum too
    x = make_dataset(f"folder:path={rgb},color=rgb,crop=0").sample(None, seed=5)
    expected = np.stack([a / 255.0, b / 65535.0, c[..., :3] / 255.0, b / 65535.0]).transpose(0, 3, 1, 2)
    assert x.shape == (4, 3, 37, 31) and x.dtype == np.float32
    np.testing.assert_array_equal(x, expected.astype(np.float32))
    np.testing.assert_array_equal(make_dataset(f"folder:path={rgb},color=rgb,crop=0").sample(2, seed=9), x[:2])

    g = rng.integers(0, 256, (37, 31), dtype=np.uint8)
    iio.imwrite(gray / "g.png", g)
    np.save(gray / "h.npy", (g / 255.0)[..., None].astype(np.float32))  # (H, W, 1)
    ds = Folder(path=str(gray), color="rgb", crop=0)
    assert ds.channels == 3 and ds.shape == (37, 31)
    x = ds.sample(2)
    np.testing.assert_array_equal(x, np.broadcast_to((g / 255.0).astype(np.float32), (2, 3, 37, 31)))


def test_random_crops_follow_the_per_image_scheme(mixed):
    """Image i: file index then top, left from image_rng(seed, split, i), every file
    equally likely (all fit), pixels scaled as the whole file."""
    d, refs = mixed
    names = sorted(refs)
    for color in ("gray", "rgb"):
        if color == "rgb":  # a colour-only copy: rgb refuses gray and colour together
            for name in ("a_gray8.png", "d_gray16.tif", "e_float.npy"):
                os.remove(d / name)
                names.remove(name)
        ds = make_dataset(f"folder:path={d},crop=9x7,color={color}")
        x = ds.sample(12, seed=3)
        assert x.shape == (12, 1 if color == "gray" else 3, 9, 7) and x.dtype == np.float32
        chosen = set()
        for i in range(12):
            rng = image_rng(3, "test", i)
            ref = refs[names[rng.integers(len(names))]]
            top, left = rng.integers(ref.shape[0] - 9 + 1), rng.integers(ref.shape[1] - 7 + 1)
            window = ref[top : top + 9, left : left + 7]
            chosen.add(id(ref))
            if color == "gray":
                np.testing.assert_allclose(x[i, 0], _gray(window), rtol=0, atol=1e-6)
            else:
                np.testing.assert_array_equal(x[i], window.transpose(2, 0, 1).astype(np.float32))
        assert len(chosen) > 1
        np.testing.assert_array_equal(ds.sample(12, seed=3), x)
        np.testing.assert_array_equal(ds.sample(4, seed=3), x[:4])  # independent of n
        assert not np.allclose(ds.sample(12, seed=4), x)
        assert [im.shape for im in ds.images(3, seed=3)] == [(1, x.shape[1], 9, 7)] * 3
        assert ds.shape == (9, 7)


def test_splits_are_disjoint_folders(tmp_path):
    rng = np.random.default_rng(2)
    refs = {}
    for sub in ("test", "train"):
        (tmp_path / sub).mkdir()
        for k in range(2):
            a = rng.integers(0, 256, (20, 24), dtype=np.uint8)
            iio.imwrite(tmp_path / sub / f"{k}.png", a)
            refs[sub, k] = a / 255.0
    iio.imwrite(tmp_path / "top.png", rng.integers(0, 256, (20, 24), dtype=np.uint8))
    ds = make_dataset(f"folder:path={tmp_path},split=test,crop=0")
    np.testing.assert_array_equal(ds.sample(None)[:, 0], np.stack([refs["test", 0], refs["test", 1]]).astype(np.float32))
    np.testing.assert_array_equal(ds.sample(2, split="train")[:, 0], np.stack([refs["train", 0], refs["train", 1]]).astype(np.float32))
    assert ds.input_files() == sorted(str(tmp_path / s / f"{k}.png") for s in ("test", "train") for k in range(2))
    assert ds.input_files("train") == [str(tmp_path / "train" / f"{k}.png") for k in range(2)]
    # split=none: the folder itself is the test set; train/ still holds the training images.
    ds = make_dataset(f"folder:path={tmp_path},crop=0")
    assert ds.input_files("test") == [str(tmp_path / "top.png")] and ds.n_images("train") == 2
    # split=train: a training-only folder.
    ds = make_dataset(f"folder:path={tmp_path},split=train,crop=8")
    assert ds.n_images("train") == 2 and ds.input_files() == ds.input_files("train")
    with pytest.raises(NotApplicableError, match="training images only"):
        ds.sample(1, split="test")
    # No train/: training would reuse the test images, so it is refused.
    only = tmp_path / "test"
    with pytest.raises(NotApplicableError, match="no training images held out"):
        Folder(path=str(only)).sample(1, split="train")
    assert Folder(path=str(only), split="train").n_images("train") == 2  # test/ has no train/: itself
    with pytest.raises(ValueError, match="split must be one of"):
        Folder(path=str(only)).sample(1, split="valid")


def test_fingerprint_follows_the_contents(mixed):
    d, refs = mixed
    ds = make_dataset(f"folder:path={d},crop=0")
    before, files = ds.fingerprint(), ds.input_files()
    assert Folder(path=str(d), crop=0).fingerprint() == before  # stable
    (d / "notes2.txt").write_text("ignored")
    assert ds.fingerprint() == before
    new = np.full((45, 38), 1234, dtype=np.uint16)  # same name and size, other pixels
    tifffile.imwrite(d / "tmp.tif.part", new)
    os.replace(d / "tmp.tif.part", d / "d_gray16.tif")
    assert ds.input_files() == files and ds.fingerprint() != before
    np.testing.assert_array_equal(ds.images()[3][0, 0], np.float32(1234 / 65535))  # not the cached pixels
    iio.imwrite(d / "f_more.png", np.zeros((8, 8), dtype=np.uint8))
    assert len(ds.input_files()) == 6 and ds.fingerprint() not in (before,)


def test_decoded_files_are_cached(mixed):
    d, _ = mixed
    ds = Folder(path=str(d), crop=8)
    ds.sample(3)
    misses = _folder._decode.cache_info().misses
    ds.sample(7, seed=1)
    Folder(path=str(d), crop=0).images()
    assert _folder._decode.cache_info().misses == misses


def _text_png(d):
    (d / "x.png").write_text("this is text")
    return "x.png", "cannot read image"


def _pickle_npy(d):
    np.save(d / "x.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    return "x.npy", "refused"


def _png16_rgb(d):
    _png16(d / "x.png", np.random.default_rng(0).integers(0, 65536, (9, 8, 3), dtype=np.uint16))
    return "x.png", "16-bit colour PNG"


def _stack(d):
    np.save(d / "x.npy", np.zeros((3, 20, 20)))
    return "x.npy", "expected an image"


def _out_of_range(d):
    np.save(d / "x.npy", np.full((20, 20), 1.5, dtype=np.float32))
    return "x.npy", r"\[0, 1\]"


def _nan(d):
    a = np.zeros((20, 20))
    a[3, 4] = np.nan
    np.save(d / "x.npy", a)
    return "x.npy", "finite"


def _negative(d):
    np.save(d / "x.npy", np.full((20, 20), -3, dtype=np.int16))
    return "x.npy", "negative"


def _small(d):
    iio.imwrite(d / "x.png", np.zeros((20, 7), dtype=np.uint8))
    return "x.png", "20x7 is smaller than crop=8x8"


def _mixed_channels(d):
    iio.imwrite(d / "x.png", np.zeros((20, 20, 3), dtype=np.uint8))
    return "good.png", "mixes grayscale.*x.png"


@pytest.mark.parametrize("make", [_text_png, _pickle_npy, _png16_rgb, _stack, _out_of_range, _nan, _negative, _small, _mixed_channels])
def test_bad_file_is_one_line_naming_it(tmp_path, make):
    iio.imwrite(tmp_path / "good.png", np.zeros((20, 20), dtype=np.uint8))
    name, message = make(tmp_path)
    ds = Folder(path=str(tmp_path), crop=8, color="rgb" if make is _mixed_channels else "gray")
    with pytest.raises(ValueError, match=message) as info:
        ds.sample(2)
    assert name in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize(
    "spec, message",
    [
        ("folder:path={d}/missing", "does not exist"),
        ("folder:path={d}/empty", "no file matching"),
        ("folder:path={d}/ok/a.png", "not a directory"),
        ("folder:path={d}/only_subfolders", "no file matching.*split=test"),
        ("folder", "needs path"),
        ("folder:path={d}/ok,color=cmyk", "color must be"),
        ("folder:path={d}/ok,crop=-1", "crop must be"),
        ("folder:path={d}/ok,crop=2", "crop must be"),
        ("folder:path={d}/ok,crop=true", "crop must be"),
        ("folder:path={d}/ok,split=valid", "split must be"),
        ("folder:path={d}/ok,pattern=*.bmp", "no file matching"),
    ],
)
def test_bad_folder_or_parameter(tmp_path, spec, message):
    for sub in ("empty", "ok", "only_subfolders/test"):
        (tmp_path / sub).mkdir(parents=True)
    (tmp_path / "empty" / "f.png").mkdir()  # a directory named like an image: not a file
    iio.imwrite(tmp_path / "ok" / "a.png", np.zeros((9, 9), dtype=np.uint8))
    with pytest.raises(ValueError, match=message) as info:
        make_dataset(spec.format(d=tmp_path)).sample(1)
    assert "\n" not in str(info.value)


def test_counts_patterns_and_registry(mixed):
    d, refs = mixed
    with pytest.raises(ValueError, match="n=6 but folder"):
        Folder(path=str(d), crop=0).images(6)
    with pytest.raises(ValueError, match="n is required"):
        Folder(path=str(d), crop=16).sample(None)
    with pytest.raises(ValueError, match="n must be"):
        Folder(path=str(d), crop=16).sample(0)
    ds = make_dataset(f"folder:path={d},pattern=*.PNG|*.npy")
    assert [os.path.basename(p) for p in ds.input_files()] == ["a_gray8.png", "b_rgb8.png", "c_rgba.png", "e_float.npy"]
    assert ds.spec() == f"folder:path={d},pattern=*.PNG|*.npy"
    assert Folder(path=str(d)).spec() == f"folder:path={d}"
    with pytest.raises(NotApplicableError):
        Folder(path=str(d)).mmse(0.1)
    assert not Folder(path=str(d)).has_optimum
    x = Folder(path=str(d), crop=16).sample(3, seed=0)
    assert np.isfinite(x).all() and 0 <= x.min() and x.max() <= 1


def test_left_out_of_the_default_run():
    from denoisebench.datasets import Natural
    from denoisebench.registry import list_datasets

    assert "folder" in list_datasets() and Folder.default_run is False and Natural.default_run is True
