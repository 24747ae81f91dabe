"""Flat minima of factorized low-rank recovery.

After Ding, Drusvyatskiy, Fazel and Harchaoui, "Flat minima generalize for low-rank matrix
recovery": the exact trace of the Hessian of the losses of overparameterized
factorizations (:mod:`~linrfm.flat.curvature`) and solvers that seek flat interpolants
(:mod:`~linrfm.flat.solvers`). The factor problems themselves live with the other problems
(:class:`linrfm.problems.FactorProblem`) and their seeded generators with the other
generators (:func:`linrfm.datasets.make_flat_problem`, ...); their old names here still
resolve, with a DeprecationWarning.
"""

from . import curvature
from .curvature import *  # noqa: F403 (the names its __all__ lists, listed once there)
from .solvers import factored_gd, flat_minimum, label_noise_gd

__all__ = [*curvature.__all__, "flat_minimum", "factored_gd", "label_noise_gd"]


def __getattr__(name):
    # the problems and generators moved out of flat/: their old names warn and forward
    from . import problems

    return getattr(problems, name)
