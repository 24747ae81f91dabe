"""Problem objects: what is observed, validated once, independent of any solver.

Matrix completion (observed entries), sparse regression (a design and responses), matrix
sensing (a linear measurement operator and its measurements) and factor problems (sensing
with a loss and a factor model). Seeded planted instances are made by :mod:`linrfm.datasets`.
"""

from .completion import CoverageWarning, MatrixCompletion, as_completion_problem, degrees_of_freedom
from .factor import FactorProblem
from .regression import SparseRegression, as_regression_problem
from .sensing import (
    EntrySampling,
    GaussianOperator,
    MatrixSensing,
    MeasurementOperator,
    RankOneOperator,
)

__all__ = [
    "MatrixCompletion",
    "CoverageWarning",
    "as_completion_problem",
    "degrees_of_freedom",
    "SparseRegression",
    "as_regression_problem",
    "MatrixSensing",
    "MeasurementOperator",
    "EntrySampling",
    "GaussianOperator",
    "RankOneOperator",
    "FactorProblem",
]
