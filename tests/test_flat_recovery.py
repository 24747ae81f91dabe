"""Statistical recovery tests of the flat-minimum finder (10 fixed seeds each).

The issue's setting: a planted rank-2 30x30 matrix, m = 3 r (n + d - r) = 348 Gaussian
measurements (900 unknowns), width 10. Margins: in the runs recorded in
benchmarks/README.md the finder reaches ~1e-7 relative error on every seed and plain
descent from a large start stays above 1 on every seed, so 9/10 and 5/10 leave room.
"""

import warnings

import pytest

from linrfm.datasets import make_flat_problem as make_problem
from linrfm.flat.solvers import flat_minimum

SEEDS = range(10)
M = 3 * 2 * (30 + 30 - 2)


@pytest.mark.slow
def test_flat_minimum_recovers_where_plain_descent_from_large_init_does_not():
    assert M == 348
    flat_ok = plain_ok = 0
    for seed in SEEDS:
        pl = make_problem("sensing", 30, 30, 2, M, random_state=seed)
        flat = flat_minimum(pl.problem, width=10, random_state=seed)
        flat_ok += pl.relative_error(flat.to_dense()) <= 1e-3
        # plain descent on the loss alone (no flatness term) from a large random start
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            plain = flat_minimum(
                pl.problem, width=10, n_stages=0, init_scale=3.0, random_state=seed
            )
        assert plain.history["loss"][-1] < 1e-8  # it does interpolate, just elsewhere
        plain_ok += pl.relative_error(plain.to_dense()) <= 1e-3
    assert flat_ok >= 9
    assert plain_ok <= 5


@pytest.mark.slow
def test_robust_flat_minimum_recovers_with_ten_percent_gross_corruptions():
    ok = 0
    for seed in SEEDS:
        pl = make_problem("robust", 30, 30, 2, M, corruption=0.1, random_state=seed)
        assert pl.corrupted.sum() == 35
        res = flat_minimum(pl.problem, width=10, random_state=seed)
        ok += pl.relative_error(res.to_dense()) <= 1e-3
    assert ok >= 9
