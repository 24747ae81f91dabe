"""Seeded planted low-rank completion (the paper's setting), never building the full matrix."""

from __future__ import annotations

import numbers
from dataclasses import dataclass

import numpy as np

from .._validation import check_random_state, check_scalar
from ..problems import MatrixCompletion

__all__ = [
    "PlantedCompletion",
    "make_completion",
    "sample_entries",
]


class _PlantedFactors:
    """Shared by planted problems whose truth is ``U @ V.T`` and whose ``.problem`` has a shape."""

    @property
    def shape(self):
        return self.problem.shape

    @property
    def rank(self) -> int:
        return self.U.shape[1]

    def dense_truth(self) -> np.ndarray:
        """The full planted matrix (only for shapes small enough to hold)."""
        return self.U @ self.V.T


@dataclass
class PlantedCompletion(_PlantedFactors):
    """A synthetic completion problem with its planted truth ``Y = U @ V.T``.

    Attributes
    ----------
    problem : MatrixCompletion
        The observed (possibly noisy) entries: the only thing a solver may see.
    U : ndarray, shape (n, rank)
    V : ndarray, shape (d, rank)
        Factors of the truth, already scaled so that ``Y = U @ V.T`` has mean squared
        entry 1.
    noise : float
        Standard deviation of the Gaussian noise added to the observations.
    """

    problem: MatrixCompletion
    U: np.ndarray
    V: np.ndarray
    noise: float = 0.0

    def truth(self, rows, cols, chunk: int = 1_000_000) -> np.ndarray:
        """Entries of the planted matrix at ``(rows, cols)``, computed from the factors."""
        rows = np.asarray(rows, dtype=np.int64)
        cols = np.asarray(cols, dtype=np.int64)
        out = np.empty(rows.shape, dtype=np.float64)
        for s in range(0, rows.size, chunk):
            sl = slice(s, s + chunk)
            out[sl] = np.einsum("ij,ij->i", self.U[rows[sl]], self.V[cols[sl]])
        return out

    def unobserved(self, size=None, random_state=0):
        """Indices of unobserved entries: all of them, or a uniform sample of ``size``.

        With ``size=None`` every unobserved entry is returned (small matrices only).
        """
        n, d = self.shape
        observed = self.problem.rows * d + self.problem.cols  # sorted (CSR order)
        if size is None:
            mask = np.ones(n * d, dtype=bool)
            mask[observed] = False
            lin = np.flatnonzero(mask)
        else:
            rng = check_random_state(random_state)
            n_free = n * d - observed.size
            if size > n_free:
                raise ValueError(f"size={size} exceeds the {n_free} unobserved entries.")
            picked = np.empty(0, dtype=np.int64)
            while picked.size < size:
                cand = rng.integers(0, n * d, size=2 * (size - picked.size) + 16)
                pos = np.searchsorted(observed, cand)
                pos[pos == observed.size] = 0
                cand = cand[observed[pos] != cand]
                picked = np.unique(np.concatenate([picked, cand]))
            lin = rng.permutation(picked)[:size]
        return lin // d, lin % d

    def evaluate(self, predict, size=None, random_state=0) -> dict:
        """Relative error and MSE of ``predict(rows, cols)`` on unobserved entries.

        Parameters
        ----------
        predict : callable or object with ``predict(rows, cols)``
        size : int or None
            Evaluate on all unobserved entries (None) or on a uniform sample.
        """
        fn = predict.predict if hasattr(predict, "predict") else predict
        rows, cols = self.unobserved(size=size, random_state=random_state)
        truth = self.truth(rows, cols)
        pred = np.asarray(fn(rows, cols), dtype=np.float64)
        diff = pred - truth
        return {
            "rel_error": float(np.linalg.norm(diff) / np.linalg.norm(truth)),
            "mse": float(np.mean(diff**2)),
        }


def sample_entries(n: int, d: int, n_obs: int, min_per_line: int = 0, random_state=None):
    """Choose ``n_obs`` distinct entries of an ``n x d`` matrix, uniformly at random.

    With ``min_per_line > 0`` every row and every column first receives that many entries
    chosen uniformly within it; the rest are drawn uniformly from the remaining entries.

    Returns
    -------
    rows, cols : ndarray of int64, in row-major order
    """
    rng = check_random_state(random_state)
    total = n * d
    if n_obs > total:
        raise ValueError(f"n_obs={n_obs} exceeds the {total} entries of a {n}x{d} matrix.")
    forced = np.empty(0, dtype=np.int64)
    if min_per_line:
        if min_per_line > min(n, d):
            raise ValueError(
                f"min_per_line={min_per_line} exceeds the matrix's smaller side {min(n, d)}."
            )
        # Every row first gets min_per_line columns; then only the columns still short
        # of min_per_line get rows of their own (far fewer forced entries than forcing
        # both sides independently).
        r_cols = _distinct_per_line(n, d, min_per_line, rng)
        forced = np.unique(np.repeat(np.arange(n), min_per_line) * d + r_cols.ravel())
        short = np.flatnonzero(np.bincount(forced % d, minlength=d) < min_per_line)
        if short.size:
            c_rows = _distinct_per_line(short.size, n, min_per_line, rng)
            forced = np.union1d(forced, c_rows.ravel() * d + np.repeat(short, min_per_line))
        if forced.size > n_obs:
            raise ValueError(
                f"min_per_line={min_per_line} needs {forced.size} observations, more than "
                f"n_obs={n_obs}."
            )
    picked = forced
    while picked.size < n_obs:
        cand = rng.integers(0, total, size=int(1.1 * (n_obs - picked.size)) + 16)
        fresh = np.setdiff1d(cand, picked)
        fresh = rng.permutation(fresh)[: n_obs - picked.size]
        picked = np.union1d(picked, fresh)
    return picked // d, picked % d


def _distinct_per_line(n_lines: int, width: int, k: int, rng) -> np.ndarray:
    """For each of ``n_lines`` lines, ``k`` distinct positions in ``range(width)``."""
    if k <= 8 and width > 64 * k:
        out = rng.integers(0, width, size=(n_lines, k))
        while True:  # redraw lines holding a repeat (rare when width >> k)
            s = np.sort(out, axis=1)
            bad = np.flatnonzero(np.any(s[:, 1:] == s[:, :-1], axis=1))
            if not bad.size:
                return out
            out[bad] = rng.integers(0, width, size=(bad.size, k))
    return np.argsort(rng.random((n_lines, width)), axis=1)[:, :k]


def _check_low_rank_shape(n, d, rank):
    """Check the shape ``n x d`` and the rank ``1 <= rank <= min(n, d)`` of a planted matrix."""
    n = check_scalar(n, "n", kind=numbers.Integral, low=1)
    d = check_scalar(d, "d", kind=numbers.Integral, low=1)
    rank = check_scalar(rank, "rank", kind=numbers.Integral, low=1, high=min(n, d))
    return n, d, rank


def _unit_rms_factors(U, V):
    """``U`` and ``V`` times one factor so that ``U V^T`` has mean squared entry 1.

    ``||U V^T||_F^2 = tr((U^T U)(V^T V))``: no ``n x d`` product is formed.
    """
    n, d = U.shape[0], V.shape[0]
    scale = np.sqrt(n * d / float(np.sum((U.T @ U) * (V.T @ V))))
    return U * np.sqrt(scale), V * np.sqrt(scale)


def make_completion(
    n: int,
    d: int,
    rank: int,
    n_obs: int,
    *,
    noise: float = 0.0,
    min_per_line: int = 0,
    kappa: float | None = None,
    random_state=None,
) -> PlantedCompletion:
    """Planted low-rank completion problem in the setting of Radhakrishnan et al.

    The truth is ``Y = U V^T / sqrt(r)`` with standard Gaussian factors, rescaled so that
    ``||Y||_F = sqrt(n d)`` (mean squared entry 1). Exactly ``n_obs`` entries are observed,
    uniformly without replacement. ``Y`` itself is never built.

    Parameters
    ----------
    n, d : int
        Shape of the matrix.
    rank : int
        Rank of the truth, ``1 <= rank <= min(n, d)``.
    n_obs : int
        Number of observed entries.
    noise : float, default=0
        Standard deviation of Gaussian noise added to the observed values.
    min_per_line : int, default=0
        Every row and column receives at least this many observations (a rank-r row with
        fewer than r observations cannot be recovered by any method).
    kappa : float >= 1, optional
        Condition number of the truth: ``Y = U_o diag(s) V_o^T`` with orthonormal ``U_o``,
        ``V_o`` (QR of Gaussians) and singular values ``s`` geometric from 1 to ``1 / kappa``
        (the ill-conditioned setting of Kuemmerle & Verdun, 2021), then rescaled to mean
        squared entry 1. None keeps the Gaussian factors.
    random_state : None, int or numpy.random.Generator

    Returns
    -------
    PlantedCompletion
    """
    n, d, rank = _check_low_rank_shape(n, d, rank)
    if kappa is not None:
        kappa = check_scalar(kappa, "kappa", low=1)
    n_obs = check_scalar(n_obs, "n_obs", kind=numbers.Integral, low=1, high=n * d)
    noise = check_scalar(noise, "noise", low=0)
    min_per_line = check_scalar(min_per_line, "min_per_line", kind=numbers.Integral, low=0)
    rng = check_random_state(random_state)
    U, V = rng.standard_normal((n, rank)), rng.standard_normal((d, rank))
    if kappa is not None:
        root = np.sqrt(np.geomspace(1.0, 1.0 / kappa, rank))
        U, V = np.linalg.qr(U)[0] * root, np.linalg.qr(V)[0] * root
    U, V = _unit_rms_factors(U, V)
    rows, cols = sample_entries(n, d, n_obs, min_per_line, rng)
    planted = PlantedCompletion(None, U, V, noise)  # type: ignore[arg-type]
    values = planted.truth(rows, cols)
    if noise:
        values = values + noise * rng.standard_normal(values.size)
    planted.problem = MatrixCompletion(rows, cols, values, (n, d))
    return planted
