"""Linear inverse problems ``c = A x + s η`` with a denoiser's prior, and their exact Gaussian optimum.

:mod:`._operators` (measurement operators as spec strings), :mod:`._posterior` (the exact
posterior under a Gaussian or Gaussian-mixture prior), :mod:`._solvers` (Kadkhodaie–Simoncelli
constrained ascent and DPS, driven by any denoiser through its Tweedie score).

References
----------
Z. Kadkhodaie, E. P. Simoncelli, NeurIPS 2021; H. Chung, J. Kim, M. T. Mccann, M. L. Klasky,
J. C. Ye, "Diffusion posterior sampling for general noisy inverse problems", ICLR 2023;
docs/theory.md, "Conditioning".
"""
from ._operators import OPERATORS, Operator, make_operator, measurement_rng
from ._posterior import Posterior, exact_posterior, prior_components
from ._solvers import SOLVERS, NotDifferentiableError, dps, ks

__all__ = ["NotDifferentiableError", "OPERATORS", "SOLVERS", "dps", "ks", "Operator", "Posterior", "exact_posterior", "make_operator", "measurement_rng",
           "prior_components"]
