"""The iteration shell shared by lin-RFM (completion, sensing) and IRLS (solvers/_driver.py)."""

import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

from linrfm import ModelFitError, make_completion
from linrfm.solvers._driver import WINDOW, absolute_ridge, iterate, next_ridge, settled
from linrfm.solvers.linrfm import lin_rfm_complete, lin_rfm_step


def test_absolute_ridge():
    assert absolute_ridge(1e-2, 4.0) == 4e-2
    assert absolute_ridge(1e-2, 0.0) == 1e-2  # a zero matrix: the relative value as is
    with pytest.raises(ModelFitError, match="NaN or inf"):
        absolute_ridge(1e-2, np.nan)
    with pytest.raises(ModelFitError, match="IRLS iterate"):
        absolute_ridge(1e-2, np.inf, "IRLS iterate became non-finite at iteration 3.")


def test_ridge_rules():
    # 'change': the ridge follows the relative change down, never up, floored at lam_min
    assert next_ridge("change", 1e-2, 1e-3, 1e-12) == 1e-3
    assert next_ridge("change", 1e-2, 0.5, 1e-12) == 1e-2
    assert next_ridge("change", 1e-2, 0.0, 1e-8) == 1e-8
    # 'decay': divided by 10 only when the change is below sqrt(lam) / 100 = 1e-3
    assert next_ridge("decay", 1e-2, 0.9e-3, 1e-12) == pytest.approx(1e-3)
    assert next_ridge("decay", 1e-2, 1.1e-3, 1e-12) == 1e-2
    assert next_ridge("decay", 1e-2, 0.0, 5e-3) == 5e-3
    assert next_ridge("fixed", 1e-2, 0.0, 1e-12) == 1e-2


def test_convergence_window():
    quiet = [1e-7] * WINDOW
    assert settled(quiet, 1e-6, "fixed", 1e-2, 0.0)
    assert not settled(quiet[1:], 1e-6, "fixed", 1e-2, 0.0)  # too few iterations
    assert not settled([1e-3] + quiet[1:], 1e-6, "fixed", 1e-2, 0.0)  # one loud one
    assert settled([1e-3] + quiet, 1e-6, "fixed", 1e-2, 0.0)  # ... fallen out of the window
    # the ridge rules also need the ridge down to max(tol, lam_min)
    assert not settled(quiet, 1e-6, "change", 1e-2, 0.0)
    assert settled(quiet, 1e-6, "change", 1e-6, 0.0)
    assert settled(quiet, 1e-6, "decay", 1e-5, 1e-5)


def _counting_step(done_at=None):
    def step(it):
        return it == done_at, {"iteration": it}, {"it": str(it)}

    return step


def test_iterate_stops_on_convergence_and_on_callback():
    calls = []
    it, conv = iterate(_counting_step(4), max_iter=10, callback=lambda i, info: calls.append(i))
    assert (it, conv) == (4, True)
    assert calls == [1, 2, 3]  # no callback on the converged iteration
    it, conv = iterate(_counting_step(), max_iter=10, callback=lambda i, info: i == 2)
    assert (it, conv) == (2, False)
    made = []
    iterate(
        _counting_step(3),
        max_iter=10,
        callback=lambda i, info: made.append(info["result"]),
        result=lambda i: ("snapshot", i),
    )
    assert made == [("snapshot", 1), ("snapshot", 2)]


def test_iterate_warns_at_max_iter_from_the_callers_line():
    def solver():
        return iterate(_counting_step(), max_iter=3, warning=lambda: "it did not converge")

    with pytest.warns(ConvergenceWarning, match="it did not converge") as rec:
        assert solver() == (3, False)
    assert rec[0].filename == __file__  # stacklevel 3: the solver's caller
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        iterate(_counting_step(3), max_iter=3, warning=lambda: "converged: no warning")


def test_lin_rfm_complete_follows_the_ridge_rule_and_window():
    # An independent restatement of the one-sided 'change' iteration on top of
    # lin_rfm_step (which takes an absolute ridge): the relative ridge is scaled by
    # tr(K) / d with K = B^T B / n (alpha = 1/2), then follows the relative change down;
    # the run stops after WINDOW changes in a row below tol with the ridge <= tol.
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
        done = len(changes) >= WINDOW and max(changes[-WINDOW:]) < tol and lam_rel <= tol
        lam_rel = max(lam_min, min(lam_rel, changes[-1]))
        B = B_new
        if done or len(changes) == 400:
            break
    assert res.converged and done
    assert res.n_iter == len(changes)
    np.testing.assert_allclose(res.history["rel_change"], changes, rtol=1e-8, atol=1e-14)
    np.testing.assert_allclose(res.history["lam"], lams, rtol=1e-8, atol=1e-14)
    np.testing.assert_allclose(res.to_dense(), B, rtol=0, atol=1e-10 * np.abs(B).max())
