"""What runs on the workers: the shuffle of the observations into row blocks and, per
iteration, each block's solves and its part of the AGOP.

Every function here is a pure function of its arguments (a Dask task): a block lost with
its worker is recomputed from the input graph, and the solves of an iteration from the
block and the kernel.
"""

from __future__ import annotations

from contextlib import contextmanager

import numpy as np

from ..solvers._rowsolve import LineSolver

__all__ = ["Block", "counts_of", "split", "build", "solve", "reduce_part", "coef_of"]


@contextmanager
def blas_limit(n_threads: int):
    """BLAS threads of this task limited to ``n_threads`` (threadpoolctl)."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=int(n_threads), user_api="blas"):
        yield


def _triples(df, names, transpose):
    row, col, value = names
    rows = np.asarray(df[row], dtype=np.int64)
    cols = np.asarray(df[col], dtype=np.int64)
    values = np.asarray(df[value], dtype=np.float64)
    return (cols, rows, values) if transpose else (rows, cols, values)


def counts_of(df, names):
    """Per input partition: the row counts, column counts and the number of observations
    (small: ``n + d`` integers), with the checks of the values."""
    rows, cols, values = _triples(df, names, False)
    if rows.size and (rows.min() < 0 or cols.min() < 0):
        raise ValueError(f"The {names[0]!r} and {names[1]!r} columns must be >= 0 indices.")
    if not np.all(np.isfinite(values)):
        raise ValueError(
            f"The {names[2]!r} column holds NaN or inf; observed values must be finite."
        )
    return np.bincount(rows), np.bincount(cols)


def split(df, names, transpose, bounds):
    """One input partition's observations cut by the row blocks ``[bounds[p], bounds[p+1])``."""
    rows, cols, values = _triples(df, names, transpose)
    which = np.searchsorted(bounds, rows, side="right") - 1
    order = np.argsort(which, kind="stable")
    cuts = np.searchsorted(which[order], np.arange(len(bounds)))
    return [
        (rows[order[a:b]], cols[order[a:b]], values[order[a:b]])
        for a, b in zip(cuts[:-1], cuts[1:])
    ]


class Block:
    """The observations of the rows ``[start, stop)``, ready for their solves.

    ``sample``: the block's rows (local numbers) on which the relative change is measured
    (None: all of them).
    """

    def __init__(self, rows, cols, values, start, stop, width, sample, dtype):
        self.start, self.stop, self.width = start, stop, width
        self.sample = sample
        self.values = values.astype(dtype)
        self.solver = LineSolver(rows - start, cols, self.values, stop - start, width)

    def rows_times(self, coef, M):
        """``A M`` on the sampled rows (dense; ``M`` None: the identity)."""
        A = self.solver.coef_matrix(coef)
        if self.sample is not None:
            A = A[self.sample]
        return A.toarray() if M is None else np.asarray(A @ M)


def build(start, stop, width, sample, dtype, *pieces):
    """The :class:`Block` of rows ``[start, stop)`` from every input partition's piece."""
    rows = np.concatenate([p[0] for p in pieces])
    cols = np.concatenate([p[1] for p in pieces])
    values = np.concatenate([p[2] for p in pieces])
    order = np.lexsort((cols, rows))
    rows, cols, values = rows[order], cols[order], values[order]
    dup = (rows[1:] == rows[:-1]) & (cols[1:] == cols[:-1])
    if dup.any():
        i = int(np.flatnonzero(dup)[0])
        raise ValueError(f"The entry ({rows[i]}, {cols[i]}) is observed more than once.")
    return Block(rows, cols, values, start, stop, width, sample, dtype)


def _shifted(kernel, replace):
    """``K + lam I`` (``K`` without replacement) for a shared ``(K, lam)``."""
    K, lam = kernel
    return K + lam * np.eye(K.shape[0], dtype=K.dtype) if replace and lam else K


def solve(block, kernel, n_threads):
    """The block's solve coefficients ``(K[O_i, O_i] + lam I) a_i = x_i``."""
    K, lam = kernel
    with blas_limit(n_threads):
        return block.solver.solve(K.astype(block.values.dtype, copy=False), lam)


def reduce_part(block, coef, prev, kernel, prev_kernel, replace, cross, n_threads):
    """The block's part of the next AGOP and of the relative change.

    Returns ``A^T A`` of the block, ``A^T A_prev`` when ``cross`` (momentum), and the
    squared norms of ``B - B_prev`` and of ``B_prev`` on the sampled rows, with
    ``B = A (K + lam I)``. ``prev`` None: the first iteration, ``B_prev`` the observations.
    """
    with blas_limit(n_threads):
        solver = block.solver
        out = {"S": solver.gram(coef)}
        if cross:
            out["X"] = solver.gram(coef, prev)
        B = block.rows_times(coef, _shifted(kernel, replace))
        if prev is None:
            B0 = block.rows_times(block.values, None)
        else:
            B0 = block.rows_times(prev, _shifted(prev_kernel, replace))
        out["num"] = float(((B - B0) ** 2).sum())
        out["den"] = float((B0**2).sum())
    return out


def gram_values(block, n_threads):
    """``Y^T Y`` of the block's observations: its part of the first AGOP."""
    with blas_limit(n_threads):
        return block.solver.gram(block.values)


def coef_of(block, coef):
    """The block's coefficients on its pattern (global row numbers), for the result."""
    s = block.solver
    return block.start, s.indptr, s.idx, coef
