import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

from linrfm import make_completion
from linrfm.datasets import make_sensing
from linrfm.problems import EntrySampling, GaussianOperator, MatrixSensing
from linrfm.results import ModelFitError
from linrfm.solvers.linrfm import kernel_power, lin_rfm_complete, lin_rfm_step
from linrfm.solvers.sensing import conjugate_gradient, lin_rfm_sense


def _as_sensing(problem):
    op = EntrySampling(problem.rows, problem.cols, problem.shape)
    return MatrixSensing(op, problem.values)


@pytest.mark.parametrize("variant", ["one-sided", "two-sided"])
@pytest.mark.parametrize("replace", [True, False])
def test_entry_sampling_equals_completion_fast_path(variant, replace):
    """Sensing with A_k = e_i e_j^T is the completion update: same iterates to 1e-10.

    With replacement the sensing code projects onto {A(X) = y} and the completion code
    overwrites the observed entries; without it neither touches them.
    """
    P = make_completion(30, 25, 2, 300, min_per_line=2, random_state=0)
    kw = dict(alpha=0.5, variant=variant, replace=replace, lam_rule="change", tol=1e-30)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        # (the sensing solver has no momentum: compare with the plain completion iteration)
        a = lin_rfm_complete(P.problem, max_iter=12, momentum=0.0, polish=False, **kw)
        a = a.to_dense()
        b = lin_rfm_sense(_as_sensing(P.problem), max_iter=12, cg_tol=1e-14, **kw)
    assert b.n_iter == 12
    assert np.linalg.norm(a - b.X) <= 1e-10 * np.linalg.norm(a)


@pytest.mark.parametrize("alpha", [0.25, 1.0])
@pytest.mark.parametrize("replace", [True, False])
def test_entry_sampling_one_step_other_alphas(alpha, replace):
    """Other powers (eigendecomposition for 1/4, G @ G for 1) agree step for step."""
    P = make_completion(20, 18, 2, 160, min_per_line=2, random_state=3)
    rng = np.random.default_rng(0)
    B = rng.standard_normal(P.shape)
    K = kernel_power(B.T @ B / P.shape[0], alpha)
    lam_abs = 0.05 * np.trace(K) / P.shape[1]
    want = lin_rfm_step(B, P.problem, alpha=alpha, lam=lam_abs, replace=replace)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        got = lin_rfm_sense(
            _as_sensing(P.problem),
            alpha=alpha,
            variant="one-sided",
            lam=0.05,
            replace=replace,
            init=B,
            max_iter=1,
            cg_tol=1e-14,
        )
    assert np.linalg.norm(got.X - want) <= 1e-10 * np.linalg.norm(want)


@pytest.mark.parametrize("variant", ["one-sided", "two-sided"])
def test_recovers_planted_gaussian_sensing(seed, variant):
    # 20 x 20, rank 2: 76 degrees of freedom, m = 250 (rho ~ 3.3)
    P = make_sensing(20, 20, 2, 250, random_state=seed)
    res = lin_rfm_sense(P.problem, variant=variant, lam_rule="change", max_iter=300)
    assert res.converged
    assert P.evaluate(res)["rel_error"] < 1e-4
    # replacement keeps the measurements exactly
    np.testing.assert_allclose(P.problem.operator.apply(res.X), P.problem.y, atol=1e-8)


@pytest.mark.parametrize("operator", ["symmetric", "psd"])
def test_recovers_planted_symmetric_sensing(seed, operator):
    # A symmetric operator sees only the symmetric part of X: the antisymmetric part is in
    # its null space, so an iterate that keeps one (X = A*(c) K is not symmetric) never
    # settles on the truth (it stalled near 1e-1 error before the iterate was symmetrized).
    # 20 x 20, rank 2: 39 symmetric degrees of freedom, m = 117 (3x) < 210 = n (n + 1) / 2
    P = make_sensing(20, 20, 2, 117, operator=operator, random_state=seed)
    res = lin_rfm_sense(P.problem, max_iter=300)
    assert res.converged
    assert P.evaluate(res)["rel_error"] < 1e-6
    np.testing.assert_array_equal(res.X, res.X.T)


def test_recovers_quadratic_sensing():
    """y_k = a_k^T X a_k (RankOneOperator(U), the flat study's 'quadratic' class)."""
    from linrfm.datasets import make_quadratic_sensing

    for seed in range(3):
        pl = make_quadratic_sensing(20, 2, 3 * 39, random_state=seed)
        res = lin_rfm_sense(pl.problem.sensing, max_iter=300)
        assert res.converged
        assert pl.relative_error(res.X) < 1e-6


@pytest.mark.parametrize("variant", ["one-sided", "two-sided"])
def test_direct_and_cg_linear_solvers_agree(variant):
    """Forming Q and A A* and solving by Cholesky gives CG's iterates."""
    P = make_sensing(12, 12, 2, 100, random_state=3)
    kw = dict(variant=variant, max_iter=8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        a = lin_rfm_sense(P.problem, linear_solver="cg", **kw)
        b = lin_rfm_sense(P.problem, linear_solver="direct", **kw)
    assert a.params["linear_solver"] == "cg" and b.params["linear_solver"] == "direct"
    assert np.linalg.norm(a.X - b.X) <= 1e-7 * np.linalg.norm(a.X)
    op = EntrySampling([0, 1], [1, 0], (2, 2))
    with pytest.raises(ValueError, match="dense sensing matrices"):
        lin_rfm_sense(MatrixSensing(op, [1.0, 2.0]), linear_solver="direct")


def test_projection_against_dense_least_squares():
    """Replacement is the orthogonal projection onto {A(X) = y}: compare with lstsq."""
    P = make_sensing(6, 5, 1, 12, random_state=1)
    op = P.problem.operator
    M = op.to_matrix()
    X0 = np.random.default_rng(2).standard_normal(op.shape)
    from linrfm.solvers.sensing import _SenseSolver

    got = _SenseSolver(P.problem, 1e-14, None).project(X0)
    corr = np.linalg.lstsq(M, P.problem.y - M @ X0.ravel(), rcond=None)[0]
    np.testing.assert_allclose(got.ravel(), X0.ravel() + corr, atol=1e-10)


def test_conjugate_gradient_matches_solve():
    rng = np.random.default_rng(0)
    A = rng.standard_normal((30, 30))
    M = A @ A.T + 0.1 * np.eye(30)
    b = rng.standard_normal(30)
    x, it, res = conjugate_gradient(lambda v: M @ v, b, rtol=1e-12, max_iter=500)
    np.testing.assert_allclose(x, np.linalg.solve(M, b), rtol=1e-8)
    assert res <= 1e-12 and it > 0


def test_max_iter_warns():
    P = make_sensing(12, 12, 2, 90, random_state=0)
    with pytest.warns(ConvergenceWarning, match="did not converge in max_iter=2"):
        res = lin_rfm_sense(P.problem, max_iter=2)
    assert not res.converged and res.n_iter == 2


@pytest.mark.parametrize(
    "call, exc, match",
    [
        (lambda P: lin_rfm_sense("nope"), TypeError, "MatrixSensing"),
        (lambda P: lin_rfm_sense(P.problem, alpha=0), ValueError, "'alpha'"),
        (lambda P: lin_rfm_sense(P.problem, variant="both"), ValueError, "'variant'"),
        (lambda P: lin_rfm_sense(P.problem, lam_rule="x"), ValueError, "'lam_rule'"),
        (lambda P: lin_rfm_sense(P.problem, init=np.zeros((3, 3))), ValueError, "init has shape"),
        (lambda P: lin_rfm_sense(P.problem, replace=1), TypeError, "'replace'"),
        (
            lambda P: MatrixSensing(P.problem.operator, np.full(P.problem.m, np.inf)),
            ValueError,
            "non-finite",
        ),
        (
            lambda P: MatrixSensing(GaussianOperator((4, 4), 5), P.problem.y),
            ValueError,
            "measurements but the operator",
        ),
        (lambda P: make_sensing(5, 4, 6, 10), ValueError, "'rank'"),
        (lambda P: make_sensing(5, 4, 1, 10, operator="psd"), ValueError, "n == d"),
    ],
)
def test_bad_input(call, exc, match):
    P = make_sensing(8, 8, 1, 30, random_state=0)
    with pytest.raises(exc, match=match):
        call(P)


def test_nonfinite_iterate_raises():
    P = make_sensing(8, 8, 1, 30, random_state=0)
    bad = np.full(P.shape, 1e200)
    with pytest.raises(ModelFitError, match="non-finite|NaN or inf"):
        with np.errstate(all="ignore"):
            lin_rfm_sense(P.problem, init=bad, alpha=1.0, max_iter=3)


def test_more_measurements_than_the_symmetric_operator_has_rank(seed):
    """m > n (n + 1) / 2 makes A A* singular: the projection (replace=True) must still hold.

    Its CG once chased the residual's unreducible rounding part to a tolerance relative to
    that (tiny) residual and diverged (relative error ~2e2 at n = 30, m = 580).
    """
    from linrfm.datasets import make_quadratic_sensing

    pl = make_quadratic_sensing(12, 2, 100, random_state=seed)  # 78 symmetric unknowns
    res = lin_rfm_sense(pl.problem.sensing, max_iter=100)
    assert res.converged
    assert pl.relative_error(res.X) < 1e-6


def test_symmetric_gaussian_sensing_beyond_its_rank(seed):
    """The direct projection must not factor a singular A A* (m > n (n + 1) / 2)."""
    P = make_sensing(8, 8, 2, 45, operator="symmetric", random_state=seed)  # 36 unknowns
    res = lin_rfm_sense(P.problem, max_iter=100)
    assert res.converged
    assert P.evaluate(res)["rel_error"] < 1e-6


def test_resumed_fit_equals_the_uninterrupted_one():
    """The checkpoint holds the ridge schedule and CG's warm starts."""
    P = make_sensing(10, 10, 2, 70, random_state=0)
    kw = dict(variant="two-sided", linear_solver="cg", max_iter=200)
    full = lin_rfm_sense(P.problem, **kw)
    saved = []
    with pytest.warns(ConvergenceWarning):
        lin_rfm_sense(P.problem, **(kw | dict(max_iter=6)), checkpoint=saved.append)
    res = lin_rfm_sense(P.problem, **kw, resume=saved[-1])
    assert full.converged and (res.n_iter, res.converged) == (full.n_iter, full.converged)
    assert res.history == full.history and res.params == full.params
    np.testing.assert_array_equal(res.X, full.X)
