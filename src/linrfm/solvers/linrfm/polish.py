"""The polish of a lin-RFM completion on a rank read from its own spectrum.

At a small ridge lin-RFM is IRLS for the rank (Schatten-p with ``p = 2 - 4 alpha``); on an
ill-conditioned matrix its ridge rule converges slowly in the smallest singular directions,
and its stop (a small relative change of the whole iterate) fires while they are still
wrong: on a 200 x 200, rank-3, kappa = 1e4 problem the stop leaves ``||E||_F / sigma_3 ~ 1``
at a relative error of 1e-4. The iterate's top singular subspaces are nonetheless close to
the truth's, and alternating least squares on that rank, started from them, converges to
the exact answer.

The polish uses nothing unobserved. A rank ``r`` is accepted only when it is identifiable
(``r (n + d - r) < m``, fewer degrees of freedom than observations, and every row and
column observed at least ``r`` times) and the rank-``r``
factorization reproduces the observations (relative residual at most ``FIT_TOL``): a
matrix of rank ``r`` fitting ``m > r (n + d - r)`` generic observations is, generically,
the only one. The first rank tried is the iterate's largest spectral gap; when it does not
fit, the next ranks are tried, up to ``MAX_TRIES`` of them. ALS that stalls close to a fit
(relative residual below ``_GN_GATE``; ``_GN_GATE_EARLY`` in the early attempts) is
finished by Riemannian Gauss-Newton (:func:`_gauss_newton`), which converges quadratically
where ALS contracts linearly (1000 x 1000, rank 5, condition 10, rho = 1.5: ALS stalled at
1e-7 to 1e-6, Gauss-Newton reached 6e-15).
An accepted rank is then stepped down while a smaller rank still fits
(:func:`_smallest_rank`): a rank above the truth's can fit exactly and not be unique.
Last, the fit must be pinned down by the data: the Gauss-Newton correction from it
(:func:`_error_estimate`, the residual divided by the sampling's conditioning on the
tangent space) at most ``ERROR_TOL`` of the fit.

When the polish fails at the stop, the lin-RFM method reports the fit not converged
(:meth:`~linrfm.solvers.linrfm.method.LinRFM.certify`): a stationary iterate from
which no identifiable rank reaches the observations is not a recovery.

The polish is tried during the iteration too, not only at its stop: at iterations 1, 2,
4, 8, ... (:func:`due`; deterministic, so a resumed fit repeats the same attempts), each
trying the largest gap's rank only, and the fit ends at the first accepted one. A rank
that reproduces ``m > r (n + d - r)`` observations is the answer whenever the iteration
gets there, so an early acceptance changes only when the answer comes: on the canonical
500 x 500, rank 5, 10,000 entries, the first iterate's top singular vectors already lead
ALS to a relative error of 3e-13 (benchmarks/README.md, "Early polish"). A failed attempt
costs a top-``(r_max + 1)`` spectrum and a few stalled sweeps, at log2 of the iterations.
The coefficient engine, which holds no n x d iterate, takes the spectrum from its AGOP
``B^T B / n`` (its eigenvectors are the iterate's right singular vectors).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import LinearOperator, cg

from ..als import Lines, balance

__all__ = ["polish", "due", "max_identifiable_rank", "factors_as_kernel"]

# a rank is accepted when its factorization reproduces the observations this well, and
# the data pin the fit down this well (_error_estimate, relative)
FIT_TOL = 1e-9
ERROR_TOL = 1e-8
# alternating sweeps per rank, and the ranks tried after the first
MAX_SWEEPS = 200
MAX_TRIES = 4
# a sweep that reduces the residual by less than this factor over 5 sweeps has stalled
_STALL = 0.5
# Anderson mixing depth of the polish's sweeps
_DEPTH = 5
# sweeps end once the observations are reproduced to this relative residual
_TARGET = 1e-12
_RIDGE = 1e-14
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


def max_identifiable_rank(n: int, d: int, m: int) -> int:
    """The largest ``r`` with ``r (n + d - r) < m`` (0 when none)."""
    r = 0
    while r < min(n, d) and (r + 1) * (n + d - r - 1) < m:
        r += 1
    return r


def _top_svd(B: np.ndarray, k: int, rng):
    """The top ``k`` singular triplets of ``B`` (randomized subspace iteration)."""
    n, d = B.shape
    if k >= min(n, d) // 2:
        U, s, Vt = np.linalg.svd(B, full_matrices=False)
        return U[:, :k], s[:k], Vt[:k].T
    Q = np.linalg.qr(B @ rng.standard_normal((d, k + 5)))[0]
    for _ in range(2):
        Q = np.linalg.qr(B @ np.linalg.qr(B.T @ Q)[0])[0]
    Ub, s, Vt = np.linalg.svd(Q.T @ B, full_matrices=False)
    return (Q @ Ub)[:, :k], s[:k], Vt[:k].T


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


def _fit_rank(prob, lines, Q, norm, lam):
    """Unregularized ALS from the right factor ``Q``, Anderson-accelerated: the factors,
    their relative residual and the sweeps.

    A sweep maps ``Q`` to the balanced column solve on ``P = rows(Q)``; Anderson mixing
    (depth ``_DEPTH``) on that fixed-point map is taken when it lowers the residual, the
    plain sweep otherwise (plain ALS contracts only linearly, ~0.8 per sweep).
    """
    rows, cols = lines
    P = rows.solve(Q, lam)
    res = [_residual(P, Q, prob) / norm]
    xs, gs = [], []
    for _ in range(MAX_SWEEPS):
        G = balance(P, cols.solve(P, lam))[1]
        xs, gs = (xs + [Q.ravel()])[-_DEPTH - 1 :], (gs + [G.ravel()])[-_DEPTH - 1 :]
        Q, P, r = _mixed(xs, gs, lambda F: rows.solve(F, lam), prob, norm, G.shape)
        res.append(r)
        if res[-1] < _TARGET or (len(res) > 5 and res[-1] > _STALL * res[-6]):
            break
    return P, Q, res[-1], len(res) - 1


def _mixed(xs, gs, solve_rows, prob, norm, shape):
    """The Anderson step from the last iterates ``xs`` and their images ``gs`` when it
    fits the observations better than the plain step ``gs[-1]``; its factors and residual."""
    plain = gs[-1].reshape(shape)
    P = solve_rows(plain)
    res = _residual(P, plain, prob) / norm
    if len(xs) < 2:
        return plain, P, res
    F = np.stack([g - x for x, g in zip(xs, gs)], axis=1)
    dF, dG = np.diff(F, axis=1), np.diff(np.stack(gs, axis=1), axis=1)
    gamma = np.linalg.lstsq(dF, F[:, -1], rcond=None)[0]
    mix = (gs[-1] - dG @ gamma).reshape(shape)
    P_mix = solve_rows(mix)
    res_mix = _residual(P_mix, mix, prob) / norm
    return (mix, P_mix, res_mix) if res_mix < res else (plain, P, res)


def _line_preconditioner(F: np.ndarray, indptr: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """``L_i^{-1}`` for every line's Gram matrix ``F[O_i]^T F[O_i] + s_i I = L_i L_i^T``
    (lines in CSR form by ``indptr`` and ``idx``; ``s_i`` a 1e-12 share of the trace, so a
    rank-deficient line still gives an invertible preconditioner), built in blocks of
    lines: one ``n x r x r`` array and a block's temporaries (whole, the Gram matrices,
    their shifted copies and factors were four such arrays, 1.5 GB at 500,000 rows)."""
    r = F.shape[1]
    out = np.empty((indptr.size - 1, r, r))
    for a, b in _row_blocks(indptr, 8 * r * (r + 1)):
        G = _block_grams(F, indptr, idx, a, b)[1]
        shift = 1e-12 * np.trace(G, axis1=1, axis2=2) / r + np.finfo(float).tiny
        G += shift[:, None, None] * np.eye(r)
        out[a:b] = np.linalg.inv(np.linalg.cholesky(G))
    return out


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


def _tangent_step(prob, P, Q, by_col, iter_lim):
    """``(A, B, U, V)``: the least-squares correction ``A V^T + U B^T`` in the tangent space
    of the rank-``r`` matrices at ``X = P Q^T`` (``U``, ``V`` orthonormal bases of the
    factors' column spaces) that best fits the residual ``y - P_O(X)``, preconditioned by
    every row's and column's Gram matrix (the blocks ALS solves with). With orthonormal
    bases its conditioning is the sampling's on the tangent space, not the matrix's.
    ``by_col`` is ``(indptr, rows)`` of the observations grouped by column.

    Solved by conjugate gradients on the normal equations ``J^T J z = J^T (y - P_O(X))``
    (``J`` the sampled tangent map, preconditioned): a product is one pass over the
    observations in blocks (:func:`_adjoint_pass`), and the iteration holds vectors of the
    tangent space's size, ``(n + d) r``, not of the observations'. The preconditioned
    normal matrix is well conditioned where the sampling is; where it is not, the
    correction is large and its exact size does not matter (:func:`_error_estimate`).
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
    rhs = pack(*_adjoint_pass(prob, P, Q, U, V, misfit=True))
    op = LinearOperator((size, size), normal, dtype=float)
    z = cg(op, rhs, rtol=_GN_CG_TOL, atol=0.0, maxiter=iter_lim)[0]
    return (*unpack(z), U, V)


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


def _error_estimate(prob, P, Q, by_col) -> float:
    """How far the data leave a fit ``P Q^T`` free to move: the relative size of the
    Gauss-Newton correction ``||A V^T + U B^T||_F / ||P Q^T||_F`` (:func:`_tangent_step`).

    A residual alone is not an error: a 300 x 300, rank-4 fit of condition 1e10
    reproduced the observations to 1.7e-10 yet was 2.3e-5 from the truth, its small
    directions barely seen by the data. The correction divides the residual by the
    sampling's conditioning on the tangent space, and measured the error within ~1.3x on
    every problem tried (2.8e-5 there; 5e-13 to 4e-12 on recovered ones).
    """
    A, B, U, V = _tangent_step(prob, P, Q, by_col, _gn_budget(prob.n_obs, P.shape[1])[1])
    size = np.linalg.norm(np.linalg.qr(np.hstack([A, U]), mode="r") @ np.linalg.qr(
        np.hstack([V, B]), mode="r").T)  # fmt: skip
    whole = np.linalg.norm(np.linalg.qr(P, mode="r") @ np.linalg.qr(Q, mode="r").T)
    return float(size / whole) if whole > 0 else 0.0


def due(iteration: int) -> bool:
    """Whether the iteration's polish is tried before the stop: at 1, 2, 4, 8, ..."""
    return iteration >= 1 and iteration & (iteration - 1) == 0


def polish(prob, B=None, *, gram=None, more: int = MAX_TRIES, random_state=0, early=False):
    """Rank-``r`` ALS from the completion ``B`` of ``prob`` (see the module's text), or
    from its Gram matrix ``gram = B^T B`` when no ``B`` is held.

    The largest gap's rank is tried, then ``more`` ranks above it. Returns ``(P, Q, info)`` with
    ``P Q^T`` the polished completion and ``info`` (rank, sweeps, relative residual, ranks
    tried), or ``(None, None, info)`` when no rank fits. ``early``: an attempt before
    the stop (Gauss-Newton only below ``_GN_GATE_EARLY``).
    """
    n, d = prob.shape
    norm = float(np.linalg.norm(prob.values))
    # a line with fewer than r observations has more than one rank-r completion
    fewest = min(int(prob.row_counts.min()), int(prob.col_counts.min()))
    r_max = min(max_identifiable_rank(n, d, prob.n_obs), fewest)
    info = {"rank": 0, "sweeps": 0, "rel_residual": np.inf, "tried": []}
    if r_max < 1 or norm == 0:
        return None, None, info
    k = min(r_max + 1, min(n, d))
    rng = np.random.default_rng(random_state)
    if B is not None:
        s, V = _top_svd(B, k, rng)[1:]
    else:
        # the Gram matrix's eigenpairs are B's squared singular values and right vectors
        w, V = _top_svd(gram, k, rng)[1:]
        s = np.sqrt(np.maximum(w, 0.0))
    ratio = s[:-1] / np.maximum(s[1:], np.finfo(float).tiny) if k > 1 else np.ones(1)
    first = int(np.argmax(ratio[:r_max])) + 1
    lines = (Lines.rows_of(prob), Lines.cols_of(prob))
    for r in range(first, min(first + more, r_max) + 1):
        root = np.sqrt(s[:r])
        # a ridge 1e-14 times the smallest kept direction's share of a line's Gram
        # matrix: the solves stay positive definite (LU, not a pseudo-inverse) and bias
        # that direction by ~1e-14 of itself
        lam = _RIDGE * s[r - 1] * prob.n_obs / (n * d)
        P, Q, res, sweeps = _fit_rank(prob, lines, V[:, :r] * root, norm, lam)
        info["sweeps"] += sweeps
        if FIT_TOL < res < (_GN_GATE_EARLY if early else _GN_GATE):
            by_col = (lines[1].indptr, lines[1].idx)
            P, Q, res, steps = _gauss_newton(prob, P, Q, norm, by_col)
            info["gn_steps"] = info.get("gn_steps", 0) + steps
        info["tried"].append((r, res))
        if res <= FIT_TOL:
            P, Q, r, res = _smallest_rank(prob, lines, P, Q, r, res, norm, info)
            for side in lines:
                side.release()  # the estimate's room (~0.6 GB at 20 M observations)
            est = _error_estimate(prob, P, Q, (lines[1].indptr, lines[1].idx))
            info["error_estimate"] = est
            if est > ERROR_TOL:
                continue  # fits, but the data do not pin it down: not a recovery
            info.update(rank=r, rel_residual=res)
            return P, Q, info
    return None, None, info


def _smallest_rank(prob, lines, P, Q, r, res, norm, info):
    """The fit of the smallest rank below ``r`` that still reproduces the observations,
    tried downward from ``P Q^T``'s own top directions.

    A rank above the truth's can fit the observations exactly and not be unique: a rank-2
    20 x 15 matrix with 170 of its entries observed has a family of rank-3 fits (the truth
    plus a rank-one matrix hidden in unobserved rows and columns), and the polish accepted
    one of them, a different one on a different BLAS. Stepping down until a rank no longer
    fits returns the truth's rank; a failed step costs a few stalled sweeps.
    """
    while r > 1:
        W, R = np.linalg.qr(Q)
        u, s, vt = np.linalg.svd(P @ R.T, full_matrices=False)
        root = np.sqrt(s[: r - 1])
        lam = _RIDGE * s[r - 2] * prob.n_obs / (prob.shape[0] * prob.shape[1])
        P1, Q1, res1, sweeps = _fit_rank(prob, lines, (W @ vt[: r - 1].T) * root, norm, lam)
        info["sweeps"] += sweeps
        info["tried"].append((r - 1, res1))
        if not res1 <= FIT_TOL:
            break
        P, Q, r, res = P1, Q1, r - 1, res1
    return P, Q, r, res


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


def factors_as_kernel(prob, P: np.ndarray, Q: np.ndarray):
    """``(coef, kernel)`` of a row-side kernel result equal to ``P Q^T`` (ridge 0).

    The kernel is the projector on the row space, ``K = W W^T`` (``W`` orthonormal), and
    row ``i``'s coefficients are the minimum-norm ``a_i`` on its observed columns with
    ``a_i^T W[O_i] = c_i``, the row's coordinates: then ``a_i^T K = P_i Q^T``. Rows are
    taken in blocks of observations, so the temporaries stay bounded (a block's r x r
    outer products, not all ``m`` of them: 16 GB at 20 M observations and rank 10).
    """
    n, d = prob.shape
    W, R = np.linalg.qr(Q)
    C = P @ R.T  # P Q^T = C W^T
    r = W.shape[1]
    ip = prob.indptr
    coef = np.empty(prob.n_obs)
    for a, b in _row_blocks(ip, 8 * r * (r + 2)):
        lo, hi = ip[a], ip[b]
        Wo, S = _block_grams(W, ip, prob.cols, a, b)  # each observation's row of W
        counts = np.diff(ip[a : b + 1])
        # a_i = W[O_i] z_i with W[O_i]^T W[O_i] z_i = c_i (a row with fewer than r
        # observations takes the least-squares z_i)
        full = counts >= r
        z = np.zeros((b - a, r))
        z[full] = np.linalg.solve(S[full], C[a:b][full][..., None])[..., 0]
        if not full.all():
            pinv = np.linalg.pinv(S[~full], hermitian=True)
            z[~full] = (pinv @ C[a:b][~full][..., None])[..., 0]
        coef[lo:hi] = np.einsum("ij,ij->i", Wo, np.repeat(z, counts, axis=0))
    A = sp.csr_matrix((coef, prob.cols, ip), shape=(n, d))
    return A, W @ W.T
