"""The lin-RFM kernel ``G^(2 alpha)`` and the half-step: one kernel ridge regression per
line (row) of the iterate, with the kernel built from its AGOP ``G = B^T B / n``."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ..._validation import check_scalar
from ...backend import NUMPY, ops_of
from ...problems import as_completion_problem
from .._params import absolute_ridge
from .._rowsolve import LineSolver

__all__ = ["kernel_power", "eig_power", "cooccurrence_kernel", "lin_rfm_step", "HalfStep"]


def kernel_power(G: np.ndarray, alpha: float) -> np.ndarray:
    """``G^(2 alpha)`` for a symmetric PSD matrix ``G``.

    ``alpha = 1/2`` returns ``G`` and ``alpha = 1`` returns ``G @ G`` (no matrix function);
    any other power uses a symmetric eigendecomposition with negative eigenvalues clipped.
    """
    if alpha == 0.5:
        return G
    if alpha == 1.0:
        return G @ G
    return eig_power(G, alpha)


def eig_power(G: np.ndarray, alpha: float) -> np.ndarray:
    """``G^(2 alpha)`` by a symmetric eigendecomposition, negative eigenvalues clipped."""
    w, Q = ops_of(G).eigh(G)
    w = w.clip(min=0.0) ** (2.0 * alpha)
    return (Q * w) @ Q.T


def cooccurrence_kernel(lines, idx, n_lines: int, width: int) -> np.ndarray:
    """The cosine similarity of the observed patterns of the ``width`` columns.

    ``P[j, l] = |O_j & O_l| / sqrt(|O_j| |O_l|)`` with ``O_j`` the lines observed in
    column ``j``: 1 on the diagonal of every observed column, 0 for a column never
    observed. It reads where entries are observed, never their values.
    """
    M = sp.csr_matrix((np.ones(idx.size), (lines, idx)), shape=(n_lines, width))
    P = np.asarray((M.T @ M).toarray())
    s = np.sqrt(P.diagonal())
    s[s == 0] = 1.0
    return P / s[:, None] / s[None, :]


class HalfStep:
    """One lin-RFM half-step on one side (rows as samples of a ``n_lines x width`` matrix).

    With ``cooccurrence`` w > 0 the kernel is ``(1 - w) K / m + w P``: the AGOP power ``K``
    scaled to a mean eigenvalue ``m`` of 1, mixed with the :func:`cooccurrence_kernel` ``P``
    of the pattern.
    """

    def __init__(
        self, lines, idx, values, n_lines, width, alpha, replace, ops=NUMPY, cooccurrence=0.0
    ):
        self.solver = LineSolver(lines, idx, values, n_lines, width, ops=ops)
        self.alpha = alpha
        self.replace = replace
        self.width = width
        self.n_lines = n_lines
        self.cooccurrence = float(cooccurrence)
        self.prior = None
        if self.cooccurrence > 0:
            self.prior = cooccurrence_kernel(lines, idx, n_lines, width)

    def kernel(self, G: np.ndarray, lam_rel: float):
        """Kernel ``G^(2 alpha)`` (mixed with the pattern's) and the absolute ridge for a
        relative one."""
        K = kernel_power(G, self.alpha)
        if self.prior is not None:
            w = self.cooccurrence
            scale = float(K.trace()) / self.width
            if not hasattr(self.prior, "dtype") or self.prior.dtype != K.dtype:
                self.prior = self.solver.ops.array(self.prior, K.dtype)  # on K's device
            K = (1 - w) * (K / scale if scale > 0 else K) + w * self.prior
        return K, absolute_ridge(lam_rel, float(K.trace()) / self.width)

    def __call__(self, B: np.ndarray, lam_rel: float):
        """Return (new B, coefficient matrix, kernel, absolute lambda)."""
        G = (B.T @ B) / self.n_lines
        K, lam = self.kernel(G, lam_rel)
        return self.apply(K, lam)

    def apply(self, K: np.ndarray, lam: float):
        """The half-step with kernel ``K`` and absolute ridge ``lam``."""
        coef = self.solver.solve(K, lam)
        A = self.solver.coef_matrix(coef)
        Bn = self.solver.ops.spmm(A, K, self.solver.n_workers)
        if self.replace:
            # B = A (K + lam I): on the observed pattern this restores y exactly.
            Bn[self.solver.lines_x, self.solver.idx_x] += lam * coef
        return Bn, A, K, lam


def lin_rfm_step(B, X, *, alpha: float = 0.5, lam: float, replace: bool = True, shape=None):
    """One one-sided lin-RFM step from the completion ``B`` with an absolute ridge.

    ``K = (B^T B / n)^(2 alpha)``; every row ``i`` becomes
    ``y_i^T (K[O_i, O_i] + lam I)^-1 K[O_i, :]``, with its observed entries then replaced
    by ``y_i`` if ``replace``. Useful for studying the update itself; the solver is
    :func:`lin_rfm_complete`.

    Parameters
    ----------
    B : ndarray, shape (n, d)
        Current completion.
    X : completion input (see :func:`lin_rfm_complete`)
    alpha : float > 0
    lam : float >= 0
        Absolute ridge.
    replace : bool

    Returns
    -------
    ndarray, shape (n, d)
    """
    prob = as_completion_problem(X, shape)
    check_scalar(alpha, "alpha", low=0, low_inclusive=False)
    check_scalar(lam, "lam", low=0)
    B = np.asarray(B, dtype=np.float64)
    if B.shape != prob.shape:
        raise ValueError(f"B has shape {B.shape}; the problem's shape is {prob.shape}.")
    n, d = prob.shape
    step = HalfStep(prob.rows, prob.cols, prob.values, n, d, float(alpha), replace)
    G = (B.T @ B) / n
    return step.apply(kernel_power(G, float(alpha)), lam)[0]
