"""Factorized problems, exact Hessian traces and the flat-minimum solvers (fast tests)."""

import warnings

import numpy as np
import pytest

from linrfm.datasets import make_flat_problem as make_problem
from linrfm.flat import curvature as S
from linrfm.flat.solvers import factored_gd, flat_minimum, label_noise_gd
from linrfm.problems import FactorProblem, GaussianOperator, MatrixSensing
from linrfm.results import FactorResult

KINDS = ["sensing", "completion", "bilinear", "robust", "quadratic"]


def _fd_trace(problem, params, h=1e-2):
    """Exact finite-difference Hessian trace of the loss from loss values only.

    Along a coordinate the losses here are polynomials of degree <= 4, so the central
    second difference is ``f'' + h^2 f''''/12`` exactly and one Richardson step
    ``(4 D(h) - D(2h)) / 3`` removes the error (up to rounding).
    """
    params = [p.copy() for p in params]
    f0 = S.loss(problem, params)
    tot = 0.0
    for p in params:
        for idx in np.ndindex(p.shape):
            v = p[idx]
            D = []
            for hh in (h, 2 * h):
                p[idx] = v + hh
                fp = S.loss(problem, params)
                p[idx] = v - hh
                fm = S.loss(problem, params)
                p[idx] = v
                D.append((fp + fm - 2 * f0) / hh**2)
            tot += (4 * D[0] - D[1]) / 3
    return tot


def _random_params(problem, rng, k=3):
    n, d = problem.shape
    if problem.symmetric:
        return (rng.standard_normal((n, k)),)
    return (rng.standard_normal((n, k)), rng.standard_normal((d, k)))


@pytest.mark.parametrize("kind", KINDS)
def test_closed_form_trace_equals_finite_difference_trace(kind, seed):
    rng = np.random.default_rng(seed)
    problem = make_problem(kind, 6, 6, 2, 20, random_state=seed).problem
    params = _random_params(problem, rng)  # a generic point, far from interpolation
    if problem.loss == "l1":
        # (l1 is piecewise linear along a coordinate: a small step avoids crossing a kink)
        # the l1 Hessian vanishes off the kinks; the surrogate is the Gauss-Newton term,
        # which is exactly half the Hessian trace of the squared loss on the same data
        assert S.hessian_trace(problem, params) == 0.0
        assert abs(_fd_trace(problem, params, h=1e-4)) < 1e-6 * S.sharpness(problem, params)
        squared = FactorProblem(problem.sensing, loss="squared")
        fd = _fd_trace(squared, params) / 2
        assert S.sharpness(problem, params) == pytest.approx(fd, rel=1e-6)
    else:
        assert S.hessian_trace(problem, params) == pytest.approx(
            _fd_trace(problem, params), rel=1e-6
        )


def test_symmetric_gaussian_trace_and_residual_term(seed):
    rng = np.random.default_rng(seed)
    op = GaussianOperator((6, 6), 20, symmetric=True, random_state=rng)
    U0 = rng.standard_normal((6, 2))
    problem = FactorProblem(MatrixSensing(op, op.apply(U0 @ U0.T)), model="symmetric")
    U = (rng.standard_normal((6, 3)),)
    assert S.hessian_trace(problem, U) == pytest.approx(_fd_trace(problem, U), rel=1e-6)
    # away from interpolation the residual term matters: trace != 2 x Gauss-Newton
    assert abs(S.hessian_trace(problem, U) - 2 * S.gauss_newton_trace(problem, U)) > 1e-3
    # at an interpolant (U0 padded with a zero column) it vanishes
    Ui = (np.hstack([U0, np.zeros((6, 1))]),)
    assert S.hessian_trace(problem, Ui) == pytest.approx(2 * S.gauss_newton_trace(problem, Ui))


def test_asymmetric_formula_of_the_issue(seed):
    rng = np.random.default_rng(seed)
    pl = make_problem("sensing", 5, 4, 1, 9, random_state=seed)
    L, R = rng.standard_normal((5, 3)), rng.standard_normal((4, 3))
    A = pl.problem.operator.matrices
    expected = 2 / 9 * sum(np.sum((Ai @ R) ** 2) + np.sum((Ai.T @ L) ** 2) for Ai in A)
    assert S.hessian_trace(pl.problem, (L, R)) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("kind", KINDS)
def test_gradients_match_directional_finite_differences(kind, seed):
    rng = np.random.default_rng(seed)
    problem = make_problem(kind, 6, 5 if kind != "quadratic" else 6, 2, 20, random_state=seed)
    problem = problem.problem
    params = _random_params(problem, rng)
    funcs = [
        lambda p: S.sharpness_grad(problem, p),
        lambda p: S.loss_grad(problem, p, delta=0.1),
    ]
    if problem.loss == "squared":
        funcs.append(lambda p: S.hessian_trace_grad(problem, p))
    for fn in funcs:
        _, g = fn(params)
        D = [rng.standard_normal(p.shape) for p in params]
        e = 1e-5
        vp, _ = fn([p + e * d for p, d in zip(params, D)])
        vm, _ = fn([p - e * d for p, d in zip(params, D)])
        directional = sum(float(np.sum(a * b)) for a, b in zip(g, D))
        assert (vp - vm) / (2 * e) == pytest.approx(directional, rel=1e-6, abs=1e-8)


@pytest.mark.parametrize("kind", ["sensing", "quadratic"])
def test_hessian_vector_products_and_hutchinson(kind, seed):
    rng = np.random.default_rng(seed)
    problem = make_problem(kind, 5, 5, 1, 12, random_state=seed).problem
    params = _random_params(problem, rng, k=2)
    exact = S.hessian_trace(problem, params)
    # trace from HVPs with the coordinate basis
    tot = 0.0
    for i, p in enumerate(params):
        for idx in np.ndindex(p.shape):
            E = [np.zeros_like(q) for q in params]
            E[i][idx] = 1.0
            tot += S.hessian_vector_product(problem, params, E)[i][idx]
    assert tot == pytest.approx(exact, rel=1e-10)
    est, se = S.hutchinson_trace(problem, params, n_probes=400, random_state=seed)
    assert abs(est - exact) < 5 * se + 1e-12


def test_flat_minimum_small_problem_result_object():
    pl = make_problem("sensing", 10, 10, 1, 3 * 19, random_state=0)
    res = flat_minimum(pl.problem, width=5, random_state=0)
    assert isinstance(res, FactorResult)
    assert res.converged and res.n_iter > 0 and res.method == "flat_minimum"
    assert res.U.shape == (10, 5) and res.V.shape == (10, 5)
    assert pl.relative_error(res.to_dense()) < 1e-4
    assert res.history["mu"][-1] == 0.0 and len(res.history["sharpness"]) == 10
    assert res.params["width"] == 5


def test_flat_minimum_has_smaller_trace_than_other_interpolants():
    pl = make_problem("sensing", 10, 10, 1, 3 * 19, random_state=1)
    flat = flat_minimum(pl.problem, width=5, random_state=0)
    plain = flat_minimum(pl.problem, width=5, n_stages=0, init_scale=3.0, random_state=0)
    tr = [S.hessian_trace(pl.problem, (r.U, r.V)) for r in (flat, plain)]
    assert S.loss(pl.problem, (plain.U, plain.V)) < 1e-10  # both interpolate
    assert tr[0] < 0.5 * tr[1]


def test_symmetric_model_result_has_equal_factors():
    pl = make_problem("quadratic", 8, 8, 1, 30, random_state=0)
    res = flat_minimum(pl.problem, width=4, random_state=0)
    assert res.U is not res.V and np.array_equal(res.U, res.V)
    assert pl.relative_error(res.to_dense()) < 1e-4


def test_factored_gd_small_init_recovers_and_large_init_does_not():
    pl = make_problem("sensing", 10, 10, 1, 4 * 19, random_state=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # stopped by max_iter on purpose
        small = factored_gd(pl.problem, width=5, init_scale=1e-5, max_iter=6000, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # with fewer measurements (57 of 100 entries' worth) a large start interpolates far
        few = make_problem("sensing", 10, 10, 1, 3 * 19, random_state=2)
        large = factored_gd(few.problem, width=5, init_scale=3.0, max_iter=5000, random_state=0)
    assert pl.relative_error(small.to_dense()) < 1e-2
    assert few.relative_error(large.to_dense()) > 0.1
    assert small.history["loss"][-1] < small.history["loss"][0]


def test_label_noise_gd_ends_flatter_than_plain_gd_from_the_same_start():
    pl = make_problem("sensing", 10, 10, 1, 3 * 19, random_state=3)
    kw = dict(width=5, init_scale=2.0, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        plain = factored_gd(pl.problem, max_iter=4000, **kw)
        noisy = label_noise_gd(pl.problem, noise=1.0, noise_iter=3000, max_iter=4000, **kw)
    tr_plain = S.hessian_trace(pl.problem, (plain.U, plain.V))
    tr_noisy = S.hessian_trace(pl.problem, (noisy.U, noisy.V))
    assert noisy.method == "label_noise_gd"
    assert tr_noisy < tr_plain


def test_l1_subgradient_gd_runs():
    pl = make_problem("robust", 8, 8, 1, 40, random_state=0)
    res = factored_gd(pl.problem, width=3, init_scale=1e-2, max_iter=500, random_state=0)
    assert res.history["loss"][-1] < res.history["loss"][0]


def test_flat_minimum_callback_gets_each_stage_record_and_can_stop():
    pl = make_problem("sensing", 8, 8, 1, 30, random_state=0)
    seen = []

    def cb(it, info):
        seen.append((it, info["mu"], info["loss"], info["sharpness"], info["result"]))
        return it == 3

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = flat_minimum(pl.problem, width=3, random_state=0, callback=cb)
    assert [s[0] for s in seen] == [1, 2, 3] and len(res.history["mu"]) == 3
    assert [s[1] for s in seen] == res.history["mu"]
    assert isinstance(seen[-1][4], FactorResult)


def test_label_noise_gd_resumed_fit_equals_uninterrupted():
    """The label-noise generator is part of the checkpointed state."""
    pl = make_problem("sensing", 8, 8, 1, 30, random_state=0)
    kw = dict(width=3, noise=1.0, noise_iter=100, max_iter=200, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        full = label_noise_gd(pl.problem, **kw)
        saved = []
        label_noise_gd(pl.problem, **{**kw, "max_iter": 50}, checkpoint=saved.append)
        resumed = label_noise_gd(pl.problem, **kw, resume=saved[-1])
    assert resumed.n_iter == full.n_iter and resumed.history == full.history
    assert np.array_equal(resumed.U, full.U) and np.array_equal(resumed.V, full.V)


# --------------------------------------------------------------------------- bad input
def test_bad_input_errors():
    pl = make_problem("sensing", 6, 5, 1, 15, random_state=0)
    with pytest.raises(ValueError, match="'width'"):
        flat_minimum(pl.problem, width=0)
    with pytest.raises(ValueError, match="'mu'"):
        flat_minimum(pl.problem, width=2, mu=-1.0)
    with pytest.raises(TypeError, match="'width'"):
        factored_gd(pl.problem, width=2.5)
    with pytest.raises(ValueError, match=r"R has shape \(6, 2\); expected \(5, 2\)"):
        flat_minimum(pl.problem, width=2, init=(np.ones((6, 2)), np.ones((6, 2))))
    with pytest.raises(ValueError, match="params must be"):
        S.hessian_trace(pl.problem, (np.ones((6, 2)),))
    with pytest.raises(ValueError, match="needs a square operator with symmetric"):
        FactorProblem(pl.problem.sensing, model="symmetric")
    with pytest.raises(ValueError, match="'loss'"):
        FactorProblem(pl.problem.sensing, loss="huber")
    with pytest.raises(TypeError, match="FactorProblem"):
        flat_minimum(pl.problem.sensing, width=2)
    with pytest.raises(ValueError, match="y has 3 measurements"):
        MatrixSensing(pl.problem.operator, np.ones(3))
    with pytest.raises(ValueError, match="m=1000 exceeds"):
        make_problem("completion", 10, 10, 1, 1000)
    with pytest.raises(ValueError, match="'kind'"):
        make_problem("tensor")
    with pytest.raises(ValueError, match="label_noise_gd needs loss='squared'"):
        label_noise_gd(make_problem("robust", 6, 6, 1, 20).problem, width=2)
