"""Thin scikit-learn-style classes over the solver functions."""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from .problems import as_completion_problem
from .solvers.linrfm import lin_rfm_complete
from .solvers.linrfm_sparse import lin_rfm_sparse

__all__ = [
    "LinRFMCompleter",
    "LinRFMRegressor",
    "LinRFMSensor",
    "IRLSRecovery",
    "SoftImputeCompleter",
    "NuclearNormSensor",
    "FactorizedGD",
    "DeepMatrixFactorization",
]


class _MatrixResultMixin:
    """``predict / transform / fit_transform`` over a fitted ``result_`` (a RecoveryResult)."""

    def predict(self, rows, cols):
        """Predicted values at the index arrays ``rows`` and ``cols``.

        Returns
        -------
        ndarray of shape (len(rows),)
        """
        check_is_fitted(self, "result_")
        return self.result_.predict(rows, cols)

    def transform(self, X=None):
        """The completed (recovered) dense matrix of the fitted data (``X`` is ignored)."""
        check_is_fitted(self, "result_")
        return self.result_.to_dense()

    def fit_transform(self, X, y=None):
        """Fit, then return the completed (recovered) dense matrix."""
        return self.fit(X).transform()

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.input_tags.sparse = True
        return tags


class LinRFMCompleter(_MatrixResultMixin, BaseEstimator):
    """Matrix completion with lin-RFM, scikit-learn style.

    A thin wrapper over :func:`linrfm.lin_rfm_complete`; every parameter is passed
    through unchanged (see that function for their meaning). Defaults target exact,
    noiseless recovery; set ``replace=False`` for noisy data.

    Parameters
    ----------
    alpha : float, default=0.5
    variant : {'auto', 'one-sided', 'two-sided'}, default='auto'
    lam : float, default=1e-2
    lam_rule : {'auto', 'change', 'fixed', 'holdout', 'decay'}, default='auto'
    lam_min : float, default=1e-12
    replace : bool, default=True
    tol : float, default=1e-6
    max_iter : int, default=1000
    val_fraction : float, default=0.1
    patience : int, default=10
    memory_limit : float, default=2**31
    progress : bool, default=False
    random_state : None or int, default=None
    agop : {'auto', 'dense', 'sparse'}, default='auto'
    dtype : None, 'float32' or 'float64', default=None
    n_threads : int or None, default=None
    device : None, 'cpu', 'cuda', 'cuda:N' or torch.device, default=None
        None follows the input (NumPy, or a torch tensor's device); see
        :func:`linrfm.lin_rfm_complete`.
    momentum : 'auto' or float in [0, 1), default='auto'
        Extrapolation of the one-sided iteration ('auto': 0.7 one-sided, 0 two-sided); see
        :func:`linrfm.lin_rfm_complete`.

    Attributes
    ----------
    result_ : KernelResult
        The solver's result.
    n_iter_ : int
        Iterations performed.
    converged_ : bool
        Whether ``tol`` was met.
    shape_ : tuple of int
        Shape of the fitted matrix.

    Examples
    --------
    >>> import numpy as np
    >>> from linrfm import LinRFMCompleter, make_completion
    >>> planted = make_completion(60, 50, 2, 900, min_per_line=3, random_state=0)
    >>> model = LinRFMCompleter().fit(planted.problem.to_sparse())
    >>> rows, cols = planted.unobserved()
    >>> err = np.linalg.norm(model.predict(rows, cols) - planted.truth(rows, cols))
    >>> bool(err / np.linalg.norm(planted.truth(rows, cols)) < 1e-3)
    True
    """

    def __init__(
        self,
        alpha=0.5,
        variant="auto",
        lam=1e-2,
        lam_rule="auto",
        lam_min=1e-12,
        replace=True,
        tol=1e-6,
        max_iter=1000,
        val_fraction=0.1,
        patience=10,
        memory_limit=2**31,
        progress=False,
        random_state=None,
        agop="auto",
        dtype=None,
        n_threads=None,
        device=None,
        momentum="auto",
    ):
        self.alpha = alpha
        self.variant = variant
        self.lam = lam
        self.lam_rule = lam_rule
        self.lam_min = lam_min
        self.replace = replace
        self.tol = tol
        self.max_iter = max_iter
        self.val_fraction = val_fraction
        self.patience = patience
        self.memory_limit = memory_limit
        self.progress = progress
        self.random_state = random_state
        self.agop = agop
        self.dtype = dtype
        self.n_threads = n_threads
        self.device = device
        self.momentum = momentum

    def fit(self, X, y=None):
        """Fit to the observed entries of ``X``.

        Parameters
        ----------
        X : ndarray with NaN for missing, scipy.sparse matrix (stored entries observed),
            MatrixCompletion, or a torch tensor (dense with NaN, or sparse COO)
        y : None
            Ignored.

        Returns
        -------
        self
        """
        self.result_ = lin_rfm_complete(X, **self.get_params())
        self.n_iter_ = self.result_.n_iter
        self.converged_ = self.result_.converged
        self.shape_ = tuple(self.result_.shape)
        return self


# ---------------------------------------------------------------------------------------
# Baselines and sensing: one interface for completion and sensing input
# ---------------------------------------------------------------------------------------


class _RecoveryEstimator(_MatrixResultMixin, BaseEstimator):
    """Shared ``fit / predict / transform`` over a completion and a sensing function.

    ``fit`` accepts a completion input (ndarray with NaN, scipy.sparse, MatrixCompletion)
    or a :class:`~linrfm.operators.MatrixSensing`, and passes every parameter unchanged to
    the solver function named by ``_solver = (module, completion_fn, sensing_fn)``.
    """

    _solver: tuple = ("", None, None)

    def _function(self, sensing: bool):
        import importlib

        module, comp, sens = self._solver
        name = sens if sensing else comp
        if name is None:
            kind = "sensing" if sensing else "completion"
            raise TypeError(f"{type(self).__name__} does not handle {kind} input.")
        return getattr(importlib.import_module(module), name)

    def fit(self, X, y=None):
        """Fit to a completion input or a MatrixSensing problem.

        Parameters
        ----------
        X : ndarray with NaN for missing, scipy.sparse matrix, MatrixCompletion or
            MatrixSensing
        y : None
            Ignored.

        Returns
        -------
        self
        """
        from .operators import MatrixSensing

        sensing = isinstance(X, MatrixSensing)
        problem = X if sensing else as_completion_problem(X)
        self.result_ = self._function(sensing)(problem, **self.get_params())
        self.n_iter_ = self.result_.n_iter
        self.converged_ = self.result_.converged
        self.shape_ = tuple(problem.shape)
        return self


class LinRFMSensor(_RecoveryEstimator):
    """lin-RFM for matrix sensing (:func:`linrfm.solvers.sensing.lin_rfm_sense`).

    Parameters are those of the function, passed through unchanged. Attributes:
    ``result_``, ``n_iter_``, ``converged_``, ``shape_``.
    """

    _solver = ("linrfm.solvers.sensing", None, "lin_rfm_sense")

    def __init__(
        self,
        alpha=0.5,
        variant="one-sided",
        lam=1e-2,
        lam_rule="change",
        lam_min=1e-12,
        replace=True,
        tol=1e-6,
        max_iter=500,
        cg_tol=1e-10,
        cg_max_iter=None,
        linear_solver="auto",
        progress=False,
    ):
        self.alpha = alpha
        self.variant = variant
        self.lam = lam
        self.lam_rule = lam_rule
        self.lam_min = lam_min
        self.replace = replace
        self.tol = tol
        self.max_iter = max_iter
        self.cg_tol = cg_tol
        self.cg_max_iter = cg_max_iter
        self.linear_solver = linear_solver
        self.progress = progress


class IRLSRecovery(_RecoveryEstimator):
    """Standard IRLS-p (:func:`linrfm.solvers.irls.irls_complete` / ``irls_sense``).

    Parameters are those of the functions, passed through unchanged.
    """

    _solver = ("linrfm.solvers.irls", "irls_complete", "irls_sense")

    def __init__(self, p=0.0, gamma=1.0, eta=1.1, gamma_min=1e-12, tol=1e-6, max_iter=1000):
        self.p = p
        self.gamma = gamma
        self.eta = eta
        self.gamma_min = gamma_min
        self.tol = tol
        self.max_iter = max_iter


class SoftImputeCompleter(_RecoveryEstimator):
    """Nuclear-norm completion (:func:`linrfm.solvers.softimpute.soft_impute`)."""

    _solver = ("linrfm.solvers.softimpute", "soft_impute", None)

    def __init__(
        self,
        lam=None,
        lam_ratio=1e-4,
        n_lams=20,
        max_rank=None,
        tol=1e-5,
        path_tol=None,
        max_iter=1000,
        accelerate=False,
        solver="auto",
        random_state=0,
    ):
        self.lam = lam
        self.lam_ratio = lam_ratio
        self.n_lams = n_lams
        self.max_rank = max_rank
        self.tol = tol
        self.path_tol = path_tol
        self.max_iter = max_iter
        self.accelerate = accelerate
        self.solver = solver
        self.random_state = random_state


class NuclearNormSensor(_RecoveryEstimator):
    """Nuclear-norm sensing (:func:`linrfm.solvers.nuclear.nuclear_norm_sense`)."""

    _solver = ("linrfm.solvers.nuclear", None, "nuclear_norm_sense")

    def __init__(self, lam=None, lam_ratio=1e-4, n_lams=20, tol=1e-6, max_iter=2000):
        self.lam = lam
        self.lam_ratio = lam_ratio
        self.n_lams = n_lams
        self.tol = tol
        self.max_iter = max_iter


class FactorizedGD(_RecoveryEstimator):
    """``X = U V^T`` by gradient descent from small init
    (:func:`linrfm.solvers.factorized_gd.factorized_gd`), completion or sensing."""

    _solver = ("linrfm.solvers.factorized_gd", "factorized_gd", "factorized_gd")

    def __init__(
        self,
        rank=2,
        init_scale=1e-12,
        step=0.5,
        scaled=False,
        damping=1e-2,
        tol=1e-6,
        max_iter=5000,
        random_state=None,
    ):
        self.rank = rank
        self.init_scale = init_scale
        self.step = step
        self.scaled = scaled
        self.damping = damping
        self.tol = tol
        self.max_iter = max_iter
        self.random_state = random_state


class DeepMatrixFactorization(_RecoveryEstimator):
    """Deep matrix factorization
    (:func:`linrfm.solvers.deep_linear.deep_matrix_factorization`), completion or sensing."""

    _solver = (
        "linrfm.solvers.deep_linear",
        "deep_matrix_factorization",
        "deep_matrix_factorization",
    )

    def __init__(
        self,
        depth=3,
        width=None,
        init_scale=1e-2,
        step=0.3,
        tol=1e-6,
        max_iter=20000,
        random_state=None,
    ):
        self.depth = depth
        self.width = width
        self.init_scale = init_scale
        self.step = step
        self.tol = tol
        self.max_iter = max_iter
        self.random_state = random_state


class LinRFMRegressor(RegressorMixin, BaseEstimator):
    """Sparse linear regression with lin-RFM (diagonal AGOP), scikit-learn style.

    A thin wrapper over :func:`linrfm.solvers.linrfm_sparse.lin_rfm_sparse`; every
    parameter is passed through unchanged (see that function for their meaning). The
    defaults interpolate noiseless data and recover sparse coefficients from few samples;
    for noisy data raise ``lam``.

    Parameters
    ----------
    alpha : float, default=0.5
        Power of the AGOP's diagonal (``p = 2 - 4 alpha``).
    lam : float, default=0.0
        Relative ridge.
    eps : float, default=1.0
        Initial relative smoothing of the weights.
    eps_rule : {'chartrand-yin', 'fixed'}, default='chartrand-yin'
    eps_min : float, default=1e-10
    tol : float, default=1e-7
    max_iter : int, default=500
    form : {'auto', 'samples', 'features'}, default='auto'
    fit_intercept : bool, default=True

    Attributes
    ----------
    coef_ : ndarray of shape (n_features,)
    intercept_ : float
    n_iter_ : int
    converged_ : bool
    result_ : VectorResult
    n_features_in_ : int

    Examples
    --------
    >>> import numpy as np
    >>> from linrfm import LinRFMRegressor
    >>> from linrfm.datasets import make_sparse_regression
    >>> planted = make_sparse_regression(60, 200, 5, random_state=0)
    >>> model = LinRFMRegressor(fit_intercept=False).fit(planted.problem.X, planted.problem.y)
    >>> bool(planted.rel_error(model.coef_) < 1e-6)
    True
    """

    def __init__(
        self,
        alpha=0.5,
        lam=0.0,
        eps=1.0,
        eps_rule="chartrand-yin",
        eps_min=1e-10,
        tol=1e-7,
        max_iter=500,
        form="auto",
        fit_intercept=True,
    ):
        self.alpha = alpha
        self.lam = lam
        self.eps = eps
        self.eps_rule = eps_rule
        self.eps_min = eps_min
        self.tol = tol
        self.max_iter = max_iter
        self.form = form
        self.fit_intercept = fit_intercept

    def fit(self, X, y):
        """Fit the coefficients.

        Parameters
        ----------
        X : array_like or scipy.sparse matrix, shape (n_samples, n_features)
        y : array_like, shape (n_samples,)

        Returns
        -------
        self
        """
        X, y = validate_data(
            self, X, y, accept_sparse=["csr", "csc", "coo"], y_numeric=True, dtype=np.float64
        )
        self.result_ = lin_rfm_sparse(X, y, **self.get_params())
        self.coef_ = self.result_.coef
        self.intercept_ = float(self.result_.intercept)
        self.n_iter_ = self.result_.n_iter
        self.converged_ = self.result_.converged
        return self

    def predict(self, X):
        """Predictions ``X @ coef_ + intercept_``.

        Returns
        -------
        ndarray of shape (n_samples,)
        """
        check_is_fitted(self, "coef_")
        X = validate_data(self, X, accept_sparse=["csr", "csc", "coo"], reset=False)
        return np.asarray(X @ self.coef_).ravel() + self.intercept_

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags
