"""Global mean and ridge-regularized row and column biases of a rating table."""

from __future__ import annotations

import numpy as np

__all__ = ["fit_biases", "fold_in_row_bias", "BIASES"]

BIASES = ("both", "global", "none")


def fit_biases(rows, cols, values, shape, *, kind="both", reg=10.0, sweeps=15):
    """Global mean and ridge-regularized row and column biases.

    Minimizes ``sum (y - mu - b_row - b_col)^2 + reg (|b_row|^2 + |b_col|^2)`` with ``mu``
    the plain mean, by alternating exact sweeps over rows and columns.

    Parameters
    ----------
    rows, cols : ndarray of int
    values : ndarray of float
    shape : (n, d)
    kind : {'both', 'global', 'none'}
        Which terms to fit ('global': the mean only; 'none': all zero).
    reg : float
        Ridge on the biases, in pseudo-observations (a row with few ratings keeps a bias
        near 0).
    sweeps : int
        Alternating sweeps.

    Returns
    -------
    mu : float
    row_bias : ndarray, shape (n,)
    col_bias : ndarray, shape (d,)
    """
    n, d = shape
    mu = float(values.mean()) if kind != "none" else 0.0
    bu = np.zeros(n)
    bi = np.zeros(d)
    if kind == "both":
        cnt_u = np.bincount(rows, minlength=n)
        cnt_i = np.bincount(cols, minlength=d)
        for _ in range(sweeps):
            bu = np.bincount(rows, weights=values - mu - bi[cols], minlength=n) / (reg + cnt_u)
            bi = np.bincount(cols, weights=values - mu - bu[rows], minlength=d) / (reg + cnt_i)
    return mu, bu, bi


def fold_in_row_bias(resid, *, kind="both", reg=10.0):
    """The bias of a new row from its residuals ``y - mu - col_bias`` (columns held fixed).

    One row's exact sweep of :func:`fit_biases`; 0 unless ``kind='both'``.
    """
    return float(np.sum(resid) / (reg + resid.size)) if kind == "both" else 0.0
