"""The NumPy/SciPy backend, and the threaded NumPy kernels it runs on.

Products and sets of solves are shared out over as many threads as BLAS may use
(``threadpoolctl``; ``OPENBLAS_NUM_THREADS=1`` or ``threadpool_limits(1)`` keeps everything
on one core): NumPy's gathers, LAPACK and SciPy's sparse kernels release the GIL, so the
threads run in parallel.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import scipy.sparse as sp
from scipy.linalg import get_lapack_funcs

__all__ = [
    "NUMPY",
    "NumpyOps",
    "batched_spd_solve",
    "blas_threads",
    "parallel_map",
    "sparse_dense_matmul",
    "worth_threading",
]

# Blocks at least this large are solved one LAPACK Cholesky call each (see
# batched_spd_solve).
_POSV_MIN = 32

# Below this many multiply-adds a product or a set of solves stays on the calling thread:
# on the canonical 500 x 500 problem (~1e7 per half-step) a pool made the fit 1.4x slower
# with 2 threads (3.6 s against 2.6 s), while the 5,000^2 problem (~1e10) gains ~1.9x.
_PARALLEL_MIN_FLOPS = 100_000_000


def worth_threading(flops: float) -> bool:
    """Whether work of ``flops`` multiply-adds is worth a thread pool."""
    return flops >= _PARALLEL_MIN_FLOPS


def blas_threads() -> int:
    """Number of threads the BLAS libraries may use now (1 when none is found)."""
    from threadpoolctl import threadpool_info

    counts = [int(i["num_threads"]) for i in threadpool_info() if i.get("user_api") == "blas"]
    return max(1, min(counts)) if counts else 1


def parallel_map(fn, items, n_workers):
    """``[fn(x) for x in items]``, over a pool of ``n_workers`` threads when above 1."""
    if n_workers <= 1 or len(items) <= 1:
        return [fn(it) for it in items]
    with ThreadPoolExecutor(max_workers=min(n_workers, len(items))) as pool:
        return list(pool.map(fn, items))


def sparse_dense_matmul(A: sp.csr_matrix, M: np.ndarray, n_workers: int = 1) -> np.ndarray:
    """``A @ M`` for CSR ``A`` and dense ``M``, its rows split over ``n_workers`` threads."""
    n = A.shape[0]
    if n_workers <= 1 or not worth_threading(A.nnz * M.shape[1]) or n < 2 * n_workers:
        return np.asarray(A @ M)
    out = np.empty((n, M.shape[1]), dtype=np.result_type(A.dtype, M.dtype))
    # split at equal numbers of nonzeros, so every thread gets the same work
    cuts = np.searchsorted(A.indptr, np.linspace(0, A.nnz, n_workers + 1)[1:-1])
    bounds = list(zip(np.r_[0, cuts], np.r_[cuts, n]))

    def part(b):
        lo, hi = b
        out[lo:hi] = A[lo:hi] @ M

    parallel_map(part, bounds, n_workers)
    return out


def batched_spd_solve(Kb: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """Solve a stack of symmetric positive (semi-)definite systems ``Kb x = rhs``.

    Small blocks go through numpy's batched LU solve; blocks of size ``_POSV_MIN`` and more
    through LAPACK's Cholesky solver ``posv``, one call per block (half the flops of LU,
    and the per-call overhead is negligible at that size: 1.4-1.7x faster, measured). When
    a block is numerically singular (``lam = 0`` with a rank-deficient kernel) it falls
    back to the minimum-norm least-squares solution (a pseudo-inverse), which stays correct
    for consistent systems.
    """
    m, c = rhs.shape
    if c >= _POSV_MIN:
        (posv,) = get_lapack_funcs(("posv",), (Kb,))
        out = np.empty_like(rhs)
        for k in range(m):
            # the block is symmetric: its transpose is the Fortran-ordered view LAPACK wants
            _, x, info = posv(Kb[k].T, rhs[k], lower=1)
            if info != 0 or not np.all(np.isfinite(x)):
                x = np.linalg.pinv(Kb[k], hermitian=True) @ rhs[k]
            out[k] = x
        return out
    try:
        sol = np.linalg.solve(Kb, rhs[..., None])[..., 0]
        if np.all(np.isfinite(sol)):
            return sol
    except np.linalg.LinAlgError:
        pass
    return (np.linalg.pinv(Kb, hermitian=True) @ rhs[..., None])[..., 0]


class NumpyOps:
    """NumPy/SciPy primitives (the default backend)."""

    name = "numpy"
    device = None
    # a set of solves is shared over a thread pool (LAPACK releases the GIL)
    threaded_solves = True
    # sparse x sparse products are available (SciPy), so a Gram matrix of sparse
    # matrices is one product
    sparse_products = True

    def array(self, x, dtype=None):
        return np.asarray(x, dtype=dtype)

    def index(self, a):
        # integer indices as they are (an int32 array stays int32, not a copy); the
        # arithmetic on indices that could overflow is done on int64 arrays
        a = np.asarray(a)
        return a if a.dtype.kind in "iu" else a.astype(np.int64)

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
        return batched_spd_solve(Kb, rhs)

    def pattern(self, pattern: sp.csr_matrix):
        return pattern

    def sparse(self, pattern, data):
        # the pattern's index arrays are shared, not copied (a copy of a 20 M-entry
        # pattern was 240 MB for every coefficient matrix)
        return sp.csr_matrix((data, pattern.indices, pattern.indptr), shape=pattern.shape)

    def spmm(self, A, K, n_workers=1):
        return sparse_dense_matmul(A, K, n_workers)

    def sparse_gram(self, A, A2):
        """``A^T A2`` of two sparse matrices, dense."""
        return np.asarray((A.T @ A2).toarray())

    def append_zero(self, x):
        return np.append(x, x.dtype.type(0))

    def index_add(self, S, idx, values):
        """``S[idx] += values`` with repeated indices summed (in place)."""
        np.add.at(S, idx, values)
        return S

    def to_scipy(self, A):
        return A


NUMPY = NumpyOps()
