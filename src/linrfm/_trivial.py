"""Trivial data, trivial answers (used by :func:`linrfm._scaling.scale_free`).

=====================================================  ==================================
data                                                   answer (converged, one iteration)
=====================================================  ==================================
every observation (measurement, target) 0              zero
every entry observed                                   the observed matrix itself
every observation ``c``, every row and column observed  ``c`` everywhere
targets all ``c`` with ``fit_intercept``               ``coef = 0``, ``intercept = c``
=====================================================  ==================================

Each answer has the result class the solver's signature declares.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from . import results

__all__ = ["completion", "sensing", "regression", "unobserved_to_zero"]


def _result(call, shape, **fields):
    default = "VectorResult" if call.kind == "regress" else "DenseResult"
    cls = getattr(results, call.fn.__annotations__.get("return", default))
    params = {k: v for k, v in call.bound.arguments.items() if k != call.first}
    params.pop("callback", None)
    return cls(
        shape=shape,
        n_iter=1,
        converged=True,
        method=call.fn.__name__,
        params={**params, "trivial": True},
        **fields,
    )


def _kernel_fields(U, V, shape):
    """KernelResult fields of ``U V^T`` (``U`` n x r, ``V`` d x r, r <= d): the rows'
    coefficients ``[U 0]`` and the kernel ``[V^T; 0]``."""
    n, d = shape
    r = U.shape[1]
    coef = sp.csr_matrix(U)
    coef.resize((n, d))
    if r == 0:
        kernel = np.broadcast_to(0.0, (d, d))
    elif r == 1 and np.all(V == 1.0):
        kernel = np.broadcast_to(1.0, (d, d))  # constant: a row of ones, never stored
    else:
        kernel = np.zeros((d, d))
        kernel[:r] = V.T
    return dict(side="row", coef=coef.tocsr(), kernel=kernel, lam=0.0, replace=False)


def _of_factors(call, U, V, shape):
    """The solver's result class holding ``U V^T``."""
    name = call.fn.__annotations__.get("return", "DenseResult")
    if name == "FactorResult":
        return _result(call, shape, U=U, V=V)
    if name == "KernelResult":
        return _result(call, shape, **_kernel_fields(U, V, shape))
    return _result(call, shape, X=U @ V.T)


def _zero(call, shape):
    n, d = shape
    return _of_factors(call, np.zeros((n, 0)), np.zeros((d, 0)), shape)


def completion(prob, call):
    """The answer to trivial completion data, or None."""
    n, d = prob.shape
    v = prob.values
    if not np.any(v):
        return _zero(call, prob.shape)
    if prob.n_obs == n * d:
        M = np.zeros(prob.shape)
        M[prob.rows, prob.cols] = v
        if call.fn.__annotations__.get("return") == "KernelResult" and d > n:
            # the smaller kernel: the columns' side, B^T = M^T I_n
            fields = _kernel_fields(M.T, np.eye(n), (d, n))
            return _result(call, prob.shape, **{**fields, "side": "col"})
        return _of_factors(call, M, np.eye(d), prob.shape)
    if np.all(v == v[0]) and np.all(prob.row_counts) and np.all(prob.col_counts):
        return _of_factors(call, np.full((n, 1), v[0]), np.ones((d, 1)), prob.shape)
    return None


def sensing(prob, call):
    """Zero for all-zero measurements, else None."""
    if not np.any(prob.y):
        return _zero(call, prob.shape)
    return None


def regression(prob, call):
    """Zero for all-zero targets; the intercept alone for constant targets when one is
    fitted; else None."""
    y = prob.y
    d = prob.X.shape[1]
    if not np.any(y):
        return _result(call, (d,), coef=np.zeros(d), intercept=0.0)
    if call.get("fit_intercept") and np.all(y == y[0]):
        return _result(call, (d,), coef=np.zeros(d), intercept=float(y[0]))
    return None


def unobserved_to_zero(result, prob):
    """``result`` with the rows and columns that hold no observation predicted as 0, the
    documented fallback (a random start's trace or a kernel's leak otherwise stays)."""
    rows = np.flatnonzero(prob.row_counts == 0)
    cols = np.flatnonzero(prob.col_counts == 0)
    if not (rows.size or cols.size) or not hasattr(result, "rescaled"):
        return result
    if isinstance(result, results.FactorResult):
        result.U, result.V = result.U.copy(), result.V.copy()
        result.U[rows], result.V[cols] = 0.0, 0.0
    elif isinstance(result, results.DenseResult):
        result.X = result.X.copy()
        result.X[rows], result.X[:, cols] = 0.0, 0.0
    elif isinstance(result, results.KernelResult):
        # coefficients live on observed lines; the kernel's other side maps to the output
        out = cols if result.side == "row" else rows
        if out.size:
            kernel = np.array(result.kernel, copy=True)
            kernel[:, out] = 0.0
            result.kernel = kernel  # (the coefficients never sit on an unobserved line)
    return result
