"""linrfm: low-rank matrix and sparse vector recovery with linear Recursive Feature Machines."""

from .datasets import PlantedCompletion, make_completion
from .problems import CoverageWarning, MatrixCompletion
from .results import KernelResult, ModelFitError, RecoveryResult
from .solvers import lin_rfm_complete

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
