"""The data term shared by the gradient-based solvers, for completion and for sensing.

``f(X) = ||A(X) - y||^2 / (2 p)`` where ``p`` makes ``A*A / p`` close to the identity on
average: the sampling rate ``m / (n d)`` for completion, ``E ||A(Z)||^2 / ||Z||^2`` over random
``Z`` (a property of the operator, never of the unknown) for sensing. The data are divided by
``sigma``, an estimate of ``||X*||_2`` from ``||A*(y)||_2 / p``, so that step sizes and
initialization scales are unit-free.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from ..problems import MatrixSensing, as_completion_problem

__all__ = ["Measurements"]


class Measurements:
    """Completion or sensing data with ``residual``, ``grad_matrix`` and scale estimates.

    Parameters
    ----------
    problem : MatrixSensing or any completion input
    shape : tuple, optional
        For triple completion input.
    """

    def __init__(self, problem, shape=None):
        if isinstance(problem, MatrixSensing):
            self.kind = "sensing"
            self.prob = None  # the completion problem (its pattern, for the certificate)
            self.op = problem.operator
            self.y = problem.y
            self.shape = tuple(problem.shape)
            n, d = self.shape
            rng = np.random.default_rng(0)
            Zs = rng.standard_normal((3, n, d))
            self.p = float(np.mean([np.sum(self.op.apply(Z) ** 2) / np.sum(Z**2) for Z in Zs]))
        else:
            self.kind = "completion"
            prob = as_completion_problem(problem, shape)
            self.rows, self.cols, self.y = prob.rows, prob.cols, prob.values
            self.shape = prob.shape
            n, d = self.shape
            self.p = prob.n_obs / (n * d)
            self._indptr = prob.indptr
            self.prob = prob
        self.m = int(self.y.size)
        self.sigma = self._sigma()

    def _sigma(self) -> float:
        M = self.adjoint(self.y)
        if sp.issparse(M) and min(M.shape) > 2:
            s = spla.svds(M, k=1, return_singular_vectors=False, random_state=0)[0]
        else:
            M = M.toarray() if sp.issparse(M) else M
            s = np.linalg.norm(M, 2)
        s = float(s) / self.p
        return s if s > 0 else 1.0

    def apply_factors(self, U, V) -> np.ndarray:
        """``A(U V^T)`` without forming ``U V^T`` for completion."""
        if self.kind == "completion":
            return np.einsum("ij,ij->i", U[self.rows], V[self.cols])
        return self.op.apply(U @ V.T)

    def apply(self, X) -> np.ndarray:
        """``A(X)`` of a dense matrix."""
        if self.kind == "completion":
            return X[self.rows, self.cols]
        return self.op.apply(X)

    def adjoint(self, r):
        """``A*(r)``: a CSR matrix for completion, a dense array for sensing."""
        if self.kind == "completion":
            return sp.csr_matrix((r, self.cols, self._indptr), shape=self.shape)
        return self.op.adjoint(r)
