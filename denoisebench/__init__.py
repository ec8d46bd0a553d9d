"""denoisebench: benchmark image denoisers against the optimum, across noise levels.

A denoiser at every noise level carries a prior, and a prior is a generator
(Tweedie: score(y, σ) = (D(y, σ) − y) / σ²).
"""
from ._array_api import array_namespace, to_numpy
from .base import Denoiser, NotApplicableError, NotFittedError
from .datasets import Dataset
from . import denoisers as _denoisers  # noqa: F401  (registers the denoisers)
from .noise import add_noise
from .registry import (
    SpecError,
    list_datasets,
    list_denoisers,
    make_dataset,
    make_denoiser,
    parse_spec,
    register_dataset,
    register_denoiser,
)
from .score import tweedie_score

__version__ = "0.1.0"

__all__ = [
    "Dataset",
    "Denoiser",
    "NotApplicableError",
    "NotFittedError",
    "SpecError",
    "add_noise",
    "array_namespace",
    "list_datasets",
    "list_denoisers",
    "make_dataset",
    "make_denoiser",
    "parse_spec",
    "register_dataset",
    "register_denoiser",
    "to_numpy",
    "tweedie_score",
]
