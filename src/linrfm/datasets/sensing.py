"""Seeded planted matrix-sensing problems (Gaussian, symmetric, PSD, rank-one, entry sampling)."""

from __future__ import annotations

import numbers
from dataclasses import dataclass

import numpy as np

from .._validation import check_option, check_random_state, check_scalar
from ..problems import EntrySampling, GaussianOperator, MatrixSensing, RankOneOperator
from .completion import (
    _check_low_rank_shape,
    _PlantedFactors,
    _unit_rms_factors,
    sample_entries,
)

__all__ = ["PlantedSensing", "make_sensing", "relative_error"]

OPERATORS = ("gaussian", "symmetric", "psd", "rank-one", "entries")


@dataclass
class PlantedSensing(_PlantedFactors):
    """A synthetic sensing problem ``y = A(X*)`` with its planted truth ``X* = U V^T``.

    Attributes
    ----------
    problem : MatrixSensing
        The operator and measurements: the only thing a solver may see.
    U, V : ndarray
        Factors of the truth (``V is U`` for PSD problems), scaled so that ``X*`` has mean
        squared entry 1.
    """

    problem: MatrixSensing
    U: np.ndarray
    V: np.ndarray

    def evaluate(self, X) -> dict:
        """Relative Frobenius error of a recovered matrix (or of a result's ``to_dense()``)."""
        X = X.to_dense() if hasattr(X, "to_dense") else np.asarray(X)
        return {"rel_error": relative_error(X, self.dense_truth())}


def relative_error(X, truth) -> float:
    """``||X - truth||_F / ||truth||_F``."""
    return float(np.linalg.norm(X - truth) / np.linalg.norm(truth))


def make_sensing(
    n: int,
    d: int,
    rank: int,
    m: int,
    *,
    operator: str = "gaussian",
    noise: float = 0.0,
    random_state=None,
) -> PlantedSensing:
    """Planted low-rank sensing problem ``y = A(U V^T) (+ noise)``.

    Parameters
    ----------
    n, d : int
        Shape of the unknown matrix.
    rank : int
        Rank of the truth, ``1 <= rank <= min(n, d)``.
    m : int
        Number of measurements.
    operator : {'gaussian', 'symmetric', 'psd', 'rank-one', 'entries'}, default='gaussian'
        Dense Gaussian ``A_k``; symmetrized Gaussian ``A_k`` with a symmetric (indefinite)
        truth; symmetrized Gaussian with a PSD truth ``U U^T``; rank-one ``u_k v_k^T``
        with Gaussian vectors; or ``m`` distinct sampled entries (completion as sensing).
    noise : float, default=0
        Standard deviation of Gaussian noise added to ``y``.
    random_state : None, int or numpy.random.Generator

    Returns
    -------
    PlantedSensing
    """
    n, d, rank = _check_low_rank_shape(n, d, rank)
    m = check_scalar(m, "m", kind=numbers.Integral, low=1)
    check_option(operator, "operator", OPERATORS)
    noise = check_scalar(noise, "noise", low=0)
    if operator in ("symmetric", "psd") and n != d:
        raise ValueError(f"operator={operator!r} needs n == d; got n={n}, d={d}.")
    if operator == "entries" and m > n * d:
        raise ValueError(f"m={m} exceeds the {n * d} entries of a {n}x{d} matrix.")
    rng = check_random_state(random_state)
    U = rng.standard_normal((n, rank))
    if operator == "psd":
        V = U
    elif operator == "symmetric":
        V = U * rng.choice([-1.0, 1.0], size=rank)
    else:
        V = rng.standard_normal((d, rank))
    U, V = _unit_rms_factors(U, V)
    if operator == "psd":
        V = U
    if operator in ("gaussian", "symmetric", "psd"):
        op = GaussianOperator((n, d), m, symmetric=operator != "gaussian", random_state=rng)
    elif operator == "rank-one":
        op = RankOneOperator(rng.standard_normal((m, n)), rng.standard_normal((m, d)))
    else:
        rows, cols = sample_entries(n, d, m, random_state=rng)
        op = EntrySampling(rows, cols, (n, d))
    y = op.apply(U @ V.T)
    if noise:
        y = y + noise * rng.standard_normal(m)
    return PlantedSensing(MatrixSensing(op, y), U, V)
