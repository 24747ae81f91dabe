"""Alternating least squares (linrfm.solvers.als)."""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.exceptions import ConvergenceWarning

from linrfm.datasets import make_completion
from linrfm.problems import MatrixCompletion
from linrfm.solvers.als import Lines, als_complete


@pytest.fixture(scope="module")
def planted():
    # 100 x 80, rank 3: 531 degrees of freedom, 3,000 observations (oversampling 5.6)
    return make_completion(100, 80, 3, 3000, random_state=0)


def unobserved_error(P, res):
    rows, cols = P.unobserved()
    truth = P.truth(rows, cols)
    return np.linalg.norm(res.predict(rows, cols) - truth) / np.linalg.norm(truth)


def test_recovers_a_planted_low_rank_matrix(planted):
    res = als_complete(planted.problem, rank=3, lam=1e-10, tol=1e-10, max_iter=500, random_state=0)
    assert res.converged and res.method == "als"
    assert res.U.shape == (100, 3) and res.V.shape == (80, 3)
    # The error is the ridge's bias (~ lam * sigma_1 / sigma_3, ~1e-10 here) plus the
    # stopping error (~ tol / (1 - contraction rate) for a linear rate): both far below
    # 1e-6, which leaves room for a slower contraction on another platform's rounding.
    assert unobserved_error(planted, res) <= 1e-6
    assert res.history["rel_residual"][-1] <= 1e-6
    assert set(res.history) == {"rel_change", "rel_residual"}
    assert len(res.history["rel_change"]) == res.n_iter


def tiny_problem():
    rng = np.random.default_rng(1)
    n, d = 7, 5
    Y = rng.standard_normal((n, 2)) @ rng.standard_normal((2, d))
    mask = rng.random((n, d)) < 0.6
    mask[3] = False  # a row without observations gets a zero factor row
    mask[:, 0] |= np.arange(n) == 0
    X = np.where(mask, Y, np.nan)
    return X, mask


def dense_ridge(F, X, mask, lam_abs):
    """Each line's ridge solution (the minimum-norm one when singular), line by line."""
    k = F.shape[1]
    out = np.zeros((X.shape[0], k))
    for i in range(X.shape[0]):
        Fi, xi = F[mask[i]], X[i, mask[i]]
        out[i] = np.linalg.pinv(Fi.T @ Fi + lam_abs * np.eye(k)) @ (Fi.T @ xi)
    return out


@pytest.mark.parametrize("lam", [0.1, 0.0])
def test_a_half_step_equals_the_dense_normal_equations(lam):
    X, mask = tiny_problem()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        res = als_complete(X, rank=2, lam=lam, max_iter=1, random_state=0)
    # the ridge's unit: the spectral norm of the observed entries (zeros elsewhere)
    lam_abs = lam * np.linalg.norm(np.where(mask, X, 0.0), 2)
    assert res.params["lam_abs"] == pytest.approx(lam_abs, rel=1e-12)
    # an iteration ends with the row half-step on the new V
    np.testing.assert_allclose(res.U, dense_ridge(res.V, X, mask, lam_abs), rtol=1e-12, atol=1e-14)
    assert np.all(res.U[3] == 0)
    # the column half-step through the CSC lines, on any U
    prob = MatrixCompletion.from_dense(X)
    U = np.random.default_rng(2).standard_normal((7, 2))
    V = Lines.cols_of(prob).solve(U, lam_abs)
    np.testing.assert_allclose(V, dense_ridge(U, X.T, mask.T, lam_abs), rtol=1e-12, atol=1e-14)


def test_small_batches_match_large_ones(monkeypatch, planted):
    V = np.random.default_rng(0).standard_normal((80, 4))
    whole = Lines.rows_of(planted.problem).solve(V, 0.5)
    assert len(Lines.rows_of(planted.problem).batches(4, 80)) < 10
    monkeypatch.setattr("linrfm.solvers.als._MAX_ELEMENTS", 500)  # a few lines per batch
    lines = Lines.rows_of(planted.problem)
    assert len(lines.batches(4, 80)) > 20
    np.testing.assert_allclose(lines.solve(V, 0.5), whole, rtol=1e-12)


@pytest.mark.parametrize(("noise", "rs"), [(0.1, 0), (0.1, 1), (0.0, 0)])
def test_rank_selection_finds_the_true_rank(noise, rs):
    P = make_completion(100, 80, 3, 3000, noise=noise, random_state=rs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        res = als_complete(P.problem, ranks=range(1, 7), random_state=rs)
    assert res.params["rank"] == 3 and res.U.shape[1] == 3
    scores = res.params["rank_scores"]
    assert sorted(scores) == [1, 2, 3, 4, 5, 6]
    assert scores[3] < 0.5 * scores[2]


def test_default_ranks_are_capped_by_the_observations(planted):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        res = als_complete(planted.problem, max_iter=20, random_state=0)
    # 2,700 fitting observations: r (180 - r) < 2700 up to r = 16; 32 is skipped
    assert sorted(res.params["rank_scores"]) == [1, 2, 4, 8, 16]


@pytest.mark.parametrize("rank", [3, None])
@pytest.mark.parametrize("s", [1e3, 3.7e-4])
def test_scale_equivariance(planted, rank, s):
    prob = planted.problem
    scaled = MatrixCompletion(prob.rows, prob.cols, s * prob.values, prob.shape)
    kw = dict(rank=rank, ranks=(2, 3, 4), max_iter=30, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        a = als_complete(prob, **kw)
        b = als_complete(scaled, **kw)
    Za, Zb = a.to_dense(), b.to_dense()
    assert np.linalg.norm(Zb - s * Za) <= 1e-10 * np.linalg.norm(s * Za)
    assert a.n_iter == b.n_iter and a.params["rank"] == b.params["rank"]
    np.testing.assert_allclose(b.history["rel_change"], a.history["rel_change"], rtol=1e-8)


def test_resume_from_a_checkpoint_equals_an_uninterrupted_fit(planted):
    kw = dict(rank=3, lam=1e-3, tol=1e-9, random_state=0)
    full = als_complete(planted.problem, max_iter=200, **kw)
    saved = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        als_complete(planted.problem, max_iter=6, checkpoint=saved.append, **kw)
    assert [c.n_iter for c in saved] == [1, 2, 3, 4, 5, 6]
    # another seed: the start is overwritten by the checkpoint; rank=None takes its rank
    res = als_complete(
        planted.problem, max_iter=200, resume=saved[2], tol=1e-9, lam=1e-3, random_state=5
    )
    assert res.n_iter == full.n_iter and res.converged == full.converged
    assert res.history == full.history
    np.testing.assert_array_equal(res.U, full.U)
    np.testing.assert_array_equal(res.V, full.V)


def test_input_forms_agree(planted):
    prob = planted.problem
    dense = np.full(prob.shape, np.nan)
    dense[prob.rows, prob.cols] = prob.values
    forms = [
        prob,
        dense,
        sp.csr_matrix((prob.values, (prob.rows, prob.cols)), shape=prob.shape),
        (prob.rows, prob.cols, prob.values),
    ]
    results = [
        als_complete(f, rank=3, max_iter=5, shape=prob.shape, random_state=0) for f in forms[1:]
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ref = als_complete(forms[0], rank=3, max_iter=5, random_state=0)
    for r in results:
        np.testing.assert_array_equal(r.U, ref.U)


def test_callback_and_convergence_warning(planted):
    seen = []

    def cb(it, info):
        seen.append((it, sorted(info)))
        assert info["result"].U.shape == (100, 3)
        return it == 3

    res = als_complete(planted.problem, rank=3, callback=cb, random_state=0)
    assert res.n_iter == 3 and not res.converged
    assert seen[0] == (1, ["iteration", "rel_change", "rel_residual", "result"])
    with pytest.warns(ConvergenceWarning, match=r"als did not converge in max_iter=2"):
        als_complete(planted.problem, rank=3, max_iter=2, random_state=0)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(rank=0), "'rank'"),
        (dict(rank=81), "'rank'"),
        (dict(rank=3, lam=-1e-3), "'lam'"),
        (dict(rank=3, lam=np.nan), "'lam'"),
        (dict(rank=3, tol=0.0), "'tol'"),
        (dict(rank=3, init_scale=0.0), "'init_scale'"),
        (dict(val_fraction=1.0), "'val_fraction'"),
        (dict(ranks=[2, 100]), "'ranks'"),
        (dict(ranks=[]), "'ranks'"),
        (dict(ranks=[79, 80], val_fraction=0.5), "No rank in ranks"),
    ],
)
def test_bad_parameters_name_the_argument(planted, kwargs, match):
    with pytest.raises(ValueError, match=match):
        als_complete(planted.problem, **kwargs)


def test_non_finite_values_are_refused():
    rows, cols = np.array([0, 1, 2]), np.array([0, 1, 0])
    with pytest.raises(ValueError, match="values"):
        als_complete((rows, cols, np.array([1.0, np.nan, 2.0])), rank=1, shape=(3, 2))
    with pytest.raises(ValueError, match="values"):
        als_complete(sp.csr_matrix(([1.0, np.inf], ([0, 1], [0, 1])), shape=(2, 2)), rank=1)


def test_resume_with_another_rank_is_refused(planted):
    saved = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        als_complete(planted.problem, rank=3, max_iter=1, checkpoint=saved.append)
    with pytest.raises(ValueError, match="rank=2 does not match"):
        als_complete(planted.problem, rank=2, resume=saved[0])


def test_a_ridge_below_rounding_falls_back_to_the_minimum_norm_solution():
    # the polish's ridge (1e-14 of a direction's share) can vanish in G's rounding: a line
    # with one observation against factor rows [1, 1] gives G + lam I == [[1, 1], [1, 1]]
    # exactly, whose LU raised "Singular matrix" out of lin_rfm_complete (1000^2, rho 1.5)
    prob = MatrixCompletion(np.array([0, 1]), np.array([0, 1]), np.array([3.0, 2.0]), (2, 2))
    F = np.array([[1.0, 1.0], [1.0, -1.0]])
    out = Lines.rows_of(prob).solve(F, 1e-20)
    np.testing.assert_allclose(out, [[1.5, 1.5], [1.0, -1.0]], rtol=1e-12)
