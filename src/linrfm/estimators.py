"""Thin scikit-learn-style classes over the solver functions.

Each class is the ``estimator`` of its entries in the method table (:mod:`linrfm.methods`):
its parameters are the keyword parameters of those functions (but the per-fit ones,
:data:`linrfm.methods.FIT_ARGS`), with the functions' defaults unless a class says
otherwise, and ``fit`` passes each of them to the function unchanged.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from .methods import METHODS, resolve

__all__ = [
    "LinRFMCompleter",
    "LinRFMRegressor",
    "LinRFMSensor",
    "IRLSRecovery",
    "SoftImputeCompleter",
    "ALSCompleter",
    "NuclearNormSensor",
    "FactorizedGD",
    "DeepMatrixFactorization",
]


class _TableEstimator(BaseEstimator):
    """Runs the class's entry of the method table that takes the input."""

    def _fit_result(self, problem):
        name = type(self).__name__
        spec, problem = resolve([s for s in METHODS.values() if s.estimator == name], problem, name)
        params, taken = self.get_params(), spec.parameters
        defaults = type(self)().get_params()
        unused = sorted(
            k for k, v in params.items() if k not in taken and not _same(v, defaults[k])
        )
        if unused:
            raise ValueError(f"{spec.name} does not take {unused}; leave them at their defaults.")
        self.result_ = spec(problem, **{k: v for k, v in params.items() if k in taken})
        self.n_iter_ = self.result_.n_iter
        self.converged_ = self.result_.converged
        return self.result_


def _store(estimator, arguments: dict) -> None:
    """Keep ``__init__``'s arguments as attributes of the same names (scikit-learn's rule:
    ``__init__`` stores its parameters unchanged and does nothing else)."""
    for name, value in arguments.items():
        if name != "self" and not name.startswith("__"):
            setattr(estimator, name, value)


def _same(a, b) -> bool:
    try:
        return bool(a is b or a == b)
    except (TypeError, ValueError):
        return False


class _MatrixEstimator(_TableEstimator):
    """``fit / predict / transform`` for completion or sensing input (a RecoveryResult)."""

    def fit(self, X, y=None):
        """Fit to the observed entries or the measurements of ``X``.

        Parameters
        ----------
        X : ndarray with NaN for missing, scipy.sparse matrix (stored entries observed),
            MatrixCompletion, a torch tensor where the function takes one, or MatrixSensing
        y : None
            Ignored.

        Returns
        -------
        self
        """
        self.shape_ = tuple(self._fit_result(X).shape)
        return self

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


class LinRFMCompleter(_MatrixEstimator):
    """Matrix completion with lin-RFM, scikit-learn style.

    A thin wrapper over :func:`linrfm.lin_rfm_complete`; every parameter is passed
    through unchanged (see that function for their meaning). Defaults target exact,
    noiseless recovery; set ``replace=False`` for noisy data.

    Parameters
    ----------
    alpha, variant, lam, lam_rule, lam_min, replace, tol, max_iter, val_fraction, patience,
    memory_limit, progress, random_state, agop, dtype, n_threads, device, momentum, client,
    polish, cooccurrence, kernel_side
        Those of :func:`linrfm.lin_rfm_complete`, with its defaults. ``device=None``
        follows the input (NumPy, or a torch tensor's device); a ``client``
        (``dask.distributed.Client``) runs the fit on its workers.

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
        client=None,
        polish=True,
        cooccurrence=0.0,
        kernel_side="auto",
    ):
        _store(self, locals())


class LinRFMSensor(_MatrixEstimator):
    """lin-RFM for matrix sensing (:func:`linrfm.lin_rfm_sense`).

    Parameters are those of the function, passed through unchanged. Attributes:
    ``result_``, ``n_iter_``, ``converged_``, ``shape_``.
    """

    def __init__(
        self,
        alpha=0.5,
        variant="auto",
        lam=1e-2,
        lam_rule="change",
        lam_min=1e-12,
        replace=True,
        tol=1e-8,
        max_iter=500,
        cg_tol=1e-10,
        cg_max_iter=None,
        linear_solver="auto",
        progress=False,
    ):
        _store(self, locals())


class IRLSRecovery(_MatrixEstimator):
    """Standard IRLS-p (:func:`linrfm.irls_complete` / :func:`linrfm.irls_sense`).

    Parameters are those of the functions, passed through unchanged; ``cg_tol`` and
    ``cg_max_iter`` are for sensing only (an error on completion input unless at their
    defaults).
    """

    def __init__(
        self,
        p=0.0,
        gamma=1.0,
        eta=1.1,
        gamma_min=1e-12,
        tol=1e-6,
        max_iter=1000,
        cg_tol=1e-10,
        cg_max_iter=None,
        progress=False,
    ):
        _store(self, locals())


class SoftImputeCompleter(_MatrixEstimator):
    """Nuclear-norm completion (:func:`linrfm.soft_impute_complete`)."""

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
        progress=False,
    ):
        _store(self, locals())


class ALSCompleter(_MatrixEstimator):
    """Alternating least squares, ``X ~ U V^T`` (:func:`linrfm.als_complete`)."""

    def __init__(
        self,
        rank=None,
        lam=1e-2,
        tol=1e-6,
        max_iter=100,
        val_fraction=0.1,
        ranks=None,
        init_scale=1.0,
        progress=False,
        random_state=None,
    ):
        _store(self, locals())


class NuclearNormSensor(_MatrixEstimator):
    """Nuclear-norm sensing (:func:`linrfm.soft_impute_sense`)."""

    def __init__(
        self, lam=None, lam_ratio=1e-4, n_lams=20, tol=1e-6, max_iter=2000, progress=False
    ):
        _store(self, locals())


class FactorizedGD(_MatrixEstimator):
    """``X = U V^T`` by gradient descent from small init
    (:func:`linrfm.factorized_gd`), completion or sensing.

    ``rank`` has a default here (2); the function requires it."""

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
        progress=False,
    ):
        _store(self, locals())


class DeepMatrixFactorization(_MatrixEstimator):
    """Deep matrix factorization (:func:`linrfm.deep_mf`), completion or sensing."""

    def __init__(
        self,
        depth=3,
        width=None,
        init_scale=1e-2,
        step=0.3,
        tol=1e-6,
        max_iter=20000,
        random_state=None,
        progress=False,
    ):
        _store(self, locals())


class LinRFMRegressor(RegressorMixin, _TableEstimator):
    """Sparse linear regression with lin-RFM (diagonal AGOP), scikit-learn style.

    A thin wrapper over :func:`linrfm.lin_rfm_regress`; every parameter is passed
    through unchanged and means what it means there. The
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
        Fit an unpenalized intercept (centre ``X`` and ``y``), as in
        :func:`linrfm.lin_rfm_regress`; the default differs: True here as in scikit-learn's
        linear models, False in the function, whose planted problems have none.
    progress : bool, default=False
        Show a tqdm progress bar.

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
        progress=False,
    ):
        _store(self, locals())

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
        result = self._fit_result((X, y))
        self.coef_ = result.coef
        self.intercept_ = float(result.intercept)
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
