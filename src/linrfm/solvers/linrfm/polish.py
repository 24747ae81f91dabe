"""The final polish of a lin-RFM completion on a rank read from its own spectrum.

At a small ridge lin-RFM is IRLS for the rank (Schatten-p with ``p = 2 - 4 alpha``); on an
ill-conditioned matrix its ridge rule converges slowly in the smallest singular directions,
and its stop (a small relative change of the whole iterate) fires while they are still
wrong: on a 200 x 200, rank-3, kappa = 1e4 problem the stop leaves ``||E||_F / sigma_3 ~ 1``
at a relative error of 1e-4. The iterate's top singular subspaces are nonetheless close to
the truth's, and alternating least squares on that rank, started from them, converges to
the exact answer.

The polish uses nothing unobserved. A rank ``r`` is accepted only when it is identifiable
(``r (n + d - r) < m``, fewer degrees of freedom than observations) and the rank-``r``
factorization reproduces the observations (relative residual at most ``FIT_TOL``): a
matrix of rank ``r`` fitting ``m > r (n + d - r)`` generic observations is, generically,
the only one. The first rank tried is the iterate's largest spectral gap; when it does not
fit, the next ranks are tried, up to ``MAX_TRIES`` of them.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ..als import Lines, balance

__all__ = ["polish", "max_identifiable_rank", "factors_as_kernel"]

# a rank is accepted when its factorization reproduces the observations this well
FIT_TOL = 1e-9
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


def _residual(P, Q, prob) -> float:
    fitted = np.einsum("ij,ij->i", P[prob.rows], Q[prob.cols])
    return float(np.linalg.norm(fitted - prob.values))


def _fit_rank(prob, lines, P, Q, norm, lam):
    """Unregularized ALS from ``(P, Q)``, Anderson-accelerated: the factors, their
    relative residual and the sweeps.

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


def polish(prob, B: np.ndarray, *, random_state=0):
    """Rank-``r`` ALS from the completion ``B`` of ``prob`` (see the module's text).

    Returns ``(P, Q, info)`` with ``P Q^T`` the polished completion and ``info`` (rank,
    sweeps, relative residual, ranks tried), or ``(None, None, info)`` when no rank fits.
    """
    n, d = prob.shape
    norm = float(np.linalg.norm(prob.values))
    r_max = max_identifiable_rank(n, d, prob.n_obs)
    info = {"rank": 0, "sweeps": 0, "rel_residual": np.inf, "tried": []}
    if r_max < 1 or norm == 0:
        return None, None, info
    k = min(r_max + 1, min(n, d))
    U, s, V = _top_svd(B, k, np.random.default_rng(random_state))
    ratio = s[:-1] / np.maximum(s[1:], np.finfo(float).tiny) if k > 1 else np.ones(1)
    first = int(np.argmax(ratio[:r_max])) + 1
    lines = (Lines.rows_of(prob), Lines.cols_of(prob))
    for r in range(first, min(first + MAX_TRIES, r_max) + 1):
        root = np.sqrt(s[:r])
        # a ridge 1e-14 times the smallest kept direction's share of a line's Gram
        # matrix: the solves stay positive definite (LU, not a pseudo-inverse) and bias
        # that direction by ~1e-14 of itself
        lam = _RIDGE * s[r - 1] * prob.n_obs / (n * d)
        P, Q, res, sweeps = _fit_rank(prob, lines, U[:, :r] * root, V[:, :r] * root, norm, lam)
        info["tried"].append((r, res))
        info["sweeps"] += sweeps
        if res <= FIT_TOL:
            info.update(rank=r, rel_residual=res)
            return P, Q, info
    return None, None, info


def factors_as_kernel(prob, P: np.ndarray, Q: np.ndarray):
    """``(coef, kernel)`` of a row-side kernel result equal to ``P Q^T`` (ridge 0).

    The kernel is the projector on the row space, ``K = W W^T`` (``W`` orthonormal), and
    row ``i``'s coefficients are the minimum-norm ``a_i`` on its observed columns with
    ``a_i^T W[O_i] = c_i``, the row's coordinates: then ``a_i^T K = P_i Q^T``.
    """
    n, d = prob.shape
    W, R = np.linalg.qr(Q)
    C = P @ R.T  # P Q^T = C W^T
    Wo = W[prob.cols]  # (m, r): each observation's row of W
    r = W.shape[1]
    counts = np.diff(prob.indptr)
    S = np.zeros((n, r, r))
    np.add.at(S, prob.rows, Wo[:, :, None] * Wo[:, None, :])
    # a_i = W[O_i] z_i with W[O_i]^T W[O_i] z_i = c_i (a row with fewer than r
    # observations takes the least-squares z_i)
    full = counts >= r
    z = np.zeros((n, r))
    z[full] = np.linalg.solve(S[full], C[full][..., None])[..., 0]
    if not full.all():
        z[~full] = (np.linalg.pinv(S[~full], hermitian=True) @ C[~full][..., None])[..., 0]
    coef = np.einsum("ij,ij->i", Wo, z[prob.rows])
    A = sp.csr_matrix((coef, prob.cols, prob.indptr), shape=(n, d))
    return A, W @ W.T
