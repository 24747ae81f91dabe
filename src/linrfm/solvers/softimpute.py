"""SoftImpute: nuclear-norm regularized matrix completion (Mazumder, Hastie, Tibshirani 2010).

Solves ``min_Z 1/2 ||P_O(X - Z)||_F^2 + lam ||Z||_*`` by the fixed-point iteration
``Z <- S_lam(P_O(X) + P_O^perp(Z))``, where ``S_lam`` soft-thresholds the singular values,
along a decreasing path of ``lam`` with warm starts (the path: :mod:`._svt_path`).

Two representations of the iterate: dense (small matrices) and low-rank + sparse, where
``P_O(X) + P_O^perp(Z) = Z + P_O(X - Z)`` is applied as a linear operator and only the
leading singular triplets are computed, so memory is O((n + d) k + |O|).
"""

from __future__ import annotations

import numbers
import time

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from .._docs import fill_doc
from .._scaling import data_scale, scale_free
from .._validation import (
    check_bool,
    check_option,
    check_random_state,
    check_scalar,
)
from ..iteration import iterative
from ..problems import as_completion_problem
from ..results import FactorResult
from ._params import finished
from ._svt_path import FROM_ZERO, PathMethod, check_path_params, lam_path, run_path, svt_dense

__all__ = ["soft_impute_complete", "lambda_max"]


def lambda_max(X, shape=None) -> float:
    """The smallest ``lam`` for which the SoftImpute solution is zero: ``||P_O(X)||_2``."""
    prob = as_completion_problem(X, shape)
    if not np.any(prob.values):
        return 0.0
    s = data_scale(prob.values)  # computed on unit-size data: no overflow or underflow
    S = prob.to_sparse() * (1.0 / s)
    if min(S.shape) <= 2:
        return s * float(np.linalg.norm(S.toarray(), 2))
    return s * float(spla.svds(S, k=1, return_singular_vectors=False, random_state=0)[0])


def _observed_of_factors(U, V, rows, cols, max_elements=2**22):
    """``(U @ V.T)[rows, cols]`` with at most ``max_elements`` gathered factor entries at once.

    The chunk is sized by the factors' width: a fixed number of rows per chunk gathered a
    ``1e6 x k`` block per factor, 40 GB at k = 5,000 (the 22.6 GiB peak of the 5,000^2 run).
    """
    out = np.empty(rows.size)
    chunk = max(1, max_elements // max(U.shape[1], 1))
    for s in range(0, rows.size, chunk):
        sl = slice(s, s + chunk)
        out[sl] = np.einsum("ij,ij->i", U[rows[sl]], V[cols[sl]])
    return out


def _svt_lowrank(US, V, R, lam, max_rank, rng, start=None, n_power=2, oversample=10):
    """Soft-threshold the SVD of ``M = US @ V.T + R`` (R sparse), never forming M.

    A randomized subspace iteration (Halko, Martinsson, Tropp) started from the previous
    right factor (``start``, default ``V``), so across SoftImpute iterations it is a
    warm-started subspace iteration.
    The subspace grows until its smallest singular value falls below ``lam`` (every
    singular value that survives the threshold is then captured) or reaches ``max_rank``.
    """
    n, d = R.shape
    RT = R.T.tocsr()

    def mul(X):  # M @ X
        return US @ (V.T @ X) + R @ X

    def tmul(Y):  # M.T @ Y
        return V @ (US.T @ Y) + RT @ Y

    limit = min(n, d)
    W = V if start is None else start
    k = min(limit, max(W.shape[1] + oversample, 2 * oversample))
    while True:
        extra = k - W.shape[1]
        S0 = W if extra >= 0 else W[:, :k]
        if extra > 0:
            S0 = np.hstack([S0, rng.standard_normal((d, extra))])
        Q, _ = np.linalg.qr(mul(S0))
        for _ in range(n_power):
            Z, _ = np.linalg.qr(tmul(Q))
            Q, _ = np.linalg.qr(mul(Z))
        Ub, s, Vt = np.linalg.svd(tmul(Q).T, full_matrices=False)
        U = Q @ Ub
        done = s[-1] <= lam or k >= limit or (max_rank is not None and k >= max_rank + oversample)
        if done:
            break
        k = min(limit, 2 * k)
    s = np.maximum(s - lam, 0.0)
    keep = int(np.sum(s > 0))
    if max_rank is not None:
        keep = min(keep, max_rank)
    return U[:, :keep] * s[:keep], Vt[:keep].T


class _SoftImpute(PathMethod):
    """The SoftImpute fixed-point iteration (or its accelerated proximal-gradient form)
    at each ``lam`` of the path."""

    name = "SoftImpute"
    state = ("US", "V", "US_old", "V_old", "f_cur", "t_mom", "rng", "path", *PathMethod.PATH_STATE)

    def __init__(
        self, prob, lams, *, tol, path_tol, max_iter, max_rank, accelerate, solver, rng, keep_path
    ):
        super().__init__(lams, tol, max_iter, path_tol)
        self.n, self.d = prob.shape
        self.rows, self.cols, self.y = prob.rows, prob.cols, prob.values
        self.max_rank, self.accelerate, self.solver, self.rng = max_rank, accelerate, solver, rng
        self.US, self.V = np.zeros((self.n, 0)), np.zeros((self.d, 0))
        self.US_old, self.V_old = self.US, self.V
        self.path, self.keep_path = [], keep_path
        self.message = (
            f"SoftImpute did not meet tol={tol:g} (path_tol={self.path_tol:g} before the last "
            f"lam) within max_iter={max_iter} at every lam of the path; increase max_iter"
            + ("." if accelerate else " or set accelerate=True.")
        )

    def prox(self, YU, YV, start):
        """``S_lam(Y + P_O(X - Y))`` for ``Y = YU @ YV.T``."""
        rows, cols, y = self.rows, self.cols, self.y
        if self.solver == "dense":
            M = YU @ YV.T
            M[rows, cols] = y
            return svt_dense(M, self.lam, self.max_rank)
        R = sp.csr_matrix(
            (y - _observed_of_factors(YU, YV, rows, cols), (rows, cols)), (self.n, self.d)
        )
        return _svt_lowrank(YU, YV, R, self.lam, self.max_rank, self.rng, start=start)

    def objective(self, US, V):
        # V has orthonormal columns, so the column norms of US are the singular values
        r = _observed_of_factors(US, V, self.rows, self.cols) - self.y
        return 0.5 * float(r @ r) + self.lam * float(np.sum(np.linalg.norm(US, axis=0)))

    def start_stage(self):
        self.f_cur = self.objective(self.US, self.V)
        self.t_mom = 1.0  # momentum resets at every lam (a new objective)

    def step(self, it):
        US, V, t_mom = self.US, self.V, self.t_mom
        t_next = (1 + np.sqrt(1 + 4 * t_mom * t_mom)) / 2
        beta = (t_mom - 1) / t_next if self.accelerate else 0.0
        if beta > 0:
            YU = np.hstack([(1 + beta) * US, -beta * self.US_old])
            YV = np.hstack([V, self.V_old])
        else:
            YU, YV = US, V
        US_new, V_new = self.prox(YU, YV, V)
        f_new = self.objective(US_new, V_new)
        if beta > 0 and not f_new <= self.f_cur:
            # the momentum step went uphill: restart from a plain (monotone) step
            t_next = 1.0
            US_new, V_new = self.prox(US, V, V)
            f_new = self.objective(US_new, V_new)
        # ||Z_new - Z||^2 and ||Z||^2 from the factors (no n x d product)
        old2 = float(np.sum((US.T @ US) * (V.T @ V)))
        new2 = float(np.sum((US_new.T @ US_new) * (V_new.T @ V_new)))
        cross = float(np.sum((US.T @ US_new) * (V.T @ V_new)))
        diff2 = max(old2 + new2 - 2 * cross, 0.0)
        change = np.sqrt(diff2 / old2) if old2 > 0 else (np.inf if new2 > 0 else 0.0)
        self.US_old, self.V_old = US, V
        self.US, self.V, self.f_cur, self.t_mom = US_new, V_new, f_new, t_next
        self.stage_converged = change < self.stage_tol
        return {
            "lam": self.lam,
            "rel_change": change if old2 > 0 or not new2 > 0 else FROM_ZERO,
            "rank": US_new.shape[1],
            "objective": f_new,
        }

    def end_stage(self, n_iter):
        super().end_stage(n_iter)
        if self.keep_path:
            self.path.append(
                FactorResult(
                    shape=(self.n, self.d),
                    n_iter=n_iter,
                    converged=self.stage_converged,
                    elapsed=time.perf_counter() - self._t_stage,
                    method="softimpute",
                    params={"lam": self.lam},
                    U=self.US.copy(),
                    V=self.V.copy(),
                )
            )

    def result(self, n_iter):
        return FactorResult(
            shape=(self.n, self.d), n_iter=n_iter, method="softimpute", U=self.US, V=self.V
        )


@scale_free("complete", {"lam": 1, "objective": 2})
@fill_doc
@iterative
def soft_impute_complete(
    X,
    *,
    lam: float | None = None,
    lam_ratio: float = 1e-4,
    n_lams: int = 20,
    max_rank: int | None = None,
    tol: float = 1e-5,
    path_tol: float | None = None,
    max_iter: int = 1000,
    accelerate: bool = False,
    solver: str = "auto",
    shape=None,
    return_path: bool = False,
    random_state=0,
    loop: dict,
) -> FactorResult:
    """Nuclear-norm regularized completion along a ``lam`` path with warm starts.

    Parameters
    ----------
    X : completion input (MatrixCompletion, ndarray with NaN, scipy.sparse or triples)
    lam : float >= 0, optional
        Solve at this single ``lam`` (absolute units of the data). If None, follow a
        geometric path from ``lambda_max`` (the smallest ``lam`` with a zero solution)
        down to ``lam_ratio * lambda_max`` in ``n_lams`` steps, warm starting each.
    lam_ratio : float in (0, 1], default=1e-4
        End of the path relative to ``lambda_max``.
    n_lams : int, default=20
        Number of path points.
    max_rank : int, optional
        Rank restriction: keep at most this many singular values (the rank-restricted
        variant; the problem becomes non-convex).
    tol : float, default=1e-5
        At the last ``lam``, stop when ``||Z_k - Z_{k-1}||_F / ||Z_{k-1}||_F < tol``.
        The step of plain SoftImpute shrinks slowly at small ``lam`` (its rate approaches
        1), so a small step is not a small distance to the solution: with
        ``accelerate=False`` judge a recovery only with a ``tol`` well below the error
        that matters (e.g. 1e-8 for a 1e-3 error).
    path_tol : float, optional
        The same criterion at the earlier ``lam`` of the path, whose solutions only warm
        start the next one (default ``tol``; e.g. 1e-3 saves most of the path's work).
    max_iter : int, default=1000
        Maximum iterations per ``lam``.
    accelerate : bool, default=False
        Nesterov momentum on the proximal-gradient form of SoftImpute (SoftImpute is the
        proximal gradient method with step 1 on ``1/2 ||P_O(X - Z)||^2``; Toh and Yun
        2010), restarted whenever the objective would increase (O'Donoghue and Candes
        2015), so it never ascends. The same solution at every ``lam`` in far fewer
        iterations when the iteration is slow (small ``lam``, few observations).
    solver : {'auto', 'dense', 'lowrank'}
        Dense SVDs or leading singular triplets of the low-rank + sparse iterate;
        'auto' uses dense when ``min(n, d) < 100``, low-rank otherwise.
    return_path : bool
        Also return the list of results at each ``lam`` of the path.
    random_state : int
        Seed of the iterative SVD's start vectors.
    %(loop)s

    Returns
    -------
    FactorResult or (FactorResult, list of FactorResult)
        The completion ``U @ V.T`` at the last ``lam``; ``history`` holds, per iteration,
        ``lam``, ``rel_change`` (1 for a step from zero), ``rank`` and ``objective``.
    """
    t0 = time.perf_counter()
    check_path_params(lam, lam_ratio, n_lams, tol, max_iter)
    check_scalar(path_tol, "path_tol", low=0, low_inclusive=False, allow_none=True)
    check_bool(accelerate, "accelerate")
    check_option(solver, "solver", ("auto", "dense", "lowrank"))
    prob = as_completion_problem(X, shape)
    n, d = prob.shape
    check_scalar(
        max_rank, "max_rank", kind=numbers.Integral, low=1, high=min(n, d), allow_none=True
    )
    if solver == "auto":
        solver = "dense" if min(n, d) < 100 else "lowrank"
    lams = lam_path(lam, lambda: lambda_max(prob), lam_ratio, n_lams)
    method = _SoftImpute(
        prob,
        lams,
        tol=tol,
        path_tol=path_tol,
        max_iter=max_iter,
        max_rank=max_rank,
        accelerate=accelerate,
        solver=solver,
        rng=check_random_state(random_state),
        keep_path=return_path,
    )
    run = run_path(method, **loop)
    params = {"lam": lams[-1], "lam_ratio": lam_ratio, "n_lams": len(lams), "max_rank": max_rank}
    params.update(solver=solver, tol=tol, path_tol=method.path_tol, accelerate=accelerate)
    history = ("lam", "rel_change", "rank", "objective")
    res = finished(method.result(run.n_iter), run, t0, history=history, params=params)
    return (res, method.path) if return_path else res
