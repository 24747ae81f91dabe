"""The fitted state of a rating table's completion, and its predictions.

A :class:`RatingsModel` is ``mu + row_bias[i] + col_bias[j] + R[i, j]``, with ``R`` the
residual completion held compactly (a :class:`~linrfm.results.KernelResult` or a
:class:`~linrfm.results.FactorResult`): every prediction, and the column kernel that
folds in a new row, is computed from that compact form; the dense ``n x d`` completion is
never built.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from .._validation import check_index_array
from ..results import FactorResult, KernelResult
from ..solvers.linrfm import kernel_power
from .biases import fold_in_row_bias
from .lowrank import METHOD as LOWRANK
from .lowrank import factor_kernel

__all__ = ["RatingsModel", "completion_gram", "completion_rows", "rank_rows"]


def _top_k(scores, k):
    """``(order, best)``: the ``k`` largest of each row of ``scores`` (ties to the lower
    column), best first. A partition finds each row's ``k``-th value; only the columns at
    or above it are sorted (``O(d)`` per row, not ``O(d log d)``)."""
    q, d = scores.shape
    k = min(k, d)
    kth = -np.partition(-scores, k - 1, axis=1)[:, k - 1]
    r, c = np.nonzero(scores >= kth[:, None])
    v = scores[r, c]
    o = np.lexsort((c, -v, r))  # by row, then best score, then lower column
    r, c, v = r[o], c[o], v[o]
    first = np.searchsorted(r, np.arange(q))
    take = (first[:, None] + np.arange(k)).ravel()  # each row has >= k candidates
    return c[take].reshape(q, k), v[take].reshape(q, k)


def rank_rows(predict, rows, d, k, seen=None, max_entries=2**20, block=None):
    """The ``k`` best-scored of ``d`` columns for each row of ``rows``, best first.

    ``predict(rows, cols)`` scores index pairs; it is called on blocks of at most
    ``max_entries`` pairs (whole rows). ``block(rows)``, when given, is used instead: the
    dense scores of whole rows at once (faster: a matrix product, no gathered pairs).
    Columns stored in row ``i`` of the sparse ``seen`` are skipped. Ties go to the lower
    column, so a row's result does not depend on the other rows. Returns ``(tops,
    scores)``: two lists of arrays, one per row.
    """
    tops, vals = [], []
    step = max(1, max_entries // d)
    for s in range(0, rows.size, step):
        r = rows[s : s + step]
        if block is not None:
            scores = np.array(block(r), dtype=np.float64)
        else:
            scores = np.asarray(predict(np.repeat(r, d), np.tile(np.arange(d), r.size)), float)
            scores = scores.reshape(r.size, d)
        if seen is not None:
            scores[seen[r].nonzero()] = -np.inf
        order, best = _top_k(scores, k)
        for o, b in zip(order, best):
            tops.append(o[b > -np.inf])
            vals.append(b[b > -np.inf])
    return tops, vals


def completion_rows(res, rows):
    """Rows ``rows`` of the completion held by ``res``, dense ``(len(rows), d)``: a
    product of the compact form (``A[rows] K``, ``(C K[:, rows])^T`` or ``U[rows] V^T``),
    never the whole ``n x d``."""
    if isinstance(res, FactorResult):
        return res.U[rows] @ res.V.T
    if not isinstance(res, KernelResult):
        n, d = res.shape
        return res.predict(np.repeat(rows, d), np.tile(np.arange(d), rows.size)).reshape(-1, d)
    shift = res.lam if res.replace else 0.0
    if res.side == "row":
        sub = res.coef[rows]
        out = np.asarray(sub @ res.kernel)
        return out + shift * sub.toarray() if shift else out
    out = np.asarray(res.coef @ res.kernel[:, rows]).T
    return out + shift * res.coef[:, rows].T.toarray() if shift else out


def completion_gram(res: KernelResult, chunk: int = 1024) -> np.ndarray:
    """``B^T B`` (d x d) of the completion ``B`` held by ``res``, from its coefficients.

    With ``side='row'`` ``B = A Kl`` (``Kl = K + shift I``), so ``B^T B = Kl (A^T A) Kl``
    with ``A^T A`` sparse. With ``side='col'`` ``B^T = C Kl``, so ``B^T B = C Kl^2 C^T``,
    formed in blocks of ``chunk`` rows of ``C`` (memory O(chunk n), never n x d).
    """
    A = res.coef
    shift = res.lam if res.replace else 0.0
    Kl = res.kernel + shift * np.eye(res.kernel.shape[0]) if shift else res.kernel
    if res.side == "row":
        G = Kl @ ((A.T @ A).toarray() @ Kl)
    else:
        K2 = Kl @ Kl
        d = A.shape[0]
        G = np.empty((d, d))
        for s in range(0, d, chunk):
            M = np.asarray(A[s : s + chunk] @ K2)  # rows s.. of C Kl^2
            G[s : s + chunk] = np.asarray(A @ M.T).T
    # rounding makes the product slightly asymmetric; a Gram matrix is symmetric
    return (G + G.T) / 2


@dataclass
class RatingsModel:
    """A fitted completion of a rating table, by index (ids are the estimator's business).

    Attributes
    ----------
    mu : float
        Global mean.
    row_bias, col_bias : ndarray
    result : KernelResult or FactorResult
        The completion ``R`` of the residual of the biases.
    observed : scipy.sparse.csr_matrix
        The pattern of the fitted ratings (``recommend`` skips it).
    range : (float, float)
        Smallest and largest fitted rating.
    clip : bool
        Clip predictions to ``range``.
    biases : {'both', 'global', 'none'}
        Which biases were fitted (a new row gets its own bias only with 'both').
    bias_reg : float
        Ridge on the biases, in pseudo-observations.
    alpha : float
        lin-RFM power of the column kernel ``(B^T B / n)^(2 alpha)`` (lin-RFM models).
    lam : float or None
        The relative ridge of a new row's kernel regression (lin-RFM models).
    """

    mu: float
    row_bias: np.ndarray
    col_bias: np.ndarray
    result: KernelResult | FactorResult
    observed: sp.csr_matrix
    range: tuple
    clip: bool = True
    biases: str = "both"
    bias_reg: float = 10.0
    alpha: float = 0.5
    lam: float | None = None
    # (column kernel or its factor, absolute ridge, factor?), computed on the first fold-in
    _fold: tuple | None = field(default=None, repr=False, compare=False)

    @property
    def shape(self):
        return tuple(self.result.shape)

    @property
    def folds_in(self) -> bool:
        """Whether a new row can be folded in (lin-RFM models: a full kernel, or the
        factor form of :mod:`linrfm.ratings.lowrank`)."""
        lin = isinstance(self.result, KernelResult) or self.result.method == LOWRANK
        return lin and self.lam is not None

    def finish(self, pred):
        """Predictions clipped to the fitted range when ``clip``."""
        return np.clip(pred, *self.range) if self.clip else pred

    def predict_index(self, rows, cols):
        """Predictions at index pairs ``(rows[k], cols[k])``."""
        n, d = self.shape
        rows = check_index_array(rows, "rows", n, axis_name="number of rows")
        cols = check_index_array(cols, "cols", d, axis_name="number of columns")
        base = self.mu + self.row_bias[rows] + self.col_bias[cols]
        return self.finish(base + self.result.predict(rows, cols))

    def predict_partial(self, ri, ci):
        """Predictions where an index of -1 is unknown: the pair gets the mean plus
        whichever of its row and column biases is known."""
        known = (ri >= 0) & (ci >= 0)
        out = np.full(ri.shape, self.mu, dtype=np.float64)
        out += np.where(ri >= 0, self.row_bias[np.maximum(ri, 0)], 0.0)
        out += np.where(ci >= 0, self.col_bias[np.maximum(ci, 0)], 0.0)
        if known.any():
            out[known] += self.result.predict(ri[known], ci[known])
        return self.finish(out)

    def recommend_index(self, i, k, exclude_seen=True):
        """The ``k`` best-scored columns of row ``i`` (not observed in it when
        ``exclude_seen``), best first, and their scores."""
        (top,), (scores,) = self.recommend_rows(np.array([i]), k, exclude_seen)
        return top, scores

    def predict_rows(self, rows):
        """Every column's prediction for each row of ``rows``, dense ``(len(rows), d)``."""
        rows = np.asarray(rows)
        base = self.mu + self.row_bias[rows][:, None] + self.col_bias[None, :]
        return self.finish(base + completion_rows(self.result, rows))

    def recommend_rows(self, rows, k, exclude_seen=True):
        """:meth:`recommend_index` for each row of ``rows`` (:func:`rank_rows`)."""
        seen = self.observed if exclude_seen else None
        rows = np.asarray(rows)
        return rank_rows(None, rows, self.shape[1], k, seen, block=self.predict_rows)

    def _fold_kernel(self):
        """``(M, lam, factor)``, computed once, then kept: the column kernel
        ``(B^T B / n)^(2 alpha)`` of the completion, as ``M`` itself or (``factor``) as
        ``M M^T`` with ``M`` of shape ``(d, r)``, and the absolute ridge
        ``lam * tr(K) / d`` of a new row's regression."""
        if not self.folds_in:
            raise ValueError("folding in a new row needs a lin-RFM model (method='linrfm').")
        if self._fold is None:
            n, d = self.shape
            res, alpha = self.result, float(self.alpha)
            if isinstance(res, FactorResult):
                Z = factor_kernel(res.U, res.V, n, alpha)
                self._fold = (Z, self.lam * float(np.sum(Z**2)) / d, True)
            else:
                K = kernel_power(completion_gram(res) / n, alpha)
                self._fold = (K, self.lam * float(np.trace(K)) / d, False)
        return self._fold

    def column_kernel(self):
        """``(K, lam)``: the column kernel ``(B^T B / n)^(2 alpha)`` of the completion
        (``d x d``; a fold-in itself uses the factor form when there is one) and the
        absolute ridge ``lam * tr(K) / d``."""
        M, lam, factor = self._fold_kernel()
        return (M @ M.T if factor else M), lam

    def fold_in(self, ci, y, tj):
        """Predictions at columns ``tj`` of a new row with ratings ``y`` at columns ``ci``.

        The row's bias as in :func:`~linrfm.ratings.fit_biases` (column biases fixed), its
        residual one kernel ridge regression against the column kernel
        (:meth:`column_kernel`; only its ``ci`` rows are formed).
        """
        M, lam, factor = self._fold_kernel()
        Kc = M[ci] @ M.T if factor else M[ci]  # the kernel's rows ci, (|ci|, d)
        base = self.mu + self.col_bias[ci]
        bu = fold_in_row_bias(y - base, kind=self.biases, reg=self.bias_reg)
        a = np.linalg.solve(Kc[:, ci] + lam * np.eye(ci.size), y - base - bu)
        return self.finish(self.mu + bu + self.col_bias[tj] + a @ Kc[:, tj])
