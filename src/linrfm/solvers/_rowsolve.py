"""Batched kernel ridge solves, one per observed line (row or column) of a matrix.

For line ``i`` observed on ``Omega_i`` with values ``y_i``, the coefficient ``a_i`` solves
``(K[Omega_i, Omega_i] + lam I) a_i = y_i``. Lines are bucketed by their number of
observations, padded to the bucket's size (a padded unknown has an identity row and a zero
right-hand side, so it solves to exactly zero) and solved in one batched call per bucket.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

__all__ = ["LineSolver"]

# Bucket sizes grow geometrically so there are few buckets and little padding.
_BUCKET_GROWTH = 1.15


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
    """

    def __init__(self, lines, idx, values, n_lines: int, width: int):
        self.n_lines = n_lines
        self.width = width
        self.idx = idx
        self.values = values
        counts = np.bincount(lines, minlength=n_lines)
        self.indptr = np.concatenate([[0], np.cumsum(counts)])
        self.buckets = []
        nonempty = np.flatnonzero(counts)
        if nonempty.size == 0:
            return
        edges = _bucket_edges(int(counts.max()))
        size_of = edges[np.searchsorted(edges, counts[nonempty])]
        for size in np.unique(size_of):
            members = nonempty[size_of == size]
            c = counts[members]
            # positions into the observation arrays, padded with -1
            offs = np.arange(size)[None, :]
            pos = self.indptr[members][:, None] + offs
            pad = offs >= c[:, None]
            pos = np.where(pad, -1, pos)
            self.buckets.append((members, pos, pad if pad.any() else None))
        self._pattern = sp.csr_matrix(
            (np.ones_like(values), idx, self.indptr), shape=(n_lines, width)
        )

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
        y = self.values if values is None else values
        coef = np.empty(y.shape, dtype=K.dtype)
        for _members, pos, pad in self.buckets:
            ii = self.idx[pos]  # pad slots read idx[-1]; masked below
            Kb = K[ii[:, :, None], ii[:, None, :]]
            rhs = y[pos]
            if pad is not None:
                Kb[pad] = 0.0
                Kb.transpose(0, 2, 1)[pad] = 0.0
                rhs = np.where(pad, 0.0, rhs)
            m, c = pos.shape
            diag = np.arange(c)
            Kb[:, diag, diag] += lam
            if pad is not None:
                Kb[:, diag, diag] = np.where(pad, 1.0, Kb[:, diag, diag])
            sol = _batched_spd_solve(Kb, rhs)
            if pad is None:
                coef[pos] = sol
            else:
                keep = ~pad
                coef[pos[keep]] = sol[keep]
        return coef

    def coef_matrix(self, coef: np.ndarray) -> sp.csr_matrix:
        """The sparse (n_lines x width) matrix holding ``coef`` on the observed pattern."""
        A = self._pattern.copy()
        A.data = coef
        return A


def _batched_spd_solve(Kb: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """Solve a stack of symmetric positive (semi-)definite systems ``Kb x = rhs``.

    Uses a batched LU solve; when some block is numerically singular (``lam = 0`` with a
    rank-deficient kernel) it falls back to a least-squares (minimum-norm) solve of the
    blocks, which stays correct for consistent systems.
    """
    try:
        sol = np.linalg.solve(Kb, rhs[..., None])[..., 0]
        if np.all(np.isfinite(sol)):
            return sol
    except np.linalg.LinAlgError:
        pass
    out = np.empty_like(rhs)
    for k in range(Kb.shape[0]):
        out[k] = np.linalg.lstsq(Kb[k], rhs[k], rcond=None)[0]
    return out
