"""Alternating least squares (ALS) for matrix completion.

The completion is held as factors, ``Z = U V^T`` with ``U`` (n x r) and ``V`` (d x r), and
the iteration minimizes

    F(U, V) = sum_{(i, j) in Omega} (x_ij - u_i . v_j)^2 + lam_abs (||U||_F^2 + ||V||_F^2)

by exact block minimization: every column ``v_j`` solves the ridge regression of its observed
entries on the rows' factors, ``(U_j^T U_j + lam_abs I) v_j = U_j^T x_j`` with ``U_j`` the rows
of ``U`` observed in column ``j``, then every row ``u_i`` the same on ``V`` (so ``F`` never
increases). Between the two, the pair is balanced (:func:`balance`: the same product with
the smallest ridge term), which removes plain ALS's slow drift along the split of the
product (without it ``lam = 1e-3`` took hundreds of iterations instead of ~25).

Each side is a few batches, no Python loop over lines: the lines (CSR rows or CSC columns
of the observations) are bucketed by their number of observations and padded, each batch's
Gram matrices ``F_i^T F_i`` come from one batched matrix product, and its ``r x r`` systems
are solved stacked (:class:`Lines`).

The ridge: at balanced factors ``||U||_F^2 + ||V||_F^2 = 2 ||U V^T||_*``, so ``F`` is twice
``1/2 ||P_Omega(X - Z)||^2 + lam_abs ||Z||_*`` restricted to rank ``r``, whose solution is
zero once ``lam_abs >= ||P_Omega X||_2`` (SoftImpute's ``lambda_max``). The relative ``lam``
is measured against that: ``lam_abs = lam * ||P_Omega X||_2``. On well-spread observations
(fraction ``p``) ``||P_Omega X||_2 ~ p sigma_1``, and the ridge shrinks the ``k``-th singular
value by about ``lam_abs / p``, i.e. by ``lam * sigma_1 / sigma_k`` relative: ``lam = 1e-2``
is a 1 % shrinkage of the leading component. The result is scale-equivariant: ``X -> s X``
gives ``Z -> s Z`` (the start is scaled the same way).
"""

from __future__ import annotations

import numbers
import time

import numpy as np

from .._docs import fill_doc
from .._scaling import scale_free
from .._validation import check_random_state, check_scalar
from ..identifiability import certify_recovery, factor_singular_values, factors_unseen
from ..iteration import Method, Stop, iterate, iterative
from ..problems import MatrixCompletion, as_completion_problem
from ..results import FactorResult
from ._params import check_loop, finished
from ._rowsolve import _bucket_edges
from .softimpute import _observed_of_factors, lambda_max

__all__ = ["als_complete", "ALS", "DEFAULT_RANKS"]

DEFAULT_RANKS = (1, 2, 4, 8, 16, 32)
# Candidate ranks whose held-out RMSE is within this fraction of the lowest count as tied
# (the smallest wins): past the true rank noiseless data fit equally well, to ~1e-4, and the
# pick among them would be chance.
_TIE = 0.01
# Largest number of factor entries gathered at once into padded blocks (32 MiB in float64).
_MAX_ELEMENTS = 2**22


class Lines:
    """The observations of one side grouped by line (CSR for rows, CSC for columns), with
    every line's ridge solve (:meth:`solve`).

    Lines are bucketed by their number of observations (geometric bucket sizes, as in
    :class:`~linrfm.solvers._rowsolve.LineSolver`) and padded to the bucket's size; a padded
    slot points at an extra zero row of the factor with a zero value, so it adds nothing.
    A batch of lines then gathers one ``(m, c, r)`` block and forms its Gram matrices and
    right-hand sides with one batched matrix product.

    Parameters
    ----------
    indptr : ndarray, shape (n_lines + 1,)
        Start of each line's observations.
    idx : ndarray, shape (n_obs,)
        Index on the other side (the factor's row) of each observation.
    values : ndarray, shape (n_obs,)
        Observed value of each observation.
    """

    def __init__(self, indptr, idx, values):
        self.indptr, self.idx, self.values = indptr, idx, values
        self.n_lines = indptr.size - 1
        self._batches: dict = {}

    @classmethod
    def rows_of(cls, prob: MatrixCompletion) -> Lines:
        return cls(prob.indptr, prob.cols, prob.values)

    @classmethod
    def cols_of(cls, prob: MatrixCompletion) -> Lines:
        order = np.argsort(prob.cols, kind="stable")
        indptr = np.concatenate([[0], np.cumsum(prob.col_counts)])
        rows = prob.rows[order].astype(_index_dtype(prob.shape[0]), copy=False)
        return cls(indptr, rows, prob.values[order])

    def batches(self, rank: int, pad: int) -> list:
        """``(lines, other index, values)`` of every padded batch for factors of width
        ``rank``; ``pad`` is the padded slots' index (the factor's extra zero row)."""
        key = (rank, pad)
        if key not in self._batches:
            # one width's batches at a time: the polish steps its rank down, and a second
            # set beside the first doubled its memory (20 M observations: ~0.5 GB a set)
            self._batches.clear()
            counts = np.diff(self.indptr)
            nonempty = np.flatnonzero(counts)
            idx = np.append(self.idx, pad).astype(_index_dtype(pad), copy=False)
            vals = np.append(self.values, 0.0)
            out = []
            if nonempty.size:
                edges = _bucket_edges(int(counts.max()))
                size_of = edges[np.searchsorted(edges, counts[nonempty])]
                for size in np.unique(size_of):
                    members = nonempty[size_of == size]
                    step = max(1, _MAX_ELEMENTS // (int(size) * (rank + 1)))
                    offs = np.arange(size)[None, :]
                    for s in range(0, members.size, step):
                        mem = members[s : s + step]
                        pos = self.indptr[mem][:, None] + offs
                        pos = np.where(offs >= counts[mem][:, None], self.idx.size, pos)
                        out.append((mem, idx[pos], vals[pos]))
            self._batches[key] = out
        return self._batches[key]

    def release(self) -> None:
        """Drop the padded batches (the next :meth:`solve` builds them again)."""
        self._batches.clear()

    def solve(self, F: np.ndarray, lam_abs: float) -> np.ndarray:
        """Every line's ridge solution ``(F_i^T F_i + lam_abs I)^-1 F_i^T x_i``, stacked.

        ``F_i = F[idx of line i]``. Per batch: one gather, one batched product for the
        Gram matrices, one batched solve (no loop over lines). A line without observations
        gets zero. With ``lam_abs = 0`` a system may be singular (fewer independent
        observations than ``r``): the batch then takes the minimum-norm solutions (a
        batched pseudo-inverse), as does a batch whose LU meets an exactly zero pivot.
        """
        k = F.shape[1]
        Fx = np.vstack([F, np.zeros((1, k))])
        out = np.zeros((self.n_lines, k))
        diag = np.arange(k)
        for mem, other, y in self.batches(k, F.shape[0]):
            Fb = Fx[other]  # (m, c, k)
            FbT = Fb.transpose(0, 2, 1)
            G = FbT @ Fb
            rhs = FbT @ y[..., None]
            G[:, diag, diag] += lam_abs
            out[mem] = _solve_batch(G, rhs, lam_abs)
        return out


def _index_dtype(largest: int):
    """int32 for indices up to ``largest`` when it fits (half the bytes of the padded
    batches' indices: 20 M observations hold ~200 MB less per side), else int64."""
    return np.int32 if largest < np.iinfo(np.int32).max else np.int64


def _solve_batch(G, rhs, lam_abs):
    """``G^-1 rhs`` for a stack of PSD systems: LU when the ridge makes them definite;
    the minimum-norm solutions (a batched pseudo-inverse) without one, or when a ridge
    below the rounding of ``G`` leaves a pivot exactly zero (met by the polish's 1e-14
    ridge at 1000^2, rho = 1.5: "Singular matrix" from the batched LU)."""
    if lam_abs > 0:
        try:
            return np.linalg.solve(G, rhs)[..., 0]
        except np.linalg.LinAlgError:
            pass
    return (np.linalg.pinv(G, hermitian=True) @ rhs)[..., 0]


def factor_change(U0, V0, U1, V1) -> float:
    """``||U1 V1^T - U0 V0^T||_F / ||U0 V0^T||_F`` without an ``n x d`` product.

    The difference is ``[U1, -U0] [V1, V0]^T``; with ``[U1, -U0] = Q_a R_a`` and
    ``[V1, V0] = Q_b R_b`` its norm is ``||R_a R_b^T||_F``, exact to rounding of the
    difference itself (a Gram-matrix expansion would cancel, losing changes below ~1e-8).
    """
    Ra = np.linalg.qr(np.hstack([U1, -U0]), mode="r")
    Rb = np.linalg.qr(np.hstack([V1, V0]), mode="r")
    diff = float(np.linalg.norm(Ra @ Rb.T))
    old = float(np.sqrt(max(np.sum((U0.T @ U0) * (V0.T @ V0)), 0.0)))
    if old == 0.0:
        return 0.0 if diff == 0.0 else 1.0
    return diff / old


def balance(U: np.ndarray, V: np.ndarray):
    """The factors of ``U V^T`` with the smallest ``||U||_F^2 + ||V||_F^2``: ``P sqrt(S)``,
    ``Q sqrt(S)`` for the SVD ``U V^T = P S Q^T`` (from QRs of the thin factors).

    The ridge term is the only part of ``F`` that sees how the product is split, and its
    curvature along the split (``U A``, ``V A^-T``) is only ``O(lam_abs)``: plain ALS moves
    there at a rate ``1 - O(lam)``, hundreds of iterations at ``lam = 1e-3``, while the
    product itself has long settled. Balancing solves that direction exactly; ``F`` still
    never increases, and the fixed points are the same (a stationary point is balanced).
    """
    Qu, Ru = np.linalg.qr(U)
    Qv, Rv = np.linalg.qr(V)
    W, s, Zt = np.linalg.svd(Ru @ Rv.T)
    root = np.sqrt(s)
    return Qu @ (W * root), Qv @ (Zt.T * root)


class ALS(Method):
    """ALS on one completion problem: state ``(U, V)``; one iteration solves the columns,
    balances the pair (:func:`balance`), then solves the rows.

    ``U`` always holds the row solve on ``V`` (the start ``V0`` is followed by a row solve
    here), so the iterate is the pair after a full sweep.
    """

    name = "als"
    state = ("U", "V")

    def __init__(self, prob: MatrixCompletion, V0: np.ndarray, lam_abs: float, tol: float):
        self.prob = prob
        self.lam_abs = float(lam_abs)
        self.rows = Lines.rows_of(prob)
        self.cols = Lines.cols_of(prob)
        self.norm_obs = float(np.linalg.norm(prob.values))
        self.stop = Stop(tol, key="rel_change")
        self.V = V0
        self.U = self.rows.solve(V0, self.lam_abs)
        self.params: dict = {}

    def step(self, it: int) -> dict:
        U0, V0 = self.U, self.V
        V = self.cols.solve(U0, self.lam_abs)
        self.V = balance(U0, V)[1]
        self.U = self.rows.solve(self.V, self.lam_abs)
        pred = _observed_of_factors(self.U, self.V, self.prob.rows, self.prob.cols)
        res = float(np.linalg.norm(pred - self.prob.values))
        return {
            "rel_change": factor_change(U0, V0, self.U, self.V),
            "rel_residual": res / self.norm_obs if self.norm_obs > 0 else res,
        }

    def certify(self, history: dict):
        """The rank count of :func:`~linrfm.identifiability.certify_recovery`; the
        residual only without a ridge (``lam > 0`` fits the observations only roughly)."""
        residual = history["rel_residual"][-1] if self.lam_abs == 0 else 0.0
        s = factor_singular_values(self.U, self.V)
        unseen = factors_unseen(self.prob, self.U, self.V)
        return certify_recovery(
            s, self.prob.shape, self.prob.n_obs, residual, blocks=self.prob.n_blocks, unseen=unseen
        )

    def result(self, n_iter: int) -> FactorResult:
        return FactorResult(
            shape=self.prob.shape,
            n_iter=n_iter,
            method="als",
            params=self.params,
            U=self.U,
            V=self.V,
        )


def _start(prob: MatrixCompletion, rank: int, spectral: float, init_scale: float, rng):
    """The random start ``V0``: Gaussian, each column of squared norm ~ ``sigma_1`` estimated
    as ``||P_Omega X||_2 / p`` (balanced factors' scale; ``X -> s X`` scales it by ``sqrt s``).
    """
    n = prob.shape[0]
    scale = init_scale * np.sqrt(spectral * n / prob.n_obs)
    return scale * rng.standard_normal((prob.shape[1], rank))


def _fit(prob, rank, lam, tol, max_iter, init_scale, rng, **loop):
    """One ALS fit at a fixed rank; returns the method (its final state) and the run."""
    spectral = lambda_max(prob)
    method = ALS(prob, _start(prob, rank, spectral, init_scale, rng), lam * spectral, tol)
    method.params = {"rank": rank, "lam": lam, "lam_abs": lam * spectral, "tol": tol}
    return method, iterate(method, max_iter=max_iter, **loop)


def _select_rank(prob, ranks, val_fraction, lam, tol, max_iter, init_scale, rng):
    """The smallest rank whose held-out RMSE is within ``_TIE`` of the lowest; returns
    (rank, {rank: rmse})."""
    fit, held = prob.split(val_fraction, random_state=rng)
    n, d = prob.shape
    usable = [r for r in ranks if r * (n + d - r) < fit.n_obs]
    if not usable:
        raise ValueError(
            f"No rank in ranks={list(ranks)} has fewer degrees of freedom r (n + d - r) "
            f"than the {fit.n_obs} observations left for fitting; pass rank or smaller ranks."
        )
    scores = {}
    for r in usable:
        method, _ = _fit(fit, r, lam, tol, max_iter, init_scale, rng, warn=False)
        pred = _observed_of_factors(method.U, method.V, held.rows, held.cols)
        scores[r] = float(np.sqrt(np.mean((pred - held.values) ** 2)))
    best = min(scores.values())
    return min(r for r in scores if scores[r] <= (1 + _TIE) * best), scores


def _check_ranks(ranks, limit):
    ranks = DEFAULT_RANKS if ranks is None else ranks
    if isinstance(ranks, numbers.Integral) or len(ranks) == 0:
        raise ValueError(f"The 'ranks' parameter must be a non-empty sequence; got {ranks!r}.")
    for r in ranks:
        check_scalar(r, "ranks", kind=numbers.Integral, low=1)
    # the default list is capped at the matrix's size; a given list is checked against it
    if ranks is DEFAULT_RANKS:
        return sorted({min(r, limit) for r in ranks})
    for r in ranks:
        check_scalar(r, "ranks", kind=numbers.Integral, low=1, high=limit)
    return sorted(set(ranks))


@scale_free("complete", {"lam_abs": 1})
@fill_doc
@iterative
def als_complete(
    X,
    *,
    rank: int | None = None,
    lam: float = 1e-2,
    tol: float = 1e-6,
    max_iter: int = 100,
    shape=None,
    val_fraction: float = 0.1,
    ranks=None,
    init_scale: float = 1.0,
    random_state=None,
    loop: dict,
) -> FactorResult:
    """Complete a partially observed matrix by alternating least squares, ``X ~ U V^T``.

    Parameters
    ----------
    X : MatrixCompletion, ndarray with NaN for missing, scipy.sparse matrix or
        ``(rows, cols, values)`` tuple
        The observed entries (with a tuple, pass ``shape``).
    rank : int in [1, min(n, d)], optional
        Width of the factors. None chooses it on held-out observations (below).
    lam : float >= 0, default=1e-2
        Ridge on both factors, relative: ``lam_abs = lam * ||P_Omega X||_2`` (the spectral
        norm of the observed entries, zeros elsewhere; ``lam >= 1`` gives the zero
        completion). It shrinks the k-th singular value by about ``lam * sigma_1 / sigma_k``
        relative to it (module docstring); small values (1e-8) recover noiseless data
        exactly when the rank is right, larger ones regularize noisy data. The result is
        scale-equivariant: ``X -> s X`` gives ``s`` times the completion.
    tol : float > 0, default=1e-6
        Stop when the relative change of the completion ``U V^T`` in one iteration,
        ``||Z_k - Z_{k-1}||_F / ||Z_{k-1}||_F`` (over all entries), falls below ``tol``.
    max_iter : int, default=100
        Maximum number of iterations (each solves every column, then every row).
    shape : tuple of int, optional
        Shape of the matrix, required for triple input.
    val_fraction : float in (0, 1), default=0.1
        With ``rank=None``: fraction of the observations held out (chosen with
        ``random_state``) to score each candidate rank.
    ranks : sequence of int, optional
        With ``rank=None``: candidate ranks (default 1, 2, 4, 8, 16, 32, capped at
        ``min(n, d)``). Those with as many degrees of freedom ``r (n + d - r)`` as the
        observations left for fitting are skipped. Each is fitted on the rest; the one of
        lowest held-out RMSE is refitted on all observations, the smallest rank winning
        among those within 1 % of the lowest (past the true rank, noiseless data fit
        equally well). Nothing unobserved is ever looked at.
    init_scale : float > 0, default=1.0
        The start is ``V0 = init_scale * sqrt(||P_Omega X||_2 n / |Omega|) * N(0, 1)``:
        columns of the leading singular value's size at balanced factors.
    random_state : None, int or numpy.random.Generator
        Seeds the start and the held-out split.
    %(loop)s

    Returns
    -------
    FactorResult
        ``U``, ``V`` (the completion is ``U @ V.T``), ``n_iter``, ``converged``,
        ``history`` (``rel_change`` and ``rel_residual = ||P_Omega(U V^T - X)|| /
        ||P_Omega X||`` per iteration), ``params`` (``rank``, ``lam``, ``lam_abs``, and
        with a selection ``rank_scores``: held-out RMSE per candidate rank).

    %(warns)s

    Raises
    ------
    ValueError
        For a bad parameter (named in the message) or non-finite observations.
    ModelFitError
        When the iterate becomes non-finite.
    """
    t0 = time.perf_counter()
    check_scalar(lam, "lam", low=0)
    check_loop(tol, max_iter)
    check_scalar(
        val_fraction, "val_fraction", low=0, high=1, low_inclusive=False, high_inclusive=False
    )
    check_scalar(init_scale, "init_scale", low=0, low_inclusive=False)
    rng = check_random_state(random_state)
    prob = as_completion_problem(X, shape)
    limit = min(prob.shape)
    check_scalar(rank, "rank", kind=numbers.Integral, low=1, high=limit, allow_none=True)
    if loop["resume"] is not None:
        saved = loop["resume"].state["U"].shape[1]
        if rank is not None and rank != saved:
            raise ValueError(f"rank={rank} does not match the checkpoint's rank {saved}.")
        rank = saved
    extra = {}
    if rank is None:
        candidates = _check_ranks(ranks, limit)
        rank, scores = _select_rank(
            prob, candidates, val_fraction, lam, tol, max_iter, init_scale, rng
        )
        extra = {"rank_scores": scores, "val_fraction": val_fraction}
    method, run = _fit(
        prob,
        rank,
        lam,
        tol,
        max_iter,
        init_scale,
        rng,
        **loop,
    )
    method.params.update(extra, init_scale=init_scale, max_iter=max_iter)
    return finished(method.result(run.n_iter), run, t0)
