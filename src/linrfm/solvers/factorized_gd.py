"""Factorized gradient descent ``X = U V^T`` from small random initialization.

Gradient descent on ``f(U, V) = ||A(U V^T) - y||^2 / (2 p)`` (see ``_measure``) with a width
at least the true rank, started from a small random initialization whose scale is a
parameter: the implicit bias of small initialization drives the iterate to low rank
(e.g. Soltanolkotabi, Stoger, Xie 2023; Wind 2023 for asymmetric sensing). Optionally
ScaledGD (Tong, Ma, Chi 2021), preconditioning each gradient by ``(V^T V + damping I)^-1``
(damped, as small initialization needs; Xu, Shen, Ma, Sun, Chi 2023).
"""

from __future__ import annotations

import numbers
import time
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from .._validation import check_callback, check_random_state, check_scalar
from ..results import FactorResult, ModelFitError
from ._measure import Measurements

__all__ = ["factorized_gd", "factorized_objective"]

_ARMIJO = 1e-4  # sufficient-decrease constant of the backtracking
_MIN_STEP_RATIO = 2.0**-30  # the backtracking never halves the step below this fraction


def factorized_objective(problem, U, V, *, shape=None):
    """Loss and gradients of ``f(U, V) = ||A(U V^T) - y||^2 / (2 p)`` in the data's units.

    Parameters
    ----------
    problem : MatrixSensing or completion input
    U : ndarray, shape (n, k)
    V : ndarray, shape (d, k)

    Returns
    -------
    loss : float
    grad_U, grad_V : ndarray
    """
    meas = problem if isinstance(problem, Measurements) else Measurements(problem, shape)
    r = meas.apply_factors(U, V) - meas.y
    E = meas.adjoint(r)
    return float(r @ r) / (2 * meas.p), np.asarray(E @ V) / meas.p, np.asarray(E.T @ U) / meas.p


def _check_width(rank, shape):
    n, d = shape
    return check_scalar(rank, "rank", kind=numbers.Integral, low=1, high=min(n, d))


def factorized_gd(
    problem,
    *,
    rank: int,
    init_scale: float = 1e-12,
    step: float = 0.5,
    scaled: bool = False,
    damping: float = 1e-2,
    tol: float = 1e-6,
    max_iter: int = 5000,
    shape=None,
    random_state=None,
    callback=None,
) -> FactorResult:
    """Recover ``X = U V^T`` by gradient descent from small random initialization.

    Parameters
    ----------
    problem : MatrixSensing or completion input (MatrixCompletion, ndarray with NaN,
        scipy.sparse, or ``(rows, cols, values)`` with ``shape``)
    rank : int
        Width ``k`` of the factors, ``1 <= k <= min(n, d)``; at least the true rank
        (over-parameterization is allowed: small initialization keeps the iterate low-rank).
    init_scale : float > 0, default=1e-12
        Entries of ``U_0, V_0`` are i.i.d. ``N(0, init_scale^2)`` in units where
        ``||X*||_2 ~ 1`` (the data are rescaled by an estimate of it from ``A*(y)``).
        The first phase of GD from a small start is a power iteration that aligns the
        factors with the top of ``A*(y)``; at low sampling the rest of that spectrum is
        close to its top, so alignment takes many orders of magnitude of growth, and a start
        that is not small enough reaches the nonlinear phase unaligned and can stall at a
        high residual (n = 200, rank 2, rho = 3: 6 of 8 starts at 1e-3, 2 of 8 at 1e-6,
        none at 1e-12). The cost is logarithmic in the scale.
    step : float > 0, default=0.5
        Initial step size in those units; halved (for the rest of the run) whenever a step
        would not decrease the training loss by the Armijo condition (only the observed
        data are used). Without it a fixed step diverged or oscillated at a high residual
        from some starts (rank 2 completion from a 1e-3 start: 2 of 6).
    scaled : bool, default=False
        ScaledGD: precondition ``grad_U`` by ``(V^T V + damping I)^-1`` and ``grad_V`` by
        ``(U^T U + damping I)^-1``.
    damping : float > 0, default=1e-2
        ScaledGD's damping (same units).
    tol : float > 0, default=1e-6
        Stop when the relative training residual ``||A(X) - y|| / ||y||`` falls below
        ``tol``, or when the relative change of ``X`` falls below ``tol * 1e-2``.
    max_iter : int, default=5000
    shape : tuple, optional
        For triple completion input.
    random_state : None, int or numpy.random.Generator
        Seed of the initialization.
    callback : callable, optional
        ``callback(iteration, info)`` with ``info['result']`` a FactorResult of the iterate
        (valid during the call); True stops.

    Returns
    -------
    FactorResult
        ``U @ V.T`` the estimate; ``history`` holds ``loss`` (in the rescaled units),
        ``rel_residual`` and the ``step`` taken per iteration.
    """
    t0 = time.perf_counter()
    meas = Measurements(problem, shape)
    n, d = meas.shape
    k = _check_width(rank, meas.shape)
    check_scalar(init_scale, "init_scale", low=0, low_inclusive=False)
    check_scalar(step, "step", low=0, low_inclusive=False)
    check_scalar(damping, "damping", low=0, low_inclusive=False)
    check_scalar(tol, "tol", low=0, low_inclusive=False)
    check_scalar(max_iter, "max_iter", kind=numbers.Integral, low=1)
    check_callback(callback)
    rng = check_random_state(random_state)
    s = meas.sigma
    U = init_scale * rng.standard_normal((n, k))
    V = init_scale * rng.standard_normal((d, k))
    ynorm = np.linalg.norm(meas.y) / s
    y_s = meas.y / s
    history = {"loss": [], "rel_residual": [], "step": []}
    converged, it = False, 0
    I_k = np.eye(k)
    eta = float(step)
    r = meas.apply_factors(U, V) - y_s
    loss = 0.5 * float(r @ r) / meas.p
    for it in range(1, max_iter + 1):
        E = meas.adjoint(r)
        gU = np.asarray(E @ V) / meas.p
        gV = np.asarray(E.T @ U) / meas.p
        dirU, dirV = gU, gV
        if scaled:
            try:
                dirU = np.linalg.solve(V.T @ V + damping * I_k, gU.T).T
                dirV = np.linalg.solve(U.T @ U + damping * I_k, gV.T).T
            except np.linalg.LinAlgError as exc:
                raise ModelFitError(
                    f"ScaledGD's preconditioner became singular at iteration {it} (the "
                    "iterate diverged); try a smaller 'step' or a larger 'damping'."
                ) from exc
        rel_res = float(np.linalg.norm(r) / ynorm) if ynorm > 0 else 0.0
        slope = float(np.sum(gU * dirU) + np.sum(gV * dirV))
        # Armijo backtracking on the training loss: the step is halved (for good) whenever
        # it would not decrease the loss enough. A fixed step that is stable for most
        # initializations is not for all: where the iterate's curvature (largest per line
        # on a sparse sample) passes 2 / step, GD oscillates at a high residual or diverges.
        while True:
            dU, dV = eta * dirU, eta * dirV
            U_new, V_new = U - dU, V - dV
            r_new = meas.apply_factors(U_new, V_new) - y_s
            loss_new = 0.5 * float(r_new @ r_new) / meas.p
            if loss_new <= loss - _ARMIJO * eta * slope or eta <= step * _MIN_STEP_RATIO:
                break
            eta /= 2
        if not (
            np.isfinite(loss_new) and np.all(np.isfinite(U_new)) and np.all(np.isfinite(V_new))
        ):
            raise ModelFitError(
                f"factorized GD diverged (non-finite iterate) at iteration {it}; "
                "try a smaller 'step'."
            )
        # ||U'V'^T - U V^T||_F <= ||dU V^T|| + ||U' dV^T||: a cheap bound on the change
        old = np.sqrt(max(float(np.sum((U.T @ U) * (V.T @ V))), 0.0))
        change_bound = np.linalg.norm(dU) * np.linalg.norm(V) + np.linalg.norm(
            U_new
        ) * np.linalg.norm(dV)
        history["loss"].append(loss)
        history["rel_residual"].append(rel_res)
        history["step"].append(eta)
        U, V, r, loss = U_new, V_new, r_new, loss_new
        if rel_res < tol or (old > 0 and change_bound < 1e-2 * tol * old):
            converged = True
            break
        if callback is not None:
            snap = FactorResult(shape=(n, d), n_iter=it, method="factorized-gd", U=U * s, V=V)
            if callback(it, {"iteration": it, "rel_residual": rel_res, "result": snap}):
                break
    if not converged and it >= max_iter:
        warnings.warn(
            f"factorized GD did not converge in max_iter={max_iter} iterations: relative "
            f"training residual {history['rel_residual'][-1]:.2e} (tol={tol:g}). Increase "
            "max_iter or step, or try scaled=True.",
            ConvergenceWarning,
            stacklevel=2,
        )
    return FactorResult(
        shape=(n, d),
        n_iter=it,
        converged=converged,
        history=history,
        elapsed=time.perf_counter() - t0,
        method="scaled-gd" if scaled else "factorized-gd",
        params=dict(
            rank=k,
            init_scale=init_scale,
            step=step,
            scaled=scaled,
            damping=damping,
            tol=tol,
            max_iter=max_iter,
        ),
        U=U * s,
        V=V,
    )
