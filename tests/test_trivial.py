"""Trivial data, trivial answers (issue 17, item 2), for every solver of the method table
and the estimators: zero data give zero, a constant matrix observed on every row and
column gives the constant, a fully observed matrix comes back unchanged, an unobserved row
or column is predicted as 0 with a warning naming it, and too few observations warn."""

import warnings

import numpy as np
import pytest

from linrfm import estimators
from linrfm.methods import METHODS
from linrfm.problems import (
    CoverageWarning,
    GaussianOperator,
    MatrixCompletion,
    MatrixSensing,
    SparseRegression,
)

COMPLETE = sorted(n for n, s in METHODS.items() if "complete" in s.problems)
SENSE = sorted(n for n, s in METHODS.items() if "sense" in s.problems)
REGRESS = sorted(n for n, s in METHODS.items() if "regress" in s.problems)


def _fit(name, problem, **params):
    spec = METHODS[name]
    if "rank" in spec.trial:
        params.setdefault("rank", 2)
    if "random_state" in spec.parameters:
        params.setdefault("random_state", 0)
    if "max_iter" in spec.parameters:
        params.setdefault("max_iter", 50)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return spec(problem, **params)


def _pattern(n=9, d=7, seed=0):
    """A random pattern (60%) with every row and column observed."""
    rng = np.random.default_rng(seed)
    mask = rng.random((n, d)) < 0.6
    mask[np.arange(n), np.arange(n) % d] = True
    mask[np.arange(d) % n, np.arange(d)] = True
    return np.nonzero(mask)


@pytest.mark.parametrize("name", COMPLETE)
def test_completion_of_zeros_is_zero(name):
    r, c = _pattern()
    res = _fit(name, MatrixCompletion(r, c, np.zeros(r.size), (9, 7)))
    assert res.converged and res.n_iter <= 1
    assert np.array_equal(res.to_dense(), np.zeros((9, 7)))


@pytest.mark.parametrize("c", [4.0, 1.0, -2.5e-200])
@pytest.mark.parametrize("name", COMPLETE)
def test_constant_completion_is_the_constant(name, c):
    r, cols = _pattern()
    res = _fit(name, MatrixCompletion(r, cols, np.full(r.size, c), (9, 7)))
    assert res.converged
    np.testing.assert_allclose(res.to_dense(), np.full((9, 7), c), rtol=1e-12)


@pytest.mark.parametrize("shape", [(6, 4), (4, 6)])
@pytest.mark.parametrize("name", COMPLETE)
def test_full_observation_comes_back_unchanged(name, shape):
    M = np.random.default_rng(3).standard_normal(shape)
    res = _fit(name, M)
    assert res.converged
    np.testing.assert_allclose(res.to_dense(), M, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(res.predict([0, shape[0] - 1], [1, 0]), M[[0, -1], [1, 0]])


@pytest.mark.parametrize("name", COMPLETE)
def test_unobserved_row_and_column_are_zero_and_named(name):
    rng = np.random.default_rng(1)
    M = rng.standard_normal((10, 2)) @ rng.standard_normal((2, 8))
    obs = np.where(rng.random(M.shape) < 0.8, M, np.nan)
    obs[3] = np.nan
    obs[:, 5] = np.nan
    with pytest.warns(CoverageWarning, match=r"rows \[3\], columns \[5\]"):
        MatrixCompletion.from_dense(obs)
    out = _fit(name, obs).to_dense()
    assert np.all(out[3] == 0) and np.all(out[:, 5] == 0)
    assert np.all(np.isfinite(out))


def test_too_few_observations_warn_not_determined():
    from linrfm.solvers import lin_rfm_complete

    rows, cols = np.arange(5), np.arange(5)  # 5 < n + d - 1 = 11
    with pytest.warns(CoverageWarning, match="not determined"):
        lin_rfm_complete(MatrixCompletion(rows, cols, np.arange(1.0, 6.0), (6, 6)))


@pytest.mark.parametrize("name", SENSE)
def test_sensing_with_zero_measurements_is_zero(name):
    # 290dae7: lin-RFM "iterate became non-finite at iteration 1"
    op = GaussianOperator((5, 6), 40, random_state=0)
    res = _fit(name, MatrixSensing(op, np.zeros(40)))
    assert res.converged
    assert np.array_equal(res.to_dense(), np.zeros((5, 6)))


@pytest.mark.parametrize("name", REGRESS)
def test_regression_with_zero_targets_is_zero(name):
    X = np.random.default_rng(0).standard_normal((10, 20))
    res = _fit(name, SparseRegression(X, np.zeros(10)))
    assert res.converged and np.array_equal(res.coef, np.zeros(20)) and res.intercept == 0


def test_regressor_constant_targets_with_intercept():
    X = np.random.default_rng(0).standard_normal((10, 20))
    m = estimators.LinRFMRegressor(fit_intercept=True).fit(X, np.full(10, 3.5))
    assert np.array_equal(m.coef_, np.zeros(20)) and m.intercept_ == 3.5
    np.testing.assert_array_equal(m.predict(X), np.full(10, 3.5))


@pytest.mark.parametrize(
    "cls", ["LinRFMCompleter", "SoftImputeCompleter", "ALSCompleter", "IRLSRecovery"]
)
@pytest.mark.parametrize("c", [0.0, 4.0])
def test_estimators_on_constant_data(cls, c):
    r, cols = _pattern()
    X = np.full((9, 7), np.nan)
    X[r, cols] = c
    est = getattr(estimators, cls)()
    if cls == "ALSCompleter":
        est.set_params(rank=1)
    out = est.fit_transform(X)
    np.testing.assert_allclose(out, np.full((9, 7), c), rtol=1e-12)
    assert est.converged_


@pytest.mark.parametrize("c", [0.0, 1.0, 4.0])
def test_lin_rfm_and_softimpute_constant_ratings_table(c):
    # 290dae7: lin-RFM "non-finite at iteration 1" (c = 0), SoftImpute "Starting vector is
    # zero" (ARPACK); implicit feedback (every rating 1.0) is this case
    from linrfm.solvers import lin_rfm_complete, soft_impute_complete

    r, cols = _pattern(40, 30)
    prob = MatrixCompletion(r, cols, np.full(r.size, c), (40, 30))
    for fn in (lin_rfm_complete, soft_impute_complete):
        res = fn(prob)
        assert res.converged
        assert np.array_equal(res.to_dense(), np.full((40, 30), c))


def test_trivial_answer_is_one_iteration_seen_by_the_callback_and_a_path():
    from linrfm.solvers import soft_impute_complete

    r, c = _pattern()
    seen = []
    prob = MatrixCompletion(r, c, np.zeros(r.size), (9, 7))
    res, path = soft_impute_complete(
        prob, return_path=True, callback=lambda it, info: seen.append((it, info["result"]))
    )
    assert res.n_iter == 1 and seen == [(1, res)] and path == [res]


def test_trivial_data_still_check_the_arguments():
    from linrfm.solvers import lin_rfm_complete

    r, c = _pattern()
    with pytest.raises(ValueError, match="'alpha'"):
        lin_rfm_complete(MatrixCompletion(r, c, np.zeros(r.size), (9, 7)), alpha=-1)
