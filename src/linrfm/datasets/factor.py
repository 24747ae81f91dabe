"""Seeded planted factor problems (the flat-minima problem classes) with their truth.

Each generator returns a :class:`PlantedFactorProblem`: a
:class:`~linrfm.problems.FactorProblem` (what a solver may see) plus the planted matrix,
for benchmarks to measure from outside. :func:`make_flat_problem` picks a class by name.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass

import numpy as np

from .._validation import check_option, check_random_state, check_scalar
from ..problems import (
    EntrySampling,
    FactorProblem,
    GaussianOperator,
    MatrixSensing,
    RankOneOperator,
)
from .sensing import relative_error

__all__ = [
    "PlantedFactorProblem",
    "FLAT_PROBLEM_KINDS",
    "make_flat_problem",
    "make_factor_sensing",
    "make_factor_completion",
    "make_bilinear",
    "make_robust_sensing",
    "make_quadratic_sensing",
]


@dataclass
class PlantedFactorProblem:
    """A synthetic :class:`FactorProblem` with its planted truth.

    Attributes
    ----------
    problem : FactorProblem
        What a solver may see.
    X : ndarray, shape (n, d)
        The planted low-rank matrix (mean squared entry 1).
    rank : int
    kind : str
        The problem class (a key of :data:`FLAT_PROBLEM_KINDS`).
    corrupted : ndarray of bool, shape (m,)
        Which measurements were grossly corrupted (all False without corruption).
    """

    problem: FactorProblem
    X: np.ndarray
    rank: int
    kind: str
    corrupted: np.ndarray

    def relative_error(self, Xhat) -> float:
        """``||Xhat - X||_F / ||X||_F``."""
        return relative_error(np.asarray(Xhat, dtype=np.float64), self.X)


def _check_common(n, d, rank, m):
    check_scalar(n, "n", kind=numbers.Integral, low=1)
    check_scalar(d, "d", kind=numbers.Integral, low=1)
    check_scalar(rank, "rank", kind=numbers.Integral, low=1, high=min(n, d))
    check_scalar(m, "m", kind=numbers.Integral, low=1)


def _planted(rng, n, d, rank, symmetric=False):
    """A rank-``rank`` matrix with Gaussian factors, scaled to mean squared entry 1."""
    U = rng.standard_normal((n, rank))
    V = U if symmetric else rng.standard_normal((d, rank))
    X = U @ V.T
    return X / np.sqrt(np.mean(X**2))


def make_factor_sensing(n=30, d=30, rank=2, m=348, *, random_state=None) -> PlantedFactorProblem:
    """Matrix sensing with i.i.d. Gaussian ``A_i`` (entries N(0, 1/m)), squared loss, ``L R^T``."""
    _check_common(n, d, rank, m)
    rng = check_random_state(random_state)
    X = _planted(rng, n, d, rank)
    op = GaussianOperator((n, d), m, random_state=rng)
    prob = FactorProblem(MatrixSensing(op, op.apply(X)))
    return PlantedFactorProblem(prob, X, rank, "sensing", np.zeros(m, dtype=bool))


def make_factor_completion(n=30, d=30, rank=2, m=348, *, random_state=None) -> PlantedFactorProblem:
    """Matrix completion: ``m`` distinct entries drawn uniformly, squared loss, ``L R^T``."""
    _check_common(n, d, rank, m)
    if m > n * d:
        raise ValueError(f"m={m} exceeds the {n * d} entries of a {n}x{d} matrix.")
    rng = check_random_state(random_state)
    X = _planted(rng, n, d, rank)
    lin = np.sort(rng.choice(n * d, size=m, replace=False))
    op = EntrySampling(lin // d, lin % d, (n, d))
    prob = FactorProblem(MatrixSensing(op, op.apply(X)))
    return PlantedFactorProblem(prob, X, rank, "completion", np.zeros(m, dtype=bool))


def make_bilinear(n=30, d=30, rank=2, m=348, *, random_state=None) -> PlantedFactorProblem:
    """Bilinear sensing ``y_i = u_i^T X v_i`` with Gaussian ``u_i, v_i`` (scaled by ``m^-1/4``)."""
    _check_common(n, d, rank, m)
    rng = check_random_state(random_state)
    X = _planted(rng, n, d, rank)
    s = m**-0.25
    op = RankOneOperator(s * rng.standard_normal((m, n)), s * rng.standard_normal((m, d)))
    prob = FactorProblem(MatrixSensing(op, op.apply(X)))
    return PlantedFactorProblem(prob, X, rank, "bilinear", np.zeros(m, dtype=bool))


def make_robust_sensing(
    n=30, d=30, rank=2, m=348, *, corruption=0.1, magnitude=10.0, random_state=None
) -> PlantedFactorProblem:
    """Robust matrix sensing: Gaussian ``A_i``, ``l1`` loss, a fraction of gross corruptions.

    Parameters
    ----------
    corruption : float in [0, 1)
        Fraction of measurements replaced by gross outliers.
    magnitude : float > 0
        Size of a corruption relative to the clean measurements' root mean square ``s``:
        each corrupted ``y_i`` gets ``+-u * magnitude * s`` added, with a random sign and
        ``u ~ Uniform[0.5, 1.5]`` (gross: never small).
    """
    _check_common(n, d, rank, m)
    check_scalar(corruption, "corruption", low=0, high=1, high_inclusive=False)
    check_scalar(magnitude, "magnitude", low=0, low_inclusive=False)
    rng = check_random_state(random_state)
    X = _planted(rng, n, d, rank)
    op = GaussianOperator((n, d), m, random_state=rng)
    y = op.apply(X)
    bad = np.zeros(m, dtype=bool)
    bad[rng.choice(m, size=int(round(corruption * m)), replace=False)] = True
    scale = np.sqrt(np.mean(y**2))
    y = y.copy()
    nb = int(bad.sum())
    y[bad] += rng.choice([-1.0, 1.0], size=nb) * rng.uniform(0.5, 1.5, size=nb) * magnitude * scale
    prob = FactorProblem(MatrixSensing(op, y), loss="l1")
    return PlantedFactorProblem(prob, X, rank, "robust", bad)


def make_quadratic_sensing(n=30, rank=2, m=348, *, random_state=None) -> PlantedFactorProblem:
    """Quadratic sensing / covariance estimation ``y_i = a_i^T X a_i``, ``X = U U^T`` PSD.

    Equivalently a one-hidden-layer network with quadratic activation,
    ``f(a) = sum_j (w_j^T a)^2`` with the rows of ``U^T`` as hidden weights ``w_j``.
    ``a_i`` are Gaussian scaled by ``m^-1/4``.
    """
    _check_common(n, n, rank, m)
    rng = check_random_state(random_state)
    X = _planted(rng, n, n, rank, symmetric=True)
    op = RankOneOperator(m**-0.25 * rng.standard_normal((m, n)))
    prob = FactorProblem(MatrixSensing(op, op.apply(X)), model="symmetric")
    return PlantedFactorProblem(prob, X, rank, "quadratic", np.zeros(m, dtype=bool))


FLAT_PROBLEM_KINDS = {
    "sensing": make_factor_sensing,
    "completion": make_factor_completion,
    "bilinear": make_bilinear,
    "robust": make_robust_sensing,
    "quadratic": make_quadratic_sensing,
}


def make_flat_problem(kind, n=30, d=30, rank=2, m=348, *, random_state=None, **kwargs):
    """Generate a planted problem of class ``kind`` (a key of :data:`FLAT_PROBLEM_KINDS`)."""
    check_option(kind, "kind", FLAT_PROBLEM_KINDS)
    if kind == "quadratic":
        if n != d:
            raise ValueError(f"kind='quadratic' needs n == d; got n={n}, d={d}.")
        return make_quadratic_sensing(n, rank, m, random_state=random_state, **kwargs)
    return FLAT_PROBLEM_KINDS[kind](n, d, rank, m, random_state=random_state, **kwargs)
