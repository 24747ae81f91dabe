"""Factors of a FactorProblem: shapes, packing, the data's scale, the default start.

Shared by the flat solvers (:mod:`~linrfm.flat.solvers`): nothing here iterates.
"""

from __future__ import annotations

import numbers
import time

import numpy as np

from .._validation import check_random_state, check_scalar
from ..problems import FactorProblem
from ..results import FactorResult
from . import curvature as S

__all__ = ["mu_max", "init_factors"]


def _check_problem(problem):
    if not isinstance(problem, FactorProblem):
        raise TypeError(f"problem must be a FactorProblem; got {type(problem).__name__}.")
    return problem


def _shapes(problem, width):
    n, d = problem.shape
    return [(n, width)] if problem.symmetric else [(n, width), (d, width)]


def _unpack(x, shapes):
    out, o = [], 0
    for s in shapes:
        out.append(x[o : o + s[0] * s[1]].reshape(s))
        o += s[0] * s[1]
    return tuple(out)


def _pack(params):
    return np.concatenate([p.ravel() for p in params])


def _scale(problem):
    """Operator gain ``kappa = sum ||A_i||_F^2 / (n d)`` and the data's spectral scale."""
    c = S._operator_data(problem)
    n, d = problem.shape
    kappa = np.trace(c["M1"]) / (n * d)
    sig = np.linalg.norm(problem.operator.adjoint(problem.y), 2) / kappa
    return kappa, sig


def mu_max(problem) -> float:
    """The flatness weight above which the factors 0 are (nearly) optimal.

    In the convex picture the flatness term of a balanced factorization is a weighted
    nuclear norm ``c ||X||_*``; ``X = 0`` is optimal for ``loss + mu * c ||X||_*`` once
    ``mu * c`` exceeds the spectral norm of the loss gradient at 0. Computed from the
    measurements only.
    """
    _check_problem(problem)
    c = S._operator_data(problem)
    n, d = problem.shape
    m = problem.m
    lam = np.sqrt(np.trace(c["M1"]) / d * np.trace(c["M2"]) / n)
    if problem.loss == "squared":
        g0 = 2 / m * np.linalg.norm(problem.operator.adjoint(problem.y), 2)
        cc = (8 if problem.symmetric else 4) / m * lam
    else:
        g0 = 1 / m * np.linalg.norm(problem.operator.adjoint(np.sign(problem.y)), 2)
        cc = 2 / m * lam
    return float(g0 / cc)


def init_factors(problem, width, init_scale=1.0, random_state=None):
    """Gaussian factors whose product has spectral norm about ``init_scale^2`` times the
    data's scale ``||A*(y)||_2 / kappa`` (a measured quantity, not the truth).

    Returns
    -------
    tuple of ndarray
        ``(L, R)`` or ``(U,)``.
    """
    rng = check_random_state(random_state)
    _, sig = _scale(problem)
    out = []
    for nr, k in _shapes(problem, width):
        std = init_scale * np.sqrt(sig) / (np.sqrt(nr) + np.sqrt(k))
        out.append(std * rng.standard_normal((nr, k)))
    return tuple(out)


def _check_common(problem, width, init, random_state):
    _check_problem(problem)
    check_scalar(width, "width", kind=numbers.Integral, low=1)
    if init is not None:
        init = S.check_params(problem, init)
        if init[0].shape[1] != width:
            raise ValueError(f"init has width {init[0].shape[1]}; width={width}.")
    check_random_state(random_state)
    return init


def _factor_result(problem, params, method, n_iter, copy=False):
    U = params[0]
    V = params[0] if problem.symmetric else params[1]
    if copy:
        U, V = np.array(U, copy=True), np.array(V, copy=True)
    return FactorResult(shape=problem.shape, n_iter=int(n_iter), method=method, U=U, V=V)


def _finish(res, run, converged, t0, run_params):
    res.converged, res.history, res.params = bool(converged), run.history, run_params
    res.elapsed = time.perf_counter() - t0
    return res
