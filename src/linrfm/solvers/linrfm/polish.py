"""The polish of a lin-RFM completion on a rank read from its own spectrum.

At a small ridge lin-RFM is IRLS for the rank (Schatten-p with ``p = 2 - 4 alpha``); on an
ill-conditioned matrix its ridge rule converges slowly in the smallest singular directions,
and its stop (a small relative change of the whole iterate) fires while they are still
wrong: on a 200 x 200, rank-3, kappa = 1e4 problem the stop leaves ``||E||_F / sigma_3 ~ 1``
at a relative error of 1e-4. The iterate's top singular subspaces are nonetheless close to
the truth's, and alternating least squares on that rank, started from them, converges to
the exact answer.

The polish uses nothing unobserved. A rank ``r`` is tried only when the counts allow it
(``r (n + d - r) < m``, fewer degrees of freedom than observations, every row and column
observed at least ``r`` times, the observed pattern in one connected block) and accepted
when the rank-``r`` factorization reproduces the observations (relative residual at most
``FIT_TOL``) and is the only one near it that does (below). Counts are not enough: a
rank-2 matrix observed in two diagonal blocks linked by one entry passes them, and has a
family of exact fits. The first rank tried is the iterate's largest spectral gap; when it does not
fit, the next ranks are tried, up to ``MAX_TRIES`` of them, each started from the fit
below it and its residual's top singular pair (:func:`_climb`) while each lowers the
residual. ALS that stalls close to a fit (relative residual below ``_GN_GATE``;
``_GN_GATE_EARLY`` in the early attempts) is finished by Riemannian Gauss-Newton
(:func:`~.tangent._gauss_newton`), which converges quadratically
where ALS contracts linearly (1000 x 1000, rank 5, condition 10, rho = 1.5: ALS stalled at
1e-7 to 1e-6, Gauss-Newton reached 6e-15).
An accepted rank is then stepped down while a smaller rank still fits
(:func:`_smallest_rank`): a rank above the truth's can fit exactly and not be unique.
Last, the fit must be pinned down by the data: the Gauss-Newton correction from it
(:func:`~.tangent._error_estimate`, the residual divided by the sampling's conditioning on the
tangent space) at most ``ERROR_TOL`` of the fit, and a random direction of the rank-``r``
matrices at it given back by its samples to ``UNSEEN_TOL`` (:func:`~.tangent._unseen_share`:
where some direction moves no observation, other exact fits lie along it).

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
from scipy.sparse.linalg import ArpackNoConvergence, svds

from ...identifiability import UNSEEN
from ..als import Lines, balance
from .tangent import (
    _GN_GATE,
    _GN_GATE_EARLY,
    _TARGET,
    _block_grams,
    _error_estimate,
    _fitted_blocks,
    _gauss_newton,
    _residual,
    _row_blocks,
    _tangent_solver,
    _unseen_share,
)

__all__ = ["polish", "due", "max_identifiable_rank", "factors_as_kernel"]

# a rank is accepted when its factorization reproduces the observations this well, and
# the data pin the fit down this well (_error_estimate, relative)
FIT_TOL = 1e-9
ERROR_TOL = 1e-8
# and every direction of the rank-r matrices near it moves some observation: at most this
# share of a random one is lost (_unseen_share; the certificates' bound)
UNSEEN_TOL = UNSEEN
# alternating sweeps per rank, and the ranks tried after the first (each climbing from
# the fit below it, :func:`_climb`, while it lowers the residual by _CLIMB at least)
MAX_SWEEPS = 200
MAX_TRIES = 12
_CLIMB = 0.5
# one rank fits as well as another when its residual is within this factor (residuals
# below _TARGET counting as _TARGET): the smaller such rank is the answer
_DOWN = 10.0
# a sweep that reduces the residual by less than this factor over 5 sweeps has stalled
_STALL = 0.5
# Anderson mixing depth of the polish's sweeps
_DEPTH = 5
_RIDGE = 1e-14


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


def _ridge(prob, scale: float) -> float:
    """The ALS ridge for a fit whose smallest kept singular value is ``scale``: 1e-14 of
    that direction's share of a line's Gram matrix, so the solves stay positive definite
    (LU, not a pseudo-inverse) and bias that direction by ~1e-14 of itself."""
    n, d = prob.shape
    return _RIDGE * scale * prob.n_obs / (n * d)


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
    # a line with fewer than r observations has more than one rank-r completion, and so
    # has a pattern in unlinked blocks (at every rank)
    fewest = min(int(prob.row_counts.min()), int(prob.col_counts.min()))
    r_max = min(max_identifiable_rank(n, d, prob.n_obs), fewest) if prob.n_blocks == 1 else 0
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
    P = Q = None
    before, held = np.inf, None
    last = min(first + more, r_max)
    for r in range(first, last + 1):
        if P is None:
            start, scale = V[:, :r] * np.sqrt(s[:r]), s[r - 1]
        else:
            climbed = _climb(prob, P, Q, rng)
            if climbed is None:
                break
            start, scale = climbed
        P, Q, res, sweeps = _fit_rank(prob, lines, start, norm, _ridge(prob, scale))
        info["sweeps"] += sweeps
        if FIT_TOL < res < (_GN_GATE_EARLY if early else _GN_GATE):
            by_col = (lines[1].indptr, lines[1].idx)
            P, Q, res, steps = _gauss_newton(prob, P, Q, norm, by_col)
            info["gn_steps"] = info.get("gn_steps", 0) + steps
        info["tried"].append((r, res))
        if held is not None and not res * _DOWN < held[3]:
            break  # the rank below stands: this one explains little more
        held = None
        if res <= FIT_TOL:
            if res > _TARGET and r < last:
                # fits, but not to the working precision: on a matrix of condition 1e10
                # the rank below the truth's fits to 8e-11, and the next rank to 5e-16
                held = (P, Q, r, res)
                continue
            out = _accept(prob, lines, P, Q, r, res, norm, info)
            if out is not None:
                return out
        elif not res < _CLIMB * before:
            break  # one more rank no longer explains much more of the observations
        before = res
    if held is not None:
        out = _accept(prob, lines, *held, norm, info)
        if out is not None:
            return out
    return None, None, info


def _accept(prob, lines, P, Q, r, res, norm, info):
    """``(P, Q, info)`` of the smallest rank fitting as well as ``P Q^T``, when the data pin
    it down (:func:`_error_estimate` at most ``ERROR_TOL``) and single it out (at most
    ``UNSEEN_TOL`` of a random direction unseen, :func:`_unseen_share`); None otherwise."""
    P, Q, r, res = _smallest_rank(prob, lines, P, Q, r, res, norm, info)
    for side in lines:
        side.release()  # the estimate's room (~0.6 GB at 20 M observations)
    by_col = (lines[1].indptr, lines[1].idx)
    tangent = _tangent_solver(prob, P, Q, by_col)  # one set-up for both tests
    est = _error_estimate(prob, P, Q, by_col, tangent)
    info["error_estimate"] = est
    if est > ERROR_TOL:
        return None  # fits, but the data do not pin it down: not a recovery
    info["unseen"] = _unseen_share(prob, P, Q, by_col, tangent)
    if info["unseen"] > UNSEEN_TOL:
        return None  # fits, but so would others the data cannot tell from it
    info.update(rank=r, rel_residual=res)
    return P, Q, info


def _climb(prob, P, Q, rng):
    """The start of the next rank's fit: ``P Q^T``'s factors with the top singular pair of
    its residual on the observations (scaled by ``n d / m``, an unbiased estimate of the
    matrix it misses) appended; and that pair's singular value.

    On an ill-conditioned matrix the iterate's trailing singular directions are below its
    own error, and a fit started from them stalls (1000 x 1000, rank 10, condition 1e10,
    rho = 3: ranks 5 to 9 from the iterate reached relative residuals 2.6e-6 to 4.2e-9,
    none exact). Each rank's fit explains the observations down to its next direction,
    which then dominates the residual: climbing one rank at a time from the fit below
    reached rank 10 to a residual of 5e-16 (relative error 5e-16) in 4 s. None when ARPACK
    does not converge on the pair.
    """
    n, d = prob.shape
    fitted = np.concatenate([f for _, f in _fitted_blocks(P, Q, prob)])
    W = sp.csr_matrix((prob.values - fitted, prob.cols, prob.indptr), shape=(n, d))
    W *= n * d / prob.n_obs
    try:
        sv, vt = svds(W, k=1, v0=rng.standard_normal(min(n, d)))[1:]
    except ArpackNoConvergence:
        return None  # no next direction to climb to (the caller stops climbing)
    return np.hstack([Q, vt.T * np.sqrt(sv)]), float(sv[0])


def _smallest_rank(prob, lines, P, Q, r, res, norm, info):
    """The fit of the smallest rank below ``r`` that still reproduces the observations,
    tried downward from ``P Q^T``'s own top directions.

    A rank above the truth's can fit the observations exactly and not be unique: a rank-2
    20 x 15 matrix with 170 of its entries observed has a family of rank-3 fits (the truth
    plus a rank-one matrix hidden in unobserved rows and columns), and the polish accepted
    one of them, a different one on a different BLAS. Stepping down until a rank no longer
    fits as well (to ``FIT_TOL`` and within ``_DOWN`` of the residual, both below
    ``_TARGET`` counting as equal) returns the truth's rank; a failed step costs a few
    stalled sweeps.
    """
    while r > 1:
        W, R = np.linalg.qr(Q)
        u, s, vt = np.linalg.svd(P @ R.T, full_matrices=False)
        root = np.sqrt(s[: r - 1])
        start = (W @ vt[: r - 1].T) * root
        P1, Q1, res1, sweeps = _fit_rank(prob, lines, start, norm, _ridge(prob, s[r - 2]))
        info["sweeps"] += sweeps
        info["tried"].append((r - 1, res1))
        if not res1 <= min(FIT_TOL, _DOWN * max(res, _TARGET)):
            break
        P, Q, r, res = P1, Q1, r - 1, res1
    return P, Q, r, res


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
        try:
            z[full] = np.linalg.solve(S[full], C[a:b][full][..., None])[..., 0]
        except np.linalg.LinAlgError:  # a row whose columns see only part of the row space
            full[:] = False
        if not full.all():
            pinv = np.linalg.pinv(S[~full], hermitian=True)
            z[~full] = (pinv @ C[a:b][~full][..., None])[..., 0]
        coef[lo:hi] = np.einsum("ij,ij->i", Wo, np.repeat(z, counts, axis=0))
    A = sp.csr_matrix((coef, prob.cols, ip), shape=(n, d))
    return A, W @ W.T
