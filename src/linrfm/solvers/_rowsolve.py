"""Batched kernel ridge solves, one per observed line (row or column) of a matrix.

For line ``i`` observed on ``Omega_i`` with values ``y_i``, the coefficient ``a_i`` solves
``(K[Omega_i, Omega_i] + lam I) a_i = y_i``. Lines are bucketed by their number of
observations and padded to the bucket's size. A padded slot points at an extra index
``width`` of a padded kernel whose row and column there are zero and whose diagonal entry is
the kernel's largest (plus the ridge), with a zero right-hand side: it solves to exactly
zero and does not touch the real unknowns. Each bucket is solved in batched calls of bounded
size, so the gathered blocks never take more than ``max_block_elements`` numbers at once.

The batches are shared out over as many threads as BLAS may use on the NumPy backend
(:mod:`linrfm.backend`, which this module uses and which knows nothing of it).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ..backend import NUMPY, parallel_map, worth_threading

__all__ = ["LineSolver", "largest_batch"]

# Bucket sizes grow geometrically: few buckets (each costs one batched call) and little
# padding (a padded block costs (c / c_true)^3 more to factor).
_BUCKET_GROWTH = 1.25
# Upper bound on the numbers gathered into one batch of blocks (32 MiB in float64).
_MAX_BLOCK_ELEMENTS = 2**22


def _bucket_edges(max_count: int) -> np.ndarray:
    edges = [1]
    while edges[-1] < max_count:
        edges.append(max(edges[-1] + 1, int(np.ceil(edges[-1] * _BUCKET_GROWTH))))
    return np.asarray(edges)


def _padded_sizes(counts: np.ndarray) -> np.ndarray:
    """The padded block size (the bucket's) of each count, all counts positive."""
    edges = _bucket_edges(int(counts.max()))
    return edges[np.searchsorted(edges, counts)]


def _per_batch(size, max_block_elements):
    """Blocks of one padded size gathered into one batched solve."""
    return np.maximum(1, max_block_elements // (size * size))


def largest_batch(counts, max_block_elements=_MAX_BLOCK_ELEMENTS) -> int:
    """Kernel entries gathered at once by the largest batched solve of lines observed
    ``counts`` times each (the memory of :meth:`LineSolver.solve` beyond its inputs)."""
    counts = np.asarray(counts, dtype=np.int64)
    counts = counts[counts > 0]
    if counts.size == 0:
        return 0
    sizes, members = np.unique(_padded_sizes(counts), return_counts=True)
    blocks = np.minimum(_per_batch(sizes, max_block_elements), members)
    return int(np.max(blocks * sizes * sizes))


def _pad_scale(K) -> float:
    """The largest diagonal entry of ``K`` (NumPy or torch; 1 when zero or not finite)."""
    top = float(abs(K.diagonal()).max()) if K.shape[0] else 0.0
    return top if 0.0 < top < np.inf else 1.0


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
        Array backend of the kernels and coefficients (``linrfm.backend.NUMPY`` by default,
        or a ``linrfm.backend.TorchOps``); the structure above is always given as NumPy arrays.
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
        # the pattern's data is a placeholder (coef_matrix puts the coefficients there):
        # the observed values, held anyway, rather than a new array of ones (160 MB at
        # 20 M observations)
        placeholder = np.asarray(values, dtype=np.float64)
        if placeholder.shape != idx.shape:
            placeholder = np.ones(idx.size)
        self._pattern = ops.pattern(
            sp.csr_matrix((placeholder, idx, self.indptr), shape=(n_lines, width))
        )
        # the scatter indices of the observations, on the backend's device
        self.lines_x = ops.index(lines)
        self.idx_x = ops.index(idx)
        self._y_ext = {}
        nonempty = np.flatnonzero(counts)
        if nonempty.size == 0:
            return
        size_of = _padded_sizes(counts[nonempty])
        for size in np.unique(size_of):
            members = nonempty[size_of == size]
            per_batch = int(_per_batch(size, max_block_elements))
            for s in range(0, members.size, per_batch):
                mem = members[s : s + per_batch]
                offs = np.arange(size)[None, :]
                pos = self.indptr[mem][:, None] + offs
                pos = np.where(offs >= counts[mem][:, None], self.n_obs, pos)
                # int32 positions where they fit: half the bytes of every padded batch
                self.batches.append(pos.astype(np.int32) if self.n_obs < 2**31 - 1 else pos)
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
        # the padded slot's diagonal is the kernel's own scale (plus the ridge, added with
        # the blocks'), never a fixed 1: a block's pivots and its pseudo-inverse's cut-off
        # stay relative to the block, whatever the data's units
        Kp = self._padded(K, _pad_scale(K))

        def solve_batch(pos):
            # batches hold disjoint positions (padding aside, which every batch writes
            # as zero into the spare last slot), so threads never write the same entry
            Kb = self._blocks(Kp, pos)
            diag = ops.index(np.arange(pos.shape[1]))
            Kb[:, diag, diag] += lam
            coef[pos] = ops.spd_solve(Kb, y_ext[pos])

        # torch parallelizes inside its own kernels; the pool is for NumPy/LAPACK
        threaded = ops.threaded_solves and worth_threading(self._solve_flops)
        parallel_map(solve_batch, self._batches_x, self.n_workers if threaded else 1)
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
        ops = self.ops
        if ops.sparse_products:
            A = self.coef_matrix(coef)
            return ops.sparse_gram(A, A if other is None else self.coef_matrix(other))
        # the sum over lines of the outer products of their coefficients, scattered block
        # by block into the padded kernel's shape
        w = self.width
        S = ops.zeros((w + 1) ** 2, coef.dtype)
        c_ext = ops.append_zero(coef)
        o_ext = c_ext if other is None else ops.append_zero(other)
        for pos in self._batches_x:
            u, v = c_ext[pos], o_ext[pos]
            ops.index_add(
                S, self._flat(pos).reshape(-1), (u[:, :, None] * v[:, None, :]).reshape(-1)
            )
        return S.reshape(w + 1, w + 1)[:w, :w]
