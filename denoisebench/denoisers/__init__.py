"""Denoiser families; importing this package registers them.

The import order is the registry's order, hence the order of ``list_denoisers()``, of the
default grid and of the tables: baselines and optima, harmonic analysis, its oracle bounds,
external peers, learned networks.
"""
# isort: off
from ._identity import Identity
from ._wiener import OptimalDenoiser, Wiener, WienerOracle
from ._mixture import StationaryMixturePosterior
from ._empirical import EmpiricalPosterior
from ._wavelet import Wavelet, WaveletTI
from ._curvelet import Curvelet, CurveletOracle
from ._oracle import OracleFourier, OracleWavelet, oracle_risks
from ._external import BM3D, SkimageWavelet
from ._ffdnet import FFDNet
from ._unet import UNet
from ._torchscript import TorchScript
from ._deepinv import DeepInv
# isort: on

__all__ = [
    "BM3D", "Curvelet", "CurveletOracle", "DeepInv", "EmpiricalPosterior", "FFDNet", "Identity", "OptimalDenoiser", "OracleFourier", "OracleWavelet",
    "SkimageWavelet", "StationaryMixturePosterior", "TorchScript", "UNet", "Wavelet", "WaveletTI", "Wiener", "WienerOracle",
    "oracle_risks",
]
