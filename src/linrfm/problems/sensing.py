"""Linear measurement operators ``A: R^{n x d} -> R^m``, ``A(X)_k = <A_k, X>``.

Every operator offers ``apply(X)`` (the measurements of X), ``adjoint(c)`` (the matrix
``sum_k c_k A_k``) and ``apply_batch`` for a stack of matrices. Entry sampling is the
matrix-completion special case; solvers recognise it and take their fast path.
"""

from __future__ import annotations

import numbers

import numpy as np

from .._validation import check_index_array, check_random_state, check_real_array, check_scalar

__all__ = [
    "MeasurementOperator",
    "EntrySampling",
    "GaussianOperator",
    "RankOneOperator",
    "MatrixSensing",
]


class MeasurementOperator:
    """Base class: a linear map from ``shape`` matrices to ``m`` measurements."""

    shape: tuple
    m: int
    symmetric: bool = False

    def apply(self, X: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        """``A(X)``, shape (m,)."""
        raise NotImplementedError

    def adjoint(self, c: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        """``A*(c) = sum_k c_k A_k``, shape ``shape``."""
        raise NotImplementedError

    def _check_X(self, X, name="X"):
        X = np.asarray(X, dtype=np.float64)
        if X.shape != tuple(self.shape):
            raise ValueError(
                f"{name} has shape {X.shape}; this operator acts on {tuple(self.shape)} matrices."
            )
        return X

    def _check_c(self, c, name="c"):
        c = np.asarray(c, dtype=np.float64)
        if c.shape != (self.m,):
            raise ValueError(f"{name} has shape {c.shape}; this operator has m={self.m} outputs.")
        return c

    def to_matrix(self) -> np.ndarray:
        """The ``m x (n d)`` matrix of the operator (small operators only)."""
        n, d = self.shape
        return np.stack([self.apply(e.reshape(n, d)) for e in np.eye(n * d)], axis=1)


class EntrySampling(MeasurementOperator):
    """``A_k = e_{rows[k]} e_{cols[k]}^T``: observe entries (matrix completion)."""

    def __init__(self, rows, cols, shape):
        n, d = int(shape[0]), int(shape[1])
        self.shape = (n, d)
        self.rows = check_index_array(rows, "rows", n, axis_name="number of rows")
        self.cols = check_index_array(cols, "cols", d, axis_name="number of columns")
        if self.rows.shape != self.cols.shape:
            raise ValueError("rows and cols must have the same length.")
        self.m = int(self.rows.size)

    def apply(self, X):
        X = self._check_X(X)
        return X[self.rows, self.cols]

    def adjoint(self, c):
        c = self._check_c(c)
        out = np.zeros(self.shape)
        np.add.at(out, (self.rows, self.cols), c)
        return out


class GaussianOperator(MeasurementOperator):
    """Dense Gaussian measurements, ``A_k`` with i.i.d. N(0, 1/m) entries.

    Parameters
    ----------
    shape : tuple of int
        ``(n, d)``.
    m : int
        Number of measurements.
    symmetric : bool, default=False
        Symmetrize each ``A_k`` to ``(G + G^T) / 2`` (requires n == d), for symmetric and
        PSD problems.
    random_state : None, int or numpy.random.Generator
    matrices : ndarray of shape (m, n, d), optional
        Use these sensing matrices instead of drawing them.
    """

    def __init__(self, shape, m=None, *, symmetric=False, random_state=None, matrices=None):
        n, d = int(shape[0]), int(shape[1])
        self.shape = (n, d)
        if symmetric and n != d:
            raise ValueError(f"symmetric=True needs a square shape; got {self.shape}.")
        self.symmetric = bool(symmetric)
        if matrices is not None:
            A = check_real_array(matrices, "matrices", ndim=3)
            if A.shape[1:] != self.shape:
                raise ValueError(
                    f"matrices has shape {A.shape}; expected (m, {n}, {d}) for shape {self.shape}."
                )
        else:
            check_scalar(m, "m", kind=numbers.Integral, low=1)
            rng = check_random_state(random_state)
            A = rng.standard_normal((m, n, d)) / np.sqrt(m)
            if symmetric:
                A = (A + A.transpose(0, 2, 1)) / 2
        self.m = int(A.shape[0])
        self.matrices = A
        self._flat = A.reshape(self.m, n * d)

    def apply(self, X):
        X = self._check_X(X)
        return self._flat @ X.ravel()

    def adjoint(self, c):
        c = self._check_c(c)
        return (c @ self._flat).reshape(self.shape)


class RankOneOperator(MeasurementOperator):
    """``A_k = u_k v_k^T``, so ``A(X)_k = u_k^T X v_k`` (bilinear sensing).

    With ``V=None`` the measurements are ``u_k^T X u_k`` (quadratic/covariance sensing).
    """

    def __init__(self, U, V=None):
        U = check_real_array(U, "U", ndim=2)
        self.U = U
        self.symmetric = V is None
        self.V = U if V is None else check_real_array(V, "V", ndim=2)
        if self.V.shape[0] != U.shape[0]:
            raise ValueError(
                f"U and V must have the same number of rows (measurements); got "
                f"{U.shape[0]} and {self.V.shape[0]}."
            )
        self.m = U.shape[0]
        self.shape = (U.shape[1], self.V.shape[1])

    def apply(self, X):
        X = self._check_X(X)
        return np.einsum("ki,ij,kj->k", self.U, X, self.V, optimize=True)

    def adjoint(self, c):
        c = self._check_c(c)
        return (self.U * c[:, None]).T @ self.V


class MatrixSensing:
    """Measurements ``y = A(X*)`` of an unknown matrix.

    Parameters
    ----------
    operator : MeasurementOperator
    y : array_like, shape (m,)
        Finite measurements.
    """

    def __init__(self, operator: MeasurementOperator, y):
        if not isinstance(operator, MeasurementOperator):
            raise TypeError(
                f"operator must be a MeasurementOperator; got {type(operator).__name__}."
            )
        y = check_real_array(y, "y", ndim=1)
        if y.size != operator.m:
            raise ValueError(f"y has {y.size} measurements but the operator has m={operator.m}.")
        self.operator = operator
        self.y = y

    @property
    def shape(self):
        return self.operator.shape

    @property
    def m(self) -> int:
        return self.operator.m

    def __repr__(self) -> str:
        return f"MatrixSensing({type(self.operator).__name__}, shape={self.shape}, m={self.m})"
