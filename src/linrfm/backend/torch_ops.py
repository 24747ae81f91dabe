"""The PyTorch backend (CPU or CUDA): the primitives of :class:`~.numpy_ops.NumpyOps` on
tensors of one device."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

__all__ = ["TorchOps"]


class TorchOps:
    """PyTorch primitives on one device (CPU or CUDA).

    Sparse matrices are COO tensors on a fixed pattern (stable in torch, unlike its CSR
    layout); the pattern is kept as a SciPy CSR matrix too, to hand results back as
    NumPy/SciPy arrays.
    """

    name = "torch"
    # torch parallelizes inside its own kernels: no thread pool of ours
    threaded_solves = False
    # torch's sparse x sparse product is still beta: Gram matrices are scattered instead
    sparse_products = False

    def __init__(self, device):
        import torch

        self.torch = torch
        self.device = torch.device(device)
        self._dtypes = {np.dtype(np.float32): torch.float32, np.dtype(np.float64): torch.float64}

    def _dtype(self, dtype):
        if dtype is None or isinstance(dtype, self.torch.dtype):
            return dtype
        return self._dtypes[np.dtype(dtype)]

    def array(self, x, dtype=None):
        return self.torch.as_tensor(x, dtype=self._dtype(dtype), device=self.device)

    def index(self, a):
        return self.torch.as_tensor(np.asarray(a, dtype=np.int64), device=self.device)

    def zeros(self, shape, dtype):
        return self.torch.zeros(shape, dtype=self._dtype(dtype), device=self.device)

    def eye(self, n, dtype):
        return self.torch.eye(n, dtype=self._dtype(dtype), device=self.device)

    def to_numpy(self, x):
        return x.detach().cpu().numpy()

    def set_threads(self, n):
        """Set torch's intra-op threads to ``n`` (None: leave them); return the old count."""
        if n is None:
            return None
        old = self.torch.get_num_threads()
        self.torch.set_num_threads(n)
        return old

    def as_float64(self, x):
        return x.to(self.torch.float64)

    def eigh(self, G):
        return self.torch.linalg.eigh(G)

    def spd_solve(self, Kb, rhs):
        """Batched Cholesky; blocks that fail it (numerically singular) or give a non-finite
        solution get the minimum-norm least-squares solution, as on NumPy."""
        torch = self.torch
        L, info = torch.linalg.cholesky_ex(Kb)
        x = torch.cholesky_solve(rhs[..., None], L)[..., 0]
        bad = (info != 0) | ~torch.isfinite(x).all(dim=-1)
        if bool(bad.any()):
            x[bad] = (torch.linalg.pinv(Kb[bad], hermitian=True) @ rhs[bad][..., None])[..., 0]
        return x

    def pattern(self, pattern: sp.csr_matrix):
        coo = pattern.tocoo()
        ij = self.index(np.vstack([coo.row, coo.col]))
        return pattern, ij

    def sparse(self, pattern, data):
        csr, ij = pattern
        return (
            self.torch.sparse_coo_tensor(
                ij, data, csr.shape, is_coalesced=True, check_invariants=False
            ),
            pattern,
        )

    def spmm(self, A, K, n_workers=1):
        """(``n_workers`` is NumPy's; torch threads inside its own kernels.)"""
        return self.torch.sparse.mm(A[0], K)

    def append_zero(self, x):
        return self.torch.cat([x, x.new_zeros(1)])

    def index_add(self, S, idx, values):
        """``S[idx] += values`` with repeated indices summed (in place)."""
        return S.index_add_(0, idx, values)

    def to_scipy(self, A):
        out = A[1][0].copy()
        out.data = self.to_numpy(A[0].values())
        return out
