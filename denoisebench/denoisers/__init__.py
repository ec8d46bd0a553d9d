"""Denoiser families; importing this package registers them."""
from ._curvelet import Curvelet, CurveletOracle
from ._external import BM3D, SkimageWavelet
from ._identity import Identity
from ._mixture import StationaryMixturePosterior
from ._wiener import OptimalDenoiser, Wiener, WienerOracle
from ._wavelet import Wavelet, WaveletTI
from ._oracle import OracleFourier, OracleWavelet, oracle_risks
from ._unet import UNet

__all__ = ["BM3D", "Curvelet", "CurveletOracle", "SkimageWavelet", "Identity", "OptimalDenoiser", "StationaryMixturePosterior", "Wiener", "WienerOracle",
           "Wavelet", "WaveletTI", "OracleFourier", "OracleWavelet", "oracle_risks", "UNet"]
