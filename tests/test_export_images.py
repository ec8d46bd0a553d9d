"""scripts/export_images.py: the offline colour test photographs, whole, as 8-bit PNG files."""
from __future__ import annotations

import hashlib

import numpy as np
import pytest

from conftest import load_script
from denoisebench.datasets._natural import RGB_SOURCES, SOURCES


@pytest.fixture(scope="module")
def export():
    return load_script("export_images")


def test_writes_the_test_photographs_at_their_own_sizes(export, tmp_path):
    iio = pytest.importorskip("imageio.v3")
    import skimage.data

    assert export.main([str(tmp_path)]) == 0
    shapes = {p.name: iio.imread(p).shape for p in sorted(tmp_path.iterdir())}
    assert shapes == {"astronaut.png": (512, 512, 3), "coffee.png": (400, 600, 3),
                      "grace_hopper.png": (600, 512, 3), "motorcycle.png": (500, 741, 3)}
    # the natural test photographs, pixel for pixel, from skimage's own files
    assert np.array_equal(iio.imread(tmp_path / "astronaut.png"), skimage.data.astronaut())
    assert np.array_equal(iio.imread(tmp_path / "coffee.png"), skimage.data.coffee())
    assert np.array_equal(iio.imread(tmp_path / "motorcycle.png"), skimage.data.stereo_motorcycle()[0])
    # none is a training photograph: the natural ones are of the test split, the others of no split
    names = {n.removesuffix(".png") for n in shapes}
    assert not names & set(SOURCES["train"] + RGB_SOURCES["train"])
    assert names & set(SOURCES["test"]) == set(RGB_SOURCES["test"])
    # deterministic and overwriting: a second call writes the same bytes
    digest = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in tmp_path.iterdir()}
    (tmp_path / "coffee.png").write_bytes(b"stale")
    assert export.main([str(tmp_path)]) == 0
    assert {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in tmp_path.iterdir()} == digest


def test_refuses_a_directory_with_other_images(export, tmp_path, capsys):
    (tmp_path / "mine.jpg").write_bytes(b"x")
    assert export.main([str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "mine.jpg" in err and len(err.strip().splitlines()) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine.jpg"]
