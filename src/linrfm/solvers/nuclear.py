"""Nuclear-norm regularized matrix sensing by accelerated proximal gradient (FISTA + SVT).

``min_X ||A(X) - y||^2 / 2 + lam ||X||_*`` along a decreasing ``lam`` path with warm starts,
each prox a singular value soft-threshold (Toh and Yun 2010; Ma, Goldfarb, Chen 2011). The
step is ``1 / L`` with ``L = ||A||_2^2`` from a power iteration on ``A*A``. For completion,
use :func:`linrfm.solvers.softimpute.soft_impute_complete` (the same objective,
faster); the path and the soft-threshold are shared with it (:mod:`._svt_path`).
"""

from __future__ import annotations

import time

import numpy as np

from .._docs import fill_doc
from .._scaling import scale_free
from ..iteration import iterative
from ..results import DenseResult
from ._params import finished
from ._svt_path import FROM_ZERO, PathMethod, check_path_params, lam_path, run_path, svt_dense
from .sensing import check_sensing_problem

__all__ = ["soft_impute_sense", "operator_norm2"]


def operator_norm2(op, n_iter: int = 50, random_state=0) -> float:
    """``||A||_2^2``, the largest eigenvalue of ``A*A``, by power iteration."""
    rng = np.random.default_rng(random_state)
    Z = rng.standard_normal(op.shape)
    Z /= np.linalg.norm(Z)
    val = 0.0
    for _ in range(n_iter):
        W = op.adjoint(op.apply(Z))
        val = float(np.linalg.norm(W))
        if val == 0:
            return 0.0
        Z = W / val
    return val


class _FistaSVT(PathMethod):
    """FISTA with a singular value soft-threshold as the prox, at each ``lam`` of the path."""

    name = "nuclear-norm sensing"
    state = ("X", "Z", "t", *PathMethod.PATH_STATE)

    def __init__(self, op, y, L, lams, *, tol, max_iter):
        super().__init__(lams, tol, max_iter)
        self.op, self.y, self.L = op, y, L
        self.X = np.zeros(op.shape)
        self.message = (
            f"nuclear-norm sensing did not meet tol={tol:g} within max_iter={max_iter} at "
            "every lam of the path; increase max_iter."
        )

    def start_stage(self):
        self.Z, self.t = self.X.copy(), 1.0

    def step(self, it):
        op, X, Z, t, L = self.op, self.X, self.Z, self.t, self.L
        grad = op.adjoint(op.apply(Z) - self.y)
        US, V = svt_dense(Z - grad / L, self.lam / L)
        X_new, k = US @ V.T, US.shape[1]
        t_new = (1 + np.sqrt(1 + 4 * t * t)) / 2
        self.Z = X_new + ((t - 1) / t_new) * (X_new - X)
        nx = np.linalg.norm(X)
        change = np.linalg.norm(X_new - X) / nx if nx > 0 else (np.inf if k else 0.0)
        self.X, self.t = X_new, t_new
        self.stage_converged = change < self.stage_tol
        return {"lam": self.lam, "rel_change": change if nx > 0 or not k else FROM_ZERO, "rank": k}

    def result(self, n_iter):
        return DenseResult(
            shape=tuple(self.op.shape), n_iter=n_iter, method="nuclear-norm", X=self.X
        )


@scale_free("sense", {"lam": 1})
@fill_doc
@iterative
def soft_impute_sense(
    problem,
    *,
    lam: float | None = None,
    lam_ratio: float = 1e-4,
    n_lams: int = 20,
    tol: float = 1e-6,
    max_iter: int = 2000,
    loop: dict,
) -> DenseResult:
    """Nuclear-norm regularized sensing along a ``lam`` path (FISTA with SVT).

    Parameters
    ----------
    problem : MatrixSensing
    lam : float >= 0, optional
        A single ``lam`` (data units); by default a geometric path from
        ``lam_max = ||A*(y)||_2`` (the smallest ``lam`` with a zero solution) to
        ``lam_ratio * lam_max`` in ``n_lams`` steps.
    lam_ratio : float in (0, 1], default=1e-4
    n_lams : int, default=20
    tol : float > 0, default=1e-6
        At each ``lam``, stop when the relative change of the iterate falls below ``tol``.
    max_iter : int, default=2000
        Maximum iterations per ``lam``.
    %(loop)s

    Returns
    -------
    DenseResult
        ``history`` holds ``lam``, ``rel_change`` (1 for a step from zero) and ``rank``
        per iteration.
    """
    t0 = time.perf_counter()
    problem = check_sensing_problem(problem)
    check_path_params(lam, lam_ratio, n_lams, tol, max_iter)
    op, y = problem.operator, problem.y
    L = operator_norm2(op)
    if L == 0:
        raise ValueError("The operator is zero; nothing can be recovered.")
    lam_max = float(np.linalg.norm(op.adjoint(y), 2))
    lams = lam_path(lam, lambda: lam_max, lam_ratio, n_lams)
    method = _FistaSVT(op, y, L, lams, tol=tol, max_iter=max_iter)
    run = run_path(method, **loop)
    params = dict(lam=lams[-1], lam_ratio=lam_ratio, n_lams=len(lams), tol=tol)
    history = ("lam", "rel_change", "rank")
    return finished(method.result(run.n_iter), run, t0, history=history, params=params)
