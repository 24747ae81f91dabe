import importlib
import pickle
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning

import linrfm.estimators as E
from linrfm import LinRFMCompleter, make_completion
from linrfm.datasets import make_sensing
from linrfm.methods import METHODS
from linrfm.results import DenseResult, VectorResult
from linrfm.solvers import lin_rfm_complete


def test_importable_from_top_level():
    from linrfm import LinRFMCompleter as C

    assert C is E.LinRFMCompleter


# (class, parameter) whose default differs from the function's, each documented in the class
DIFFERENT_DEFAULTS = {("LinRFMRegressor", "fit_intercept"), ("FactorizedGD", "rank")}
SPECS = [s for s in METHODS.values() if s.estimator]


@pytest.mark.parametrize("name", sorted({s.estimator for s in SPECS}))
def test_estimator_parameters_are_the_functions_parameters(name):
    specs = [s for s in SPECS if s.estimator == name]
    params = getattr(E, name)().get_params()
    assert set(params) == set().union(*(s.parameters for s in specs))
    for s in specs:
        for k, default in s.parameters.items():
            if (name, k) not in DIFFERENT_DEFAULTS:
                assert params[k] == default, (s.name, k)


def test_every_estimator_is_in_the_table():
    assert {s.estimator for s in SPECS} == set(E.__all__)


def _input(kind):
    if kind == "complete":
        return np.array([[1.0, np.nan], [np.nan, 2.0]])
    if kind == "sense":
        return make_sensing(3, 3, 1, 5, random_state=0).problem
    return np.eye(4)[:3], np.ones(3)


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_fit_passes_every_parameter_to_the_function(spec, monkeypatch):
    kind = spec.problems[0]
    seen = {}

    def fake(*args, **kw):
        seen.update(kw)
        if kind == "regress":
            return VectorResult(shape=(4,), n_iter=7, converged=True, coef=np.zeros(4))
        return DenseResult(shape=(2, 2), n_iter=7, converged=True, X=np.zeros((2, 2)))

    module, attr = spec.target.split(":")
    monkeypatch.setattr(importlib.import_module(module), attr, fake)
    # a distinct sentinel per parameter, so a dropped or renamed one is caught
    sentinels = {k: f"sentinel-{k}" for k in spec.parameters}
    est = spec.estimator_class().set_params(**sentinels)
    data = _input(kind)
    est.fit(*data) if kind == "regress" else est.fit(data)
    assert seen == sentinels
    assert est.n_iter_ == 7 and est.converged_
    est2 = pickle.loads(pickle.dumps(clone(est)))
    assert est2.get_params() == est.get_params()


def test_a_parameter_the_function_does_not_take_must_stay_at_its_default():
    warnings.simplefilter("ignore", ConvergenceWarning)
    E.IRLSRecovery(cg_tol=1e-3, max_iter=2).fit(_input("sense"))  # sensing takes it
    with pytest.raises(ValueError, match=r"irls_complete does not take \['cg_tol'\]"):
        E.IRLSRecovery(cg_tol=1e-3).fit(_input("complete"))


def test_the_estimator_runs_the_function():
    X = make_completion(20, 15, 1, 100, random_state=0).problem.to_sparse()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = LinRFMCompleter(max_iter=3, variant="one-sided").fit(X)
        res = lin_rfm_complete(X, max_iter=3, variant="one-sided")
    np.testing.assert_array_equal(est.transform(), res.to_dense())
    assert est.shape_ == (20, 15) and est.n_iter_ == res.n_iter


def test_fit_predict_dense_nan_and_sparse_agree(seed):
    P = make_completion(60, 50, 2, 900, min_per_line=2, random_state=seed)
    S = P.problem.to_sparse()
    D = np.full(P.shape, np.nan)
    D[P.problem.rows, P.problem.cols] = P.problem.values
    a = LinRFMCompleter().fit(S)
    b = LinRFMCompleter().fit(D)
    r, c = P.unobserved()
    np.testing.assert_allclose(a.predict(r, c), b.predict(r, c), atol=1e-12)
    assert a.n_iter_ == a.result_.n_iter and a.converged_
    full = LinRFMCompleter().fit_transform(S)
    assert full.shape == P.shape
    truth = P.truth(r, c)
    assert np.linalg.norm(full[r, c] - truth) / np.linalg.norm(truth) < 1e-3


def test_params_clone_pickle():
    est = LinRFMCompleter(alpha=1.0, lam=0.1)
    assert est.get_params()["alpha"] == 1.0
    est.set_params(variant="two-sided")
    c = clone(est)
    assert c.get_params() == est.get_params() and c is not est
    P = make_completion(30, 20, 2, 300, min_per_line=2, random_state=0)
    est.fit(P.problem.to_sparse())
    back = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(back.predict([0, 1], [2, 3]), est.predict([0, 1], [2, 3]))


def test_unfitted_and_bad_input():
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        LinRFMCompleter().predict([0], [0])
    with pytest.raises(ValueError, match="'alpha'"):
        LinRFMCompleter(alpha=-1).fit(sp.csr_matrix(np.eye(3)))
    with pytest.raises(ValueError, match="infinite"):
        LinRFMCompleter().fit(np.array([[np.inf, 1.0]]))
