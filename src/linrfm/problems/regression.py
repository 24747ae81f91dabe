"""Sparse regression: a design and responses whose coefficient vector is sought sparse."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from .._validation import check_real_array

__all__ = ["SparseRegression", "as_regression_problem"]


def _refuse_duplicate_entries(X):
    """A sparse design that stores an entry twice (COO, or CSR/CSC not in canonical form)
    would be summed by scipy in silence; completion refuses duplicates, and so does this."""
    coo = X.tocoo()
    key = coo.row.astype(np.int64) * X.shape[1] + coo.col
    n_dup = key.size - np.unique(key).size
    if n_dup:
        raise ValueError(
            f"X stores {n_dup} (row, column) entr{'y' if n_dup == 1 else 'ies'} more than once; "
            "scipy would add them up. Call X.sum_duplicates() first if that is what you mean."
        )


class SparseRegression:
    """A linear regression ``y = X beta`` whose ``beta`` is sought sparse.

    Parameters
    ----------
    X : array_like or scipy.sparse matrix, shape (n_samples, n_features)
        The design; every stored value must be finite. A sparse matrix is kept sparse
        (converted to CSR).
    y : array_like, shape (n_samples,)
        The responses; every value must be finite.

    Raises
    ------
    ValueError
        For empty input, non-finite values, a 2-D ``y`` or a length mismatch.
    TypeError
        For object, string or complex values.
    """

    def __init__(self, X, y):
        if sp.issparse(X):
            if X.ndim != 2:
                raise ValueError(f"X must be 2-dimensional; got shape {X.shape}.")
            _refuse_duplicate_entries(X)
            X = sp.csr_matrix(X, dtype=np.float64)
            if X.shape[0] == 0 or X.shape[1] == 0:
                raise ValueError(f"X is empty (shape {X.shape}); at least one value is required.")
            check_real_array(X.data, "X", allow_empty=True)
        else:
            X = check_real_array(X, "X", ndim=2)
        y = check_real_array(y, "y", ndim=1)
        if X.shape[0] != y.shape[0]:
            raise ValueError(
                f"X and y must have the same number of samples; got X with {X.shape[0]} "
                f"rows and y of length {y.shape[0]}."
            )
        self.X = X
        self.y = y

    @property
    def n_samples(self) -> int:
        """Number of samples ``n``."""
        return int(self.X.shape[0])

    @property
    def n_features(self) -> int:
        """Number of features ``d``."""
        return int(self.X.shape[1])

    @property
    def is_sparse(self) -> bool:
        """Whether ``X`` is a scipy.sparse matrix."""
        return sp.issparse(self.X)

    def __repr__(self) -> str:
        kind = "sparse" if self.is_sparse else "dense"
        return f"SparseRegression(n_samples={self.n_samples}, n_features={self.n_features}, {kind})"


def as_regression_problem(X, y=None) -> SparseRegression:
    """Coerce ``(X, y)`` or a :class:`SparseRegression` (with ``y=None``) to the latter."""
    if isinstance(X, SparseRegression):
        if y is not None:
            raise ValueError("Pass y=None with a SparseRegression problem (it holds y).")
        return X
    if y is None:
        raise ValueError("y is required with an array X.")
    return SparseRegression(X, y)
