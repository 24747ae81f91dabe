"""Is a stationary low-rank answer determined by the data? One test for every method.

A method's own stop says the iterate no longer moves. That is not recovery: a stalled
iterate can reproduce every observation and still be one of many matrices that do (lin-RFM's
one-sided sensing iteration stalls at a rank-9 iterate of a 40 x 40 problem with 468
measurements, 0.3 away from the truth, as stationary as a converged one). What the data can
certify, with no ground truth:

- a rank ``r`` detected from a spectral gap of the iterate (:func:`detect_rank`), and
- fewer degrees of freedom than observations: a rank-``r`` ``n x d`` matrix has
  ``r (n + d - r)`` of them (``r n - r (r - 1) / 2`` when symmetric), and
  fewer observations than that cannot single it out, and
- the observations reproduced (relative residual on them below :data:`RESIDUAL`), and
- for a completion, an observed pattern in one piece: rows and columns that no chain of
  observed entries links leave the entries between them free at every rank; and every
  direction of the rank-``r`` matrices at the answer seen by the observations
  (:func:`unseen_share`): counts and a connected pattern can still leave a family of
  exact fits.

:func:`certify_recovery` applies them and returns None (certified) or the figures that
failed; :meth:`linrfm.iteration.Method.certify` calls it for the matrix methods. Only the
top ``r_max + 2`` singular values are needed (``r_max`` the largest rank the data can
determine), so the cost is a small Gram eigendecomposition or a few products with a thin
random block (:func:`top_singular_values`), once per fit.
"""

from __future__ import annotations

import numpy as np
from scipy.sparse.linalg import svds

__all__ = [
    "GAP",
    "TAIL",
    "RESIDUAL",
    "detect_rank",
    "degrees_of_freedom",
    "max_identifiable_rank",
    "top_singular_values",
    "factor_singular_values",
    "gram_singular_values",
    "completion_residual",
    "certify_dense_completion",
    "certify_recovery",
    "certify_sparse_recovery",
    "unseen_share",
    "factors_unseen",
    "dense_unseen",
]

#: the smallest ratio sigma_r / sigma_{r+1} that counts as a gap
GAP = 1e3
#: the gap must put sigma_{r+1} at most this far below sigma_1 (a gap inside the signal of
#: a well-spread spectrum is not a rank)
TAIL = 1e-4
#: the largest relative residual on the observations that counts as reproducing them
RESIDUAL = 1e-4
#: the largest share of a random direction of the rank-``r`` matrices at a completion that
#: its samples may fail to give back (:func:`unseen_share`)
UNSEEN = 1e-5
# up to this many columns (of the smaller side) the exact spectrum; above, a randomized
# estimate of the leading values (a 500 x 500 eigvalsh took ~1 s on a loaded machine,
# the randomized estimate of 12 values a few milliseconds)
_EXACT_MAX = 100


def detect_rank(s, *, gap: float = GAP, tail: float = TAIL) -> int:
    """The smallest rank ``r`` at a spectral gap: ``s[r-1] / s[r] >= gap`` with
    ``s[r] <= tail * s[0]``.

    ``s``: singular values in decreasing order (all of them, or the leading ones). Returns
    0 for a zero spectrum, ``len(s)`` when no gap qualifies (the rank is at least that).
    The first gap, not the largest: deep in the tail, rounding (a Gram matrix's
    eigenvalues clipped at 0) makes ratios as large as any real gap, and the leading
    values alone (:func:`top_singular_values`) give the same answer as the full spectrum.
    """
    s = np.asarray(s, dtype=np.float64)
    if s.size == 0 or not s[0] > 0:
        return 0
    head, nxt = s[:-1], s[1:]
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(nxt > 0, head / np.where(nxt > 0, nxt, 1.0), np.inf)
    ok = (ratio >= gap) & (nxt <= tail * s[0])
    return int(np.argmax(ok)) + 1 if ok.any() else int(s.size)


def degrees_of_freedom(r: int, n: int, d: int, symmetric: bool = False) -> int:
    """Parameters of a rank-``r`` ``n x d`` matrix (symmetric: ``r n - r (r - 1) / 2``)."""
    return r * n - r * (r - 1) // 2 if symmetric else r * (n + d - r)


def max_identifiable_rank(n: int, d: int, m: int, symmetric: bool = False) -> int:
    """The largest ``r`` with fewer degrees of freedom than ``m`` observations."""
    r = 0
    while r < min(n, d) and degrees_of_freedom(r + 1, n, d, symmetric) < m:
        r += 1
    return r


def top_singular_values(X, k: int, *, seed: int = 0) -> np.ndarray:
    """The ``k`` largest singular values of a dense ``X`` (all when ``k >= min(n, d)``).

    Exact when the smaller side has at most 100 columns; otherwise a randomized subspace
    iteration (Halko, Martinsson, Tropp) with 10 extra
    columns and 4 power steps, whose values are accurate to far better than :data:`GAP`.
    """
    X = np.asarray(X, dtype=np.float64)
    n, d = X.shape
    small = min(n, d)
    k = min(k, small)
    if small <= _EXACT_MAX:
        return np.linalg.svd(X, compute_uv=False)[:k]
    rng = np.random.default_rng(seed)
    Q, _ = np.linalg.qr(X @ rng.standard_normal((d, min(small, k + 10))))
    for _ in range(4):
        Q, _ = np.linalg.qr(X @ (X.T @ Q))
    return np.linalg.svd(Q.T @ X, compute_uv=False)[:k]


def gram_singular_values(G, k: int, *, seed: int = 0) -> np.ndarray:
    """The ``k`` largest singular values of ``X`` from its Gram matrix ``G = X^T X``
    (exact when ``G`` has at most 100 rows, else a randomized subspace iteration)."""
    G = np.asarray(G, dtype=np.float64)
    G = (G + G.T) / 2
    k = min(k, G.shape[0])
    if G.shape[0] <= _EXACT_MAX:
        w = np.linalg.eigvalsh(G)[::-1][:k]
    else:
        rng = np.random.default_rng(seed)
        Q, _ = np.linalg.qr(G @ rng.standard_normal((G.shape[0], min(G.shape[0], k + 10))))
        for _ in range(3):
            Q, _ = np.linalg.qr(G @ Q)
        w = np.linalg.eigvalsh(Q.T @ G @ Q)[::-1][:k]
    return np.sqrt(np.clip(w, 0.0, None))


def completion_residual(fitted, values) -> float:
    """``||fitted - values|| / ||values||`` on the observed entries (0 for no signal)."""
    norm = float(np.linalg.norm(values))
    diff = float(np.linalg.norm(np.asarray(fitted, dtype=np.float64) - values))
    return diff / norm if norm > 0 else diff


def unseen_share(prob, P, Q) -> float:
    """The share of a random direction of the rank-``r`` matrices at the completion ``P Q^T``
    (``P``, ``Q`` of full column rank ``r``) that the observations of ``prob`` do not give
    back (:func:`linrfm.solvers.linrfm.tangent._unseen_share`): ~1e-10 where they single
    the fit out, ~``1 / sqrt((n + d) r)`` or more where other fits of the same rank
    reproduce them as well (a pattern in two blocks linked by fewer than ``r^2``
    observations passes every count and has a family of exact fits)."""
    # imported here, not at load: the solvers import this module
    from .solvers.als import Lines
    from .solvers.linrfm.tangent import _unseen_share

    cols = Lines.cols_of(prob)
    return _unseen_share(prob, P, Q, (cols.indptr, cols.idx))


def factors_unseen(prob, U, V):
    """``unseen(r)`` for :func:`certify_recovery`: :func:`unseen_share` at the rank-``r``
    truncation of the completion ``U V^T`` (thin QRs and a ``k x k`` SVD)."""

    def unseen(r):
        Qu, Ru = np.linalg.qr(np.asarray(U, dtype=np.float64))
        Qv, Rv = np.linalg.qr(np.asarray(V, dtype=np.float64))
        a, s, bt = np.linalg.svd(Ru @ Rv.T)
        root = np.sqrt(s[:r])
        return unseen_share(prob, Qu @ (a[:, :r] * root), Qv @ (bt[:r].T * root))

    return unseen


def dense_unseen(prob, X):
    """``unseen(r)`` for :func:`certify_recovery`: :func:`unseen_share` at the rank-``r``
    truncation of a dense completion ``X`` (its top ``r`` singular triplets: all of them up
    to :data:`_EXACT_MAX` columns, ARPACK's ``r`` leading ones above)."""

    def unseen(r):
        X64 = np.asarray(X, dtype=np.float64)
        if min(X64.shape) <= _EXACT_MAX or r >= min(X64.shape) - 1:
            Ux, s, Vt = np.linalg.svd(X64, full_matrices=False)
        else:
            Ux, s, Vt = svds(X64, k=r, random_state=0)
            top = np.argsort(s)[::-1]
            Ux, s, Vt = Ux[:, top], s[top], Vt[top]
        root = np.sqrt(s[:r])
        return unseen_share(prob, Ux[:, :r] * root, Vt[:r].T * root)

    return unseen


def factor_singular_values(U, V) -> np.ndarray:
    """The singular values of ``U @ V.T`` from thin QRs (no ``n x d`` product)."""
    _, Ru = np.linalg.qr(np.asarray(U, dtype=np.float64))
    _, Rv = np.linalg.qr(np.asarray(V, dtype=np.float64))
    return np.linalg.svd(Ru @ Rv.T, compute_uv=False)


def certify_recovery(
    s,
    shape,
    m: int,
    residual: float,
    *,
    symmetric: bool = False,
    frobenius: float | None = None,
    blocks: int = 1,
    unseen=None,
):
    """None when the iterate is identifiable from ``m`` observations; else the figures.

    Parameters
    ----------
    s : array_like
        The iterate's leading singular values (at least ``max_identifiable_rank + 2`` of
        them, or all), decreasing; a callable ``s(k)`` returning the ``k`` leading ones is
        called with the ``k`` needed.
    shape : (n, d)
    m : int
        Observations or measurements.
    residual : float
        Relative residual of the iterate on the observations.
    symmetric : bool
        The data see only the symmetric part (a symmetric operator).
    frobenius : float, optional
        ``||X||_F`` of the iterate. Given, the whole tail beyond the detected rank
        (``sqrt(||X||_F^2 - sum of the r leading s^2)``) must also sit a :data:`GAP` below
        ``s[r-1]``, not only ``s[r]``: a flat floor of many small directions is no rank.
        (A one-sided fit of a 200 x 200 rank-3 matrix of condition 1e4 stopped at a rank-2
        head over a floor of ~1.5e-3 in every direction, 2.3 sigma_3 from the truth, and
        passed the gap of ``s`` alone.)
    blocks : int
        Connected blocks of the observed pattern (``MatrixCompletion.n_blocks``). With more
        than one, no nonzero answer is determined: the entries between blocks are free.
    unseen : callable, optional
        ``unseen(r)``, a completion's :func:`unseen_share` at its rank-``r`` truncation;
        called only when every other test passed, and more than :data:`UNSEEN` refuses.
    """
    n, d = shape
    r_max = max_identifiable_rank(n, d, m, symmetric)
    if callable(s):
        s = s(r_max + 2)
    s = np.asarray(s, dtype=np.float64)
    r = detect_rank(s)
    problems = []
    if r > r_max:
        where = (
            f"rank {r} (a gap of {s[r - 1] / max(s[r], 1e-300):.1e} after its singular value {r})"
            if r < s.size
            else f"no spectral gap of {GAP:g} with a tail below {TAIL:g} among its "
            f"{s.size} leading singular values (rank >= {r})"
        )
        dof = degrees_of_freedom(r, n, d, symmetric)
        problems.append(
            f"the iterate has {where}: {dof} degrees of freedom, not fewer than the {m} "
            f"observations (at most rank {r_max} is determined by them)"
        )
    if frobenius is not None and 0 < r < min(n, d) and s[0] > 0:
        tail = np.sqrt(max(frobenius**2 - float(np.sum(s[:r] ** 2)), 0.0))
        if tail * GAP > s[r - 1]:
            problems.append(
                f"beyond its rank-{r} head the iterate holds a tail of Frobenius norm "
                f"{tail:.1e}, not {GAP:g} below its singular value {r} ({s[r - 1]:.1e})"
            )
    if blocks > 1 and r > 0:
        problems.append(
            f"the observed entries fall into {blocks} blocks that no observation links "
            "(each block's rows observed only in its own columns): no rank determines the "
            "entries between them"
        )
    if not residual <= RESIDUAL:
        problems.append(
            f"it misses the observations by a relative residual of {residual:.1e} (> {RESIDUAL:g})"
        )
    if not problems and unseen is not None and r > 0 and (share := unseen(r)) > UNSEEN:
        problems.append(
            f"it is one of many rank-{r} fits: the observations miss {share:.1e} of a random "
            f"direction of the rank-{r} matrices at it (> {UNSEEN:g})"
        )
    return "; ".join(problems) if problems else None


def certify_dense_completion(X, prob):
    """:func:`certify_recovery` of a dense completion ``X`` of ``prob``'s observations."""
    fitted = X[prob.rows, prob.cols]
    return certify_recovery(
        lambda k: top_singular_values(X, k),
        X.shape,
        prob.n_obs,
        completion_residual(fitted, prob.values),
        frobenius=float(np.linalg.norm(X)),
        blocks=prob.n_blocks,
        unseen=dense_unseen(prob, X),
    )


def certify_sparse_recovery(coef, X, y):
    """None when an interpolating sparse vector is determined by ``n < d`` samples; else
    the figures. The vector analogue of :func:`certify_recovery`: a support of ``k``
    coefficients read from a gap in the sorted ``|coef|`` (:func:`detect_rank`), fewer than
    the ``n`` samples (a generic ``n x d`` design determines a ``k``-sparse vector only
    then), and ``y`` reproduced (relative residual below :data:`RESIDUAL`). With ``n >= d``
    the least-squares answer is unique and nothing is checked. ``X`` is dense or sparse."""
    n, d = X.shape
    if n >= d:
        return None
    y = np.asarray(y, dtype=np.float64)
    a = np.sort(np.abs(np.asarray(coef, dtype=np.float64)))[::-1]
    k = detect_rank(a)
    problems = []
    if k >= n:
        where = f"{k} coefficients above a gap of {GAP:g}" if k < a.size else "no gap"
        problems.append(
            f"its support ({where}) is not smaller than the {n} samples, so the data do not "
            "determine it"
        )
    y_norm = float(np.linalg.norm(y))
    residual = float(np.linalg.norm(X @ coef - y)) / y_norm if y_norm > 0 else 0.0
    if not residual <= RESIDUAL:
        problems.append(f"it misses y by a relative residual of {residual:.1e} (> {RESIDUAL:g})")
    return "; ".join(problems) if problems else None
