"""Shared fixtures: ``backend`` runs a test on every array backend available here."""
import numpy as np
import pytest

from denoisebench.testing import Backend, available_backends

ALL_BACKENDS = [Backend("numpy"), Backend("strict"), Backend("torch", "cpu"), Backend("torch", "cuda"), Backend("cupy", "cuda")]
AVAILABLE = {str(b) for b in available_backends()}


def _param(b):
    marks = [pytest.mark.gpu] if b.device == "cuda" else []
    if str(b) not in AVAILABLE:
        marks.append(pytest.mark.skip(reason=f"backend {b} not available here"))
    return pytest.param(b, id=str(b), marks=marks)


@pytest.fixture(params=[_param(b) for b in ALL_BACKENDS])
def backend(request):
    """A :class:`~denoisebench.testing.Backend` (numpy, strict, torch-cpu, torch-cuda, cupy-cuda)."""
    return request.param


@pytest.fixture(params=["float32", "float64"])
def dtype(request):
    return np.dtype(request.param)


@pytest.fixture
def torch_one_thread():
    """Tiny networks run fastest on one torch thread (and far faster on a busy machine)."""
    torch = pytest.importorskip("torch")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


#: The classical thresholding estimators (coarse band kept, no clip): what pywt, skimage and the
#: thresholding theorems describe; the defaults are fitted (denoisebench/denoisers/_coarse.py).
CLASSICAL = {"coarse": "keep", "clip": False}


def fitted(denoiser, shape, seed=0):
    """``denoiser`` fitted, if it learns, on 8 random images of ``shape``'s channels and size."""
    import numpy as np

    if getattr(denoiser, "learns", False):
        denoiser.fit(np.random.default_rng(seed).random((8, *shape[1:])))
    return denoiser


def load_script(name):
    """The module ``scripts/<name>.py`` (the scripts are not a package), for tests of their functions."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "scripts" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
