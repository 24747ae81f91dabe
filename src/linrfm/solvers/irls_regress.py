"""IRLS-p for sparse vectors: iteratively reweighted least squares for the l_p quasi-norm.

Each step solves the weighted minimum-norm interpolation
``beta_new = argmin sum_i w_i beta_i^2  s.t.  X beta = y`` with
``w_i = (beta_i^2 + eps)^(p/2 - 1)``, and lowers ``eps`` by one of two rules:

- Chartrand & Yin (ICASSP 2008): ``eps <- eps / 10`` whenever the relative change of
  ``beta`` falls below ``sqrt(eps) / 100``;
- Daubechies, DeVore, Fornasier & Güntürk (CPAM 2010):
  ``eps <- min(eps, (r_{K+1}(beta) / d)^2)`` with ``r_{K+1}`` the (K+1)-th largest
  ``|beta_i|`` (their ``eps^2``); it needs a sparsity guess ``K``.

This is an independent baseline for :func:`linrfm.solvers.linrfm_regress.lin_rfm_regress`,
written from the IRLS literature rather than from the kernel view.
"""

from __future__ import annotations

import numbers
import time

import numpy as np
import scipy.linalg as la
import scipy.sparse as sp

from .._docs import fill_doc
from .._scaling import scale_free
from .._validation import check_option, check_real_array, check_scalar
from ..identifiability import certify_sparse_recovery
from ..iteration import Method, Run, Schedule, Stop, iterate, iterative
from ..problems import as_regression_problem
from ..results import VectorResult
from ._params import check_loop, finished, relative_change

__all__ = ["irls_regress", "irls_regress_step", "IRLS_EPS_RULES"]

IRLS_EPS_RULES = ("chartrand-yin", "ddfg")


def _weighted_min_norm(X, y, inv_w):
    """``argmin sum beta_i^2 / inv_w_i`` s.t. ``X beta = y`` (least squares if infeasible).

    With ``Q = diag(inv_w)``: ``beta = Q X^T (X Q X^T)^-1 y`` when that n x n system is
    positive definite (n < d, generic X); otherwise the minimum-norm least-squares
    solution in the variables ``z = Q^(-1/2) beta``.
    """
    n, d = X.shape
    if n < d:
        M = (X * inv_w) @ X.T
        try:
            c = la.solve(M, y, assume_a="pos", check_finite=False)
            if np.all(np.isfinite(c)):
                return inv_w * (X.T @ c)
        except (la.LinAlgError, ValueError):
            pass
    s = np.sqrt(inv_w)
    z = la.lstsq(X * s, y, check_finite=False, lapack_driver="gelsd")[0]
    return s * z


def irls_regress_step(beta, X, y, *, p=1.0, eps=0.0):
    """One IRLS-p step: the minimum of ``sum (beta_i^2 + eps)^(p/2-1) b_i^2`` on ``X b = y``.

    Parameters
    ----------
    beta : array_like, shape (d,)
        Current iterate (defines the weights).
    X : array_like, shape (n, d)
    y : array_like, shape (n,)
    p : float in [0, 1]
    eps : float >= 0
        Absolute smoothing.

    Returns
    -------
    ndarray, shape (d,)
    """
    prob = as_regression_problem(X, y)
    check_scalar(p, "p", low=0, high=1)
    check_scalar(eps, "eps", low=0)
    beta = check_real_array(beta, "beta", ndim=1)
    if beta.size != prob.n_features:
        raise ValueError(f"beta has length {beta.size}; X has {prob.n_features} features.")
    Xd = prob.X.toarray() if sp.issparse(prob.X) else prob.X
    return _weighted_min_norm(Xd, prob.y, _inverse_weights(beta, p, eps))


def _inverse_weights(beta, p, eps):
    q = (beta * beta + eps) ** (1.0 - p / 2.0)
    top = q.max()
    return q / top if top > 0 and np.isfinite(top) else q


@scale_free("regress")
@fill_doc
@iterative
def irls_regress(
    X,
    y=None,
    *,
    p: float = 1.0,
    eps: float = 1.0,
    eps_rule: str = "chartrand-yin",
    sparsity=None,
    eps_min: float = 1e-10,
    tol: float = 1e-7,
    max_iter: int = 500,
    loop: dict,
) -> VectorResult:
    """Sparse recovery by IRLS for the l_p quasi-norm, ``p`` in ``[0, 1]``.

    Parameters
    ----------
    X : array_like or scipy.sparse matrix (densified), shape (n, d), or SparseRegression
    y : array_like, shape (n,)
    p : float in [0, 1], default=1.0
        ``p = 1`` is basis pursuit (l1); ``p = 0`` the log penalty (weights ``1/(b^2+eps)``).
    eps : float > 0, default=1.0
        Initial smoothing, relative to ``max(beta_0^2)`` of the minimum-norm solution
        ``beta_0`` (so it does not depend on units).
    eps_rule : {'chartrand-yin', 'ddfg'}, default='chartrand-yin'
        How ``eps`` decreases (module docstring). 'ddfg' needs ``sparsity``.
    sparsity : int, optional
        The guess ``K`` of the DDFG rule (a user choice, like any parameter).
    eps_min : float > 0, default=1e-10
        Floor of the relative smoothing.
    tol : float > 0, default=1e-7
        Converged when the relative change of ``beta`` falls below ``tol`` with ``eps``
        at its floor ('chartrand-yin') or at any ``eps`` ('ddfg', whose ``eps`` stalls
        once the iterate is K-sparse).
    max_iter : int, default=500
    %(loop)s

    Returns
    -------
    VectorResult
        ``coef``, ``n_iter``, ``converged``, ``history`` (``rel_change``, ``eps``).

    %(warns)s
    """
    t0 = time.perf_counter()
    prob = as_regression_problem(X, y)
    check_scalar(p, "p", low=0, high=1)
    check_scalar(eps, "eps", low=0, low_inclusive=False)
    check_option(eps_rule, "eps_rule", IRLS_EPS_RULES)
    check_scalar(eps_min, "eps_min", low=0, low_inclusive=False)
    check_loop(tol, max_iter)
    d = prob.n_features
    if eps_rule == "ddfg":
        if sparsity is None:
            raise ValueError("eps_rule='ddfg' needs the 'sparsity' parameter (an int K).")
        check_scalar(sparsity, "sparsity", kind=numbers.Integral, low=0, high=d - 1)
    params = {
        "p": float(p),
        "eps": eps,
        "eps_rule": eps_rule,
        "sparsity": sparsity,
        "eps_min": eps_min,
        "tol": tol,
        "max_iter": max_iter,
    }
    method = _IRLSRegress(prob.X.toarray() if sp.issparse(prob.X) else prob.X, prob.y, params)
    if not np.any(prob.y):  # the minimum-norm start, 0, fits exactly: no iteration
        return finished(method.result(0), Run(0, True, {"rel_change": [], "eps": []}), t0)
    run = iterate(method, max_iter=max_iter, **loop)
    return finished(method.result(run.n_iter), run, t0)


class _IRLSRegress(Method):
    """IRLS-p from the minimum-norm solution ``beta_0``; ``eps`` held absolute.

    The schedule holds ``eps * max(beta_0^2)`` (its floor ``eps_min * max(beta_0^2)``):
    Chartrand-Yin's rule is 'decay' fed the change times ``sqrt(max(beta_0^2))`` (its test
    is on the relative ``eps``); DDFG's is 'change' fed ``(r_{K+1} / d)^2``, and it never
    holds the stop.
    """

    name = "IRLS-p"
    state = ("beta", "schedule")
    advice = "Increase max_iter, or raise tol."

    def __init__(self, X, y, params):
        self.X, self.y, self.params = X, y, params
        self.beta = _weighted_min_norm(X, y, np.ones(X.shape[1]))
        self.scale = float(np.max(self.beta * self.beta)) or 1.0
        ddfg = params["eps_rule"] == "ddfg"
        self.schedule = Schedule(
            float(params["eps"]) * self.scale,
            "change" if ddfg else "decay",
            params["eps_min"] * self.scale,
            settle=np.inf if ddfg else 0.0,
        )
        self.stop = Stop(params["tol"], schedules=(self.schedule,))

    def step(self, it):
        eps_abs = self.schedule.take()
        p = self.params
        new = _weighted_min_norm(self.X, self.y, _inverse_weights(self.beta, p["p"], eps_abs))
        change = relative_change(new, self.beta)
        self.beta = new
        if p["eps_rule"] == "ddfg":
            d = new.size
            self.schedule.defer((np.sort(np.abs(new))[::-1][p["sparsity"]] / d) ** 2)
        else:
            self.schedule.defer(change * np.sqrt(self.scale))
        return {"rel_change": change, "eps": eps_abs / self.scale}

    def certify(self, history):
        """The interpolation is determined by the samples
        (:func:`~linrfm.identifiability.certify_sparse_recovery`)."""
        return certify_sparse_recovery(self.beta, self.X, self.y)

    def result(self, n_iter):
        return VectorResult(
            shape=self.beta.shape,
            n_iter=n_iter,
            method="irls-p",
            params=self.params,
            coef=self.beta,
        )
