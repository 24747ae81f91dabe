"""Exact recovery by lin-RFM's defaults where the best IRLS is exact (issue 16).

The planted problems are those of Kuemmerle & Verdun (2021): ``X = U diag(s) V^T`` with
orthonormal ``U``, ``V`` and singular values geometric from 1 to ``1 / kappa``, observed
uniformly (masks redrawn until every row and column holds at least ``r + 1`` entries),
``rho = m / (r (2 n - r))`` times the degrees of freedom. The error is measured against
the smallest singular value, ``||X_hat - X||_F / sigma_r``: a relative error of 1e-4 can
hide a wrong smallest direction at kappa = 1e4.
"""

import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

from linrfm import make_completion
from linrfm.problems import MatrixCompletion
from linrfm.solvers.linrfm import lin_rfm_complete
from linrfm.solvers.linrfm.polish import max_identifiable_rank


def ill_conditioned(n, r, kappa, rho, seed):
    """``(X, s, problem)``: the planted matrix, its singular values and the observations."""
    rng = np.random.default_rng(seed)
    U = np.linalg.qr(rng.standard_normal((n, r)))[0]
    V = np.linalg.qr(rng.standard_normal((n, r)))[0]
    s = np.geomspace(1.0, 1.0 / kappa, r)
    X = (U * s) @ V.T
    m = int(round(rho * r * (2 * n - r)))
    while True:
        lin = np.sort(rng.choice(n * n, m, replace=False))
        rows, cols = lin // n, lin % n
        if min(np.bincount(rows, minlength=n).min(), np.bincount(cols, minlength=n).min()) > r:
            break
    return X, s, MatrixCompletion(rows, cols, X[rows, cols], (n, n))


@pytest.mark.parametrize("trial", range(5))
def test_defaults_recover_an_ill_conditioned_matrix(trial):
    # on main (before the polish) the defaults stopped at ||E||_F / sigma_3 ~ 1.1 on
    # every seed: the smallest direction missing, at a relative error of ~1e-4
    X, s, prob = ill_conditioned(200, 3, 1e4, 3.0, trial)
    res = lin_rfm_complete(prob)
    err = np.linalg.norm(res.to_dense() - X)
    assert err / s[-1] <= 1e-6
    assert res.converged
    assert res.params["polished"]["rank"] == 3


def test_polish_keeps_the_lin_rfm_iterate_when_no_rank_fits():
    # noisy observations: no identifiable rank reproduces them, the iterate stays
    pc = make_completion(60, 50, 2, 1500, noise=0.1, random_state=0)
    # and, in exact mode, the certificate says the stationary iterate is not determined
    # by the data (noise leaves no spectral gap): not converged, with a warning
    with pytest.warns(ConvergenceWarning, match="not determined by the data"):
        res = lin_rfm_complete(pc.problem, lam_rule="fixed")
    assert not res.converged
    assert res.params["polished"]["rank"] == 0
    assert res.lam > 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        plain = lin_rfm_complete(pc.problem, lam_rule="fixed", polish=False)
    np.testing.assert_allclose(res.to_dense(), plain.to_dense())


def test_polished_result_keeps_observations_and_predicts_like_dense():
    pc = make_completion(80, 60, 3, 1800, kappa=100.0, min_per_line=4, random_state=1)
    res = lin_rfm_complete(pc.problem)
    assert res.params["polished"]["rank"] == 3
    dense = res.to_dense()
    p = pc.problem
    np.testing.assert_allclose(dense[p.rows, p.cols], p.values, atol=1e-10)
    rows, cols = np.nonzero(np.ones(dense.shape, dtype=bool))
    np.testing.assert_allclose(res.predict(rows, cols), dense.ravel(), atol=1e-12)
    assert pc.evaluate(res)["rel_error"] < 1e-9


def test_max_identifiable_rank():
    assert max_identifiable_rank(10, 10, 19) == 0
    assert max_identifiable_rank(10, 10, 20) == 1  # 1 * 19 < 20
    assert max_identifiable_rank(200, 200, 3573) == 9
    assert max_identifiable_rank(3, 3, 100) == 3


def test_make_completion_kappa():
    pc = make_completion(40, 30, 4, 600, kappa=1e3, random_state=0)
    s = np.linalg.svd(pc.dense_truth(), compute_uv=False)
    assert s[0] / s[3] == pytest.approx(1e3, rel=1e-8)
    assert np.mean(pc.dense_truth() ** 2) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="kappa"):
        make_completion(10, 10, 2, 50, kappa=0.5)
