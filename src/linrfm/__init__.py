"""linrfm: low-rank matrix and sparse vector recovery with linear Recursive Feature Machines."""

from .datasets import PlantedCompletion, PlantedSparse, make_completion, make_sparse_regression
from .problems import CoverageWarning, MatrixCompletion, SparseRegression
from .results import KernelResult, ModelFitError, RecoveryResult, VectorResult
from .solvers import diagonal_net, irls_p, lin_rfm_complete, lin_rfm_sparse

__version__ = "0.1.0"

__all__ = [
    "MatrixCompletion",
    "CoverageWarning",
    "PlantedCompletion",
    "make_completion",
    "lin_rfm_complete",
    "RecoveryResult",
    "KernelResult",
    "ModelFitError",
    "SparseRegression",
    "PlantedSparse",
    "make_sparse_regression",
    "lin_rfm_sparse",
    "irls_p",
    "diagonal_net",
    "VectorResult",
    "LinRFMCompleter",
    "LinRFMRegressor",
    "__version__",
]


def __getattr__(name):
    # The estimator pulls in scikit-learn's base classes; import it on first use.
    if name == "LinRFMCompleter":
        from .estimators import LinRFMCompleter

        return LinRFMCompleter
    if name == "LinRFMRegressor":
        from .estimators import LinRFMRegressor

        return LinRFMRegressor
    raise AttributeError(f"module 'linrfm' has no attribute {name!r}")
