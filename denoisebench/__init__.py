"""denoisebench: benchmark image denoisers against the optimum, across noise levels.

A denoiser at every noise level carries a prior, and a prior is a generator
(Tweedie: score(y, σ) = (D(y, σ) − y) / σ²).
"""
from ._version import __version__
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
    load_plugins,
    make_denoiser,
    parse_spec,
    register_dataset,
    register_denoiser,
)
from .report.results import load_results
from .sampling.score import tweedie_score


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
    "load_plugins",
    "load_results",
    "make_dataset",
    "make_denoiser",
    "parse_spec",
    "register_dataset",
    "register_denoiser",
    "to_numpy",
    "tweedie_score",
]
