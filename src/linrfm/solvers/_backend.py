"""Array backends for lin-RFM: NumPy, and PyTorch (CPU or CUDA) when it is installed.

The solver's arithmetic is written once: ``@``, ``.T``, ``.trace()``, ``.clip(min=)``,
``.take()``, ``.sum()`` and integer-array indexing mean the same on an ndarray and on a
tensor. What differs between the two array modules -- creating arrays, index arrays on a
device, eigendecomposition, the batched positive-definite solve, the sparse coefficient
matrix -- is gathered in one small class per backend. The array module follows the input
(the idea of scikit-learn's ``get_namespace``): observed values given as a tensor run on
that tensor's device; ``device=`` picks a torch device for NumPy input.
"""

from __future__ import annotations

import re
import sys

import numpy as np
import scipy.sparse as sp

__all__ = ["NUMPY", "TorchOps", "get_backend", "is_tensor", "ops_of", "to_numpy_input"]

_DEVICE_FORMS = "None, 'cpu', 'cuda', 'cuda:N' or a torch.device"


class NumpyOps:
    """NumPy/SciPy primitives (the default backend)."""

    name = "numpy"
    device = None
    # the line solver shares its batches over a thread pool (LAPACK releases the GIL)
    threaded_solves = True

    def array(self, x, dtype=None):
        return np.asarray(x, dtype=dtype)

    def index(self, a):
        return np.asarray(a, dtype=np.int64)

    def zeros(self, shape, dtype):
        return np.zeros(shape, dtype=dtype)

    def eye(self, n, dtype):
        return np.eye(n, dtype=dtype)

    def to_numpy(self, x):
        return x

    def set_threads(self, n):
        """BLAS threads are limited through threadpoolctl; nothing else to set."""
        return None

    def as_float64(self, x):
        return x.astype(np.float64, copy=False)

    def eigh(self, G):
        return np.linalg.eigh(G)

    def spd_solve(self, Kb, rhs):
        from ._rowsolve import _batched_spd_solve  # (imported here: _rowsolve imports us)

        return _batched_spd_solve(Kb, rhs)

    def pattern(self, pattern: sp.csr_matrix):
        return pattern

    def sparse(self, pattern, data):
        A = pattern.copy()
        A.data = data
        return A

    def spmm(self, A, K, n_workers=1):
        from ._rowsolve import sparse_dense_matmul

        return sparse_dense_matmul(A, K, n_workers)

    def gram(self, solver, coef, other=None):
        A = solver.coef_matrix(coef)
        A2 = A if other is None else solver.coef_matrix(other)
        return np.asarray((A.T @ A2).toarray())

    def to_scipy(self, A):
        return A


NUMPY = NumpyOps()


class TorchOps:
    """PyTorch primitives on one device (CPU or CUDA).

    Sparse coefficient matrices are COO tensors on the observed pattern (stable in torch,
    unlike its CSR layout); the pattern is kept as a SciPy CSR matrix too, to hand the
    result back as NumPy/SciPy arrays.
    """

    threaded_solves = False

    name = "torch"

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

    def gram(self, solver, coef, other=None):
        """``A^T A2`` as the sum over lines of the outer products of their coefficients,
        scattered block by block (torch's sparse-sparse product is still beta)."""
        w = solver.width
        S = self.torch.zeros((w + 1) ** 2, dtype=coef.dtype, device=self.device)
        c_ext = self.torch.cat([coef, coef.new_zeros(1)])
        o_ext = c_ext if other is None else self.torch.cat([other, other.new_zeros(1)])
        for pos in solver._batches_x:
            u, v = c_ext[pos], o_ext[pos]
            S.index_add_(
                0, solver._flat(pos).reshape(-1), (u[:, :, None] * v[:, None, :]).reshape(-1)
            )
        return S.reshape(w + 1, w + 1)[:w, :w]

    def to_scipy(self, A):
        out = A[1][0].copy()
        out.data = self.to_numpy(A[0].values())
        return out


def is_tensor(x) -> bool:
    """Whether ``x`` is a torch tensor (without importing torch)."""
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(x, torch.Tensor)


def ops_of(x):
    """The backend of the array ``x`` (NumPy, or torch on ``x``'s device)."""
    return TorchOps(x.device) if is_tensor(x) else NUMPY


def _import_torch():
    try:
        import torch
    except ImportError as exc:
        raise ImportError(
            'The PyTorch backend of linrfm needs torch: pip install "linrfm[torch]" '
            "(or pip install torch==2.13.0 for a CPU build)."
        ) from exc
    return torch


def get_backend(device=None, like=None):
    """The backend for the ``device`` parameter and the input ``like``.

    NumPy input with ``device=None`` gives NumPy; a tensor input gives torch on that
    tensor's device; ``device`` (a str or ``torch.device``) gives torch on that device,
    whatever the input (a tensor elsewhere is moved there).

    Raises
    ------
    ImportError
        When torch is needed and not installed.
    ValueError
        For an unknown or unavailable device, naming the available ones.
    """
    if device is None:
        if like is None:
            return NUMPY
        return TorchOps(like.device)
    if isinstance(device, str):
        if not re.fullmatch(r"cpu|cuda(:\d+)?", device):
            raise ValueError(f"The 'device' parameter must be {_DEVICE_FORMS}; got {device!r}.")
    elif type(device).__name__ != "device" or not type(device).__module__.startswith("torch"):
        raise ValueError(f"The 'device' parameter must be {_DEVICE_FORMS}; got {device!r}.")
    torch = _import_torch()
    dev = torch.device(device)
    n_cuda = torch.cuda.device_count() if torch.cuda.is_available() else 0
    available = ["cpu"] + [f"cuda:{k}" for k in range(n_cuda)]
    if dev.type not in ("cpu", "cuda") or (
        dev.type == "cuda" and (n_cuda == 0 or (dev.index or 0) >= n_cuda)
    ):
        raise ValueError(
            f"The 'device' parameter is {str(device)!r}, which torch cannot use here "
            f"(torch.cuda.is_available() is {torch.cuda.is_available()}); available: "
            f"{', '.join(repr(a) for a in available)}."
        )
    return TorchOps(dev)


def to_numpy_input(X):
    """Completion input with torch tensors read back as NumPy/SciPy, and the tensor that
    holds the observed values (None for NumPy input): its device and dtype lead.

    Accepts a dense tensor with NaN for the missing entries, a sparse COO tensor, or a
    ``(rows, cols, values)`` tuple holding tensors; anything else is returned unchanged.
    """
    if isinstance(X, tuple):
        parts = [to_numpy_input(x) for x in X]
        tensors = [t for _, t in parts[-1:] + parts if t is not None]  # values first
        return tuple(p for p, _ in parts), (tensors[0] if tensors else None)
    if not is_tensor(X):
        return X, None
    if X.layout != sys.modules["torch"].strided:
        C = X.detach().coalesce().cpu()
        r, c = C.indices().numpy()
        return sp.coo_matrix((C.values().numpy(), (r, c)), shape=tuple(C.shape)), X
    return X.detach().cpu().numpy(), X
