"""What the solvers share around the iteration core.

The parameter checks of lin-RFM's completion and sensing solvers, the rule that makes a
unit-free ridge (or IRLS smoothing) absolute and the finishing of every solver's result
(:func:`finished`). The loop itself is :func:`linrfm.iteration.iterate`.
"""

from __future__ import annotations

import numbers
import time

import numpy as np

from .._validation import check_bool, check_scalar
from ..results import ModelFitError

__all__ = [
    "check_loop",
    "check_lin_rfm_params",
    "absolute_ridge",
    "relative_change",
    "finished",
    "WINDOW",
]

# The ridge rule moves the iterate in bursts (each decrease of the ridge shifts the fixed
# point), so one quiet iteration proves little: lin-RFM's convergence needs this many in a row.
WINDOW = 5


def check_loop(tol, max_iter) -> None:
    """The checks of the stop every iterative solver has: ``tol > 0`` and an integer
    ``max_iter >= 1`` (the loop's keywords are checked by :func:`~linrfm.iteration.iterative`)."""
    check_scalar(tol, "tol", low=0, low_inclusive=False)
    check_scalar(max_iter, "max_iter", kind=numbers.Integral, low=1)


def check_lin_rfm_params(alpha, lam, lam_min, tol, max_iter, replace) -> None:
    """The parameter checks lin-RFM's completion and sensing solvers share.

    The arguments are the solver's parameters of the same names; ``variant`` and
    ``lam_rule``, whose allowed values differ between the solvers, are checked by each.
    """
    check_scalar(alpha, "alpha", low=0, low_inclusive=False)
    check_scalar(lam, "lam", low=0)
    check_scalar(lam_min, "lam_min", low=0)
    check_loop(tol, max_iter)
    check_bool(replace, "replace")


def absolute_ridge(rel, scale, message="The kernel holds NaN or inf; the iteration diverged."):
    """``rel * scale`` (``rel`` itself when ``scale`` is 0): a unit-free ridge made absolute.

    ``scale`` is the mean eigenvalue of the matrix the ridge (or IRLS smoothing) is added
    to; a non-finite one means the iterate diverged: ``ModelFitError(message)``.
    """
    if not np.isfinite(scale):
        raise ModelFitError(message)
    return rel * scale if scale > 0 else rel


def relative_change(new, old) -> float:
    """``||new - old|| / ||old||``; from ``old = 0``, inf (0 when ``new`` is 0 too)."""
    norm_old = np.linalg.norm(old)
    diff = float(np.linalg.norm(new - old))
    return diff / norm_old if norm_old > 0 else (np.inf if diff > 0 else 0.0)


def finished(result, run, t0: float, *, history=(), params=None):
    """``result`` (from ``method.result``) completed with the run's figures and the time
    since ``t0`` (the solver's start).

    ``history`` names record keys the result's history has even when no iteration ran
    (empty lists, ahead of the run's own); ``params``, when given, the parameters the fit
    ran with (``result.params``).
    """
    result.n_iter, result.converged = run.n_iter, run.converged
    result.history = {**{k: [] for k in history}, **run.history} if history else run.history
    result.elapsed = time.perf_counter() - t0
    if params is not None:
        result.params = params
    return result
