import inspect
import pickle

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.base import clone

import linrfm.estimators as E
from linrfm import LinRFMCompleter, make_completion
from linrfm.solvers.linrfm import lin_rfm_complete


def test_importable_from_top_level():
    from linrfm import LinRFMCompleter as C

    assert C is E.LinRFMCompleter


def test_every_parameter_is_passed_through(monkeypatch):
    seen = {}

    def fake(X, **kw):
        seen.update(kw)
        return lin_rfm_complete(X, max_iter=2, tol=1.0)

    monkeypatch.setattr(E, "lin_rfm_complete", fake)
    sig = inspect.signature(LinRFMCompleter.__init__)
    names = [p for p in sig.parameters if p != "self"]
    # every estimator parameter is a keyword of the solver function, with the same default
    solver_sig = inspect.signature(lin_rfm_complete)
    for name in names:
        assert name in solver_sig.parameters, name
        assert sig.parameters[name].default == solver_sig.parameters[name].default, name
    params = dict(
        alpha=0.7,
        variant="one-sided",
        lam=0.5,
        lam_rule="fixed",
        lam_min=1e-9,
        replace=False,
        tol=1e-3,
        max_iter=7,
        val_fraction=0.2,
        patience=3,
        memory_limit=10**9,
        progress=False,
        random_state=4,
        agop="dense",
        dtype="float64",
        n_threads=1,
        device="cpu",
        momentum=0.3,
    )
    assert set(params) == set(names)
    X = make_completion(20, 15, 1, 100, random_state=0).problem.to_sparse()
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        LinRFMCompleter(**params).fit(X)
    assert seen == params


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
