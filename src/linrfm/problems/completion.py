"""Matrix completion: observed entries of a matrix, validated once, independent of any solver."""

from __future__ import annotations

import functools
import warnings

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from .._validation import (
    check_index_array,
    check_random_state,
    check_real_array,
    check_scalar,
)

__all__ = [
    "MatrixCompletion",
    "CoverageWarning",
    "as_completion_problem",
    "degrees_of_freedom",
]


def degrees_of_freedom(n: int, d: int, rank: int) -> int:
    """``r (n + d - r)``, the dimension of the rank-``r`` matrices of shape ``n x d``."""
    return rank * (n + d - rank)


class CoverageWarning(UserWarning):
    """Some rows or columns hold no observation; their entries can only be predicted as 0."""


class MatrixCompletion:
    """Observed entries of an ``n x d`` matrix.

    Entries are stored in row-major (CSR) order: sorted by row, then by column.

    Parameters
    ----------
    rows, cols : array_like of int, shape (n_obs,)
        Row and column index of every observed entry.
    values : array_like of float, shape (n_obs,)
        Observed values; every value must be finite.
    shape : tuple of int
        ``(n, d)``, the shape of the full matrix.

    Raises
    ------
    ValueError
        For indices out of range, duplicate ``(row, col)`` pairs, length mismatches,
        zero observations or non-finite values.
    TypeError
        For object, string or complex values, or non-integer indices.

    Warns
    -----
    CoverageWarning
        When some rows or columns hold no observation.
    """

    def __init__(self, rows, cols, values, shape):
        shape = _check_shape(shape)
        n, d = shape
        values = check_real_array(values, "values", ndim=1, allow_empty=True)
        rows = check_index_array(rows, "rows", n, axis_name="number of rows")
        cols = check_index_array(cols, "cols", d, axis_name="number of columns")
        if not (len(rows) == len(cols) == len(values)):
            raise ValueError(
                "rows, cols and values must have the same length; got "
                f"{len(rows)}, {len(cols)} and {len(values)}."
            )
        if len(values) == 0:
            raise ValueError("No observed entries: at least one observation is required.")
        lin = rows * d + cols
        order = np.argsort(lin, kind="stable")
        lin = lin[order]
        dup = np.flatnonzero(lin[1:] == lin[:-1])
        if dup.size:
            r, c = divmod(int(lin[dup[0]]), d)
            raise ValueError(
                f"Duplicate observations: {dup.size} (row, col) pair(s) appear more than once, "
                f"e.g. ({r}, {c}). Each entry may be observed once."
            )
        self.shape = shape
        self.rows = rows[order]
        self.cols = cols[order]
        self.values = values[order]
        self.row_counts = np.bincount(self.rows, minlength=n)
        self.col_counts = np.bincount(self.cols, minlength=d)
        empty_r = int(np.sum(self.row_counts == 0))
        empty_c = int(np.sum(self.col_counts == 0))
        if empty_r or empty_c:
            warnings.warn(
                f"{empty_r} row(s) and {empty_c} column(s) have no observed entry (rows "
                f"{_first(self.row_counts == 0)}, columns {_first(self.col_counts == 0)}); "
                "their entries are predicted as 0.",
                CoverageWarning,
                stacklevel=2,
            )

    # ------------------------------------------------------------------ constructors
    @classmethod
    def from_dense(cls, X):
        """Build from a dense array in which NaN marks a missing entry (±inf is an error)."""
        X = check_real_array(X, "X", ndim=2, allow_nan=True)
        rows, cols = np.nonzero(~np.isnan(X))
        return cls(rows, cols, X[rows, cols], X.shape)

    @classmethod
    def from_sparse(cls, S):
        """Build from a scipy.sparse matrix whose stored entries are the observed ones."""
        if not sp.issparse(S):
            raise TypeError(f"S must be a scipy.sparse matrix; got {type(S).__name__}.")
        if S.ndim != 2:
            raise ValueError(f"S must be 2-dimensional; got shape {S.shape}.")
        coo = S.tocoo()
        values = check_real_array(coo.data, "values of the sparse matrix", allow_empty=True)
        return cls(coo.row, coo.col, values, S.shape)

    # ------------------------------------------------------------------ properties
    @property
    def n_obs(self) -> int:
        """Number of observed entries."""
        return int(self.values.size)

    @property
    def indptr(self) -> np.ndarray:
        """CSR row pointer of the observed entries."""
        return np.concatenate([[0], np.cumsum(self.row_counts)])

    @functools.cached_property
    def n_blocks(self) -> int:
        """Connected blocks of the observed pattern: rows and columns linked by observed
        entries, the lines with none left out. Between two blocks no rank determines an
        entry (each block's factors can be rescaled or turned apart and still fit)."""
        n, d = self.shape
        ones = np.ones(self.n_obs, dtype=np.int8)
        graph = sp.csr_matrix((ones, (self.rows, n + self.cols)), shape=(n + d, n + d))
        labels = connected_components(graph, directed=False)[1]
        seen = np.concatenate([self.row_counts, self.col_counts]) > 0
        return int(np.unique(labels[seen]).size)

    def oversampling(self, rank: int) -> float:
        """``n_obs / (r (n + d - r))``, the ratio to the degrees of freedom of rank ``r``."""
        return self.n_obs / degrees_of_freedom(*self.shape, rank)

    def to_sparse(self) -> sp.csr_matrix:
        """The observed entries as a CSR matrix (explicit zeros kept as stored entries)."""
        return sp.csr_matrix((self.values, self.cols, self.indptr), shape=self.shape)

    def transpose(self) -> MatrixCompletion:
        """The same observations of the transposed ``d x n`` matrix."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", CoverageWarning)
            return MatrixCompletion(self.cols, self.rows, self.values, self.shape[::-1])

    def subset(self, mask) -> MatrixCompletion:
        """A problem holding only the observations where ``mask`` is True."""
        mask = np.asarray(mask, dtype=bool)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", CoverageWarning)
            return MatrixCompletion(self.rows[mask], self.cols[mask], self.values[mask], self.shape)

    def split(self, fraction: float, random_state=None):
        """Split the observations at random into (fit, held-out) problems.

        Parameters
        ----------
        fraction : float in (0, 1)
            Fraction of observations held out.
        random_state : None, int or numpy.random.Generator

        Returns
        -------
        fit, held_out : MatrixCompletion
        """
        check_scalar(fraction, "fraction", low=0, high=1, low_inclusive=False, high_inclusive=False)
        rng = check_random_state(random_state)
        k = int(round(fraction * self.n_obs))
        if k < 1 or k >= self.n_obs:
            raise ValueError(
                f"fraction={fraction} holds out {k} of {self.n_obs} observations; "
                "both parts must be non-empty."
            )
        held = np.zeros(self.n_obs, dtype=bool)
        held[rng.choice(self.n_obs, size=k, replace=False)] = True
        return self.subset(~held), self.subset(held)

    def __repr__(self) -> str:
        n, d = self.shape
        return f"MatrixCompletion(shape=({n}, {d}), n_obs={self.n_obs})"


def _first(mask, k=10) -> str:
    idx = np.flatnonzero(mask)
    return "[" + ", ".join(map(str, idx[:k])) + (", ...]" if idx.size > k else "]")


def _check_shape(shape):
    try:
        n, d = shape
        n, d = int(n), int(d)
        ok = n == shape[0] and d == shape[1]
    except (TypeError, ValueError):
        ok = False
    if not ok or n < 1 or d < 1:
        raise ValueError(f"shape must be a pair of positive ints (n, d); got {shape!r}.")
    return (n, d)


def as_completion_problem(X, shape=None) -> MatrixCompletion:
    """Coerce the accepted input forms to a :class:`MatrixCompletion`.

    Parameters
    ----------
    X : MatrixCompletion, scipy.sparse matrix, ndarray with NaN for missing, a
        ``(rows, cols, values)`` tuple, or a planted problem from
        :func:`linrfm.make_completion` (its ``.problem``; the truth is never read)
        The observations.
    shape : tuple of int, optional
        Required with a ``(rows, cols, values)`` tuple; checked against the other forms.
    """
    if isinstance(X, MatrixCompletion):
        prob = X
    elif isinstance(getattr(X, "problem", None), MatrixCompletion):
        prob = X.problem
    elif sp.issparse(X):
        prob = MatrixCompletion.from_sparse(X)
    elif isinstance(X, tuple):
        if len(X) != 3:
            raise ValueError(
                f"A tuple input must be (rows, cols, values); got a tuple of length {len(X)}."
            )
        if shape is None:
            raise ValueError("shape=(n, d) is required with (rows, cols, values) input.")
        return MatrixCompletion(*X, shape=shape)
    else:
        prob = MatrixCompletion.from_dense(X)
    if shape is not None and tuple(shape) != prob.shape:
        raise ValueError(f"shape={tuple(shape)} does not match the input's shape {prob.shape}.")
    return prob
