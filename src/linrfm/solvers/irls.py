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

from .._docs import fill_doc
from .._scaling import scale_free
from .._validation import check_scalar
from ..identifiability import certify_dense_completion
from ..iteration import Method, Schedule, Stop, iterate, iterative
from ..problems import as_completion_problem
from ..results import DenseResult
from ._params import absolute_ridge, check_loop, finished
from ._rowsolve import LineSolver
from .sensing import (
    WarmStarts,
    _initial_iterate,
    _SenseSolver,
    check_sensing_problem,
    sensing_certificate,
)

__all__ = ["irls_complete", "irls_sense", "irls_weight_inverse"]


def irls_weight_inverse(X: np.ndarray, p: float, gamma: float) -> np.ndarray:
    """``W^-1 = (X^T X + gamma I)^(1 - p/2)`` from a symmetric eigendecomposition."""
    w, Q = np.linalg.eigh(X.T @ X)
    w = (np.clip(w, 0.0, None) + gamma) ** (1.0 - p / 2.0)
    return (Q * w) @ Q.T


def _check_common(p, gamma, eta, gamma_min, tol, max_iter) -> dict:
    """Check the parameters both IRLS solvers take; return them as the result's params."""
    check_scalar(p, "p", low=0, high=1)
    check_scalar(gamma, "gamma", low=0, low_inclusive=False)
    check_scalar(eta, "eta", low=1)
    check_scalar(gamma_min, "gamma_min", low=0)
    check_loop(tol, max_iter)
    return dict(p=p, gamma=gamma, eta=eta, gamma_min=gamma_min, tol=tol, max_iter=max_iter)


class _IRLS(Method):
    """IRLS-p from ``X`` with ``update(K) -> X``; ``gamma`` decays geometrically by ``1 / eta``.

    ``gamma`` is relative to the mean eigenvalue of ``X^T X`` (unit-free); converged once
    the relative change is below ``tol`` with ``gamma`` at ``max(gamma_min, tol)``. The
    schedule is 'change' fed ``gamma / eta``: that divides exactly, where 'geometric'
    (times ``1 / eta``) rounds differently in the last bit, which IRLS-1 amplifies to
    ~1e-5 relative in the last changes (sensing, measured).
    """

    name = "IRLS"
    state = ("X", "schedule")
    advice = "Increase max_iter or eta (faster gamma decay)."

    def __init__(self, X, update, params, method, name):
        self.X, self.update, self.params, self.method = X, update, params, method
        self.name = name
        self.p, self.eta = float(params["p"]), params["eta"]
        self.schedule = Schedule(
            params["gamma"], "change", params["gamma_min"], settle=params["tol"]
        )
        self.stop = Stop(params["tol"], schedules=(self.schedule,))

    def step(self, it):
        gamma_rel = self.schedule.take()
        G = self.X.T @ self.X
        message = f"{self.name} iterate became non-finite at iteration {it}."
        g_abs = absolute_ridge(gamma_rel, np.trace(G) / G.shape[0], message)
        X_new = self.update(irls_weight_inverse(self.X, self.p, g_abs))
        norm_prev = np.linalg.norm(self.X)
        change = np.linalg.norm(X_new - self.X) / norm_prev if norm_prev > 0 else np.inf
        self.X = X_new
        self.schedule.defer(gamma_rel / self.eta)
        return {"rel_change": change, "gamma": gamma_rel}

    #: the completion problem, for :meth:`certify` (set by irls_complete)
    prob = None

    def certify(self, history):
        return None if self.prob is None else certify_dense_completion(self.X, self.prob)

    def result(self, n_iter):
        return DenseResult(
            shape=self.X.shape, n_iter=n_iter, method=self.method, params=self.params, X=self.X
        )


class _IRLSSense(WarmStarts, _IRLS):
    """IRLS-p for sensing: the CG warm starts are state too."""

    state = ("X", "schedule", "warm")

    def __init__(self, X, solver, params):
        self.solver = solver
        super().__init__(X, self._update, params, "irls-sense", "IRLS sensing")

    def _update(self, K):
        return self.solver.weighted(K, "right", 0.0)

    def certify(self, history):
        symmetric = bool(getattr(self.solver.op, "symmetric", False))
        return sensing_certificate(self.X, self.solver, symmetric)


@scale_free("complete")
@fill_doc
@iterative
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
    loop: dict,
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
    %(loop)s

    Returns
    -------
    DenseResult
        ``history`` holds ``rel_change`` and ``gamma`` per iteration.

    %(warns)s
    """
    t0 = time.perf_counter()
    params = _check_common(p, gamma, eta, gamma_min, tol, max_iter)
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

    method = _IRLS(X0, step, params, "irls", "IRLS")
    method.prob = prob
    return _run(method, params, loop, t0)


@scale_free("sense")
@iterative
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
    loop: dict,
) -> DenseResult:
    """Matrix sensing by IRLS-p with eigendecomposition weights.

    ``X = A*(c) W^-1`` with ``A(A*(c) W^-1) = y`` solved by conjugate gradients.

    Parameters
    ----------
    problem : MatrixSensing
    p, gamma, eta, gamma_min, tol, max_iter, callback, progress, checkpoint, resume
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
    params = _check_common(p, gamma, eta, gamma_min, tol, max_iter)
    check_scalar(cg_tol, "cg_tol", low=0, low_inclusive=False)
    check_scalar(cg_max_iter, "cg_max_iter", kind=numbers.Integral, low=1, allow_none=True)
    solver = _SenseSolver(problem, float(cg_tol), cg_max_iter)
    method = _IRLSSense(_initial_iterate(problem, init), solver, params)
    return _run(method, params, loop, t0)


def _run(method, params, loop, t0) -> DenseResult:
    run = iterate(method, max_iter=params["max_iter"], **loop)
    return finished(method.result(run.n_iter), run, t0)
