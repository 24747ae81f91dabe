"""Standard IRLS-p for low-rank matrix recovery (Mohan and Fazel, JMLR 2012).

``X_{k+1} = argmin tr(W_k X^T X)`` subject to the measurements, with the weight
``W_k = (X_k^T X_k + gamma_k I)^(p/2 - 1)`` computed, as IRLS-p is commonly implemented, from
an eigendecomposition of ``X_k^T X_k`` every iteration, and ``gamma_k`` decreasing
geometrically (``gamma_{k+1} = gamma_k / eta``) to a floor. The minimizer is
``X = A*(c) W^-1`` with ``A(A*(c) W^-1) = y``: for completion one small solve per row, for
sensing a conjugate-gradient solve. ``p = 1`` smooths the nuclear norm, ``p = 0`` log-det;
lin-RFM with ``alpha = (2 - p) / 4`` has the same fixed points in the limit of no smoothing.
"""

from __future__ import annotations

import numbers
import time

import numpy as np

from .._validation import check_callback, check_scalar
from ..problems import as_completion_problem
from ..results import DenseResult, ModelFitError
from ._driver import absolute_ridge, iterate
from ._rowsolve import LineSolver
from .sensing import _initial_iterate, _SenseSolver, check_sensing_problem

__all__ = ["irls_complete", "irls_sense", "irls_weight_inverse"]


def irls_weight_inverse(X: np.ndarray, p: float, gamma: float) -> np.ndarray:
    """``W^-1 = (X^T X + gamma I)^(1 - p/2)`` from a symmetric eigendecomposition."""
    w, Q = np.linalg.eigh(X.T @ X)
    w = (np.clip(w, 0.0, None) + gamma) ** (1.0 - p / 2.0)
    return (Q * w) @ Q.T


def _check_common(p, gamma, eta, gamma_min, tol, max_iter, callback) -> dict:
    """Check the parameters both IRLS solvers take; return them as the result's params."""
    check_scalar(p, "p", low=0, high=1)
    check_scalar(gamma, "gamma", low=0, low_inclusive=False)
    check_scalar(eta, "eta", low=1)
    check_scalar(gamma_min, "gamma_min", low=0)
    check_scalar(tol, "tol", low=0, low_inclusive=False)
    check_scalar(max_iter, "max_iter", kind=numbers.Integral, low=1)
    check_callback(callback)
    return dict(p=p, gamma=gamma, eta=eta, gamma_min=gamma_min, tol=tol, max_iter=max_iter)


def _irls_fit(X, step, params, *, callback, progress, name, method, t0) -> DenseResult:
    """The shared IRLS iteration from ``X`` with ``step(K) -> X``, as a DenseResult.

    ``params`` is the dict of :func:`_check_common`; ``name`` starts the messages,
    ``method`` and ``params`` go in the result, ``t0`` is the solver's start time.
    """
    p, eta, gamma_min = float(params["p"]), params["eta"], params["gamma_min"]
    tol, max_iter = params["tol"], params["max_iter"]
    history = {"rel_change": [], "gamma": []}
    gamma_rel = float(params["gamma"])

    def one_step(it):
        nonlocal X, gamma_rel
        G = X.T @ X
        # gamma is relative to the mean eigenvalue of X^T X (unit-free)
        message = f"{name} iterate became non-finite at iteration {it}."
        g_abs = absolute_ridge(gamma_rel, np.trace(G) / G.shape[0], message)
        K = irls_weight_inverse(X, p, g_abs)
        X_new = step(K)
        norm_prev = np.linalg.norm(X)
        change = np.linalg.norm(X_new - X) / norm_prev if norm_prev > 0 else np.inf
        if not np.isfinite(change):
            raise ModelFitError(
                f"{name} iterate became non-finite at iteration {it}; try a larger 'gamma_min'."
            )
        X = X_new
        history["rel_change"].append(float(change))
        history["gamma"].append(gamma_rel)
        at_floor = gamma_rel <= max(gamma_min, tol)
        gamma_rel = max(gamma_min, gamma_rel / eta)
        info = {"iteration": it, "rel_change": change, "gamma": gamma_rel, "X": X}
        postfix = {"change": f"{change:.2e}", "gamma": f"{gamma_rel:.1e}"}
        return change < tol and at_floor, info, postfix

    it, converged = iterate(
        one_step,
        max_iter=max_iter,
        callback=callback,
        progress=progress,
        desc=f"{name} p={p:g}",
        warning=lambda: (
            f"{name} did not converge in max_iter={max_iter} iterations: the last relative "
            f"change is {history['rel_change'][-1]:.2e} (tol={tol:g}) with relative gamma "
            f"{gamma_rel:.1e}. Increase max_iter or eta (faster gamma decay)."
        ),
        stacklevel=4,
    )
    return DenseResult(
        shape=tuple(X.shape),
        n_iter=it,
        converged=converged,
        history=history,
        elapsed=time.perf_counter() - t0,
        method=method,
        params=params,
        X=X,
    )


def irls_complete(
    X,
    *,
    p: float = 0.0,
    gamma: float = 1.0,
    eta: float = 1.1,
    gamma_min: float = 1e-12,
    tol: float = 1e-6,
    max_iter: int = 1000,
    shape=None,
    callback=None,
    progress: bool = False,
) -> DenseResult:
    """Matrix completion by IRLS-p with eigendecomposition weights.

    Parameters
    ----------
    X : MatrixCompletion, ndarray with NaN for missing, scipy.sparse matrix or
        ``(rows, cols, values)`` tuple
        The observed entries.
    p : float in [0, 1], default=0
        Schatten-p exponent: 1 smooths the nuclear norm, 0 the log-determinant.
    gamma : float > 0, default=1
        Initial smoothing, relative to the mean eigenvalue of ``X^T X``.
    eta : float >= 1, default=1.1
        Decay factor: ``gamma_{k+1} = max(gamma_min, gamma_k / eta)``. Faster decay
        (1.3 and more) measured worse on completion: IRLS-0 then freezes far from the truth.
    gamma_min : float >= 0, default=1e-12
        Floor of the relative smoothing.
    tol : float > 0, default=1e-6
        Stop when the relative change of the iterate falls below ``tol`` once ``gamma``
        has reached ``max(gamma_min, tol)``.
    max_iter : int, default=1000
    shape : tuple of int, optional
        Required with triple input.
    callback : callable, optional
        ``callback(iteration, info)`` with ``info['X']`` the iterate; True stops.
    progress : bool, default=False

    Returns
    -------
    DenseResult
        ``history`` holds ``rel_change`` and ``gamma`` per iteration.

    Warns
    -----
    sklearn.exceptions.ConvergenceWarning
        When ``max_iter`` is reached first.
    """
    t0 = time.perf_counter()
    params = _check_common(p, gamma, eta, gamma_min, tol, max_iter, callback)
    prob = as_completion_problem(X, shape)
    n, d = prob.shape
    solver = LineSolver(prob.rows, prob.cols, prob.values, n, d)
    X0 = np.zeros((n, d))
    X0[prob.rows, prob.cols] = prob.values

    def step(K):
        A = solver.coef_matrix(solver.solve(K, 0.0))
        Xn = np.asarray(A @ K)
        Xn[prob.rows, prob.cols] = prob.values  # exact already; remove round-off
        return Xn

    return _irls_fit(
        X0, step, params, callback=callback, progress=progress, name="IRLS", method="irls", t0=t0
    )


def irls_sense(
    problem,
    *,
    p: float = 0.0,
    gamma: float = 1.0,
    eta: float = 1.1,
    gamma_min: float = 1e-12,
    tol: float = 1e-6,
    max_iter: int = 1000,
    cg_tol: float = 1e-10,
    cg_max_iter: int | None = None,
    init=None,
    callback=None,
    progress: bool = False,
) -> DenseResult:
    """Matrix sensing by IRLS-p with eigendecomposition weights.

    ``X = A*(c) W^-1`` with ``A(A*(c) W^-1) = y`` solved by conjugate gradients.

    Parameters
    ----------
    problem : MatrixSensing
    p, gamma, eta, gamma_min, tol, max_iter, callback, progress
        As in :func:`irls_complete`.
    cg_tol : float > 0, default=1e-10
        Relative residual of each conjugate-gradient solve.
    cg_max_iter : int, optional
        Cap on CG iterations per solve.
    init : ndarray or result, optional
        Starting iterate (default ``A*(y)``).

    Returns
    -------
    DenseResult
    """
    t0 = time.perf_counter()
    problem = check_sensing_problem(problem)
    params = _check_common(p, gamma, eta, gamma_min, tol, max_iter, callback)
    check_scalar(cg_tol, "cg_tol", low=0, low_inclusive=False)
    check_scalar(cg_max_iter, "cg_max_iter", kind=numbers.Integral, low=1, allow_none=True)
    solver = _SenseSolver(problem, float(cg_tol), cg_max_iter)
    X0 = _initial_iterate(problem, init)

    def step(K):
        return solver.weighted(K, "right", 0.0)

    return _irls_fit(
        X0,
        step,
        params,
        callback=callback,
        progress=progress,
        name="IRLS sensing",
        method="irls-sense",
        t0=t0,
    )
