"""Passes over a completion's observations in blocks, and Riemannian Gauss-Newton on the
rank-``r`` matrices with the error estimate it gives (the polish's second stage,
:mod:`.polish`).

Every pass takes the observations a block of rows at a time (``_BLOCK_BYTES`` of
temporaries): at 20 M observations a single length-``m`` vector is 160 MB, and the
polish's peak was set by them.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import LinearOperator, cg

# sweeps and steps end once the observations are reproduced to this relative residual
_TARGET = 1e-12

# Gauss-Newton after ALS has stalled below this relative residual (the early attempts:
# below _GN_GATE_EARLY, so a wrong rank tried at iteration 1 of a 20 M-observation fit
# costs no conjugate gradients), its steps, CG's tolerance and iterations per step
_GN_GATE = 1e-4
_GN_GATE_EARLY = 1e-6
_GN_STEPS = 8
_GN_CG_TOL = 1e-10
_GN_CG_ITER = 300
# the work Gauss-Newton may spend, in multiply-adds of its passes over the observations
# (a CG iteration is one pass, ~4 m r): 300 iterations up to m r = 2.5e6, fewer above (never
# fewer than 30), and 3 steps above m r = 1e8, so a 20 M-observation fit whose ALS stalls
# at its stop spends minutes there, not hours
_GN_WORK = 3e9


def _gn_budget(m: int, r: int) -> tuple[int, int]:
    """``(steps, CG iterations a step)`` of Gauss-Newton on ``m`` observations, rank ``r``."""
    iters = int(np.clip(_GN_WORK / (4.0 * m * r), 30, _GN_CG_ITER))
    return (_GN_STEPS if m * r <= 1e8 else 3), iters


# bytes of the temporaries of one block of rows in factors_as_kernel
_BLOCK_BYTES = 2**26


def _fitted_blocks(P, Q, prob):
    """``(block, P_O(P Q^T)[block])`` over blocks of observations (no ``m x r`` gather
    whole)."""
    step = max(1, _BLOCK_BYTES // (16 * P.shape[1] + 8))
    for s in range(0, prob.n_obs, step):
        block = slice(s, s + step)
        yield block, np.einsum("ij,ij->i", P[prob.rows[block]], Q[prob.cols[block]])


def _residual(P, Q, prob) -> float:
    """``||P_O(P Q^T) - y||``, summed by blocks (no length-``m`` temporaries: they were
    the polish's peak at 20 M observations)."""
    total = sum(
        float(np.sum((fitted - prob.values[block]) ** 2))
        for block, fitted in _fitted_blocks(P, Q, prob)
    )
    return float(np.sqrt(total))


def _line_grams(F: np.ndarray, indptr: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """Every line's Gram matrix ``F[O_i]^T F[O_i]`` (lines in CSR form by ``indptr`` and
    ``idx``; zero for a line without observations), as ``r`` sparse products: column ``k``
    of every Gram is ``S @ (F[:, k] * F)``, ``S`` the lines' 0/1 pattern, taken a block of
    lines at a time. (The outer products of every observation, summed by ``reduceat``, took
    1.2 s at 1 M observations and rank 10; this takes a tenth.)"""
    r, size = F.shape[1], F.shape[0]
    G = np.empty((indptr.size - 1, r, r))
    blocks = list(_row_blocks(indptr, 8 * r + 8))
    for k in range(r):
        Fk = F[:, k, None] * F
        for a, b in blocks:
            lo, hi = indptr[a], indptr[b]
            S = sp.csr_matrix((np.ones(hi - lo), idx[lo:hi], indptr[a : b + 1] - lo), (b - a, size))
            G[a:b, k] = S @ Fk
    return G


def _line_preconditioner(F: np.ndarray, indptr: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """``L_i^{-1}`` for every line's Gram matrix ``F[O_i]^T F[O_i] + s_i I = L_i L_i^T``
    (:func:`_line_grams`; ``s_i`` a 1e-12 share of the trace, so a rank-deficient line still
    gives an invertible preconditioner), factored in blocks of lines: one ``n x r x r`` array
    and a block's temporaries."""
    G = _line_grams(F, indptr, idx)
    r = F.shape[1]
    step = max(1, _BLOCK_BYTES // (8 * r * r * 3))
    for a in range(0, G.shape[0], step):
        g = G[a : a + step]
        shift = 1e-12 * np.trace(g, axis1=1, axis2=2) / r + np.finfo(float).tiny
        g += shift[:, None, None] * np.eye(r)
        g[:] = np.linalg.inv(np.linalg.cholesky(g))
    return G


def _adjoint_pass(prob, left, right, U, V, misfit=False):
    """``(W V, W^T U)`` for the sparse ``W = P_O(left right^T)`` (``misfit``: ``W = y -
    P_O(left right^T)``), in blocks of rows: no length-``m`` vector is ever whole (at 20 M
    observations each was 160 MB, and the LSQR this replaced held six)."""
    n, r = U.shape
    d = V.shape[0]
    gu, gv = np.empty((n, r)), np.zeros((d, r))
    ip = prob.indptr
    for a, b in _row_blocks(ip, 16 * (left.shape[1] + r) + 16):
        lo, hi = ip[a], ip[b]
        cols = prob.cols[lo:hi]
        f = np.einsum("ij,ij->i", left[prob.rows[lo:hi]], right[cols])
        if misfit:
            f = np.subtract(prob.values[lo:hi], f, out=f)
        W = sp.csr_matrix((f, cols, ip[a : b + 1] - lo), shape=(b - a, d))
        gu[a:b] = W @ V
        gv += W.T @ U[a:b]
    return gu, gv


def _tangent_solver(prob, P, Q, by_col):
    """``(solve, U, V)``: the least-squares fit in the tangent space of the rank-``r``
    matrices at ``X = P Q^T`` (``U``, ``V`` orthonormal bases of the factors' column
    spaces), set up once for any right-hand side: ``solve(left, right, iter_lim, misfit)``
    returns the ``(A, B)`` whose ``A V^T + U B^T`` best fits the samples of ``left
    right^T`` (``misfit``: of ``y - P_O(left right^T)``). Preconditioned by every row's
    and column's Gram matrix (the blocks ALS solves with): with orthonormal bases its
    conditioning is the sampling's on the tangent space, not the matrix's. ``by_col`` is
    ``(indptr, rows)`` of the observations grouped by column.

    Solved by conjugate gradients on the normal equations ``J^T J z = J^T b`` (``J`` the
    sampled tangent map, preconditioned): a product is one pass over the observations in
    blocks (:func:`_adjoint_pass`), and the iteration holds vectors of the tangent space's
    size, ``(n + d) r``, not of the observations'. The preconditioned normal matrix is well
    conditioned where the sampling is; where it is not, the correction is large and its
    exact size does not matter (:func:`_error_estimate`).
    """
    n, r = P.shape
    d = Q.shape[0]
    U, V = np.linalg.qr(P)[0], np.linalg.qr(Q)[0]
    Li_row = _line_preconditioner(V, prob.indptr, prob.cols)
    Li_col = _line_preconditioner(U, *by_col)

    def unpack(z):
        z = np.asarray(z).ravel()
        A = np.einsum("ikj,ik->ij", Li_row, z[: n * r].reshape(n, r))
        B = np.einsum("ikj,ik->ij", Li_col, z[n * r :].reshape(d, r))
        return A, B

    def pack(gu, gv):
        ga = np.einsum("ikj,ij->ik", Li_row, gu)
        gb = np.einsum("ikj,ij->ik", Li_col, gv)
        return np.concatenate([ga.ravel(), gb.ravel()])

    def normal(z):
        A, B = unpack(z)
        # P_O(A V^T + U B^T) = P_O([A U] [V B]^T), then its adjoint, block by block
        return pack(*_adjoint_pass(prob, np.hstack([A, U]), np.hstack([V, B]), U, V))

    size = (n + d) * r
    op = LinearOperator((size, size), normal, dtype=float)

    def solve(left, right, iter_lim, misfit=False):
        rhs = pack(*_adjoint_pass(prob, left, right, U, V, misfit=misfit))
        return unpack(cg(op, rhs, rtol=_GN_CG_TOL, atol=0.0, maxiter=iter_lim)[0])

    return solve, U, V


def _tangent_step(prob, P, Q, by_col, iter_lim):
    """``(A, B, U, V)``: the least-squares correction ``A V^T + U B^T`` in the tangent space
    at ``X = P Q^T`` that best fits the residual ``y - P_O(X)`` (:func:`_tangent_solver`)."""
    solve, U, V = _tangent_solver(prob, P, Q, by_col)
    return (*solve(P, Q, iter_lim, misfit=True), U, V)


def _gauss_newton(prob, P, Q, norm, by_col):
    """Riemannian Gauss-Newton on the rank-``r`` matrices from ``P Q^T``: the factors, their
    relative residual and the steps.

    A step adds the tangent correction of :func:`_tangent_step` and truncates
    ``X + A V^T + U B^T`` (rank <= 2r) back to rank ``r``. Gauss-Newton converges
    quadratically on an exact low-rank fit where ALS's sweeps contract linearly and stall.
    A step that does not lower the residual ends it.
    """
    r = P.shape[1]
    res, steps = _residual(P, Q, prob) / norm, 0
    max_steps, iter_lim = _gn_budget(prob.n_obs, r)
    for _ in range(max_steps):
        A, B, U, V = _tangent_step(prob, P, Q, by_col, iter_lim)
        # X + A V^T + U B^T = [P (Q^T V) + A, U] [V, B]^T, truncated to rank r by two thin QRs
        Q1, R1 = np.linalg.qr(np.hstack([P @ (Q.T @ V) + A, U]))
        Q2, R2 = np.linalg.qr(np.hstack([V, B]))
        u, s, vt = np.linalg.svd(R1 @ R2.T)
        root = np.sqrt(s[:r])
        P_new, Q_new = Q1 @ (u[:, :r] * root), Q2 @ (vt[:r].T * root)
        res_new = _residual(P_new, Q_new, prob) / norm
        if not res_new < res:
            break
        P, Q, res, steps = P_new, Q_new, res_new, steps + 1
        if res < _TARGET:
            break
    return P, Q, res, steps


def _error_estimate(prob, P, Q, by_col, tangent=None) -> float:
    """How far the data leave a fit ``P Q^T`` free to move: the relative size of the
    Gauss-Newton correction ``||A V^T + U B^T||_F / ||P Q^T||_F`` (:func:`_tangent_step`).

    A residual alone is not an error: a 300 x 300, rank-4 fit of condition 1e10
    reproduced the observations to 1.7e-10 yet was 2.3e-5 from the truth, its small
    directions barely seen by the data. The correction divides the residual by the
    sampling's conditioning on the tangent space, and measured the error within ~1.3x on
    every problem tried (2.8e-5 there; 5e-13 to 4e-12 on recovered ones). ``tangent``: the
    :func:`_tangent_solver` at ``P Q^T`` when the caller has built it.
    """
    solve, U, V = tangent or _tangent_solver(prob, P, Q, by_col)
    A, B = solve(P, Q, _gn_budget(prob.n_obs, P.shape[1])[1], misfit=True)
    size = _tangent_norm(A, B, U, V)
    whole = np.linalg.norm(np.linalg.qr(P, mode="r") @ np.linalg.qr(Q, mode="r").T)
    return float(size / whole) if whole > 0 else 0.0


def _tangent_norm(A, B, U, V) -> float:
    """``||A V^T + U B^T||_F = ||[A U] [V B]^T||_F`` by two thin QRs (never ``n x d``)."""
    return float(np.linalg.norm(
        np.linalg.qr(np.hstack([A, U]), mode="r") @ np.linalg.qr(np.hstack([V, B]), mode="r").T
    ))  # fmt: skip


def _unseen_share(prob, P, Q, by_col, tangent=None) -> float:
    """The share of a random direction of the rank-``r`` matrices at ``P Q^T`` that the
    observations do not give back: the samples of a random tangent matrix ``E0 = A0 V^T +
    U B0^T`` are fitted by :func:`_tangent_solver` (``tangent``, when the caller has built
    it), and ``||E - E0|| / ||E0||`` returned.

    The error estimate divides the residual by the sampling's conditioning, so an exact fit
    scores 0 even where other exact fits exist: a rank-2 matrix observed in two diagonal
    blocks linked by one entry has a family of them (one block's factors turned by ``G``,
    the other's by ``G^-1``, ``G`` keeping the link), and the polish accepted one 0.2 - 1.2
    from the truth. Where every direction of the tangent space moves some observation the
    fit returns ``E0`` to CG's tolerance (1e-9 and below); a direction the data do not see
    is lost whole, ~``1 / sqrt((n + d) r)`` of a random ``E0``.
    """
    n, r = P.shape
    rng = np.random.default_rng(0)
    A0, B0 = rng.standard_normal((n, r)), rng.standard_normal((Q.shape[0], r))
    solve, U, V = tangent or _tangent_solver(prob, P, Q, by_col)
    A, B = solve(np.hstack([A0, U]), np.hstack([V, B0]), _gn_budget(prob.n_obs, r)[1])
    return _tangent_norm(A - A0, B - B0, U, V) / _tangent_norm(A0, B0, U, V)


def _block_grams(F: np.ndarray, indptr: np.ndarray, idx: np.ndarray, a: int, b: int):
    """``(Fo, G)`` for lines ``a:b`` (CSR form by ``indptr`` and ``idx``): each of their
    observations' row of ``F``, and every line's Gram matrix ``F[O_i]^T F[O_i]`` (zero for
    a line without observations)."""
    lo, hi = indptr[a], indptr[b]
    Fo = F[idx[lo:hi]]
    G = np.zeros((b - a, F.shape[1], F.shape[1]))
    seen = np.diff(indptr[a : b + 1]) > 0
    if hi > lo:
        G[seen] = np.add.reduceat(Fo[:, :, None] * Fo[:, None, :], indptr[a:b][seen] - lo)
    return Fo, G


def _row_blocks(indptr: np.ndarray, bytes_per_obs: int):
    """Consecutive row ranges ``(start, stop)`` of about ``_BLOCK_BYTES / bytes_per_obs``
    observations each (at least one row)."""
    n = indptr.size - 1
    step = max(1, _BLOCK_BYTES // bytes_per_obs)
    start = 0
    while start < n:
        stop = int(np.searchsorted(indptr, indptr[start] + step, side="right")) - 1
        stop = min(max(stop, start + 1), n)
        yield start, stop
        start = stop
