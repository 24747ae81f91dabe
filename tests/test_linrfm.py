import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

import linrfm.solvers.linrfm.kernel as kernel_module
from linrfm import ModelFitError, make_completion
from linrfm.solvers.linrfm import (
    eig_power,
    kernel_power,
    lin_rfm_complete,
    lin_rfm_plan,
    lin_rfm_step,
)

SHAPES = [(60, 50, 2), (80, 120, 3), (150, 100, 5), (100, 100, 1), (40, 200, 2)]


def planted(n, d, r, rho, seed, **kw):
    n_obs = int(np.ceil(rho * r * (n + d - r)))
    return make_completion(n, d, r, n_obs, min_per_line=r, random_state=seed, **kw)


@pytest.mark.parametrize("n, d, r", SHAPES)
def test_recovers_planted_low_rank_default(n, d, r, seed):
    # 3x oversampling with every line holding >= r observations. The margin: over 20
    # seeds of each shape the largest error seen was 4.5e-5, 20x below the bar.
    P = planted(n, d, r, 3.0, seed)
    res = lin_rfm_complete(P.problem)
    assert res.converged
    assert P.evaluate(res)["rel_error"] < 1e-3


@pytest.mark.parametrize("alpha", [0.5, 1.0])
def test_recovers_one_sided(alpha, seed):
    # the paper's one-sided update, with a fixed ridge as the paper runs it
    P = planted(60, 50, 2, 4.0, seed)
    res = lin_rfm_complete(
        P.problem,
        alpha=alpha,
        variant="one-sided",
        lam_rule="fixed",
        lam=1e-3,
        tol=1e-9,
        max_iter=5000,
    )
    assert P.evaluate(res)["rel_error"] < 1e-2


def test_one_sided_step_equals_irls0_step(seed):
    """One alpha=1/2 step with replacement == one IRLS-0 step, W = (B^T B + n lam I)^-1."""
    rng = np.random.default_rng(seed)
    P = planted(30, 20, 2, 2.5, seed)
    prob = P.problem
    n, d = prob.shape
    B = rng.standard_normal((n, d))
    B[prob.rows, prob.cols] = prob.values
    lam = 0.37
    ours = lin_rfm_step(B, prob, alpha=0.5, lam=lam)
    # IRLS-0: minimise b W b^T over each row's free entries, observed entries fixed:
    # b_F = -W_FF^{-1} W_FO y  (uses W itself, not its inverse).
    W = np.linalg.inv(B.T @ B + n * lam * np.eye(d))
    irls = np.empty_like(B)
    for i in range(n):
        obs = prob.cols[prob.rows == i]
        y = prob.values[prob.rows == i]
        free = np.setdiff1d(np.arange(d), obs)
        irls[i, obs] = y
        irls[i, free] = -np.linalg.solve(W[np.ix_(free, free)], W[np.ix_(free, obs)] @ y)
    np.testing.assert_allclose(ours, irls, rtol=0, atol=1e-10 * np.abs(irls).max())


def test_step_without_replace_matches_formula():
    P = planted(20, 15, 2, 3.0, 0)
    prob = P.problem
    n, d = prob.shape
    B = np.random.default_rng(0).standard_normal((n, d))
    lam = 0.1
    K = (B.T @ B) / n
    out = lin_rfm_step(B, prob, alpha=0.5, lam=lam, replace=False)
    for i in range(n):
        o = prob.cols[prob.rows == i]
        y = prob.values[prob.rows == i]
        ref = np.linalg.solve(K[np.ix_(o, o)] + lam * np.eye(o.size), y) @ K[o, :]
        np.testing.assert_allclose(out[i], ref, atol=1e-12)


@pytest.mark.parametrize("alpha", [0.5, 1.0])
@pytest.mark.parametrize("variant", ["one-sided", "two-sided"])
def test_eigen_path_agrees_with_svd_free(alpha, variant, monkeypatch):
    P = planted(40, 30, 2, 3.0, 0)
    kw = dict(alpha=alpha, variant=variant, max_iter=15, tol=1e-30)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        fast = lin_rfm_complete(P.problem, **kw).to_dense()
        monkeypatch.setattr(kernel_module, "kernel_power", eig_power)
        slow = lin_rfm_complete(P.problem, **kw).to_dense()
    np.testing.assert_allclose(slow, fast, rtol=0, atol=1e-8 * np.abs(fast).max())


def test_kernel_power_matches_matrix_power():
    rng = np.random.default_rng(0)
    M = rng.standard_normal((8, 5))
    G = M @ M.T  # PSD, rank 5
    np.testing.assert_allclose(eig_power(G, 0.5), G, atol=1e-10)
    np.testing.assert_allclose(eig_power(G, 1.0), G @ G, atol=1e-9)
    np.testing.assert_allclose(kernel_power(G, 0.25) @ kernel_power(G, 0.25), G, atol=1e-9)


def test_general_alpha_recovers():
    P = planted(60, 50, 2, 3.0, 0)
    res = lin_rfm_complete(P.problem, alpha=0.4)
    assert P.evaluate(res)["rel_error"] < 1e-3


def test_predict_matches_dense_and_keeps_observed():
    P = planted(40, 30, 2, 3.0, 1)
    prob = P.problem
    for variant in ["one-sided", "two-sided"]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            res = lin_rfm_complete(prob, variant=variant, max_iter=20)
        dense = res.to_dense()
        r, c = P.unobserved()
        np.testing.assert_allclose(res.predict(r, c), dense[r, c], atol=1e-12)
        np.testing.assert_allclose(res.predict(prob.rows, prob.cols), prob.values, atol=1e-10)


def test_noisy_mode_does_not_interpolate():
    P = planted(60, 50, 2, 4.0, 0, noise=0.3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        res = lin_rfm_complete(P.problem, replace=False, lam=1.0, lam_rule="fixed", max_iter=5)
    fitted = res.predict(P.problem.rows, P.problem.cols)
    assert np.abs(fitted - P.problem.values).max() > 1e-3


@pytest.mark.parametrize("rule", ["fixed", "holdout", "decay", "change"])
def test_other_lambda_rules_run_and_report(rule):
    P = planted(60, 50, 2, 4.0, 0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        res = lin_rfm_complete(P.problem, lam_rule=rule, max_iter=300, random_state=0)
    assert res.params["lam_rule"] == rule
    if rule == "holdout":
        assert len(res.history["val_rel_error"]) == res.n_iter
    assert P.evaluate(res)["rel_error"] < 0.5


def test_convergence_warning_when_max_iter_hit():
    P = planted(40, 30, 2, 3.0, 0)
    with pytest.warns(ConvergenceWarning, match="max_iter=2 iterations.*tol=1e-06"):
        res = lin_rfm_complete(P.problem, max_iter=2, polish=False)
    assert not res.converged and res.n_iter == 2


def test_nan_iterate_raises(monkeypatch):
    P = planted(20, 15, 1, 3.0, 0)
    monkeypatch.setattr(kernel_module, "kernel_power", lambda G, a: G * np.nan)
    with pytest.raises(ModelFitError, match="NaN or inf"):
        lin_rfm_complete(P.problem)


def test_warm_start_and_callback():
    P = planted(60, 50, 2, 3.0, 0)
    seen = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        first = lin_rfm_complete(
            P.problem, max_iter=100, callback=lambda it, info: seen.append(info) or it >= 5,
            polish=False,
        )  # fmt: skip
    assert first.n_iter == 5 and len(seen) == 5 and "rel_change" in seen[0]
    warm = lin_rfm_complete(P.problem, init=first, polish=False)
    cold = lin_rfm_complete(P.problem, polish=False)
    assert warm.n_iter < cold.n_iter
    assert P.evaluate(warm)["rel_error"] < 1e-3


def test_auto_rule_follows_variant():
    P = planted(40, 30, 2, 3.0, 0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        one = lin_rfm_complete(P.problem, variant="one-sided", max_iter=3)
        plain = lin_rfm_complete(P.problem, variant="one-sided", momentum=0.0, max_iter=3)
        two = lin_rfm_complete(P.problem, variant="two-sided", max_iter=3)
    assert one.params["lam_rule"] == "decay" and one.params["momentum"] == 0.7
    assert plain.params["lam_rule"] == "fixed"
    assert two.params["lam_rule"] == "change" and two.params["momentum"] == 0.0


def test_one_sided_defaults_recover_beyond_the_fixed_ridge_floor(seed):
    # momentum with the decaying ridge: exact recovery one-sided, where a fixed ridge
    # leaves an error floor of a few 1e-3 (benchmarks/README.md, "One-sided momentum")
    P = planted(120, 60, 2, 4.0, seed)
    res = lin_rfm_complete(P.problem, variant="one-sided")
    assert res.converged
    assert P.evaluate(res)["rel_error"] < 1e-4


def test_auto_variant_follows_memory():
    P = planted(40, 30, 2, 3.0, 0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        assert lin_rfm_complete(P.problem, max_iter=3).params["variant"] == "two-sided"
        opts = lin_rfm_plan(P.problem)["options"]
        two = next(o["bytes"] for o in opts if o["variant"] == "two-sided")
        one = min(o["bytes"] for o in opts if o["variant"] == "one-sided")
        assert one < two
        res = lin_rfm_complete(P.problem, max_iter=3, memory_limit=(one + two) / 2)
    assert res.params["variant"] == "one-sided"
    with pytest.raises(MemoryError, match="needs an estimated .* memory_limit"):
        lin_rfm_complete(P.problem, memory_limit=one / 2)


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        (dict(alpha=0.0), ValueError, "'alpha' parameter must be a real number in the range \\(0"),
        (dict(alpha=-1.0), ValueError, "'alpha'"),
        (dict(alpha="half"), TypeError, "'alpha' parameter must be a real number"),
        (dict(variant="both"), ValueError, "'variant' parameter must be one of"),
        (dict(lam=-1.0), ValueError, "'lam'"),
        (dict(lam_rule="oracle"), ValueError, "'lam_rule'"),
        (dict(tol=0.0), ValueError, "'tol'"),
        (dict(max_iter=0), ValueError, "'max_iter'"),
        (dict(max_iter=2.5), TypeError, "'max_iter' parameter must be an int"),
        (dict(replace="yes"), TypeError, "'replace'"),
        (dict(val_fraction=1.0), ValueError, "'val_fraction'"),
        (dict(callback=3), TypeError, "'callback'"),
        (dict(init=object()), ValueError, "init must be a KernelResult"),
    ],
)
def test_bad_parameters(kwargs, exc, match):
    P = planted(20, 15, 1, 3.0, 0)
    with pytest.raises(exc, match=match):
        lin_rfm_complete(P.problem, **kwargs)


def test_bad_data_and_predict_arguments():
    with pytest.raises(ValueError, match="infinite"):
        lin_rfm_complete(np.array([[1.0, np.inf], [np.nan, 2.0]]))
    P = planted(20, 15, 1, 3.0, 0)
    res = lin_rfm_complete(P.problem)
    with pytest.raises(ValueError, match="rows holds index 20, out of range"):
        res.predict([20], [0])
    with pytest.raises(ValueError, match="same length"):
        res.predict([0, 1], [0])
    with pytest.raises(ValueError, match="B has shape"):
        lin_rfm_step(np.zeros((3, 3)), P.problem, lam=0.1)


def test_empty_rows_and_columns_do_not_crash():
    from linrfm import CoverageWarning, MatrixCompletion

    P = planted(40, 30, 2, 3.0, 0)
    p = P.problem
    keep = (p.rows != 3) & (p.cols != 7)
    with pytest.warns(CoverageWarning, match="1 row\\(s\\) and 1 column\\(s\\)"):
        q = MatrixCompletion(p.rows[keep], p.cols[keep], p.values[keep], p.shape)
    for variant in ["one-sided", "two-sided"]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            res = lin_rfm_complete(q, variant=variant, max_iter=50)
        dense = res.to_dense()
        assert np.all(np.isfinite(dense))
        np.testing.assert_array_equal(res.predict([3, 3], [0, 5]), [0.0, 0.0])


@pytest.mark.parametrize(
    "kw",
    [
        # the iteration (an early polish would end these fits at iteration 1)
        dict(variant="two-sided", polish=False),
        dict(variant="one-sided", agop="dense", momentum=0.7, polish=False),
        dict(variant="one-sided", agop="sparse", momentum=0.7, polish=False),
        dict(variant="two-sided", lam_rule="holdout", random_state=2),
    ],
    ids=["dense-two-sided", "dense-one-sided-momentum", "sparse-agop", "holdout"],
)
def test_resume_from_a_checkpoint_equals_the_uninterrupted_fit(kw):
    P = planted(60, 50, 2, 3.0, 0)
    saved = []
    full = lin_rfm_complete(P.problem, checkpoint=saved.append, **kw)
    assert full.converged and [c.n_iter for c in saved] == list(range(1, full.n_iter + 1))
    for k in (1, full.n_iter // 2):
        res = lin_rfm_complete(P.problem, resume=saved[k - 1], **kw)
        assert (res.n_iter, res.converged) == (full.n_iter, full.converged)
        assert res.history == full.history
        assert res.params == full.params
        np.testing.assert_array_equal(res.to_dense(), full.to_dense())
    # a checkpoint is of one engine: another one refuses it
    other = dict(variant="one-sided", agop="sparse") if kw["variant"] == "two-sided" else {}
    with pytest.raises(ValueError, match="resume holds a checkpoint of"):
        lin_rfm_complete(P.problem, resume=saved[0], **other)


def test_lin_rfm_complete_follows_the_ridge_rule_and_window():
    # An independent restatement of the one-sided 'change' iteration on top of
    # lin_rfm_step (which takes an absolute ridge): the relative ridge is scaled by
    # tr(K) / d with K = B^T B / n (alpha = 1/2), then follows the relative change down;
    # the run stops after 5 changes in a row below tol with the ridge <= tol.
    P = make_completion(30, 25, 2, 300, random_state=1)
    tol, lam_min = 1e-6, 1e-12
    res = lin_rfm_complete(
        P.problem,
        variant="one-sided",
        agop="dense",
        lam_rule="change",
        tol=tol,
        max_iter=400,
        momentum=0.0,
        polish=False,  # the iteration itself, not its final polish
    )
    assert res.params["kernel_side"] == "row"
    prob = P.problem
    n, d = prob.shape
    B = np.zeros((n, d))
    B[prob.rows, prob.cols] = prob.values
    lam_rel, changes, lams = 1e-2, [], []
    while True:
        scale = np.trace(B.T @ B / n) / d
        B_new = lin_rfm_step(B, prob, lam=lam_rel * scale)
        changes.append(np.linalg.norm(B_new - B) / np.linalg.norm(B))
        lams.append(lam_rel)
        done = len(changes) >= 5 and max(changes[-5:]) < tol and lam_rel <= tol
        lam_rel = max(lam_min, min(lam_rel, changes[-1]))
        B = B_new
        if done or len(changes) == 400:
            break
    assert res.converged and done
    assert res.n_iter == len(changes)
    np.testing.assert_allclose(res.history["rel_change"], changes, rtol=1e-8, atol=1e-14)
    np.testing.assert_allclose(res.history["lam"], lams, rtol=1e-8, atol=1e-14)
    np.testing.assert_allclose(res.to_dense(), B, rtol=0, atol=1e-10 * np.abs(B).max())
