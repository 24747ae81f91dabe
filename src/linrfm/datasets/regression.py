"""Seeded planted k-sparse linear regression."""

from __future__ import annotations

import numbers
from dataclasses import dataclass

import numpy as np

from .._validation import check_option, check_random_state, check_scalar
from ..problems import SparseRegression

__all__ = ["PlantedSparse", "make_sparse_regression"]


@dataclass
class PlantedSparse:
    """A synthetic sparse regression with its planted coefficient vector.

    Attributes
    ----------
    problem : SparseRegression
        ``X`` and the (possibly noisy) ``y``: the only thing a solver may see.
    coef : ndarray, shape (d,)
        The planted k-sparse ``beta*``.
    noise : float
        Standard deviation of the Gaussian noise added to ``y``.
    """

    problem: SparseRegression
    coef: np.ndarray
    noise: float = 0.0

    @property
    def support(self) -> np.ndarray:
        """Indices of the nonzero entries of ``coef``."""
        return np.flatnonzero(self.coef)

    def rel_error(self, coef) -> float:
        """``||coef - beta*|| / ||beta*||`` (measured from outside any solver)."""
        coef = np.asarray(coef, dtype=np.float64).ravel()
        return float(np.linalg.norm(coef - self.coef) / np.linalg.norm(self.coef))


def make_sparse_regression(
    n: int,
    d: int,
    k: int,
    *,
    coef: str = "gaussian",
    design: str = "gaussian",
    rho: float = 0.0,
    noise: float = 0.0,
    random_state=None,
) -> PlantedSparse:
    """Planted k-sparse linear regression ``y = X beta* + noise``.

    Parameters
    ----------
    n, d : int
        Samples and features.
    k : int
        Number of nonzeros of ``beta*``, ``1 <= k <= d``; the support is uniform.
    coef : {'gaussian', 'sign'}, default='gaussian'
        Nonzeros drawn standard normal, or uniformly ``+-1``.
    design : {'gaussian', 'toeplitz'}, default='gaussian'
        Rows of ``X`` standard normal (i.i.d. entries), or Gaussian with the Toeplitz
        correlation ``Cov(x_i, x_j) = rho^|i-j|`` (an AR(1) process along the features,
        so no d x d matrix is formed). Every entry has unit variance.
    rho : float in [0, 1), default=0
        Correlation of neighbouring features for ``design='toeplitz'``.
    noise : float >= 0, default=0
        Standard deviation of Gaussian noise added to ``y``.
    random_state : None, int or numpy.random.Generator

    Returns
    -------
    PlantedSparse
    """
    n = check_scalar(n, "n", kind=numbers.Integral, low=1)
    d = check_scalar(d, "d", kind=numbers.Integral, low=1)
    if isinstance(k, numbers.Integral) and not isinstance(k, bool) and k > d:
        raise ValueError(
            f"The 'k' parameter must be at most d={d} (the number of features); got {k}."
        )
    k = check_scalar(k, "k", kind=numbers.Integral, low=1, high=d)
    check_option(coef, "coef", ("gaussian", "sign"))
    check_option(design, "design", ("gaussian", "toeplitz"))
    rho = check_scalar(rho, "rho", low=0, high=1, high_inclusive=False)
    noise = check_scalar(noise, "noise", low=0)
    rng = check_random_state(random_state)
    X = rng.standard_normal((n, d))
    if design == "toeplitz" and rho > 0:
        s = np.sqrt(1.0 - rho**2)
        for j in range(1, d):
            X[:, j] = rho * X[:, j - 1] + s * X[:, j]
    beta = np.zeros(d)
    support = np.sort(rng.choice(d, size=k, replace=False))
    if coef == "gaussian":
        beta[support] = rng.standard_normal(k)
    else:
        beta[support] = rng.choice([-1.0, 1.0], size=k)
    y = X @ beta
    if noise:
        y = y + noise * rng.standard_normal(n)
    return PlantedSparse(SparseRegression(X, y), beta, noise)
