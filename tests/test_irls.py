import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

from linrfm import make_completion
from linrfm.datasets import make_sensing
from linrfm.results import ModelFitError
from linrfm.solvers.irls import irls_complete, irls_sense, irls_weight_inverse
from linrfm.solvers.linrfm import lin_rfm_complete, lin_rfm_step


@pytest.mark.parametrize("shape_rank_obs", [(10, 2, 80), (12, 1, 100)])
def test_irls1_and_linrfm_quarter_reach_the_same_fixed_point(shape_rank_obs):
    """IRLS-1 and lin-RFM alpha = 1/4 (eigen path) share their unsmoothed fixed point.

    Fixed seed 0: problems where the nuclear-norm minimizer is unique (it is the planted
    matrix), so the common limit is known; both get there within 1e-9 in 400 iterations
    (measured), a margin of 1000x on the 1e-6 asked.
    """
    n, r, m = shape_rank_obs
    P = make_completion(n, n, r, m, min_per_line=r + 1, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        a = irls_complete(P.problem, p=1.0, eta=1.5, gamma_min=1e-20, tol=1e-14, max_iter=400)
        b = lin_rfm_complete(
            P.problem,
            alpha=0.25,
            variant="one-sided",
            lam_rule="change",
            lam_min=1e-20,
            tol=1e-14,
            max_iter=400,
        )
    A, B = a.to_dense(), b.to_dense()
    assert np.linalg.norm(A - B) <= 1e-6 * np.linalg.norm(A)
    T = P.dense_truth()
    assert np.linalg.norm(A - T) <= 1e-6 * np.linalg.norm(T)


def test_one_irls0_step_is_one_linrfm_half_step():
    """IRLS-0 weight (B^T B + gamma I)^-1 == lin-RFM alpha = 1/2 with lam = gamma / n."""
    P = make_completion(25, 20, 2, 200, min_per_line=2, random_state=4)
    n, d = P.shape
    X0 = np.zeros(P.shape)
    X0[P.problem.rows, P.problem.cols] = P.problem.values
    g_rel = 0.3
    g_abs = g_rel * np.trace(X0.T @ X0) / d
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        one = irls_complete(P.problem, p=0.0, gamma=g_rel, max_iter=1).to_dense()
    want = lin_rfm_step(X0, P.problem, alpha=0.5, lam=g_abs / n)
    np.testing.assert_allclose(one, want, rtol=1e-9, atol=1e-9)


def test_weight_inverse_matches_svd():
    X = np.random.default_rng(0).standard_normal((7, 5))
    U, s, Vt = np.linalg.svd(X, full_matrices=False)
    want = (Vt.T * (s**2 + 0.1) ** 0.5) @ Vt
    np.testing.assert_allclose(irls_weight_inverse(X, 1.0, 0.1), want, atol=1e-12)


@pytest.mark.parametrize("p", [0.0, 1.0])
def test_completion_recovers_easy_planted(seed, p):
    # 40 x 40 rank 2, rho ~ 5: comfortably above both thresholds
    P = make_completion(40, 40, 2, 800, min_per_line=3, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        res = irls_complete(P.problem, p=p, eta=1.2, max_iter=600)
    assert P.evaluate(res)["rel_error"] < 1e-3
    np.testing.assert_allclose(res.predict(P.problem.rows, P.problem.cols), P.problem.values)


@pytest.mark.parametrize("p", [0.0, 1.0])
def test_sensing_recovers_easy_planted(seed, p):
    P = make_sensing(15, 15, 1, 120, random_state=seed)
    res = irls_sense(P.problem, p=p, max_iter=400)
    assert P.evaluate(res)["rel_error"] < 1e-3
    np.testing.assert_allclose(P.problem.operator.apply(res.X), P.problem.y, atol=1e-6)


def test_warns_at_max_iter():
    P = make_completion(20, 20, 2, 200, random_state=0)
    with pytest.warns(ConvergenceWarning, match="IRLS did not converge in max_iter=3"):
        irls_complete(P.problem, max_iter=3)


@pytest.mark.parametrize(
    "call, exc, match",
    [
        (lambda P, S: irls_complete(P.problem, p=1.5), ValueError, "'p'"),
        (lambda P, S: irls_complete(P.problem, p=-0.1), ValueError, "'p'"),
        (lambda P, S: irls_complete(P.problem, gamma=0), ValueError, "'gamma'"),
        (lambda P, S: irls_complete(P.problem, eta=0.5), ValueError, "'eta'"),
        (lambda P, S: irls_sense(P.problem), TypeError, "MatrixSensing"),
        (lambda P, S: irls_sense(S.problem, init=np.ones((2, 2))), ValueError, "init has shape"),
        (lambda P, S: irls_complete(np.full((3, 3), np.inf)), ValueError, "infinite"),
    ],
)
def test_bad_input(call, exc, match):
    P = make_completion(10, 10, 1, 50, random_state=0)
    S = make_sensing(6, 6, 1, 20, random_state=0)
    with pytest.raises(exc, match=match):
        call(P, S)


def test_nonfinite_raises():
    S = make_sensing(6, 6, 1, 20, random_state=0)
    with pytest.raises(ModelFitError):
        with np.errstate(all="ignore"):
            irls_sense(S.problem, init=np.full((6, 6), 1e200), max_iter=2)


@pytest.mark.parametrize("which", ["complete", "sense"])
def test_resumed_fit_equals_the_uninterrupted_one(which):
    if which == "complete":
        data = make_completion(20, 20, 2, 280, min_per_line=3, random_state=0).problem
        fit = irls_complete
    else:  # the sensing method: its solver's warm starts are state too
        data = make_sensing(8, 8, 1, 40, random_state=0).problem
        fit = irls_sense
    full = fit(data, eta=1.3, max_iter=300)
    saved = []
    with pytest.warns(ConvergenceWarning):
        fit(data, eta=1.3, max_iter=12, checkpoint=saved.append)
    res = fit(data, eta=1.3, max_iter=300, resume=saved[-1])
    assert full.converged and (res.n_iter, res.converged) == (full.n_iter, full.converged)
    assert res.history == full.history
    np.testing.assert_array_equal(res.X, full.X)
