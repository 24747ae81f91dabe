"""The method table: one entry per public function, and fit_method by name or family."""

import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

import linrfm
from linrfm import make_completion, make_sparse_regression
from linrfm.datasets import make_sensing
from linrfm.estimators import (
    FactorizedGD,
    IRLSRecovery,
    LinRFMSensor,
    NuclearNormSensor,
    SoftImputeCompleter,
)
from linrfm.methods import (
    METHODS,
    PROBLEMS,
    Variant,
    fit_method,
    get_method,
    list_methods,
    ratings_method,
)
from linrfm.problems import EntrySampling, MatrixSensing
from linrfm.solvers import soft_impute_complete, soft_impute_sense


def test_every_entry_is_a_public_function_named_method_problem():
    for name, spec in METHODS.items():
        assert spec.name == name and spec.problems and set(spec.problems) <= set(PROBLEMS)
        assert callable(spec.function) and spec.function.__name__ == name
        if len(spec.problems) == 1 and spec.problems[0] != "factor":
            assert name.endswith("_" + spec.problems[0]) or not spec.iterative, name
        if spec.problems[0] != "factor":
            assert getattr(linrfm, name) is spec.function
        if spec.estimator:
            assert spec.estimator_class.__name__ == spec.estimator
        assert set(spec.study_params) <= set(spec.parameters), name
        assert set(spec.trial) <= set(spec.parameters), name


def test_list_methods_by_problem():
    assert list_methods("sense") == [
        "lin_rfm_sense",
        "irls_sense",
        "soft_impute_sense",
        "factorized_gd",
        "deep_mf",
    ]
    assert "lasso_regress" in list_methods("regress") and list_methods() == list(METHODS)
    with pytest.raises(ValueError, match="Unknown problem kind"):
        list_methods("vector")


def test_family_names_pick_the_entry_for_the_problem():
    P = make_completion(12, 10, 1, 80, min_per_line=2, random_state=0)
    S = make_sensing(6, 6, 1, 24, random_state=0)
    assert get_method("lin_rfm", P.problem).name == "lin_rfm_complete"
    assert get_method("lin_rfm", S.problem).name == "lin_rfm_sense"
    assert get_method("soft_impute", "sense").name == "soft_impute_sense"
    assert get_method("factorized_gd", S.problem).name == "factorized_gd"
    with pytest.raises(ValueError, match="family of methods"):
        get_method("irls")
    with pytest.raises(TypeError, match="does not handle sensing input"):
        fit_method("lin_rfm_complete", S.problem)
    assert Variant("irls", {"p": 1.0}).problems == ("complete", "sense", "regress")
    assert Variant("flat_minimum").problems == ("factor",)


def test_estimators_fit_real_problems():
    # rho ~ 10: every method here recovers it (nuclear norm fails at 400 observations)
    P = make_completion(30, 30, 1, 600, min_per_line=3, random_state=0)
    S = make_sensing(12, 12, 1, 90, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for est in (IRLSRecovery(), SoftImputeCompleter(), FactorizedGD(rank=1)):
            est.fit(P.problem)
            assert P.evaluate(est)["rel_error"] < 1e-2, type(est).__name__
            assert est.transform().shape == (30, 30)
        for est in (LinRFMSensor(), IRLSRecovery(), NuclearNormSensor(), FactorizedGD(rank=1)):
            X = est.fit_transform(S.problem)
            assert S.evaluate(X)["rel_error"] < 1e-2, type(est).__name__


def test_estimator_refuses_unsupported_input():
    S = make_sensing(4, 4, 1, 10, random_state=0)
    with pytest.raises(TypeError, match="SoftImputeCompleter does not handle sensing"):
        SoftImputeCompleter().fit(S.problem)
    with pytest.raises(TypeError, match="LinRFMSensor does not handle completion"):
        LinRFMSensor().fit(np.array([[1.0, np.nan], [np.nan, 1.0]]))


@pytest.mark.parametrize("name", list_methods("complete") + list_methods("sense"))
def test_every_matrix_method_runs_on_its_problem_kinds(name):
    spec = get_method(name)
    problems = {
        "complete": make_completion(12, 10, 1, 80, min_per_line=2, random_state=0).problem,
        "sense": make_sensing(6, 6, 1, 24, random_state=0).problem,
    }
    extra = {"rank": 1} if "rank" in spec.trial else {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for kind in spec.problems:
            prob = problems[kind]
            res = fit_method(name, prob, max_iter=20, **extra)
            assert res.to_dense().shape == prob.shape
            assert np.all(np.isfinite(res.to_dense()))


@pytest.mark.parametrize("name", list_methods("regress"))
def test_every_regression_method_recovers_an_easy_problem(name):
    P = make_sparse_regression(60, 80, 3, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        a = fit_method(name, P.problem, **get_method(name).study_params)
        b = fit_method(name, (P.problem.X, P.problem.y), **get_method(name).study_params)
    np.testing.assert_array_equal(a.coef, b.coef)
    assert P.rel_error(a.coef) < 1e-2, name


def test_ratings_methods():
    assert ratings_method("linrfm") == ratings_method("lin_rfm_complete") == "linrfm"
    assert ratings_method("soft_impute_complete") == "softimpute"
    with pytest.raises(ValueError, match="Unknown method 'irls_complete'"):
        ratings_method("irls_complete")


def test_entry_sampling_sensing_takes_the_completion_path():
    P = make_completion(12, 10, 1, 80, min_per_line=2, random_state=0)
    p = P.problem
    S = MatrixSensing(EntrySampling(p.rows, p.cols, p.shape), p.values)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        a = fit_method("irls", p, max_iter=5)
        b = fit_method("irls", S, max_iter=5)
    assert a.method == b.method == "irls"
    np.testing.assert_allclose(a.to_dense(), b.to_dense())


def test_unknown_method():
    with pytest.raises(ValueError, match="Unknown method 'svd'; choose one of"):
        get_method("svd")
    with pytest.raises(ValueError, match="Unknown method 'svd'"):
        fit_method("svd", np.eye(2))


def test_nuclear_sensing_equals_softimpute_on_entry_sampling():
    """Same objective: 1/2 ||P_O(X - Z)||^2 + lam ||Z||_*; two independent solvers agree."""
    P = make_completion(20, 16, 2, 180, min_per_line=2, random_state=1)
    p = P.problem
    S = MatrixSensing(EntrySampling(p.rows, p.cols, p.shape), p.values)
    lam = 0.3 * np.linalg.norm(S.operator.adjoint(S.y), 2)
    a = soft_impute_complete(p, lam=lam, tol=1e-12, max_iter=20000, solver="dense").to_dense()
    b = soft_impute_sense(S, lam=lam, tol=1e-12, max_iter=20000).to_dense()
    np.testing.assert_allclose(a, b, atol=1e-6 * np.abs(a).max())


def test_nuclear_sensing_recovers_planted(seed):
    S = make_sensing(12, 12, 1, 100, random_state=seed)
    res = soft_impute_sense(S.problem)
    assert S.evaluate(res)["rel_error"] < 1e-2


def test_nuclear_sensing_bad_input():
    with pytest.raises(TypeError, match="MatrixSensing"):
        soft_impute_sense(np.zeros((2, 2)))
    S = make_sensing(4, 4, 1, 10, random_state=0)
    with pytest.raises(ValueError, match="'lam_ratio'"):
        soft_impute_sense(S.problem, lam_ratio=0)
