"""Flat minima of factorized low-rank recovery.

After Ding, Drusvyatskiy, Fazel and Harchaoui, "Flat minima generalize for low-rank matrix
recovery": the exact trace of the Hessian of the losses of overparameterized
factorizations (:mod:`~linrfm.flat.curvature`) and solvers that seek flat interpolants
(:mod:`~linrfm.flat.solvers`). The factor problems themselves live with the other problems
(:class:`linrfm.problems.FactorProblem`) and their seeded generators with the other
generators (:func:`linrfm.datasets.make_flat_problem`, ...); their old names here still
resolve, with a DeprecationWarning.
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
from .solvers import factored_gd, flat_minimum, label_noise_gd

__all__ = [
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


def __getattr__(name):
    # the problems and generators moved out of flat/: their old names warn and forward
    from . import problems

    return getattr(problems, name)
