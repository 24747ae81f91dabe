"""LinRFMRegressor: the scikit-learn contract and pass-through to the solver."""

import inspect
import pickle
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.estimator_checks import check_estimator

from linrfm import LinRFMRegressor
from linrfm.datasets import make_sparse_regression
from linrfm.solvers import lin_rfm_regress


def test_check_estimator():
    with warnings.catch_warnings():
        # random-noise targets are not sparse; a capped fit may warn, which is honest
        warnings.simplefilter("ignore", ConvergenceWarning)
        check_estimator(LinRFMRegressor())


def test_fit_intercept_means_what_it_means_in_the_function():
    # the defaults differ (documented): the estimator centres, as scikit-learn's models do
    assert LinRFMRegressor().fit_intercept is True
    assert inspect.signature(lin_rfm_regress).parameters["fit_intercept"].default is False
    P = make_sparse_regression(40, 60, 3, random_state=0)
    y = P.problem.y + 1.5
    for fit_intercept in (True, False):
        est = LinRFMRegressor(fit_intercept=fit_intercept).fit(P.problem.X, y)
        res = lin_rfm_regress(P.problem.X, y, fit_intercept=fit_intercept)
        np.testing.assert_array_equal(est.coef_, res.coef)
        assert est.intercept_ == res.intercept


def test_recovers_with_intercept_dense_and_sparse(seed):
    P = make_sparse_regression(70, 200, 5, random_state=seed)
    y = P.problem.y - 2.5
    a = LinRFMRegressor().fit(P.problem.X, y)
    b = LinRFMRegressor().fit(sp.csr_matrix(P.problem.X), y)
    assert P.rel_error(a.coef_) < 1e-6 and a.intercept_ == pytest.approx(-2.5, abs=1e-6)
    np.testing.assert_allclose(b.coef_, a.coef_, atol=1e-8)
    assert a.converged_ and a.n_iter_ > 1
    Xt = np.random.default_rng(seed).standard_normal((10, 200))
    np.testing.assert_allclose(a.predict(Xt), Xt @ P.coef - 2.5, atol=1e-5)


def test_clone_pickle_and_bad_input():
    est = LinRFMRegressor(alpha=1.0)
    c = clone(est).set_params(lam=1e-3)
    assert c.get_params()["lam"] == 1e-3 and est.get_params()["lam"] == 0.0
    P = make_sparse_regression(30, 50, 2, random_state=1)
    est.fit(P.problem.X, P.problem.y)
    back = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(back.predict(P.problem.X), est.predict(P.problem.X))
    with pytest.raises(ValueError, match="'alpha' parameter"):
        LinRFMRegressor(alpha=0).fit(P.problem.X, P.problem.y)
    with pytest.raises(ValueError, match="NaN"):
        LinRFMRegressor().fit(np.full((3, 2), np.nan), np.ones(3))
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        LinRFMRegressor().fit(np.ones((3, 2)), np.ones(4))


@pytest.mark.parametrize("fmt", ["coo", "csr"])
def test_sparse_design_with_a_duplicate_entry_is_refused(fmt):
    # scipy keeps duplicates in COO (and in a CSR built from raw arrays) and adds them up;
    # completion refuses duplicate pairs, so regression does too rather than summing silently
    rows, cols = np.array([0, 0, 1, 2, 3]), np.array([0, 0, 1, 2, 3])
    if fmt == "coo":
        X = sp.coo_matrix((np.ones(5), (rows, cols)), shape=(4, 4))
    else:
        X = sp.csr_matrix((np.ones(5), np.array([0, 0, 1, 2, 3]), [0, 2, 3, 4, 5]), shape=(4, 4))
    with pytest.raises(ValueError, match="more than once"):
        LinRFMRegressor().fit(X, np.ones(4))
    with pytest.raises(ValueError, match="more than once"):
        lin_rfm_regress(X, np.ones(4))
