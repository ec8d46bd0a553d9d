"""The ``natural`` dataset: crops of photographs shipped inside skimage, pywt and sklearn."""
import functools
import socket

import numpy as np
import pytest

from denoisebench.datasets import _natural
from denoisebench.datasets._natural import SOURCES, Natural, load_source
from denoisebench.registry import make_dataset

ALL = SOURCES["train"] + SOURCES["test"]


def _raw(name):
    """The source array straight from its package (independent of the dataset's own loaders)."""
    import pywt.data
    import skimage.data
    from sklearn.datasets import load_sample_images

    other = {"aero": pywt.data.aero, "ascent": pywt.data.ascent,
             "china": lambda: load_sample_images().images[0], "flower": lambda: load_sample_images().images[1]}
    return (other.get(name) or getattr(skimage.data, name))()


@functools.lru_cache(maxsize=None)
def _reference(name):
    """The source straight from its package, converted as documented (rgb2gray or /255)."""
    from skimage.color import rgb2gray

    image = _raw(name)
    image = rgb2gray(image) if image.ndim == 3 else image / 255.0
    return np.asarray(image, dtype=np.float32)


def _locate(crop, names):
    """Every ``(name, top, left)`` where ``crop`` is exactly a slice of a reference source."""
    h, w = crop.shape
    found = []
    for name in names:
        ref = _reference(name)
        H, W = ref.shape
        if H < h or W < w:
            continue
        # Candidates: top-left and bottom-right pixels agree; then compare the whole window.
        cand = (ref[: H - h + 1, : W - w + 1] == crop[0, 0]) & (ref[h - 1 :, w - 1 :] == crop[-1, -1])
        for top, left in np.argwhere(cand):
            if np.array_equal(ref[top : top + h, left : left + w], crop):
                found.append((name, int(top), int(left)))
    return found


def test_splits_are_disjoint_and_about_30_percent_test():
    assert set(SOURCES) == {"train", "test"}
    assert not set(SOURCES["train"]) & set(SOURCES["test"])
    assert len(set(ALL)) == len(ALL) == 22
    assert 0.2 <= len(SOURCES["test"]) / len(ALL) <= 0.4
    assert "camera" in ALL and "ascent" in ALL  # skimage's camera once, pywt's duplicate skipped


def test_all_sources_load_without_network(monkeypatch):
    def no_network(*args, **kwargs):
        raise OSError("network access attempted")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket.socket, "connect_ex", no_network)
    load_source.cache_clear()
    for name in ALL:
        image = load_source(name)
        assert image.ndim == 2 and image.dtype == np.float32 and min(image.shape) >= 100
        assert 0.0 <= image.min() and image.max() <= 1.0 and image.std() > 0.02
        assert not image.flags.writeable  # the cache cannot be corrupted by a caller
        np.testing.assert_array_equal(image, _reference(name))


@pytest.mark.parametrize("size, shape", [(64, (64, 64)), ("37x31", (37, 31)), ((31, 37), (31, 37))])
@pytest.mark.parametrize("split", ["train", "test"])
def test_shape_dtype_range(size, shape, split):
    x = Natural(size=size).sample(5, seed=0, split=split)
    assert x.shape == (5, 1, *shape) and x.dtype == np.float32
    assert x.min() >= 0.0 and x.max() <= 1.0
    assert not np.allclose(x[0], x[1])


def test_deterministic_and_independent_of_n():
    ds = Natural(size="37x31")
    a = ds.sample(9, seed=2)
    np.testing.assert_array_equal(a, ds.sample(9, seed=2))
    np.testing.assert_array_equal(a[:4], ds.sample(4, seed=2))
    assert not np.allclose(a, ds.sample(9, seed=3))
    assert not np.allclose(a, ds.sample(9, seed=2, split="train"))
    assert not hasattr(ds, "_split")  # sample() leaves the dataset untouched
    assert ds.get_params() == {"size": "37x31", "color": "gray"}


@pytest.mark.parametrize("split", ["test", "train"])
def test_crops_are_slices_of_the_split_sources(split):
    """Each crop equals a window of one of its split's photographs, read independently from
    the package, and of none of the other split's; crops spread over the sources."""
    other = "train" if split == "test" else "test"
    x = Natural(size=(37, 31)).sample(24, seed=1, split=split)[:, 0]
    sources = set()
    for crop in x:
        where = _locate(crop, SOURCES[split])
        assert where, "crop is not a slice of any source of its split"
        assert not _locate(crop, SOURCES[other])
        sources.add(where[0][0])
    assert len(sources) >= min(4, len(SOURCES[split]))


def test_sources_smaller_than_the_crop_are_skipped():
    # Only retina (1411x1411) holds a 1000x1100 crop; no test source does.
    x = Natural(size=(1000, 1100)).sample(3, seed=0, split="train")[:, 0]
    tops = []
    for crop in x:
        where = _locate(crop, ["retina"])
        assert where
        tops.append(where[0][1:])
    assert len(set(tops)) > 1  # random positions
    with pytest.raises(ValueError, match="no source"):
        Natural(size=(1000, 1100)).sample(1, split="test")


def test_sources_equally_likely_and_positions_uniform(monkeypatch):
    """On synthetic sources whose pixels encode (source, row, col): sources that fit are
    drawn uniformly (whatever their size), too small ones never, positions uniformly."""
    shapes = {"big": (10, 12), "small": (9, 9), "tiny": (5, 20)}
    ids = {name: k for k, name in enumerate(shapes)}

    def fake_load(name):
        H, W = shapes[name]
        return ids[name] * 10000.0 + 100.0 * np.arange(H)[:, None] + np.arange(W)[None, :]

    monkeypatch.setattr(_natural, "load_source", fake_load)
    rng = np.random.default_rng(0)
    draws = [_natural._crop(rng, tuple(shapes), (8, 8)) for _ in range(3000)]
    codes = np.array([d[0, 0] for d in draws]).astype(int)
    for d, code in zip(draws[:50], codes):
        name = list(shapes)[code // 10000]
        np.testing.assert_array_equal(d, fake_load(name)[code // 100 % 100 :][:8, code % 100 :][:, :8])
    source = codes // 10000
    assert set(source) == {0, 1}  # "tiny" (5 rows) never
    assert abs((source == 0).mean() - 0.5) < 0.04  # not area-weighted (15 vs 4 positions)
    for k, n_pos in [(0, 3 * 5), (1, 2 * 2)]:
        counts = np.unique(codes[source == k] % 10000, return_counts=True)[1]
        expected = (source == k).sum() / n_pos
        assert len(counts) == n_pos and np.abs(counts - expected).max() < 5 * np.sqrt(expected)


def test_bad_split_and_registry():
    for split in ("mmse", "valid"):
        with pytest.raises(ValueError, match="split"):
            Natural().sample(1, split=split)
    ds = make_dataset("natural:size=37x31")
    assert isinstance(ds, Natural) and ds.shape == (37, 31)
    with pytest.raises(ValueError, match="unknown source"):
        load_source("eagle")


# -- colour (``color=rgb``) -------------------------------------------------------------


@pytest.mark.parametrize("size", [64, "37x31"])
@pytest.mark.parametrize("split", ["train", "test"])
def test_default_is_gray_and_unchanged(size, split):
    """``natural`` stays the grayscale dataset: the same arrays as ``color=gray``, whose
    crops are windows of the rgb2gray / 255 references (test above)."""
    a = Natural(size=size).sample(6, seed=4, split=split)
    np.testing.assert_array_equal(a, make_dataset(f"natural:color=gray,size={size}").sample(6, seed=4, split=split))
    assert a.shape[1] == 1 and Natural().channels == 1
    assert make_dataset("natural:color=gray").spec() == "natural"


def test_rgb_sources_are_the_colour_photographs():
    def is_colour(name):
        return _raw(name).ndim == 3

    for split in ("train", "test"):
        assert set(_natural.RGB_SOURCES[split]) == {n for n in SOURCES[split] if is_colour(n)}
    assert not set(_natural.RGB_SOURCES["train"]) & set(_natural.RGB_SOURCES["test"])


@pytest.mark.parametrize("split", ["test", "train"])
def test_rgb_crops_are_windows_of_the_colour_sources(split):
    x = make_dataset("natural:color=rgb,size=37x31").sample(24, seed=2, split=split)
    assert x.shape == (24, 3, 37, 31) and x.dtype == np.float32 and Natural(color="rgb").channels == 3
    refs = {n: (_raw(n) / 255.0).astype(np.float32) for n in _natural.RGB_SOURCES[split]}
    used = set()
    for crop in x:
        hits = [
            (name, top, left)
            for name, ref in refs.items()
            for top, left in np.argwhere(
                np.all(ref[: ref.shape[0] - 36, : ref.shape[1] - 30] == crop[:, 0, 0], axis=-1)
            )
            if np.array_equal(ref[top : top + 37, left : left + 31].transpose(2, 0, 1), crop)
        ]
        assert hits, "rgb crop is not a window of a colour source of its split"
        used.add(hits[0][0])
    assert len(used) == len(refs)
    np.testing.assert_array_equal(Natural(size="37x31", color="rgb").sample(4, seed=2, split=split), x[:4])


def test_bad_color():
    with pytest.raises(ValueError, match="color must be one of gray, rgb; got 'cmyk'"):
        Natural(color="cmyk").sample(1)
    with pytest.raises(ValueError, match="grayscale"):
        _natural.load_source_rgb("camera")
    with pytest.raises(ValueError, match="unknown source"):
        _natural.load_source_rgb("eagle")
