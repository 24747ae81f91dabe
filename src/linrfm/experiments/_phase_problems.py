"""The planted problems of ``linrfm experiment phase``: one per (problem, n, rank, rho, seed,
kappa), shared by every method of the study."""

from __future__ import annotations

import warnings
from functools import lru_cache

import numpy as np

from .._cli_args import UsageError
from ..datasets import make_completion, make_sensing
from ..problems import CoverageWarning

__all__ = ["GAUSSIAN", "default_rhos", "n_measurements", "planted", "check_kappas", "kappa_order"]

# The ``kappa`` of a trial on the default generator: the paper's Gaussian factors, whose
# condition number is whatever the draw gives (not kappa = 1, which is a different truth:
# orthonormal factors with equal singular values).
GAUSSIAN = "gaussian"


def kappa_order(kappa):
    """A sort key: the Gaussian factors first, then increasing kappa."""
    return (kappa != GAUSSIAN, 0.0 if kappa == GAUSSIAN else float(kappa))


def default_rhos():
    return [round(1.0 + 0.25 * k, 2) for k in range(13)]


def _rng(kind, n, rank, rho, seed):
    tag = 0 if kind == "completion" else 1
    return np.random.default_rng([int(seed), int(rank), int(round(rho * 100)), int(n), tag])


def n_measurements(n, rank, rho):
    """``round(rho * r (n + n - r))`` for an n x n matrix."""
    return int(round(rho * rank * (2 * n - rank)))


@lru_cache(maxsize=4)
def planted(kind, n, rank, rho, seed, kappa=GAUSSIAN):
    """The planted problem of a cell and seed (the same for every method).

    ``kappa`` (completion only) conditions the truth; the seed's stream does not depend on
    it, so every kappa of a cell and seed observes the same entries."""
    m = n_measurements(n, rank, rho)
    rng = _rng(kind, n, rank, rho, seed)
    if kind == "completion":
        kw = {} if kappa == GAUSSIAN else {"kappa": float(kappa)}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", CoverageWarning)
            return make_completion(n, n, rank, min(m, n * n), random_state=rng, **kw)
    if kappa != GAUSSIAN:
        raise ValueError(f"kappa={kappa!r}: conditioned truths are made for completion only.")
    return make_sensing(n, n, rank, m, operator="gaussian", random_state=rng)


def check_kappas(kappas, problems) -> list:
    """The study's kappas: ``[GAUSSIAN]`` for None, else each :data:`GAUSSIAN` or a float
    >= 1 (Gaussian first, then increasing); a :class:`UsageError` naming ``--kappa`` for a
    bad value, or for a conditioned truth asked of sensing."""
    if kappas is None:
        return [GAUSSIAN]
    out = set()
    for k in kappas:
        if k != GAUSSIAN:
            try:
                k = float(k)
            except (TypeError, ValueError):
                k = np.nan
            if not (np.isfinite(k) and k >= 1):
                raise UsageError(
                    f"--kappa: expected {GAUSSIAN!r} or finite numbers >= 1; got {kappas!r}."
                )
            if "sensing" in problems:
                raise UsageError(
                    "--kappa conditions completion truths only; give --problems completion "
                    "(Gaussian sensing keeps its Gaussian factors)."
                )
        out.add(k)
    if not out:
        raise UsageError("--kappa: give at least one value.")
    return sorted(out, key=kappa_order)
