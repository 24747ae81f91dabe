import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

from linrfm import make_completion
from linrfm.solvers.softimpute import lambda_max, soft_impute_complete


def _residual(P, Z):
    p = P.problem
    M = np.zeros(P.shape)
    M[p.rows, p.cols] = p.values - Z[p.rows, p.cols]
    return M


def test_recovers_easy_planted_problem(seed):
    # rho ~ 8: the end of the path (1e-4 lambda_max) leaves a bias well under 1e-2
    P = make_completion(100, 80, 2, 3000, min_per_line=2, random_state=seed)
    res = soft_impute_complete(P.problem)
    assert P.evaluate(res)["rel_error"] < 1e-2


@pytest.mark.parametrize("accelerate", [False, True])
@pytest.mark.parametrize("solver", ["dense", "lowrank"])
def test_nuclear_norm_optimality_conditions(solver, accelerate):
    """P_O(X - Z) = lam (U V^T + W), U^T W = 0, W V = 0, ||W||_2 <= 1."""
    P = make_completion(60, 50, 3, 1200, min_per_line=3, random_state=1)
    lam = 0.2 * lambda_max(P.problem)
    res = soft_impute_complete(
        P.problem, lam=lam, tol=1e-12, max_iter=20000, solver=solver, accelerate=accelerate
    )
    Z = res.to_dense()
    M = _residual(P, Z)
    U, s, Vt = np.linalg.svd(Z)
    k = int(np.sum(s > 1e-9 * s[0]))
    assert k >= 1
    U, V = U[:, :k], Vt[:k].T
    np.testing.assert_allclose(U.T @ M, lam * V.T, atol=1e-6 * lam)
    np.testing.assert_allclose(M @ V, lam * U, atol=1e-6 * lam)
    W = (M - U @ (U.T @ M)) @ (np.eye(V.shape[0]) - V @ V.T) / lam
    assert np.linalg.norm(W, 2) <= 1 + 1e-6


def test_accelerated_never_ascends_and_matches_plain(seed):
    """Momentum with restarts: the objective never increases, and it reaches the plain
    iteration's solution (the optimality conditions are checked above) in fewer steps."""
    P = make_completion(40, 30, 3, 500, min_per_line=3, random_state=seed)
    lam = 0.02 * lambda_max(P.problem)
    plain = soft_impute_complete(P.problem, lam=lam, max_iter=100000, tol=1e-12)
    fast = soft_impute_complete(P.problem, lam=lam, accelerate=True, max_iter=100000, tol=1e-12)
    f = np.asarray(fast.history["objective"])
    assert np.all(f[1:] <= f[:-1] * (1 + 1e-12))
    ref = plain.to_dense()
    assert np.linalg.norm(fast.to_dense() - ref) <= 1e-5 * np.linalg.norm(ref)
    assert fast.n_iter < plain.n_iter / 2


def test_path_tol_loosens_only_the_path():
    P = make_completion(40, 30, 3, 500, min_per_line=3, random_state=0)
    a = soft_impute_complete(P.problem, n_lams=5, lam_ratio=1e-2, tol=1e-9, accelerate=True)
    b = soft_impute_complete(
        P.problem, n_lams=5, lam_ratio=1e-2, tol=1e-9, path_tol=1e-3, accelerate=True
    )
    assert b.n_iter < a.n_iter
    assert b.history["lam"][-1] == a.history["lam"][-1]
    ref = a.to_dense()
    assert np.linalg.norm(b.to_dense() - ref) <= 1e-5 * np.linalg.norm(ref)


def test_zero_above_lambda_max():
    P = make_completion(30, 20, 2, 300, random_state=0)
    res = soft_impute_complete(P.problem, lam=1.01 * lambda_max(P.problem))
    assert res.U.shape[1] == 0
    np.testing.assert_array_equal(res.predict([0, 1], [0, 1]), [0.0, 0.0])


def test_dense_and_lowrank_agree_and_rank_restriction():
    P = make_completion(60, 50, 2, 1500, random_state=2)
    a = soft_impute_complete(P.problem, solver="dense", n_lams=8)
    b = soft_impute_complete(P.problem, solver="lowrank", n_lams=8)
    np.testing.assert_allclose(a.to_dense(), b.to_dense(), atol=1e-6)
    c = soft_impute_complete(P.problem, max_rank=2, n_lams=8)
    assert c.U.shape[1] <= 2
    assert P.evaluate(c)["rel_error"] < 1e-2


def test_path_and_warning():
    P = make_completion(30, 20, 2, 300, random_state=0)
    res, path = soft_impute_complete(P.problem, n_lams=5, return_path=True)
    lams = [r.params["lam"] for r in path]
    assert len(path) == 5 and all(a > b for a, b in zip(lams, lams[1:]))
    with pytest.warns(ConvergenceWarning, match="max_iter=1"):
        soft_impute_complete(P.problem, max_iter=1, n_lams=3)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(lam=-1.0), "'lam'"),
        (dict(lam_ratio=0.0), "'lam_ratio'"),
        (dict(max_rank=0), "'max_rank'"),
        (dict(max_rank=31), "'max_rank'"),
        (dict(solver="svd"), "'solver'"),
        (dict(tol=-1.0), "'tol'"),
        (dict(path_tol=0.0), "'path_tol'"),
    ],
)
def test_bad_parameters(kwargs, match):
    P = make_completion(30, 20, 2, 300, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        with pytest.raises(ValueError, match=match):
            soft_impute_complete(P.problem, **kwargs)


def test_observed_entries_of_the_factors_in_bounded_chunks(seed):
    from linrfm.solvers.softimpute import _observed_of_factors

    rng = np.random.default_rng(seed)
    U, V = rng.standard_normal((40, 7)), rng.standard_normal((30, 7))
    rows, cols = rng.integers(0, 40, 500), rng.integers(0, 30, 500)
    want = (U @ V.T)[rows, cols]
    for budget in (1, 7, 50, 10**9):  # one entry per chunk ... everything at once
        np.testing.assert_allclose(_observed_of_factors(U, V, rows, cols, budget), want)


def _assert_same_fit(a, b):
    np.testing.assert_array_equal(a.U, b.U)
    np.testing.assert_array_equal(a.V, b.V)
    assert (a.n_iter, a.converged) == (b.n_iter, b.converged)
    assert a.history == b.history


@pytest.mark.parametrize("stop_at", [5, 14])  # mid-lam, and the last iteration of a lam
def test_resumed_fit_equals_uninterrupted(stop_at):
    """The randomized low-rank SVD draws from the generator: the checkpoint carries it."""
    P = make_completion(60, 50, 3, 1200, min_per_line=3, random_state=1)
    kw = dict(n_lams=4, lam_ratio=1e-2, path_tol=1e-2, solver="lowrank", accelerate=True)
    kw["return_path"] = True
    full, full_path = soft_impute_complete(P.problem, **kw)
    lams = full.history["lam"]
    assert len(set(lams[:stop_at])) == 2  # the path is at its 2nd lam
    assert (lams[stop_at] != lams[stop_at - 1]) == (stop_at == 14)
    saved, seen = [], []

    def stop(it, info):
        seen.append(it)
        assert info["iteration"] == it and info["result"].U.shape == (60, info["rank"])
        return it == stop_at

    cut = soft_impute_complete(P.problem, callback=stop, checkpoint=saved.append, **kw)[0]
    assert seen == list(range(1, stop_at + 1)) and not cut.converged
    assert saved[-1].n_iter == stop_at
    res, path = soft_impute_complete(P.problem, resume=saved[-1], **kw)
    _assert_same_fit(res, full)
    assert len(path) == len(full_path)
    for a, b in zip(path, full_path):
        _assert_same_fit(a, b)


def test_a_bad_seed_is_a_clear_error():
    # the one seed rule (linrfm._validation.check_random_state) holds here too
    P = make_completion(20, 15, 2, 170, random_state=0)
    with pytest.raises(ValueError, match="'random_state' parameter must be None"):
        soft_impute_complete(P.problem, random_state=-5)
