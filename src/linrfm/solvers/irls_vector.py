"""IRLS-p for sparse vectors: iteratively reweighted least squares for the l_p quasi-norm.

Each step solves the weighted minimum-norm interpolation
``beta_new = argmin sum_i w_i beta_i^2  s.t.  X beta = y`` with
``w_i = (beta_i^2 + eps)^(p/2 - 1)``, and lowers ``eps`` by one of two rules:

- Chartrand & Yin (ICASSP 2008): ``eps <- eps / 10`` whenever the relative change of
  ``beta`` falls below ``sqrt(eps) / 100``;
- Daubechies, DeVore, Fornasier & Güntürk (CPAM 2010):
  ``eps <- min(eps, (r_{K+1}(beta) / d)^2)`` with ``r_{K+1}`` the (K+1)-th largest
  ``|beta_i|`` (their ``eps^2``); it needs a sparsity guess ``K``.

This is an independent baseline for :func:`linrfm.solvers.linrfm_sparse.lin_rfm_sparse`,
written from the IRLS literature rather than from the kernel view.
"""

from __future__ import annotations

import numbers
import time
import warnings

import numpy as np
import scipy.linalg as la
import scipy.sparse as sp
from sklearn.exceptions import ConvergenceWarning

from .._validation import check_callback, check_option, check_real_array, check_scalar
from ..problems import as_regression_problem
from ..results import ModelFitError, VectorResult

__all__ = ["irls_p", "irls_p_step", "IRLS_EPS_RULES"]

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


def irls_p_step(beta, X, y, *, p=1.0, eps=0.0):
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


def irls_p(
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
    callback=None,
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
    callback : callable, optional
        ``callback(iteration, beta, info)``; returning True stops the iteration.

    Returns
    -------
    VectorResult
        ``coef``, ``n_iter``, ``converged``, ``history`` (``rel_change``, ``eps``).

    Warns
    -----
    sklearn.exceptions.ConvergenceWarning
        When ``max_iter`` is reached first.
    """
    t0 = time.perf_counter()
    prob = as_regression_problem(X, y)
    check_scalar(p, "p", low=0, high=1)
    check_scalar(eps, "eps", low=0, low_inclusive=False)
    check_option(eps_rule, "eps_rule", IRLS_EPS_RULES)
    check_scalar(eps_min, "eps_min", low=0, low_inclusive=False)
    check_scalar(tol, "tol", low=0, low_inclusive=False)
    check_scalar(max_iter, "max_iter", kind=numbers.Integral, low=1)
    d = prob.n_features
    if eps_rule == "ddfg":
        if sparsity is None:
            raise ValueError("eps_rule='ddfg' needs the 'sparsity' parameter (an int K).")
        check_scalar(sparsity, "sparsity", kind=numbers.Integral, low=0, high=d - 1)
    check_callback(callback)
    Xd = prob.X.toarray() if sp.issparse(prob.X) else prob.X
    y = prob.y
    p = float(p)

    beta = _weighted_min_norm(Xd, y, np.ones(d))
    scale = float(np.max(beta * beta)) or 1.0
    eps_abs = float(eps) * scale
    floor = eps_min * scale
    history = {"rel_change": [], "eps": []}
    converged = not np.any(y)
    it = 0
    while not converged and it < max_iter:
        it += 1
        new = _weighted_min_norm(Xd, y, _inverse_weights(beta, p, eps_abs))
        if not np.all(np.isfinite(new)):
            raise ModelFitError(f"IRLS-p iterate became non-finite at iteration {it}.")
        nb = np.linalg.norm(beta)
        diff = float(np.linalg.norm(new - beta))
        change = diff / nb if nb > 0 else (np.inf if diff > 0 else 0.0)
        beta = new
        history["rel_change"].append(change)
        history["eps"].append(eps_abs / scale)
        if eps_rule == "chartrand-yin":
            if eps_abs <= floor and change < tol:
                converged = True
            elif change < np.sqrt(eps_abs / scale) / 100:
                eps_abs = max(floor, eps_abs / 10)
        else:
            r = np.sort(np.abs(beta))[::-1][sparsity]
            eps_abs = max(floor, min(eps_abs, (r / d) ** 2))
            converged = change < tol
        if callback is not None and callback(it, beta, {"rel_change": change, "eps": eps_abs}):
            break
    if not converged and it >= max_iter:
        warnings.warn(
            f"IRLS-p did not converge in max_iter={max_iter} iterations: the last relative "
            f"change is {history['rel_change'][-1]:.2e} (tol={tol:g}) with relative "
            f"smoothing {eps_abs / scale:.1e}. Increase max_iter, or raise tol.",
            ConvergenceWarning,
            stacklevel=2,
        )
    return VectorResult(
        shape=(d,),
        n_iter=it,
        converged=converged,
        history=history,
        elapsed=time.perf_counter() - t0,
        method="irls-p",
        params={
            "p": p,
            "eps": eps,
            "eps_rule": eps_rule,
            "sparsity": sparsity,
            "eps_min": eps_min,
            "tol": tol,
            "max_iter": max_iter,
        },
        coef=beta,
    )
