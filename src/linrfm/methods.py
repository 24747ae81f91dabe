"""The method table: the one place that maps a method's name to its function.

Every method is a public function named ``{method}_{problem}`` (``lin_rfm_complete``,
``irls_regress``, ...; ``factorized_gd`` and ``deep_mf`` take completion or sensing) and has
one :class:`MethodSpec` in :data:`METHODS`. The estimators, the command line, the studies of
:mod:`linrfm.experiments` and :func:`linrfm.evaluation.cross_validate` all read this table.

``fit_method(name, problem, **params)`` runs a method by name. ``name`` is a table name, or a
method family (the name without its problem: ``'lin_rfm'``, ``'irls'``, ``'soft_impute'``),
in which case the entry of that family taking ``problem`` is chosen. Problems: a completion
input (MatrixCompletion, ndarray with NaN, scipy.sparse, torch tensor), a
:class:`~linrfm.problems.MatrixSensing` (one whose operator is an
:class:`~linrfm.problems.EntrySampling` is solved as completion where the method has a
completion function), a :class:`~linrfm.problems.SparseRegression` or an ``(X, y)`` pair,
or a :class:`~linrfm.problems.FactorProblem`.
"""

from __future__ import annotations

import importlib
import inspect
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np

from ._scaling import scale_free

__all__ = [
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
]

# The problem kinds: matrix completion, matrix sensing, sparse linear regression, and the
# factorized problems of linrfm.flat.
PROBLEMS = ("complete", "sense", "regress", "factor")
# Keyword parameters that belong to one fit, not to a method's settings: estimators do not
# hold them and studies do not set them (row/col/value name the columns of one input).
FIT_ARGS = frozenset(
    {"shape", "init", "callback", "return_path", "checkpoint", "checkpoint_every", "resume"}
    | {"row", "col", "value"}
)


@dataclass(frozen=True)
class MethodSpec:
    """One method of the table.

    Attributes
    ----------
    name : str
        The public function's name, ``{method}_{problem}``.
    problems : tuple of str
        The problem kinds it takes (of :data:`PROBLEMS`).
    target : str
        ``'module:function'``, looked up at each call (:attr:`function`).
    estimator : str or None
        Its scikit-learn-style class in :mod:`linrfm.estimators` (:attr:`estimator_class`).
    label : str
        Display name.
    study_params : mapping
        Parameters the studies run it with, beyond the function's defaults.
    iterative : bool
        Whether it runs through :func:`linrfm.iteration.iterate` (n_iter, history,
        callback); False for the one-shot scikit-learn anchors.
    trial : tuple of str
        The function's parameters a study sets from the trial: ``'rank'`` (target rank),
        ``'width'`` (factor width), ``'random_state'`` (the seed of a random start).
    ratings : str or None
        Its :class:`~linrfm.ratings.RatingsCompleter` method (``linrfm complete --method``).
    """

    name: str
    problems: tuple
    target: str
    estimator: str | None
    label: str
    study_params: Mapping = field(default_factory=dict)
    iterative: bool = True
    trial: tuple = ()
    ratings: str | None = None

    def __post_init__(self):
        object.__setattr__(self, "study_params", MappingProxyType(dict(self.study_params)))

    @property
    def family(self) -> str:
        """The method without its problem: ``'lin_rfm'`` for ``'lin_rfm_complete'``."""
        for kind in PROBLEMS:
            if self.name.endswith(f"_{kind}"):
                return self.name[: -len(kind) - 1]
        return self.name

    @property
    def function(self):
        module, attr = self.target.split(":")
        return getattr(importlib.import_module(module), attr)

    @property
    def estimator_class(self):
        if self.estimator is None:
            return None
        return getattr(importlib.import_module("linrfm.estimators"), self.estimator)

    @property
    def parameters(self) -> dict:
        """The function's settings: keyword-only parameters (but :data:`FIT_ARGS`) and their
        defaults (``inspect.Parameter.empty`` where it has none)."""
        sig = inspect.signature(self.function)
        return {
            p.name: p.default
            for p in sig.parameters.values()
            if p.kind is p.KEYWORD_ONLY and p.name not in FIT_ARGS
        }

    def study_kwargs(self, **trial) -> dict:
        """:attr:`study_params` plus the trial's quantities this method takes."""
        return {**self.study_params, **{k: v for k, v in trial.items() if k in self.trial}}

    def __call__(self, problem, **params):
        """Run the function on ``problem`` (already of a kind it takes)."""
        if isinstance(problem, tuple):  # (X, y) of a regression
            return self.function(*problem, **params)
        return self.function(problem, **params)


_S = "linrfm.solvers"
_F = "linrfm.flat.solvers"
_M = "linrfm.methods"
# SoftImpute as the phase study judges it: the nuclear-norm solution at the end of a path to
# 1e-4 lam_max, computed fast enough to be run at all (momentum with restarts, the path's
# earlier lams solved loosely; see linrfm.experiments.phase).
_SOFTIMPUTE_STUDY = dict(accelerate=True, n_lams=10, path_tol=1e-4, tol=1e-9, max_iter=1500)
_TABLE = [
    MethodSpec(
        "lin_rfm_complete",
        ("complete",),
        f"{_S}:lin_rfm_complete",
        "LinRFMCompleter",
        "lin-RFM",
        ratings="linrfm",
    ),
    MethodSpec("lin_rfm_sense", ("sense",), f"{_S}:lin_rfm_sense", "LinRFMSensor", "lin-RFM"),
    MethodSpec(
        "lin_rfm_regress",
        ("regress",),
        f"{_S}:lin_rfm_regress",
        "LinRFMRegressor",
        "lin-RFM",
        {"max_iter": 300},
    ),
    MethodSpec(
        "irls_complete",
        ("complete",),
        f"{_S}:irls_complete",
        "IRLSRecovery",
        "IRLS-p",
        {"max_iter": 500},
    ),
    MethodSpec(
        "irls_sense", ("sense",), f"{_S}:irls_sense", "IRLSRecovery", "IRLS-p", {"max_iter": 500}
    ),
    MethodSpec(
        "irls_regress", ("regress",), f"{_S}:irls_regress", None, "IRLS-p", {"max_iter": 300}
    ),
    MethodSpec(
        "soft_impute_complete",
        ("complete",),
        f"{_S}:soft_impute_complete",
        "SoftImputeCompleter",
        "SoftImpute (nuclear norm)",
        _SOFTIMPUTE_STUDY,
        ratings="softimpute",
    ),
    MethodSpec(
        "soft_impute_sense",
        ("sense",),
        f"{_S}:soft_impute_sense",
        "NuclearNormSensor",
        "nuclear norm (FISTA-SVT)",
    ),
    MethodSpec(
        "als_complete",
        ("complete",),
        f"{_S}:als_complete",
        "ALSCompleter",
        "ALS",
        trial=("rank", "random_state"),
    ),
    MethodSpec(
        "factorized_gd",
        ("complete", "sense"),
        f"{_S}:factorized_gd",
        "FactorizedGD",
        "factorized GD",
        trial=("rank", "random_state"),
    ),
    MethodSpec(
        "deep_mf",
        ("complete", "sense"),
        f"{_S}:deep_mf",
        "DeepMatrixFactorization",
        "deep matrix factorization",
        trial=("random_state",),
    ),
    MethodSpec(
        "diagonal_net_regress",
        ("regress",),
        f"{_S}:diagonal_net_regress",
        None,
        "diagonal net",
        {"max_iter": 3000},
    ),
    MethodSpec(
        "lasso_regress", ("regress",), f"{_M}:lasso_regress", None, "Lasso", iterative=False
    ),
    MethodSpec("omp_regress", ("regress",), f"{_M}:omp_regress", None, "OMP", iterative=False),
    MethodSpec(
        "flat_minimum",
        ("factor",),
        f"{_F}:flat_minimum",
        None,
        "flat minimum",
        trial=("width", "random_state"),
    ),
    MethodSpec(
        "factored_gd",
        ("factor",),
        f"{_F}:factored_gd",
        None,
        "GD on the factors",
        trial=("width", "random_state"),
    ),
    MethodSpec(
        "label_noise_gd",
        ("factor",),
        f"{_F}:label_noise_gd",
        None,
        "label-noise GD",
        trial=("width", "random_state"),
    ),
]
METHODS: Mapping[str, MethodSpec] = MappingProxyType({s.name: s for s in _TABLE})


def list_methods(problem: str | None = None) -> list[str]:
    """Names of the methods (in table order), those taking ``problem`` if it is given."""
    if problem is not None and problem not in PROBLEMS:
        raise ValueError(f"Unknown problem kind {problem!r}; choose one of {list(PROBLEMS)}.")
    return [n for n, s in METHODS.items() if problem is None or problem in s.problems]


def _specs(name: str) -> list:
    if name in METHODS:
        return [METHODS[name]]
    specs = [s for s in METHODS.values() if s.family == name]
    if not specs:
        raise ValueError(f"Unknown method {name!r}; choose one of {list_methods()}.")
    return specs


def get_method(name: str, problem=None) -> MethodSpec:
    """The :class:`MethodSpec` of ``name``: a table name, or a family (``'lin_rfm'``) with
    ``problem`` (a problem, or a kind of :data:`PROBLEMS`) picking its entry."""
    specs = _specs(name)
    if problem is None:
        if name not in METHODS:
            raise ValueError(f"{name!r} is a family of methods; give the problem to choose one.")
        return specs[0]
    return resolve(specs, problem, f"Method {name!r}")[0]


def problem_kind(problem) -> str:
    """The kind (of :data:`PROBLEMS`) of a problem."""
    from .problems import FactorProblem, MatrixSensing, SparseRegression

    if isinstance(problem, MatrixSensing):
        return "sense"
    if isinstance(problem, (SparseRegression, tuple)):
        return "regress"
    if isinstance(problem, FactorProblem):
        return "factor"
    return "complete"


def resolve(specs, problem, what):
    """The spec of ``specs`` taking ``problem`` and the problem as it takes it.

    An entry-sampling sensing problem goes to a completion function where there is one.
    """
    from .problems import EntrySampling, MatrixCompletion

    kind = problem if isinstance(problem, str) else problem_kind(problem)
    op = getattr(problem, "operator", None)
    if kind == "sense" and isinstance(op, EntrySampling):
        for s in specs:
            if "complete" in s.problems:
                return s, MatrixCompletion(op.rows, op.cols, problem.y, op.shape)
    for s in specs:
        if kind in s.problems:
            return s, problem
    names = {"complete": "completion", "sense": "sensing", "regress": "regression"}
    raise TypeError(f"{what} does not handle {names.get(kind, kind)} input.")


def fit_method(name: str, problem, **params):
    """Run method ``name`` (a table name or a family, see :func:`get_method`) on
    ``problem`` with ``params`` (the function's defaults otherwise); returns its result."""
    spec, problem = resolve(_specs(name), problem, f"Method {name!r}")
    return spec(problem, **params)


def ratings_method(name: str) -> str:
    """The :class:`~linrfm.ratings.RatingsCompleter` method of ``name`` (its ratings name,
    ``'linrfm'``, or a table name, ``'lin_rfm_complete'``)."""
    for s in METHODS.values():
        if s.ratings is not None and name in (s.ratings, s.name):
            return s.ratings
    choices = [s.ratings for s in METHODS.values() if s.ratings]
    raise ValueError(f"Unknown method {name!r}; choose from {choices}.")


@dataclass(frozen=True)
class Variant:
    """A column of a study: a method (table name or family) at fixed parameters.

    Its key in the study (the ``method`` of the study's CSV rows) names it; ``label`` is
    for plots.
    """

    method: str
    params: Mapping = field(default_factory=dict)
    label: str = ""

    @property
    def problems(self) -> tuple:
        """The problem kinds it takes."""
        specs = _specs(self.method)
        return tuple(k for k in PROBLEMS if any(k in s.problems for s in specs))

    def spec(self, problem) -> MethodSpec:
        """The table entry it runs on ``problem`` (a problem or a kind)."""
        return get_method(self.method, problem)

    def fit(self, problem, **params):
        """Run it on ``problem``: its parameters, then ``params``."""
        return fit_method(self.method, problem, **{**self.params, **params})


# ---------------------------------------------------------------------------------------
# External anchors of the sparse study: scikit-learn's Lasso and OMP as table entries
# ---------------------------------------------------------------------------------------


def _vector_result(coef, n_iter, method, params, t0):
    from .results import VectorResult

    coef = np.asarray(coef, dtype=np.float64)
    return VectorResult(
        shape=coef.shape,
        n_iter=int(n_iter),
        converged=True,
        elapsed=time.perf_counter() - t0,
        method=method,
        params=params,
        coef=coef,
    )


@scale_free("regress")
def lasso_regress(X, y=None, *, cv=None, lam_ratio=1e-4, n_lams=30, tol=1e-7, max_iter=1000):
    """The Lasso (scikit-learn, no intercept): the end of a warm-started path, or by CV.

    Parameters
    ----------
    X, y : SparseRegression, or design (n, d) and targets (n,)
    cv : int or None
        None: the solution at ``lam_ratio * lam_max`` at the end of a path of ``n_lams``
        geometric lams (``lam_max = max |X^T y| / n``). An int: ``LassoCV`` with ``cv``
        folds over ``n_lams`` lams of its own choice.
    lam_ratio, n_lams : float, int
    tol, max_iter : float, int
        scikit-learn's coordinate-descent tolerance and epochs (per lam).

    Returns
    -------
    VectorResult
        ``n_iter`` is the total number of epochs (the chosen fit's under CV).
    """
    from sklearn.linear_model import LassoCV, lasso_path

    from .problems import as_regression_problem

    t0 = time.perf_counter()
    prob = as_regression_problem(X, y)
    X, y = prob.X, prob.y
    params = dict(cv=cv, lam_ratio=lam_ratio, n_lams=n_lams, tol=tol, max_iter=max_iter)
    if cv is not None:
        m = LassoCV(cv=cv, alphas=n_lams, fit_intercept=False, tol=tol, max_iter=max_iter)
        m.fit(X, y)
        return _vector_result(m.coef_, m.n_iter_, "lasso-cv", params, t0)
    lmax = float(np.max(np.abs(X.T @ y))) / X.shape[0]
    lams = np.geomspace(lmax, lam_ratio * lmax, n_lams)
    _, coefs, _, n_iters = lasso_path(
        X, y, alphas=lams, max_iter=max_iter, tol=tol, return_n_iter=True
    )
    return _vector_result(coefs[:, -1], np.sum(n_iters), "lasso", params, t0)


@scale_free("regress")
def omp_regress(X, y=None, *, residual_tol=1e-12):
    """Orthogonal matching pursuit (scikit-learn, no intercept), run until the squared
    residual is at most ``residual_tol * ||y||^2`` (no sparsity level is given).

    Returns
    -------
    VectorResult
        ``n_iter`` is the number of atoms chosen.
    """
    from sklearn.linear_model import OrthogonalMatchingPursuit

    from .problems import as_regression_problem

    t0 = time.perf_counter()
    prob = as_regression_problem(X, y)
    m = OrthogonalMatchingPursuit(tol=residual_tol * float(prob.y @ prob.y), fit_intercept=False)
    m.fit(prob.X, prob.y)
    return _vector_result(m.coef_, m.n_iter_, "omp", {"residual_tol": residual_tol}, t0)
