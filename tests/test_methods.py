import importlib
import pickle
import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning

from linrfm import make_completion
from linrfm.estimators import (
    DeepMatrixFactorization,
    FactorizedGD,
    IRLSRecovery,
    LinRFMSensor,
    NuclearNormSensor,
    SoftImputeCompleter,
)
from linrfm.methods import fit_method, get_method, list_methods
from linrfm.operators import EntrySampling, MatrixSensing
from linrfm.sensing_data import make_sensing
from linrfm.solvers.nuclear import nuclear_norm_sense
from linrfm.solvers.softimpute import soft_impute

ESTIMATORS = [
    LinRFMSensor,
    IRLSRecovery,
    SoftImputeCompleter,
    NuclearNormSensor,
    FactorizedGD,
    DeepMatrixFactorization,
]


@pytest.mark.parametrize("cls", ESTIMATORS)
def test_estimator_passes_every_argument_through(cls, monkeypatch):
    module, comp, sens = cls._solver
    seen = {}

    def fake(problem, **kw):
        seen.update(kw)
        from linrfm.results import DenseResult

        return DenseResult(shape=problem.shape, n_iter=7, converged=True, X=np.zeros(problem.shape))

    mod = importlib.import_module(module)
    for name in (comp, sens):
        if name:
            monkeypatch.setattr(mod, name, fake)
    est = cls()
    params = est.get_params()
    # perturb every parameter to a distinct sentinel so a dropped/renamed one is caught
    sentinels = {k: f"sentinel-{k}" for k in params}
    est.set_params(**sentinels)
    if comp:
        est.fit(np.array([[1.0, np.nan], [np.nan, 2.0]]))
    else:
        S = make_sensing(3, 3, 1, 5, random_state=0)
        est.fit(S.problem)
    assert seen == sentinels
    assert est.n_iter_ == 7 and est.converged_
    est2 = pickle.loads(pickle.dumps(clone(est)))
    assert est2.get_params() == sentinels


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


@pytest.mark.parametrize("name", list_methods())
def test_every_registered_method_runs_on_both_problem_kinds(name):
    P = make_completion(12, 10, 1, 80, min_per_line=2, random_state=0)
    S = make_sensing(6, 6, 1, 24, random_state=0)
    extra = {"rank": 1} if get_method(name).needs_rank else {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for prob in (P.problem, S.problem):
            res = fit_method(name, prob, max_iter=20, **extra)
            assert res.to_dense().shape == prob.shape
            assert np.all(np.isfinite(res.to_dense()))


def test_entry_sampling_sensing_takes_the_completion_path():
    P = make_completion(12, 10, 1, 80, min_per_line=2, random_state=0)
    p = P.problem
    S = MatrixSensing(EntrySampling(p.rows, p.cols, p.shape), p.values)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        a = fit_method("irls-p0", p, max_iter=5)
        b = fit_method("irls-p0", S, max_iter=5)
    assert a.method == b.method == "irls"
    np.testing.assert_allclose(a.to_dense(), b.to_dense())


def test_unknown_method():
    with pytest.raises(ValueError, match="Unknown method 'svd'; choose one of"):
        get_method("svd")


def test_nuclear_sensing_equals_softimpute_on_entry_sampling():
    """Same objective: 1/2 ||P_O(X - Z)||^2 + lam ||Z||_*; two independent solvers agree."""
    P = make_completion(20, 16, 2, 180, min_per_line=2, random_state=1)
    p = P.problem
    S = MatrixSensing(EntrySampling(p.rows, p.cols, p.shape), p.values)
    lam = 0.3 * np.linalg.norm(S.operator.adjoint(S.y), 2)
    a = soft_impute(p, lam=lam, tol=1e-12, max_iter=20000, solver="dense").to_dense()
    b = nuclear_norm_sense(S, lam=lam, tol=1e-12, max_iter=20000).to_dense()
    np.testing.assert_allclose(a, b, atol=1e-6 * np.abs(a).max())


def test_nuclear_sensing_recovers_planted(seed):
    S = make_sensing(12, 12, 1, 100, random_state=seed)
    res = nuclear_norm_sense(S.problem)
    assert S.evaluate(res)["rel_error"] < 1e-2


def test_nuclear_sensing_bad_input():
    with pytest.raises(TypeError, match="MatrixSensing"):
        nuclear_norm_sense(np.zeros((2, 2)))
    S = make_sensing(4, 4, 1, 10, random_state=0)
    with pytest.raises(ValueError, match="'lam_ratio'"):
        nuclear_norm_sense(S.problem, lam_ratio=0)
