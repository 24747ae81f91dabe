"""Sparse regression: problem, generator, lin-RFM (diagonal AGOP) and IRLS-p."""

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.exceptions import ConvergenceWarning

from linrfm.datasets import make_sparse_regression
from linrfm.problems import SparseRegression
from linrfm.results import VectorResult
from linrfm.solvers.irls_regress import irls_regress, irls_regress_step
from linrfm.solvers.linrfm_regress import lin_rfm_regress, lin_rfm_regress_step


# ---------------------------------------------------------------- generator and problem
def test_generator_plants_a_k_sparse_vector(seed):
    P = make_sparse_regression(30, 50, 4, random_state=seed)
    assert P.problem.X.shape == (30, 50) and P.problem.y.shape == (30,)
    assert np.count_nonzero(P.coef) == 4 and P.support.size == 4
    np.testing.assert_allclose(P.problem.X @ P.coef, P.problem.y)
    again = make_sparse_regression(30, 50, 4, random_state=seed)
    np.testing.assert_array_equal(again.problem.X, P.problem.X)
    S = make_sparse_regression(30, 50, 4, coef="sign", noise=0.1, random_state=seed)
    assert set(np.abs(S.coef[S.support])) == {1.0}
    assert not np.allclose(S.problem.X @ S.coef, S.problem.y)


def test_generator_toeplitz_correlation():
    P = make_sparse_regression(20000, 6, 2, design="toeplitz", rho=0.6, random_state=0)
    C = np.corrcoef(P.problem.X.T)
    expected = 0.6 ** np.abs(np.subtract.outer(np.arange(6), np.arange(6)))
    np.testing.assert_allclose(C, expected, atol=0.03)  # 20k samples: sd of r ~ 0.006
    np.testing.assert_allclose(P.problem.X.var(axis=0), 1.0, atol=0.05)


@pytest.mark.parametrize(
    "kw, match",
    [
        (dict(k=11), "'k' parameter must be at most d=10"),
        (dict(k=0), "'k' parameter"),
        (dict(coef="laplace"), "'coef' parameter"),
        (dict(design="ar"), "'design' parameter"),
        (dict(rho=1.0), "'rho' parameter"),
        (dict(noise=-1.0), "'noise' parameter"),
    ],
)
def test_generator_bad_input(kw, match):
    args = dict(n=5, d=10, k=2) | kw
    with pytest.raises(ValueError, match=match):
        make_sparse_regression(args.pop("n"), args.pop("d"), args.pop("k"), **args)


@pytest.mark.parametrize(
    "X, y, match",
    [
        (np.array([[1.0, np.nan], [0.0, 1.0]]), [1.0, 2.0], "X holds 1 non-finite"),
        (np.eye(2), [1.0, np.inf], "y holds 1 non-finite"),
        (np.eye(3), [1.0, 2.0], "same number of samples.*3 rows.*length 2"),
        (np.empty((0, 3)), [], "X is empty"),
        (sp.csr_matrix((0, 3)), [], "X is empty"),
        (sp.csr_matrix(np.array([[np.inf, 1.0]])), [1.0], "X holds 1 non-finite"),
        (np.eye(2), np.ones((2, 1)), "y must be 1-dimensional"),
        (np.ones(3), [1.0, 2.0, 3.0], "X must be 2-dimensional"),
    ],
)
def test_problem_bad_input(X, y, match):
    with pytest.raises(ValueError, match=match):
        SparseRegression(X, y)
    with pytest.raises(ValueError, match=match):
        lin_rfm_regress(X, y)


def test_problem_rejects_strings():
    with pytest.raises(TypeError, match="X must hold real numbers"):
        SparseRegression(np.array([["a", "b"]]), [1.0])


# ---------------------------------------------------------------- the IRLS identities
def _weighted_min_norm_lstsq(X, y, w):
    """argmin sum w_i b_i^2 s.t. X b = y via the substitution b = w^(-1/2) z, by lstsq."""
    s = w**-0.5
    z = np.linalg.lstsq(X * s, y, rcond=None)[0]
    return s * z


@pytest.mark.parametrize("alpha, p", [(0.25, 1.0), (0.5, 0.0), (0.375, 0.5)])
def test_linrfm_step_is_an_irls_step(seed, alpha, p):
    """Interpolation form (lam = 0), same eps on both sides: alpha <-> p = 2 - 4 alpha."""
    rng = np.random.default_rng(seed)
    n, d = 15, 40
    X = rng.standard_normal((n, d))
    y = rng.standard_normal(n)
    beta = rng.standard_normal(d) * (rng.random(d) < 0.3)  # an iterate with exact zeros
    eps = 1e-2
    rfm = lin_rfm_regress_step(beta, X, y, alpha=alpha, lam=0.0, eps=eps)
    irls = irls_regress_step(beta, X, y, p=p, eps=eps)
    ref = _weighted_min_norm_lstsq(X, y, (beta**2 + eps) ** (p / 2 - 1))
    scale = np.linalg.norm(ref)
    assert np.linalg.norm(rfm - ref) / scale < 1e-10
    assert np.linalg.norm(irls - ref) / scale < 1e-10
    np.testing.assert_allclose(X @ rfm, y, atol=1e-9)  # it interpolates


@pytest.mark.parametrize("alpha", [0.25, 0.5, 1.0, 0.8])
@pytest.mark.parametrize("sparse_x", [False, True])
def test_samples_and_features_forms_agree(seed, alpha, sparse_x):
    rng = np.random.default_rng(seed)
    for n, d in [(12, 30), (40, 25)]:
        X = rng.standard_normal((n, d))
        y = rng.standard_normal(n)
        beta = rng.standard_normal(d)
        Xin = sp.csr_matrix(X) if sparse_x else X
        a = lin_rfm_regress_step(beta, Xin, y, alpha=alpha, lam=1e-2, eps=1e-3, form="samples")
        b = lin_rfm_regress_step(beta, Xin, y, alpha=alpha, lam=1e-2, eps=1e-3, form="features")
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-11 * np.abs(a).max())
        # and the push-through identity against the plain ridge formula in D
        D = (beta**2 + 1e-3) ** (2 * alpha)
        D = D / D.max()
        ref = D * (X.T @ np.linalg.solve((X * D) @ X.T + 1e-2 * np.eye(n), y))
        np.testing.assert_allclose(a, ref, rtol=1e-9, atol=1e-11 * np.abs(a).max())


def test_whole_solver_forms_agree(seed):
    P = make_sparse_regression(30, 60, 3, random_state=seed)
    a = lin_rfm_regress(P.problem, lam=1e-3, form="samples", eps_rule="fixed", eps=1e-2, tol=1e-9)
    b = lin_rfm_regress(P.problem, lam=1e-3, form="features", eps_rule="fixed", eps=1e-2, tol=1e-9)
    np.testing.assert_allclose(a.coef, b.coef, atol=1e-7 * np.abs(a.coef).max())


# ---------------------------------------------------------------- recovery
@pytest.mark.parametrize("alpha", [0.25, 0.5, 1.0])
def test_linrfm_recovers_planted_sparse_vector(seed, alpha):
    # n = 80 for d = 200, k = 5: about 3x k log(d/k), well above every method's threshold
    P = make_sparse_regression(80, 200, 5, random_state=seed)
    res = lin_rfm_regress(P.problem, alpha=alpha)
    assert isinstance(res, VectorResult) and res.converged
    # l1 (alpha = 1/4) leaves an O(sqrt(eps_min)) = 1e-5 bias off the support
    assert P.rel_error(res.coef) < 1e-4
    assert res.n_iter == len(res.history["rel_change"]) == len(res.history["eps"])
    assert res.history["eps"][-1] == pytest.approx(1e-10)
    np.testing.assert_allclose(res.predict(P.problem.X), P.problem.y, atol=1e-7)


def test_linrfm_sparse_x_and_intercept(seed):
    P = make_sparse_regression(60, 150, 4, coef="sign", random_state=seed)
    X = P.problem.X.copy()
    X[np.abs(X) < 0.5] = 0.0  # a genuinely sparse design
    y = X @ P.coef + 3.0
    dense = lin_rfm_regress(X, y, fit_intercept=True)
    sparse = lin_rfm_regress(sp.csr_matrix(X), y, fit_intercept=True)
    assert P.rel_error(dense.coef) < 1e-6 and dense.intercept == pytest.approx(3.0, abs=1e-6)
    np.testing.assert_allclose(sparse.coef, dense.coef, atol=1e-8)
    assert sparse.intercept == pytest.approx(dense.intercept, abs=1e-8)


@pytest.mark.parametrize("p", [0.0, 0.5, 1.0])
def test_irls_recovers_planted_sparse_vector(seed, p):
    P = make_sparse_regression(80, 200, 5, random_state=seed)
    res = irls_regress(P.problem, p=p)
    assert res.converged and P.rel_error(res.coef) < 1e-4


def test_irls_ddfg_rule(seed):
    P = make_sparse_regression(80, 200, 5, random_state=seed)
    res = irls_regress(P.problem, p=0.5, eps_rule="ddfg", sparsity=10)
    assert P.rel_error(res.coef) < 1e-6


def test_overdetermined_is_least_squares(seed):
    P = make_sparse_regression(50, 10, 3, noise=0.1, random_state=seed)
    ls = np.linalg.lstsq(P.problem.X, P.problem.y, rcond=None)[0]
    res = lin_rfm_regress(P.problem, lam=0.0)
    np.testing.assert_allclose(res.coef, ls, atol=1e-9)
    np.testing.assert_allclose(irls_regress(P.problem, p=0.0).coef, ls, atol=1e-9)


def test_zero_y_gives_zero_coef():
    X = np.random.default_rng(0).standard_normal((5, 8))
    for res in (lin_rfm_regress(X, np.zeros(5)), irls_regress(X, np.zeros(5))):
        assert res.converged and not np.any(res.coef)


# ---------------------------------------------------------------- honest failure
def test_max_iter_warns():
    P = make_sparse_regression(40, 100, 5, random_state=0)
    with pytest.warns(ConvergenceWarning, match=r"max_iter=2 .*tol="):
        res = lin_rfm_regress(P.problem, max_iter=2)
    assert not res.converged and res.n_iter == 2
    with pytest.warns(ConvergenceWarning, match="IRLS-p did not converge"):
        irls_regress(P.problem, max_iter=2)


@pytest.mark.parametrize(
    "kw, exc, match",
    [
        (dict(alpha=0.0), ValueError, "'alpha' parameter"),
        (dict(alpha=-0.5), ValueError, "'alpha' parameter"),
        (dict(lam=-1.0), ValueError, "'lam' parameter"),
        (dict(eps=0.0), ValueError, "'eps' parameter"),
        (dict(eps_rule="halve"), ValueError, "'eps_rule' parameter"),
        (dict(form="nxn"), ValueError, "'form' parameter"),
        (dict(max_iter=0), ValueError, "'max_iter' parameter"),
        (dict(max_iter=2.5), TypeError, "'max_iter' parameter must be an int"),
        (dict(fit_intercept="yes"), TypeError, "'fit_intercept' parameter"),
        (dict(callback=3), TypeError, "'callback'"),
    ],
)
def test_linrfm_bad_parameters(kw, exc, match):
    P = make_sparse_regression(10, 20, 2, random_state=0)
    with pytest.raises(exc, match=match):
        lin_rfm_regress(P.problem, **kw)


@pytest.mark.parametrize(
    "kw, match",
    [
        (dict(p=1.5), "'p' parameter"),
        (dict(p=-0.1), "'p' parameter"),
        (dict(eps_rule="ddfg"), "needs the 'sparsity'"),
        (dict(eps_rule="ddfg", sparsity=20), "'sparsity' parameter"),
    ],
)
def test_irls_bad_parameters(kw, match):
    P = make_sparse_regression(10, 20, 2, random_state=0)
    with pytest.raises(ValueError, match=match):
        irls_regress(P.problem, **kw)


def test_step_bad_beta():
    X = np.eye(3)
    with pytest.raises(ValueError, match="beta has length 2; X has 3"):
        lin_rfm_regress_step(np.ones(2), X, np.ones(3))
    with pytest.raises(ValueError, match="beta has length 2; X has 3"):
        irls_regress_step(np.ones(2), X, np.ones(3))
    with pytest.raises(ValueError, match="y is required"):
        lin_rfm_regress(X)


# ---------------------------------------------------------------- the iteration core
@pytest.mark.parametrize("solver", [lin_rfm_regress, irls_regress])
def test_resumed_fit_equals_the_uninterrupted_one(solver):
    P = make_sparse_regression(40, 100, 5, random_state=0)
    full = solver(P.problem)
    saved = []
    with pytest.warns(ConvergenceWarning):
        solver(P.problem, max_iter=6, checkpoint=saved.append)
    assert [c.n_iter for c in saved] == list(range(1, 7))
    for ck in (saved[0], saved[-1]):  # lin-RFM's first iterate records no (infinite) change
        res = solver(P.problem, resume=ck)
        assert (res.n_iter, res.converged) == (full.n_iter, full.converged)
        assert res.history == full.history and res.params == full.params
        np.testing.assert_array_equal(res.coef, full.coef)


@pytest.mark.parametrize("solver", [lin_rfm_regress, irls_regress])
def test_callback_sees_every_iteration_and_can_stop(solver):
    P = make_sparse_regression(40, 100, 5, random_state=0)
    seen = []

    def callback(it, info):
        seen.append((it, info["eps"], info["result"].coef.copy()))
        return it == 3

    res = solver(P.problem, callback=callback)
    assert [s[0] for s in seen] == [1, 2, 3] and res.n_iter == 3 and not res.converged
    assert [s[1] for s in seen] == res.history["eps"]
    np.testing.assert_array_equal(seen[-1][2], res.coef)
    last = []
    full = solver(P.problem, callback=lambda it, info: last.append(it))
    assert last[-1] == full.n_iter  # called on the converged iteration too


@pytest.mark.parametrize("alpha", [0.25, 0.5])
def test_features_form_with_fewer_samples_than_features_agrees_with_samples(alpha):
    # n < d: the d x d system is singular and its least-squares fallback kept singular
    # values at rounding level (LAPACK's default cutoff); a 1e-15 change of y moved one
    # step by 16% and 100 iterations by 80%, away from the samples form's answer
    P = make_sparse_regression(30, 60, 4, random_state=0)
    a = lin_rfm_regress(P.problem, alpha=alpha, form="features", max_iter=100)
    b = lin_rfm_regress(P.problem, alpha=alpha, form="samples", max_iter=100)
    np.testing.assert_allclose(a.coef, b.coef, rtol=1e-6, atol=1e-8)  # coefficients O(1)
    y2 = P.problem.y * (1 + 1e-15 * np.random.default_rng(0).standard_normal(P.problem.y.size))
    c = lin_rfm_regress(P.problem.X, y2, alpha=alpha, form="features", max_iter=100)
    np.testing.assert_allclose(a.coef, c.coef, rtol=1e-6, atol=1e-8)
