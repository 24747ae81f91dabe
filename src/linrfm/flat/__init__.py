"""Flat minima of factorized low-rank recovery.

After Ding, Drusvyatskiy, Fazel and Harchaoui, "Flat minima generalize for low-rank matrix
recovery": problem classes fitted by overparameterized factorizations
(:mod:`~linrfm.flat.problems`), the exact trace of the Hessian of their losses
(:mod:`~linrfm.flat.curvature`), and solvers that seek flat interpolants
(:mod:`~linrfm.flat.solvers`).
"""

from .curvature import (
    gauss_newton_trace,
    hessian_trace,
    hessian_trace_grad,
    hessian_vector_product,
    hutchinson_trace,
    loss,
    loss_grad,
    sharpness,
    sharpness_grad,
)
from .problems import (
    PROBLEM_CLASSES,
    FactorProblem,
    PlantedFactorProblem,
    degrees_of_freedom,
    make_bilinear,
    make_completion,
    make_problem,
    make_quadratic_sensing,
    make_robust_sensing,
    make_sensing,
)
from .solvers import factored_gd, flat_minimum, label_noise_gd

__all__ = [
    "FactorProblem",
    "PlantedFactorProblem",
    "PROBLEM_CLASSES",
    "degrees_of_freedom",
    "make_problem",
    "make_sensing",
    "make_completion",
    "make_bilinear",
    "make_robust_sensing",
    "make_quadratic_sensing",
    "loss",
    "loss_grad",
    "hessian_trace",
    "hessian_trace_grad",
    "gauss_newton_trace",
    "sharpness",
    "sharpness_grad",
    "hessian_vector_product",
    "hutchinson_trace",
    "flat_minimum",
    "factored_gd",
    "label_noise_gd",
]
