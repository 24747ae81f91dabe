r"""Losses, gradients and the trace of the Hessian of factorized recovery problems.

Parameters are a tuple of factors: ``(L, R)`` for ``X = L R^T`` (``model='asymmetric'``) and
``(U,)`` for ``X = U U^T`` (``model='symmetric'``). With residuals
``r_i = <A_i, X> - y_i``:

* squared loss, asymmetric: ``f = (1/m) sum r_i^2``. Each ``r_i`` is bilinear in ``(L, R)``,
  so its Hessian has only off-diagonal blocks and zero trace; at **every** point

  .. math:: \operatorname{tr}\nabla^2 f = \tfrac{2}{m}\sum_i \|A_i R\|_F^2 + \|A_i^T L\|_F^2
            = \tfrac{2}{m}\big(\langle M_1, R R^T\rangle + \langle M_2, L L^T\rangle\big),

  with ``M_1 = sum A_i^T A_i`` (d x d) and ``M_2 = sum A_i A_i^T`` (n x n);
* squared loss, symmetric (``A_i`` symmetric, width ``k``): ``grad r_i = 2 A_i U`` and
  ``hess r_i = 2 A_i (x) I_k`` with trace ``2 k tr(A_i)``, so

  .. math:: \operatorname{tr}\nabla^2 f = \tfrac{8}{m}\langle S, U U^T\rangle
            + \tfrac{4k}{m}\sum_i \operatorname{tr}(A_i)\, r_i,\qquad S = \sum_i A_i^2,

  where the second, residual term vanishes only at interpolation;
* ``l1`` loss ``f = (1/m) sum |r_i|``: piecewise smooth with zero Hessian wherever no
  ``r_i`` is 0, so the trace carries no information. The curvature used instead is the
  **Gauss-Newton term** ``(1/m) sum_i ||grad r_i||^2`` (:func:`gauss_newton_trace`), half
  the squared-loss trace. (The paper's own surrogate for robust PCA could not be
  established from the sources at hand, so this is the documented fallback.)

:func:`sharpness` is the curvature the flat-minimum finder penalizes: the exact trace for
the squared loss, the Gauss-Newton term for ``l1``. :func:`hutchinson_trace` estimates the
trace of any loss here from exact Hessian-vector products (:func:`hessian_vector_product`).
"""

from __future__ import annotations

import numbers

import numpy as np

from .._validation import check_random_state, check_scalar
from ..problems import EntrySampling, FactorProblem, GaussianOperator, RankOneOperator

__all__ = [
    "check_params",
    "factors_to_matrix",
    "residuals",
    "loss",
    "loss_grad",
    "hessian_trace",
    "hessian_trace_grad",
    "gauss_newton_trace",
    "sharpness",
    "sharpness_grad",
    "hessian_vector_product",
    "hutchinson_trace",
]


# --------------------------------------------------------------------------- checks
def _check_problem(problem):
    if not isinstance(problem, FactorProblem):
        raise TypeError(f"problem must be a FactorProblem; got {type(problem).__name__}.")
    return problem


def check_params(problem, params):
    """Validate the factors of ``problem``'s model and return them as a tuple of arrays.

    Raises
    ------
    ValueError
        When the number of factors or their shapes do not fit the problem.
    """
    _check_problem(problem)
    if isinstance(params, np.ndarray):
        params = (params,)
    params = tuple(np.asarray(p, dtype=np.float64) for p in params)
    n, d = problem.shape
    want = 1 if problem.symmetric else 2
    if len(params) != want:
        names = "(U,)" if problem.symmetric else "(L, R)"
        raise ValueError(
            f"params must be {names} for model={problem.model!r}; got {len(params)} factor(s)."
        )
    if any(p.ndim != 2 for p in params):
        raise ValueError(f"factors must be 2-D; got shapes {[p.shape for p in params]}.")
    k = params[0].shape[1]
    rows = (n,) if problem.symmetric else (n, d)
    for p, nr, name in zip(params, rows, ("L", "R") if not problem.symmetric else ("U",)):
        if p.shape != (nr, k):
            raise ValueError(
                f"{name} has shape {p.shape}; expected ({nr}, {k}) for a {n}x{d} problem "
                f"with width {k} (all factors share the width)."
            )
        if not np.all(np.isfinite(p)):
            raise ValueError(f"{name} holds non-finite values.")
    return params


def factors_to_matrix(problem, params) -> np.ndarray:
    """``L R^T`` or ``U U^T``."""
    if problem.symmetric:
        (U,) = params
        return U @ U.T
    L, R = params
    return L @ R.T


# --------------------------------------------------------------------------- operator data
def _operator_data(problem):
    """Cached ``M1 = sum A_i^T A_i``, ``M2 = sum A_i A_i^T`` and ``tr(A_i)`` of the operator."""
    cache = problem.__dict__.setdefault("_flat_cache", {})
    if "M1" in cache:
        return cache
    op = problem.operator
    n, d = op.shape
    if isinstance(op, EntrySampling):
        M1 = np.diag(np.bincount(op.cols, minlength=d).astype(np.float64))
        M2 = np.diag(np.bincount(op.rows, minlength=n).astype(np.float64))
        tr = (op.rows == op.cols).astype(np.float64) if n == d else None
    elif isinstance(op, RankOneOperator):
        nu = np.einsum("ki,ki->k", op.U, op.U)
        nv = np.einsum("ki,ki->k", op.V, op.V)
        M1 = (op.V * nu[:, None]).T @ op.V
        M2 = (op.U * nv[:, None]).T @ op.U
        tr = np.einsum("ki,ki->k", op.U, op.V) if n == d else None
    else:
        A = op.matrices if isinstance(op, GaussianOperator) else _dense_matrices(op)
        m = A.shape[0]
        B1 = A.reshape(m * n, d)
        M1 = B1.T @ B1
        B2 = A.transpose(0, 2, 1).reshape(m * d, n)
        M2 = B2.T @ B2
        tr = np.einsum("kii->k", A) if n == d else None
    cache.update(M1=M1, M2=M2, tr=tr)
    return cache


def _dense_matrices(op):
    n, d = op.shape
    return op.to_matrix().reshape(op.m, n, d)


# --------------------------------------------------------------------------- loss
def residuals(problem, params) -> np.ndarray:
    """``r_i = <A_i, X> - y_i`` at the factors."""
    return problem.operator.apply(factors_to_matrix(problem, params)) - problem.y


def _phi(r, loss, delta):
    """Per-residual loss, its derivative (a subgradient for unsmoothed l1)."""
    if loss == "squared":
        return r**2, 2 * r
    if delta:
        s = np.sqrt(r**2 + delta**2)
        return s - delta, r / s
    return np.abs(r), np.sign(r)


def loss(problem, params, *, delta=0.0) -> float:
    """The problem's loss at the factors (``delta > 0`` smooths ``l1`` to
    ``sqrt(r^2 + delta^2) - delta``)."""
    params = check_params(problem, params)
    return float(np.mean(_phi(residuals(problem, params), problem.loss, delta)[0]))


def _factor_grad(problem, params, G):
    """Gradient w.r.t. the factors of ``<G, X(params)>`` (``G`` symmetric for ``U U^T``)."""
    if problem.symmetric:
        (U,) = params
        return (2 * G @ U,)
    L, R = params
    return (G @ R, G.T @ L)


def loss_grad(problem, params, *, delta=0.0):
    """The loss and its gradient (a subgradient for ``l1`` with ``delta=0``).

    Returns
    -------
    value : float
    grads : tuple of ndarray
        Same shapes as ``params``.
    """
    params = check_params(problem, params)
    r = residuals(problem, params)
    val, dval = _phi(r, problem.loss, delta)
    G = problem.operator.adjoint(dval / problem.m)
    return float(np.mean(val)), _factor_grad(problem, params, G)


# --------------------------------------------------------------------------- curvature
def gauss_newton_trace(problem, params) -> float:
    """``(1/m) sum_i ||grad r_i||^2``, the Gauss-Newton curvature (any loss)."""
    params = check_params(problem, params)
    c = _operator_data(problem)
    if problem.symmetric:
        (U,) = params
        return float(4 * np.sum((c["M2"] @ U) * U) / problem.m)
    L, R = params
    return float((np.sum((c["M1"] @ R) * R) + np.sum((c["M2"] @ L) * L)) / problem.m)


def hessian_trace(problem, params) -> float:
    """The exact trace of the Hessian of the loss at the factors (closed form).

    For ``l1`` this is 0 (the Hessian vanishes wherever it exists, i.e. whenever no
    residual is exactly 0); see :func:`sharpness` for the curvature used instead.
    """
    params = check_params(problem, params)
    if problem.loss == "l1":
        return 0.0
    gn = 2 * gauss_newton_trace(problem, params)
    if problem.symmetric:
        k = params[0].shape[1]
        tr = _operator_data(problem)["tr"]
        gn += 4 * k * float(tr @ residuals(problem, params)) / problem.m
    return gn


def hessian_trace_grad(problem, params):
    """The exact Hessian trace (squared loss) and its gradient w.r.t. the factors."""
    params = check_params(problem, params)
    if problem.loss == "l1":
        return 0.0, tuple(np.zeros_like(p) for p in params)
    c = _operator_data(problem)
    m = problem.m
    if problem.symmetric:
        (U,) = params
        k = U.shape[1]
        SU = c["M2"] @ U
        r = residuals(problem, params)
        T = 8 * np.sum(SU * U) / m + 4 * k * float(c["tr"] @ r) / m
        Atr = problem.operator.adjoint(c["tr"])
        return float(T), (16 * SU / m + 8 * k * (Atr @ U) / m,)
    L, R = params
    M1R, M2L = c["M1"] @ R, c["M2"] @ L
    T = 2 * (np.sum(M1R * R) + np.sum(M2L * L)) / m
    return float(T), (4 * M2L / m, 4 * M1R / m)


def sharpness(problem, params) -> float:
    """The curvature the flat-minimum finder penalizes.

    The exact Hessian trace for the squared loss; the Gauss-Newton term
    ``(1/m) sum ||grad r_i||^2`` for ``l1`` (whose Hessian is 0 almost everywhere).
    """
    if problem.loss == "l1":
        return gauss_newton_trace(problem, params)
    return hessian_trace(problem, params)


def sharpness_grad(problem, params):
    """:func:`sharpness` and its gradient w.r.t. the factors."""
    params = check_params(problem, params)
    if problem.loss == "squared":
        return hessian_trace_grad(problem, params)
    T, g = hessian_trace_grad(_as_squared(problem), params)
    return T / 2, tuple(x / 2 for x in g)


def _as_squared(problem):
    sq = FactorProblem(problem.sensing, loss="squared", model=problem.model)
    sq.__dict__["_flat_cache"] = _operator_data(problem)
    return sq


def hessian_vector_product(problem, params, direction):
    """The exact Hessian of the loss applied to ``direction`` (same shapes as ``params``).

    For ``l1`` the Hessian is 0 wherever it exists, and so is the product.
    """
    params = check_params(problem, params)
    direction = check_params(problem, direction)
    if problem.loss == "l1":
        return tuple(np.zeros_like(p) for p in params)
    op, m = problem.operator, problem.m
    r = residuals(problem, params)
    Ar = op.adjoint(r)
    if problem.symmetric:
        (U,), (D,) = params, direction
        Jd = op.apply(U @ D.T + D @ U.T)
        return (4 * (op.adjoint(Jd) @ U + Ar @ D) / m,)
    (L, R), (DL, DR) = params, direction
    Jd = op.apply(DL @ R.T + L @ DR.T)
    AJ = op.adjoint(Jd)
    return (2 * (AJ @ R + Ar @ DR) / m, 2 * (AJ.T @ L + Ar.T @ DL) / m)


def hutchinson_trace(problem, params, *, n_probes=100, random_state=None):
    """Hutchinson's estimate of the Hessian trace, ``mean_j z_j^T H z_j`` (Rademacher ``z``).

    Parameters
    ----------
    problem : FactorProblem
    params : tuple of ndarray
    n_probes : int, default=100
    random_state : None, int or numpy.random.Generator

    Returns
    -------
    estimate : float
    stderr : float
        Standard error of the mean over probes.
    """
    params = check_params(problem, params)
    check_scalar(n_probes, "n_probes", kind=numbers.Integral, low=1)
    rng = check_random_state(random_state)
    vals = np.empty(n_probes)
    for j in range(n_probes):
        z = tuple(rng.choice([-1.0, 1.0], size=p.shape) for p in params)
        Hz = hessian_vector_product(problem, params, z)
        vals[j] = sum(float(np.sum(a * b)) for a, b in zip(z, Hz))
    se = float(vals.std(ddof=1) / np.sqrt(n_probes)) if n_probes > 1 else float("inf")
    return float(vals.mean()), se
