"""Data: seeded planted problems (with their truth) and loaders of real data sets.

Planted generators return a ``Planted*`` object whose ``.problem`` (a problem object of
:mod:`linrfm.problems`) is all a solver may see; the truth stays outside, for measuring.

- completion: :func:`make_completion`, :func:`sample_entries`
- sparse regression: :func:`make_sparse_regression`
- sensing: :func:`make_sensing`, :func:`relative_error`
- factor problems of the flat-minima study: :func:`make_flat_problem` (by kind) or
  :func:`make_factor_sensing`, :func:`make_factor_completion`, :func:`make_bilinear`,
  :func:`make_robust_sensing`, :func:`make_quadratic_sensing`
- real data: :func:`load_movielens100k`, :func:`movielens100k_path`
"""

from .completion import PlantedCompletion, make_completion, sample_entries
from .factor import (
    FLAT_PROBLEM_KINDS,
    PlantedFactorProblem,
    make_bilinear,
    make_factor_completion,
    make_factor_sensing,
    make_flat_problem,
    make_quadratic_sensing,
    make_robust_sensing,
)
from .movielens import load_movielens100k, movielens100k_path
from .regression import PlantedSparse, make_sparse_regression
from .sensing import PlantedSensing, make_sensing, relative_error

__all__ = [
    "PlantedCompletion",
    "make_completion",
    "sample_entries",
    "PlantedSparse",
    "make_sparse_regression",
    "PlantedSensing",
    "make_sensing",
    "relative_error",
    "PlantedFactorProblem",
    "FLAT_PROBLEM_KINDS",
    "make_flat_problem",
    "make_factor_sensing",
    "make_factor_completion",
    "make_bilinear",
    "make_robust_sensing",
    "make_quadratic_sensing",
    "load_movielens100k",
    "movielens100k_path",
]
