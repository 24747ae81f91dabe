"""Batched kernel ridge solves, one per observed line (row or column) of a matrix.

For line ``i`` observed on ``Omega_i`` with values ``y_i``, the coefficient ``a_i`` solves
``(K[Omega_i, Omega_i] + lam I) a_i = y_i``. Lines are bucketed by their number of
observations and padded to the bucket's size. A padded slot points at an extra index
``width`` of a padded kernel whose row and column there are zero and whose diagonal entry is
1 after the ridge is added, with a zero right-hand side: it solves to exactly zero and does
not touch the real unknowns. Each bucket is solved in batched calls of bounded size, so the
gathered blocks never take more than ``max_block_elements`` numbers at once.

The batches, and the rows of the sparse x dense products, are shared out over as many
threads as BLAS may use (``threadpoolctl``; ``OPENBLAS_NUM_THREADS=1`` or
``threadpool_limits(1)`` keeps everything on one core): NumPy's gathers, LAPACK and
SciPy's sparse kernels release the GIL, so the threads run in parallel.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import scipy.sparse as sp
from scipy.linalg import get_lapack_funcs

from ._backend import NUMPY

__all__ = ["LineSolver"]

# Bucket sizes grow geometrically: few buckets (each costs one batched call) and little
# padding (a padded block costs (c / c_true)^3 more to factor).
_BUCKET_GROWTH = 1.25
# Blocks at least this large are solved one LAPACK Cholesky call each (see below).
_POSV_MIN = 32
# Upper bound on the numbers gathered into one batch of blocks (32 MiB in float64).
_MAX_BLOCK_ELEMENTS = 2**22


# Below this many multiply-adds a product or a set of solves stays on the calling thread:
# on the canonical 500 x 500 problem (~1e7 per half-step) a pool made the fit 1.4x slower
# with 2 threads (3.6 s against 2.6 s), while the 5,000^2 problem (~1e10) gains ~1.9x.
_PARALLEL_MIN_FLOPS = 100_000_000


def blas_threads() -> int:
    """Number of threads the BLAS libraries may use now (1 when none is found)."""
    from threadpoolctl import threadpool_info

    counts = [int(i["num_threads"]) for i in threadpool_info() if i.get("user_api") == "blas"]
    return max(1, min(counts)) if counts else 1


def _parallel_map(fn, items, n_workers):
    if n_workers <= 1 or len(items) <= 1:
        return [fn(it) for it in items]
    with ThreadPoolExecutor(max_workers=min(n_workers, len(items))) as pool:
        return list(pool.map(fn, items))


def sparse_dense_matmul(A: sp.csr_matrix, M: np.ndarray, n_workers: int = 1) -> np.ndarray:
    """``A @ M`` for CSR ``A`` and dense ``M``, its rows split over ``n_workers`` threads."""
    n = A.shape[0]
    if n_workers <= 1 or A.nnz * M.shape[1] < _PARALLEL_MIN_FLOPS or n < 2 * n_workers:
        return np.asarray(A @ M)
    out = np.empty((n, M.shape[1]), dtype=np.result_type(A.dtype, M.dtype))
    # split at equal numbers of nonzeros, so every thread gets the same work
    cuts = np.searchsorted(A.indptr, np.linspace(0, A.nnz, n_workers + 1)[1:-1])
    bounds = list(zip(np.r_[0, cuts], np.r_[cuts, n]))

    def part(b):
        lo, hi = b
        out[lo:hi] = A[lo:hi] @ M

    _parallel_map(part, bounds, n_workers)
    return out


def _bucket_edges(max_count: int) -> np.ndarray:
    edges = [1]
    while edges[-1] < max_count:
        edges.append(max(edges[-1] + 1, int(np.ceil(edges[-1] * _BUCKET_GROWTH))))
    return np.asarray(edges)


class LineSolver:
    """Observation structure of one side of a completion problem, ready for batched solves.

    Parameters
    ----------
    lines : ndarray of int64, shape (n_obs,)
        Line (sample) index of each observation, sorted ascending.
    idx : ndarray of int64, shape (n_obs,)
        Position within the line (the feature index) of each observation.
    values : ndarray, shape (n_obs,)
        Observed values in the same order.
    n_lines, width : int
        Number of lines and the length of each line (the kernel's size).
    max_block_elements : int, optional
        Largest number of kernel entries gathered for one batched solve.
    ops : backend, optional
        Array backend of the kernels and coefficients (``_backend.NUMPY`` by default, or a
        ``_backend.TorchOps``); the structure above is always given as NumPy arrays.
    """

    def __init__(
        self,
        lines,
        idx,
        values,
        n_lines: int,
        width: int,
        max_block_elements=_MAX_BLOCK_ELEMENTS,
        ops=NUMPY,
    ):
        self.ops = ops
        self.n_lines = n_lines
        self.width = width
        self.n_workers = 1
        self.idx = idx
        self.values = values
        self.n_obs = idx.size
        counts = np.bincount(lines, minlength=n_lines)
        self.counts = counts
        # multiply-adds of one set of block solves (fixed by the pattern): gates the pool
        self._solve_flops = self.sum_sq_counts * float(counts.max(initial=0))
        self.indptr = np.concatenate([[0], np.cumsum(counts)])
        # (positions into the observation arrays, padded with n_obs; line index padded
        # with width) for every batch of blocks
        self.batches = []
        self._pattern = ops.pattern(
            sp.csr_matrix(
                (np.ones(idx.size, dtype=np.float64), idx, self.indptr), shape=(n_lines, width)
            )
        )
        # the scatter indices of the observations, on the backend's device
        self.lines_x = ops.index(lines)
        self.idx_x = ops.index(idx)
        self._y_ext = {}
        nonempty = np.flatnonzero(counts)
        if nonempty.size == 0:
            return
        edges = _bucket_edges(int(counts.max()))
        size_of = edges[np.searchsorted(edges, counts[nonempty])]
        for size in np.unique(size_of):
            members = nonempty[size_of == size]
            per_batch = max(1, int(max_block_elements // (size * size)))
            for s in range(0, members.size, per_batch):
                mem = members[s : s + per_batch]
                offs = np.arange(size)[None, :]
                pos = self.indptr[mem][:, None] + offs
                pos = np.where(offs >= counts[mem][:, None], self.n_obs, pos)
                self.batches.append(pos)
        self._idx_ext = ops.index(np.append(idx, width))
        self._batches_x = [ops.index(pos) for pos in self.batches]

    @property
    def sum_sq_counts(self) -> int:
        """``sum_i |Omega_i|^2``, the size of all the blocks together."""
        return int(np.sum(self.counts.astype(np.int64) ** 2))

    def _padded(self, K, fill):
        """``K`` with an extra index ``width``: zero row and column, ``fill`` on the diagonal."""
        w = self.width
        Kp = self.ops.zeros((w + 1, w + 1), K.dtype)
        Kp[:w, :w] = K
        Kp[w, w] = fill
        return Kp

    def _flat(self, pos):
        """Flat indices into the padded kernel of every block of the batch ``pos``."""
        ii = self._idx_ext[pos]
        return ii[:, :, None] * (self.width + 1) + ii[:, None, :]

    def _blocks(self, Kp, pos):
        c = pos.shape[1]
        return Kp.take(self._flat(pos)).reshape(pos.shape[0], c, c)

    def solve(self, K: np.ndarray, lam: float, values=None) -> np.ndarray:
        """Coefficients of every observation, in observation order.

        Parameters
        ----------
        K : ndarray, shape (width, width)
            Symmetric positive semi-definite kernel.
        lam : float
            Absolute ridge added to each block.
        values : ndarray, optional
            Right-hand sides (defaults to the observed values).
        """
        ops = self.ops
        y_ext = self._y_ext.get(K.dtype) if values is None else None
        if y_ext is None:
            y_ext = ops.zeros(self.n_obs + 1, K.dtype)
            y_ext[:-1] = ops.array(self.values if values is None else values)
            if values is None:
                self._y_ext[K.dtype] = y_ext
        coef = ops.zeros(self.n_obs + 1, K.dtype)
        Kp = self._padded(K, 1.0 - lam)

        def solve_batch(pos):
            # batches hold disjoint positions (padding aside, which every batch writes
            # as zero into the spare last slot), so threads never write the same entry
            Kb = self._blocks(Kp, pos)
            diag = ops.index(np.arange(pos.shape[1]))
            Kb[:, diag, diag] += lam
            coef[pos] = ops.spd_solve(Kb, y_ext[pos])

        # torch parallelizes inside its own kernels; the pool is for NumPy/LAPACK
        threaded = ops.threaded_solves and self._solve_flops >= _PARALLEL_MIN_FLOPS
        _parallel_map(solve_batch, self._batches_x, self.n_workers if threaded else 1)
        coef[-1] = 0
        return coef[:-1]

    def block_quadratic(self, M: np.ndarray, u: np.ndarray, v: np.ndarray) -> float:
        """``sum_i u_i^T M[Omega_i, Omega_i] v_i`` over lines (``u``, ``v`` in obs. order)."""
        Mp = self._padded(M, 0.0)
        u_ext = np.append(u, 0)
        v_ext = np.append(v, 0)
        total = 0.0
        for pos in self.batches:
            Mb = self._blocks(Mp, pos)
            total += float(np.einsum("mi,mij,mj->", u_ext[pos], Mb, v_ext[pos]))
        return total

    def coef_matrix(self, coef: np.ndarray) -> sp.csr_matrix:
        """The sparse (n_lines x width) matrix holding ``coef`` on the observed pattern
        (a SciPy CSR matrix on NumPy; the backend's own sparse type otherwise)."""
        return self.ops.sparse(self._pattern, coef)

    def gram(self, coef: np.ndarray, other: np.ndarray | None = None) -> np.ndarray:
        """``A^T A2`` (dense, width x width) for ``A = coef_matrix(coef)`` and
        ``A2 = coef_matrix(other)`` (``A`` itself when ``other`` is None)."""
        return self.ops.gram(self, coef, other)


def _batched_spd_solve(Kb: np.ndarray, rhs: np.ndarray) -> np.ndarray:
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
