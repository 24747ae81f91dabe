"""Diagonal deep linear networks: closed-form gradients, recovery, bad input."""

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.exceptions import ConvergenceWarning

from linrfm.datasets import make_sparse_regression
from linrfm.solvers.diagonal_net import diagonal_net_loss_grad, diagonal_net_regress


def _params(form, L, d, rng):
    if form == "pm":
        return [rng.standard_normal(d), rng.standard_normal(d), L]
    return [rng.standard_normal(d) for _ in range(L)]


@pytest.mark.parametrize(
    "form, L", [("pm", 1), ("pm", 2), ("pm", 3), ("product", 2), ("product", 3)]
)
def test_gradient_matches_finite_differences(seed, form, L):
    rng = np.random.default_rng(seed)
    n, d = 7, 9
    X = rng.standard_normal((n, d))
    y = rng.standard_normal(n)
    params = _params(form, L, d, rng)
    if form == "product":
        params[0][0] = 0.0  # an exact zero must not break the prefix/suffix products
    loss, grads = diagonal_net_loss_grad(params, X, y, form)
    blocks = 2 if form == "pm" else L
    h = 1e-6
    for b in range(blocks):
        fd = np.empty(d)
        for i in range(d):
            up = [p.copy() if isinstance(p, np.ndarray) else p for p in params]
            dn = [p.copy() if isinstance(p, np.ndarray) else p for p in params]
            up[b][i] += h
            dn[b][i] -= h
            fd[i] = (
                diagonal_net_loss_grad(up, X, y, form)[0]
                - diagonal_net_loss_grad(dn, X, y, form)[0]
            ) / (2 * h)
        np.testing.assert_allclose(grads[b], fd, rtol=1e-6, atol=1e-8)
    beta = params[0] ** L - params[1] ** L if form == "pm" else np.prod(params, axis=0)
    assert loss == pytest.approx(0.5 * np.sum((X @ beta - y) ** 2) / n)


@pytest.mark.parametrize("form", ["pm", "product"])
def test_depth2_recovers_a_planted_sparse_vector(seed, form):
    # n = 60, d = 100, k = 3 (+-1 nonzeros): the support is fitted within a few hundred
    # steps; what remains is the slow decay of a few small off-support weights (measured:
    # relative error 5e-5 to 6e-4 after 5,000 steps), so the test stops at residual 1e-3.
    P = make_sparse_regression(60, 100, 3, coef="sign", random_state=seed)
    res = diagonal_net_regress(
        P.problem, depth=2, form=form, init_scale=1e-8, tol=1e-3, max_iter=3000
    )
    assert res.converged and res.history["rel_residual"][-1] < 1e-3
    assert P.rel_error(res.coef) < 1e-2
    off = np.delete(res.coef, P.support)
    assert np.abs(off).max() < 1e-2  # sparse: nothing large off the support


def test_sparse_x_matches_dense():
    P = make_sparse_regression(30, 40, 2, coef="sign", random_state=0)
    with pytest.warns(ConvergenceWarning):
        a = diagonal_net_regress(P.problem.X, P.problem.y, depth=3, max_iter=300, tol=1e-12)
    with pytest.warns(ConvergenceWarning):
        b = diagonal_net_regress(
            sp.csr_matrix(P.problem.X), P.problem.y, depth=3, max_iter=300, tol=1e-12
        )
    np.testing.assert_allclose(a.coef, b.coef, rtol=1e-9, atol=1e-12)


def test_max_iter_warns_and_bad_input():
    P = make_sparse_regression(20, 40, 2, random_state=0)
    with pytest.warns(ConvergenceWarning, match=r"max_iter=5 .*relative residual"):
        res = diagonal_net_regress(P.problem, max_iter=5)
    assert res.n_iter == 5 and not res.converged
    for kw, exc, match in [
        (dict(depth=0), ValueError, "'depth' parameter"),
        (dict(depth=2.0), TypeError, "'depth' parameter must be an int"),
        (dict(form="diag"), ValueError, "'form' parameter"),
        (dict(init_scale=0.0), ValueError, "'init_scale' parameter"),
        (dict(step=2.0), ValueError, "'step' parameter"),
    ]:
        with pytest.raises(exc, match=match):
            diagonal_net_regress(P.problem, **kw)
    with pytest.raises(ValueError, match="X holds 1 non-finite"):
        diagonal_net_regress(np.array([[np.nan, 1.0]]), [1.0])


def test_resumed_fit_equals_uninterrupted_and_callback():
    P = make_sparse_regression(60, 100, 3, coef="sign", random_state=0)
    kw = dict(depth=3, form="product", tol=1e-3, max_iter=3000)
    full = diagonal_net_regress(P.problem, **kw)
    assert full.converged and full.n_iter > 40
    saved = []

    def stop(it, info):
        assert info["iteration"] == it and info["result"].coef.shape == (100,)
        return it == 40

    cut = diagonal_net_regress(P.problem, callback=stop, checkpoint=saved.append, **kw)
    assert cut.n_iter == 40 and not cut.converged and saved[-1].n_iter == 40
    res = diagonal_net_regress(P.problem, resume=saved[-1], **kw)
    np.testing.assert_array_equal(res.coef, full.coef)
    assert (res.n_iter, res.converged, res.history) == (full.n_iter, True, full.history)
