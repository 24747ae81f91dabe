"""linrfm: low-rank matrix and sparse vector recovery with linear Recursive Feature Machines.

Every public function and class is importable from here; each is imported from its module
on first use (:data:`_EXPORTS`), so ``import linrfm`` itself is cheap.
"""

import importlib

from ._deprecated import module_getattr

__version__ = "0.1.0"

# public name -> the module defining it
_EXPORTS = {
    **dict.fromkeys(
        [
            "lin_rfm_complete",
            "lin_rfm_plan",
            "kernel_power",
            "lin_rfm_sense",
            "lin_rfm_regress",
            "irls_complete",
            "irls_sense",
            "irls_regress",
            "soft_impute_complete",
            "soft_impute_sense",
            "als_complete",
            "factorized_gd",
            "deep_mf",
            "diagonal_net_regress",
        ],
        ".solvers",
    ),
    **dict.fromkeys(
        [
            "LinRFMCompleter",
            "LinRFMRegressor",
            "LinRFMSensor",
            "IRLSRecovery",
            "SoftImputeCompleter",
            "ALSCompleter",
            "NuclearNormSensor",
            "FactorizedGD",
            "DeepMatrixFactorization",
        ],
        ".estimators",
    ),
    **dict.fromkeys(
        [
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
        ],
        ".problems",
    ),
    **dict.fromkeys(
        [
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
        ],
        ".datasets",
    ),
    **dict.fromkeys(
        [
            "RecoveryResult",
            "KernelResult",
            "DenseResult",
            "FactorResult",
            "VectorResult",
            "ModelFitError",
        ],
        ".results",
    ),
    **dict.fromkeys(
        ["Schedule", "Stop", "Method", "Checkpoint", "Run", "iterate", "user_stacklevel"],
        ".iteration",
    ),
    **dict.fromkeys(
        [
            "MethodSpec",
            "Variant",
            "METHODS",
            "PROBLEMS",
            "list_methods",
            "get_method",
            "fit_method",
            "problem_kind",
            "ratings_method",
            "lasso_regress",
            "omp_regress",
        ],
        ".methods",
    ),
    **dict.fromkeys(
        (
            "rmse mae precision_at_k recall_at_k ndcg_at_k ranking_metrics kfold "
            "train_val_test_split time_split fingerprint cross_validate"
        ).split(),
        ".evaluation",
    ),
    **dict.fromkeys(
        [
            "Ratings",
            "UnknownIdError",
            "read_ratings",
            "ratings_from_frame",
            "ratings_from_matrix",
            "require_pandas",
        ],
        ".io",
    ),
    **dict.fromkeys(["RatingsCompleter", "fit_biases", "FORMAT_VERSION"], ".ratings"),
}

__all__ = [*_EXPORTS, "__version__"]


def _export(name):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name], __name__), name)
        globals()[name] = value  # later look-ups skip __getattr__
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__getattr__ = module_getattr(__name__, _export)


def __dir__():
    return sorted({*globals(), *_EXPORTS})
