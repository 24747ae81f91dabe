"""The iteration shell shared by the lin-RFM (completion, sensing) and IRLS matrix solvers.

Each solver keeps its own update; this module holds what was written out in each of them:
the parameter checks they share, the tqdm progress bar, the callback call, the ridge rules
'change' and 'decay', the convergence window, and the ``ConvergenceWarning`` when
``max_iter`` is reached.
"""

from __future__ import annotations

import numbers
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from .._validation import check_bool, check_callback, check_scalar
from ..results import ModelFitError

# The ridge rule moves the iterate in bursts (each decrease of the ridge shifts the fixed
# point), so one quiet iteration proves little: convergence needs this many in a row.
WINDOW = 5


def check_lin_rfm_params(alpha, lam, lam_min, tol, max_iter, replace, callback) -> None:
    """The parameter checks lin-RFM's completion and sensing solvers share.

    The arguments are the solver's parameters of the same names; ``variant`` and
    ``lam_rule``, whose allowed values differ between the solvers, are checked by each.
    """
    check_scalar(alpha, "alpha", low=0, low_inclusive=False)
    check_scalar(lam, "lam", low=0)
    check_scalar(lam_min, "lam_min", low=0)
    check_scalar(tol, "tol", low=0, low_inclusive=False)
    check_scalar(max_iter, "max_iter", kind=numbers.Integral, low=1)
    check_bool(replace, "replace")
    check_callback(callback)


def absolute_ridge(rel, scale, message="The kernel holds NaN or inf; the iteration diverged."):
    """``rel * scale`` (``rel`` itself when ``scale`` is 0): a unit-free ridge made absolute.

    ``scale`` is the mean eigenvalue of the matrix the ridge (or IRLS smoothing) is added
    to; a non-finite one means the iterate diverged: ``ModelFitError(message)``.
    """
    if not np.isfinite(scale):
        raise ModelFitError(message)
    return rel * scale if scale > 0 else rel


def next_ridge(rule: str, lam_rel, change, lam_min):
    """The relative ridge after an iteration whose relative change was ``change``.

    'change': ``max(lam_min, min(lam_rel, change))``; 'decay': divided by 10 (down to
    ``lam_min``) when ``change < sqrt(lam_rel) / 100`` (Chartrand-Yin style); any other rule
    keeps it.
    """
    if rule == "change":
        return max(lam_min, min(lam_rel, change))
    if rule == "decay" and change < np.sqrt(lam_rel) / 100:
        return max(lam_min, lam_rel / 10)
    return lam_rel


def settled(changes, tol, lam_rule, lam_rel, lam_min) -> bool:
    """Converged: ``WINDOW`` quiet iterations in a row under a ridge at the tolerance's level.

    For 'change' and 'decay' a step taken with a larger ridge can look stationary at that
    ridge's fixed point, not the ridge-free limit, so the ridge must have come down to
    ``max(tol, lam_min)`` too; 'fixed' asks only for the quiet window.
    """
    return (
        len(changes) >= WINDOW
        and max(changes[-WINDOW:]) < tol
        and (lam_rule == "fixed" or lam_rel <= max(tol, lam_min))
    )


def record_ridge_step(name, it, history, change, lam_rel, tol, lam_rule, lam_min) -> bool:
    """Check and record one iteration of a ridge-ruled solver; return whether it settled.

    ``change`` (the relative change of the iterate) and the relative ridge ``lam_rel`` it
    was taken with are appended to ``history['rel_change']`` and ``history['lam']``; a
    non-finite ``change`` raises ``ModelFitError``. Returns :func:`settled`.
    """
    if not np.isfinite(change):
        raise ModelFitError(
            f"{name} iterate became non-finite at iteration {it}; try a larger 'lam' or 'lam_min'."
        )
    history["rel_change"].append(float(change))
    history["lam"].append(lam_rel)
    return settled(history["rel_change"], tol, lam_rule, lam_rel, lam_min)


def ridge_warning(name: str, max_iter, changes, tol, lam_rel, advice: str = ".") -> str:
    """The ConvergenceWarning text of a solver stopped by the window rule at ``max_iter``."""
    return (
        f"{name} did not converge in max_iter={max_iter} iterations: the largest relative "
        f"change of the iterate over the last {WINDOW} iterations is "
        f"{max(changes[-WINDOW:]):.2e} (tol={tol:g}) and the relative ridge is "
        f"{lam_rel:.1e}. Increase max_iter{advice}"
    )


def progress_bar(progress: bool, total: int, desc: str):
    """A tqdm bar of ``total`` iterations, or None when ``progress`` is false."""
    if not progress:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, leave=False)


def iterate(
    step,
    *,
    max_iter,
    callback=None,
    progress=False,
    desc="",
    result=None,
    warning=None,
    stacklevel=3,
):
    """Run ``step(it)`` for ``it = 1, ..., max_iter``; return ``(it, converged)``.

    ``step(it)`` does one iteration and returns ``(done, info, postfix)``: ``done`` stops
    the run as converged, ``info`` is the dict passed to ``callback(it, info)`` (when the
    run goes on; returning True stops it), ``postfix`` the strings shown on the progress
    bar. ``result(it)``, when given, is put in ``info['result']`` before each callback call.
    When ``max_iter`` is reached unconverged, ``warning()`` gives the text of a
    ``ConvergenceWarning`` issued ``stacklevel`` frames up (3: the solver's caller when the
    solver calls this function).
    """
    bar = progress_bar(progress, max_iter, desc)
    converged, it = False, 0
    try:
        for it in range(1, max_iter + 1):
            done, info, postfix = step(it)
            if bar is not None:
                bar.update(1)
                bar.set_postfix(**postfix, refresh=False)
            if done:
                converged = True
                break
            if callback is not None:
                if result is not None:
                    info["result"] = result(it)
                if callback(it, info):
                    break
    finally:
        if bar is not None:
            bar.close()
    if not converged and it >= max_iter and warning is not None:
        warnings.warn(warning(), ConvergenceWarning, stacklevel=stacklevel)
    return it, converged
