"""One-sided lin-RFM with a rank-``r`` column kernel, for tables whose both sides are large.

The full one-sided iteration holds a ``d x d`` kernel (the transposed one an ``n x n``
kernel); with 200,000 users and 10,000 items neither fits a few GiB. Here the kernel is
kept as a factor, ``K = Z Z^T`` with ``Z`` of shape ``(d, r)``, and nothing of size
``n x d`` or ``d x d`` is ever formed:

- a row's regression ``b_i = K[:, O] (K[O, O] + lam I)^-1 y`` equals ``Z u_i`` with
  ``u_i = (Z_O^T Z_O + lam I)^-1 Z_O^T y`` (the push-through identity): one ridge solve
  of size ``r`` per row (:meth:`linrfm.solvers.als.Lines.solve`), so ``B = U Z^T``;
- the next kernel ``(B^T B / n)^(2 alpha)`` has its range in that of ``Z``: with
  ``Z = Q R`` and the eigenpairs ``(w, P)`` of ``R (U^T U / n) R^T`` it is ``Z' Z'^T``
  with ``Z' = Q P w^alpha`` (:func:`factor_kernel`), exact, no truncation after the start;
- the start is the top ``r`` of the first kernel ``(Y^T Y / n)^(2 alpha)`` (``Y`` the
  zero-filled observations), from a randomized SVD of the sparse ``Y``.

This is lin-RFM with the kernel's rank capped at ``r``; the ridge is relative to
``tr(K) / d`` as in the full iteration. Work per iteration ``O(|Omega| r^2 + (n + d) r^2)``,
memory ``O(|Omega| + (n + d) r)``. The result is a
:class:`~linrfm.results.FactorResult` (``B = U Z^T``).
"""

from __future__ import annotations

import numpy as np
from sklearn.utils.extmath import randomized_svd

from ..iteration import Method, iterate
from ..results import FactorResult
from ..solvers._params import absolute_ridge
from ..solvers.als import Lines, factor_change
from ..solvers.linrfm.plan import plan_fit

__all__ = [
    "factor_kernel",
    "kernel_plan",
    "lowrank_bytes",
    "lowrank_lin_rfm",
    "Prepared",
    "METHOD",
]

METHOD = "lin-rfm-lowrank"
# The rank of kernel_rank='auto' when the full kernel does not fit. Validation RMSE on one
# MovieLens-100K split: rank 64 0.889, rank 16 0.894 (the full kernel 0.886 on the
# estimator's own split); on the 20,000 x 2,000 table of bench_ratings_memory.py, same
# split: rank 64 0.6590, the full kernel 0.6578.
AUTO_RANK = 64
_GiB = 2**30


def factor_kernel(U, V, n, alpha):
    """``Z`` with ``Z Z^T = (B^T B / n)^(2 alpha)`` for ``B = U V^T`` (shape of ``V``),
    from ``r x r`` matrices only (negative eigenvalues of rounding clipped to 0)."""
    Q, R = np.linalg.qr(np.asarray(V, dtype=np.float64))
    U = np.asarray(U, dtype=np.float64)
    core = R @ (U.T @ U / n) @ R.T
    w, P = np.linalg.eigh((core + core.T) / 2)
    return (Q @ P) * np.clip(w, 0.0, None) ** alpha


def lowrank_bytes(prob, rank, itemsize=8):
    """Estimated peak bytes of :func:`lowrank_lin_rfm` on ``prob`` (the observations
    grouped by row and padded, the factors of this and the last iteration, the gathered
    blocks of one batched solve)."""
    n, d = prob.shape
    sq = float(np.sum(prob.row_counts.astype(np.float64) ** 2))
    # index, pattern and padding arrays per observation, and one batch of gathered blocks
    # (the estimate ratings/lowrank was measured against; lin_rfm_plan's own per-path
    # constants belong to the full-kernel solver)
    observations = prob.n_obs * (48 + 3 * itemsize) + min(sq, 2**22) * (8 + 2 * itemsize)
    return observations + 6 * (n + d) * rank * itemsize


def kernel_plan(prob, kernel_rank, variant, memory_limit):
    """The rank of the kernel a ratings fit on ``prob`` uses, None for the full kernel.

    'auto': the full kernel when a plan of :func:`~linrfm.lin_rfm_plan` fits
    ``memory_limit``; else (``variant='auto'`` only) :data:`AUTO_RANK`. An integer: that
    rank. Raises ``MemoryError`` naming ``memory_limit`` when the choice does not fit.
    """
    if kernel_rank == "auto":
        try:
            plan_fit(prob, variant, "auto", np.float64, memory_limit)
            return None
        except MemoryError:
            if variant != "auto":
                raise
        kernel_rank = AUTO_RANK
    rank = int(min(kernel_rank, min(prob.shape)))
    need = lowrank_bytes(prob, rank)
    if need > memory_limit:
        n, d = prob.shape
        raise MemoryError(
            f"lin-RFM with a rank-{rank} kernel on a {n} x {d} table with {prob.n_obs} "
            f"ratings needs an estimated {need / _GiB:.2f} GiB, more than "
            f"memory_limit={memory_limit / _GiB:.2f} GiB. Raise memory_limit, or lower "
            "kernel_rank."
        )
    return rank


class Prepared:
    """What every fit on one problem shares, whatever its ridge: the observations grouped
    by row (:class:`~linrfm.solvers.als.Lines`, with its padded batches) and the start,
    the top ``rank`` of the first kernel ``(Y^T Y / n)^(2 alpha)``."""

    def __init__(self, prob, rank, alpha, random_state=0):
        self.prob, self.alpha = prob, float(alpha)
        self.rows = Lines.rows_of(prob)
        k = max(1, min(rank, min(prob.shape) - 1))
        _, s, Vt = randomized_svd(prob.to_sparse(), k, random_state=random_state)
        self.Z0 = Vt.T * (s**2 / prob.shape[0]) ** self.alpha


class LowRankLinRFM(Method):
    """The iteration of this module as a :class:`~linrfm.iteration.Method`: the last
    completion ``B = U V^T`` and the next kernel's factor ``Z``."""

    name = METHOD
    state = ("U", "V", "Z")

    def __init__(self, prepared, lam_rel):
        self.prep = prepared
        self.n = prepared.prob.shape[0]
        self.lam_rel = float(lam_rel)
        self.U = self.V = None
        self.Z = prepared.Z0

    def step(self, it):
        d = self.Z.shape[0]
        lam = absolute_ridge(self.lam_rel, float(np.sum(self.Z**2)) / d)
        U = self.prep.rows.solve(self.Z, lam)
        change = np.inf if self.U is None else factor_change(self.U, self.V, U, self.Z)
        self.U, self.V = U, self.Z
        self.Z = factor_kernel(U, self.V, self.n, self.prep.alpha)
        return {"rel_change": change}

    def result(self, n_iter):
        return FactorResult(
            shape=self.prep.prob.shape,
            n_iter=n_iter,
            method=METHOD,
            params={"rank": self.V.shape[1], "alpha": self.prep.alpha, "lam": self.lam_rel},
            U=self.U,
            V=self.V,
        )


def lowrank_lin_rfm(prepared, *, lam=1.0, max_iter=8, callback=None):
    """Run :class:`LowRankLinRFM` from a :class:`Prepared` problem for ``max_iter``
    iterations (or until ``callback`` returns True); the
    :class:`~linrfm.results.FactorResult` of the last one."""
    method = LowRankLinRFM(prepared, lam)
    run = iterate(method, max_iter=max_iter, callback=callback, warn=False)
    out = method.result(run.n_iter)
    out.history = run.history
    out.elapsed = run.elapsed
    return out
