"""Nuclear-norm regularized matrix sensing by accelerated proximal gradient (FISTA + SVT).

``min_X ||A(X) - y||^2 / 2 + lam ||X||_*`` along a decreasing ``lam`` path with warm starts,
each prox a singular value soft-threshold (Toh and Yun 2010; Ma, Goldfarb, Chen 2011). The
step is ``1 / L`` with ``L = ||A||_2^2`` from a power iteration on ``A*A``. For completion,
use :func:`linrfm.solvers.softimpute.soft_impute` (the same objective, faster).
"""

from __future__ import annotations

import numbers
import time
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from .._validation import check_scalar
from ..results import DenseResult, ModelFitError
from .sensing import check_sensing_problem

__all__ = ["nuclear_norm_sense", "operator_norm2"]


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


def _svt(M, tau):
    U, s, Vt = np.linalg.svd(M, full_matrices=False)
    s = np.maximum(s - tau, 0.0)
    k = int(np.sum(s > 0))
    return (U[:, :k] * s[:k]) @ Vt[:k], k


def nuclear_norm_sense(
    problem,
    *,
    lam: float | None = None,
    lam_ratio: float = 1e-4,
    n_lams: int = 20,
    tol: float = 1e-6,
    max_iter: int = 2000,
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

    Returns
    -------
    DenseResult
        ``history`` holds ``lam``, ``rel_change`` and ``rank`` per iteration.
    """
    t0 = time.perf_counter()
    problem = check_sensing_problem(problem)
    check_scalar(lam, "lam", low=0, allow_none=True)
    check_scalar(lam_ratio, "lam_ratio", low=0, high=1, low_inclusive=False)
    check_scalar(n_lams, "n_lams", kind=numbers.Integral, low=1)
    check_scalar(tol, "tol", low=0, low_inclusive=False)
    check_scalar(max_iter, "max_iter", kind=numbers.Integral, low=1)
    op, y = problem.operator, problem.y
    L = operator_norm2(op)
    if L == 0:
        raise ValueError("The operator is zero; nothing can be recovered.")
    lam_max = float(np.linalg.norm(op.adjoint(y), 2))
    lams = [float(lam)] if lam is not None else list(lam_max * np.geomspace(1, lam_ratio, n_lams))
    X = np.zeros(op.shape)
    history = {"lam": [], "rel_change": [], "rank": []}
    total, all_conv = 0, True
    for lam_k in lams:
        Z, t = X.copy(), 1.0
        conv = False
        for _ in range(max_iter):
            total += 1
            grad = op.adjoint(op.apply(Z) - y)
            X_new, k = _svt(Z - grad / L, lam_k / L)
            if not np.all(np.isfinite(X_new)):
                raise ModelFitError("nuclear-norm sensing iterate became non-finite.")
            t_new = (1 + np.sqrt(1 + 4 * t * t)) / 2
            Z = X_new + ((t - 1) / t_new) * (X_new - X)
            nx = np.linalg.norm(X)
            change = np.linalg.norm(X_new - X) / nx if nx > 0 else (np.inf if k else 0.0)
            X, t = X_new, t_new
            history["lam"].append(lam_k)
            history["rel_change"].append(float(change))
            history["rank"].append(k)
            if change < tol:
                conv = True
                break
        all_conv &= conv
    if not all_conv:
        warnings.warn(
            f"nuclear-norm sensing did not meet tol={tol:g} within max_iter={max_iter} at "
            "every lam of the path; increase max_iter.",
            ConvergenceWarning,
            stacklevel=2,
        )
    return DenseResult(
        shape=tuple(op.shape),
        n_iter=total,
        converged=all_conv,
        history=history,
        elapsed=time.perf_counter() - t0,
        method="nuclear-norm",
        params=dict(lam=lams[-1], lam_ratio=lam_ratio, n_lams=len(lams), tol=tol),
        X=X,
    )
