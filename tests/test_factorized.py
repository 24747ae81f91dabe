import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

from linrfm import make_completion
from linrfm.datasets import make_sensing
from linrfm.results import ModelFitError
from linrfm.solvers.deep_linear import deep_mf, deep_objective
from linrfm.solvers.factorized_gd import factorized_gd, factorized_objective


def _problems():
    P = make_completion(9, 7, 2, 40, random_state=0)
    S = make_sensing(6, 5, 2, 25, random_state=0)
    return [P.problem, S.problem]


def _fd_check(f, params, grads, rng):
    """Central differences along random directions of every parameter."""
    for i, (x, g) in enumerate(zip(params, grads)):
        D = rng.standard_normal(x.shape)
        h = 1e-6

        def at(t, i=i, D=D):
            moved = [p + t * D if j == i else p for j, p in enumerate(params)]
            return f(moved)

        fd = (at(h) - at(-h)) / (2 * h)
        assert fd == pytest.approx(np.sum(g * D), rel=1e-6, abs=1e-8)


@pytest.mark.parametrize("which", [0, 1])
def test_factorized_gradient_matches_finite_differences(which):
    prob = _problems()[which]
    rng = np.random.default_rng(1)
    n, d = prob.shape
    U, V = rng.standard_normal((n, 3)), rng.standard_normal((d, 3))
    _, gU, gV = factorized_objective(prob, U, V)
    _fd_check(lambda ps: factorized_objective(prob, *ps)[0], [U, V], [gU, gV], rng)


@pytest.mark.parametrize("which", [0, 1])
@pytest.mark.parametrize("depth", [2, 3, 4])
def test_deep_gradient_matches_finite_differences(which, depth):
    prob = _problems()[which]
    rng = np.random.default_rng(2)
    n, d = prob.shape
    h = 4
    dims = [d] + [h] * (depth - 1) + [n]
    Ws = [rng.standard_normal((dims[j + 1], dims[j])) / 2 for j in range(depth)]
    _, grads = deep_objective(prob, Ws)
    _fd_check(lambda ps: deep_objective(prob, ps)[0], Ws, grads, rng)


def test_factorized_gd_recovers_easy_completion(seed):
    # 40 x 40 rank 2, rho ~ 5, width 2
    P = make_completion(40, 40, 2, 800, min_per_line=3, random_state=seed)
    res = factorized_gd(P.problem, rank=2, random_state=seed, tol=1e-8)
    assert res.converged
    assert P.evaluate(res)["rel_error"] < 1e-4


@pytest.mark.parametrize("start", [0, 4, 5])
def test_factorized_gd_width_rank_from_stalling_starts(start):
    """n = 200, rank 2, rho = 3 (the phase study's cell, seed 0): these starts stalled at a
    relative error of ~0.9 with the former init_scale=1e-3: a start that is not small
    enough leaves the alignment phase unaligned with the top of A*(y)."""
    from linrfm.experiments.phase import planted

    P = planted("completion", 200, 2, 3.0, 0)
    res = factorized_gd(P.problem, rank=2, random_state=start)
    assert res.converged
    assert P.evaluate(res)["rel_error"] < 1e-4


def test_factorized_gd_backtracking_never_ascends():
    """A step far too large is halved until the training loss decreases (Armijo)."""
    P = make_completion(40, 40, 2, 800, min_per_line=3, random_state=0)
    res = factorized_gd(P.problem, rank=2, step=50.0, random_state=0, tol=1e-8)
    loss = np.asarray(res.history["loss"])
    assert np.all(loss[1:] <= loss[:-1])
    assert res.history["step"][-1] < 50.0
    assert P.evaluate(res)["rel_error"] < 1e-4


def test_factorized_gd_overparameterized_sensing(seed):
    # width 3 > rank 1; small initialization keeps the iterate near rank 1
    P = make_sensing(15, 15, 1, 150, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        res = factorized_gd(P.problem, rank=3, init_scale=1e-4, random_state=seed, max_iter=3000)
    assert P.evaluate(res)["rel_error"] < 1e-2


def test_scaled_gd_recovers_exact_width(seed):
    P = make_completion(40, 40, 2, 800, min_per_line=3, random_state=seed)
    res = factorized_gd(P.problem, rank=2, scaled=True, random_state=seed, tol=1e-8)
    assert P.evaluate(res)["rel_error"] < 1e-4
    assert res.method == "scaled-gd"


def test_factorized_gd_resumed_fit_equals_uninterrupted():
    """A fit stopped at iteration 100 and resumed from its checkpoint ends where one
    uninterrupted fit ends: same iterate, history and iteration count."""
    P = make_completion(40, 40, 2, 800, min_per_line=3, random_state=0)
    kw = dict(rank=2, random_state=0, tol=1e-8, max_iter=1000)
    full = factorized_gd(P.problem, **kw)
    saved = []
    with pytest.warns(ConvergenceWarning):
        factorized_gd(P.problem, **{**kw, "max_iter": 100}, checkpoint=saved.append)
    assert saved[-1].n_iter == 100
    resumed = factorized_gd(P.problem, **kw, resume=saved[-1])
    assert full.converged and full.n_iter > 100
    assert (resumed.n_iter, resumed.converged) == (full.n_iter, full.converged)
    assert np.array_equal(resumed.U, full.U) and np.array_equal(resumed.V, full.V)
    assert resumed.history == full.history


def test_deep_mf_recovers_easy_completion(seed):
    P = make_completion(30, 30, 1, 400, min_per_line=2, random_state=seed)
    res = deep_mf(P.problem, depth=3, random_state=seed, max_iter=3000)
    assert P.evaluate(res)["rel_error"] < 1e-3


def test_deep_mf_sensing(seed):
    P = make_sensing(12, 12, 1, 100, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # depth 2 has a slow tail
        res = deep_mf(P.problem, depth=2, random_state=seed, max_iter=3000)
    assert P.evaluate(res)["rel_error"] < 1e-2


def test_warns_and_raises():
    P = make_completion(20, 20, 2, 200, random_state=0)
    with pytest.warns(ConvergenceWarning, match="factorized GD did not converge"):
        factorized_gd(P.problem, rank=2, max_iter=3)
    with pytest.warns(ConvergenceWarning, match="deep matrix factorization did not"):
        deep_mf(P.problem, max_iter=3)
    with pytest.raises(ModelFitError, match="smaller 'step'"):
        with np.errstate(all="ignore"):
            deep_mf(P.problem, step=1e6, init_scale=1.0, max_iter=50)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda p: factorized_gd(p, rank=11), "'rank'"),
        (lambda p: factorized_gd(p, rank=0), "'rank'"),
        (lambda p: factorized_gd(p, rank=2, init_scale=0), "'init_scale'"),
        (lambda p: factorized_gd(p, rank=2, step=-1), "'step'"),
        (lambda p: deep_mf(p, depth=1), "'depth'"),
        (lambda p: deep_mf(p, width=0), "'width'"),
        (lambda p: factorized_gd(np.full((3, 3), np.inf), rank=1), "infinite"),
    ],
)
def test_bad_input(call, match):
    P = make_completion(10, 12, 1, 50, random_state=0)
    with pytest.raises(ValueError, match=match):
        call(P.problem)
