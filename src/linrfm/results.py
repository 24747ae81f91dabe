"""Result objects shared by every solver.

Each solver returns a :class:`RecoveryResult`: iteration count, per-iteration history of
the training-side quantities it monitors, a converged flag, the elapsed time, and a way
to predict any entry (``predict(rows, cols)``) without necessarily holding the dense
completed matrix.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import scipy.sparse as sp

from ._validation import check_index_array

__all__ = [
    "RecoveryResult",
    "KernelResult",
    "DenseResult",
    "FactorResult",
    "VectorResult",
    "ModelFitError",
]


class ModelFitError(FloatingPointError):
    """The iterate became non-finite (NaN or inf); the fit cannot continue."""


@dataclass
class RecoveryResult:
    """Fields common to every solver's result.

    Attributes
    ----------
    shape : tuple of int
        Shape of the recovered matrix (or ``(d,)`` for a vector).
    n_iter : int
        Number of iterations performed.
    converged : bool
        Whether the solver's stopping criterion (``tol``) was met before ``max_iter``.
    history : dict of str to list
        Per-iteration training-side quantities (never anything computed from unobserved
        truth).
    elapsed : float
        Wall-clock seconds spent in the solver.
    method : str
        Name of the method.
    params : dict
        The parameters the solver ran with.
    """

    shape: tuple
    n_iter: int = 0
    converged: bool = False
    history: dict = field(default_factory=dict)
    elapsed: float = 0.0
    method: str = ""
    params: dict = field(default_factory=dict)

    def _check_pairs(self, rows, cols):
        n, d = self.shape
        rows = check_index_array(rows, "rows", n, axis_name="number of rows")
        cols = check_index_array(cols, "cols", d, axis_name="number of columns")
        if rows.shape != cols.shape:
            raise ValueError(
                f"rows and cols must have the same length; got {rows.size} and {cols.size}."
            )
        return rows, cols

    def rescaled(self, s: float):
        """The result for the data multiplied by ``s`` (a power of two: exact): the
        recovered matrix times ``s``, everything else unchanged."""
        return replace(self, history=dict(self.history), params=dict(self.params))

    def predict(self, rows, cols) -> np.ndarray:  # pragma: no cover - abstract
        """Predicted entries at ``(rows[k], cols[k])``."""
        raise NotImplementedError

    def to_dense(self) -> np.ndarray:
        """The full completed matrix (only for shapes small enough to hold)."""
        n, d = self.shape
        rows = np.repeat(np.arange(n), d)
        cols = np.tile(np.arange(d), n)
        return self.predict(rows, cols).reshape(n, d)


@dataclass
class DenseResult(RecoveryResult):
    """A result that holds the recovered matrix densely."""

    X: np.ndarray | None = None

    def rescaled(self, s: float):
        out = super().rescaled(s)
        out.X = self.X * s
        return out

    def predict(self, rows, cols):
        rows, cols = self._check_pairs(rows, cols)
        return self.X[rows, cols]

    def to_dense(self):
        return np.array(self.X, copy=True)


@dataclass
class FactorResult(RecoveryResult):
    """A result held as factors, ``X = U @ V.T``."""

    U: np.ndarray | None = None
    V: np.ndarray | None = None

    def rescaled(self, s: float):
        """``U`` and ``V`` each times ``sqrt(s)``: balanced factors stay balanced, and a
        factor stays the ridge solution on the other (ALS's half-step)."""
        out = super().rescaled(s)
        r = np.sqrt(s)
        out.U = self.U * r
        out.V = out.U if self.V is self.U else self.V * r
        return out

    def predict(self, rows, cols, chunk: int | None = None):
        """Predicted entries, in chunks of ``chunk`` queries (default: ``2^21 / rank``,
        so the gathered factor rows take at most 32 MiB whatever the rank)."""
        rows, cols = self._check_pairs(rows, cols)
        chunk = chunk or max(1, 2**21 // max(1, self.U.shape[1]))
        out = np.empty(rows.size)
        for s in range(0, rows.size, chunk):
            sl = slice(s, s + chunk)
            out[sl] = np.einsum("ij,ij->i", self.U[rows[sl]], self.V[cols[sl]])
        return out

    def to_dense(self):
        return self.U @ self.V.T


@dataclass
class VectorResult(RecoveryResult):
    """A result for vector recovery (sparse regression): the coefficient vector ``coef``
    and the ``intercept`` (0 unless the solver fitted one)."""

    coef: np.ndarray | None = None
    intercept: float = 0.0

    def rescaled(self, s: float, t: float = 1.0):
        """The result for the design multiplied by ``s`` and the targets by ``t``: ``coef``
        times ``t / s``, ``intercept`` times ``t``."""
        out = super().rescaled(s)
        out.coef = self.coef * (t / s)
        out.intercept = self.intercept * t
        return out

    def predict(self, X):
        """Linear predictions ``X @ coef + intercept``."""
        return np.asarray(X @ self.coef) + self.intercept


@dataclass
class KernelResult(RecoveryResult):
    """lin-RFM's compact representation of the completed matrix.

    With ``side='row'`` the completed matrix is ``B = A (K + lam I)`` (``A (K)`` without
    replacement), where ``A`` (n x d, sparse) holds each row's solve coefficients on its
    observed columns and ``K`` is the d x d kernel. With ``side='col'`` the same holds for
    ``B.T`` with an n x n kernel. Any entry is computed on demand in O(|Omega_i|) work, so
    the dense n x d matrix is never needed.

    Attributes
    ----------
    side : {'row', 'col'}
    coef : scipy.sparse.csr_matrix
        ``A`` (``side='row'``, shape (n, d)) or ``C`` (``side='col'``, shape (d, n)).
    kernel : ndarray
        The kernel the last half-step used.
    lam : float
        Absolute ridge of the last half-step.
    replace : bool
        Whether observed entries are kept exactly.
    """

    side: str = "row"
    coef: sp.csr_matrix | None = None
    kernel: np.ndarray | None = None
    lam: float = 0.0
    replace: bool = True

    def rescaled(self, s: float):
        """Predictions are linear in the coefficients: ``coef`` times ``s``."""
        out = super().rescaled(s)
        out.coef = self.coef * s
        return out

    def _shift(self):
        return self.lam if self.replace else 0.0

    def predict(self, rows, cols, chunk: int = 200_000, max_nnz: int = 2**22):
        """Predicted entries, computed in chunks of at most ``chunk`` queries whose
        coefficients total at most ``max_nnz`` (bounded memory for any number of queries).
        """
        rows, cols = self._check_pairs(rows, cols)
        if self.side == "col":
            rows, cols = cols, rows
        A = self.coef
        K = self.kernel
        shift = self._shift()
        out = np.empty(rows.size, dtype=np.float64)
        cum = np.cumsum(np.diff(A.indptr)[rows])
        s = 0
        while s < rows.size:
            base = cum[s - 1] if s else 0
            e = int(np.searchsorted(cum, base + max_nnz, side="right"))
            e = min(max(e, s + 1), s + chunk)
            r = rows[s:e]
            c = cols[s:e]
            sub = A[r]  # q x width, nnz = sum of |Omega_r|
            counts = np.diff(sub.indptr)
            q_of = np.repeat(np.arange(r.size), counts)
            k_idx = sub.indices
            kv = K[k_idx, c[q_of]]
            if shift:
                kv = kv + shift * (k_idx == c[q_of])
            out[s:e] = np.bincount(q_of, weights=sub.data * kv, minlength=r.size)
            s = e
        return out

    def to_dense(self):
        A = self.coef
        B = np.asarray(A @ self.kernel)
        if self._shift():
            B += self._shift() * A.toarray()
        return B.T if self.side == "col" else B
