"""Fourier-domain and wavelet transforms used by the harmonic-analysis denoisers."""
from ._curvelet import CurveletFrame, curvelet_frame
from ._curvelet_wrap import WrappedCurveletFrame, curvelet_wrap_frame
from ._orthogonal import analysis_matrix, check_levels, dwt2, idwt2, max_levels, orthogonal_filters
from ._undecimated import SwtBand, iswt2, swt2, swt2_map_details, swt_bands, swt_noise_std

__all__ = [
    "CurveletFrame", "curvelet_frame", "WrappedCurveletFrame", "curvelet_wrap_frame",
    "analysis_matrix", "check_levels", "dwt2", "idwt2", "max_levels", "orthogonal_filters",
    "SwtBand", "iswt2", "swt2", "swt2_map_details", "swt_bands", "swt_noise_std",
]
