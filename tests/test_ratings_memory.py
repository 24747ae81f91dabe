"""Bounded memory on the ratings path (issue 19, item 2): the rank-capped kernel, its
identities with the full iteration, memory_limit, compact float32 model files, and top-N
from row blocks that matches the pairwise predictions."""

import json

import numpy as np
import pytest

pd = pytest.importorskip("pandas")

from linrfm import lin_rfm_plan  # noqa: E402
from linrfm.problems import MatrixCompletion  # noqa: E402
from linrfm.ratings import RatingsCompleter, estimator  # noqa: E402
from linrfm.ratings.lowrank import METHOD, factor_kernel, lowrank_bytes  # noqa: E402
from linrfm.ratings.model import _top_k, rank_rows  # noqa: E402
from linrfm.results import FactorResult, KernelResult  # noqa: E402
from linrfm.solvers._rowsolve import LineSolver  # noqa: E402
from linrfm.solvers.linrfm import kernel_power  # noqa: E402

# float32 storage: a relative rounding of 2^-24 per stored number; predictions of ratings
# ~3 built from terms of that size move by ~1e-7, held here to 1e-5 (stars)
ATOL = 1e-5


def _table(seed=0, n=60, d=40, density=0.3):
    rng = np.random.default_rng(seed)
    Y = 3 + rng.standard_normal((n, 3)) @ rng.standard_normal((3, d)) / 2
    rows, cols = np.nonzero(rng.random((n, d)) < density)
    vals = np.clip(np.rint(Y[rows, cols] + 0.3 * rng.standard_normal(rows.size)), 1, 5)
    return pd.DataFrame({"user": rows, "item": cols, "rating": vals})


@pytest.fixture(scope="module")
def lowrank():
    return RatingsCompleter(kernel_rank=4, max_iter=3, lams=(1.0, 10.0)).fit(_table())


@pytest.mark.parametrize("alpha", [0.5, 0.25, 1.0])
def test_factor_kernel_is_the_power_of_the_completions_gram(alpha):
    rng = np.random.default_rng(1)
    U, V = rng.standard_normal((30, 4)), rng.standard_normal((12, 4))
    B = U @ V.T
    Z = factor_kernel(U, V, 30, alpha)
    assert Z.shape == (12, 4)
    want = kernel_power(B.T @ B / 30, alpha)
    # the dense reference raises the 8 null eigenvalues' rounding (~1e-16) to the power
    # 2 alpha: ~1e-8 at alpha = 1/4; the factor form has no null space to round
    atol = 1e-9 if alpha >= 0.5 else 1e-7
    np.testing.assert_allclose(Z @ Z.T, want, rtol=1e-9, atol=atol)


def test_a_lowrank_row_solve_is_the_full_kernel_regression():
    # push-through: K[:, O] (K[O, O] + lam I)^-1 y = Z (Z_O^T Z_O + lam I)^-1 Z_O^T y
    from linrfm.solvers.als import Lines

    rng = np.random.default_rng(2)
    n, d = 15, 10
    rows, cols = np.nonzero(rng.random((n, d)) < 0.5)
    prob = MatrixCompletion(rows, cols, rng.standard_normal(rows.size), (n, d))
    Z = rng.standard_normal((d, 3))
    U = Lines.rows_of(prob).solve(Z, 0.4)
    K = Z @ Z.T
    full = LineSolver(prob.rows, prob.cols, prob.values, n, d)
    A = full.coef_matrix(full.solve(K, 0.4))
    B = np.asarray(A @ K)
    np.testing.assert_allclose(U @ Z.T, B, rtol=1e-9, atol=1e-9)


def test_kernel_rank_fits_factors_that_round_trip_within_float32(lowrank, tmp_path):
    # (test_ratings_persist.py: a loaded model never builds the dense completion)
    res = lowrank.result_
    assert isinstance(res, FactorResult) and res.method == METHOD
    assert res.U.shape == (60, 4) and res.V.shape == (40, 4)
    path = tmp_path / "m.npz"
    lowrank.save(path)
    loaded = RatingsCompleter.load(path)
    users = np.arange(60).repeat(40)
    items = np.tile(np.arange(40), 60)
    np.testing.assert_allclose(
        loaded.predict(users, items), lowrank.predict(users, items), rtol=0, atol=ATOL
    )
    new = ([0, 5, 9], [4.0, 2.0, 5.0])
    np.testing.assert_allclose(
        loaded.predict_new_row(*new), lowrank.predict_new_row(*new), rtol=0, atol=ATOL
    )
    top = loaded.recommend(np.arange(60), k=5)
    assert len(top) == 300


def test_lowrank_fold_in_is_the_kernel_regression_on_the_column_kernel(lowrank):
    model = lowrank.model_
    K, lam = model.column_kernel()
    ci, y = np.array([1, 4, 30]), np.array([4.0, 2.0, 5.0])
    got = model.fold_in(ci, y, np.arange(40))
    # by hand: the row bias of fit_biases, then the ridge regression on K
    from linrfm.ratings.biases import fold_in_row_bias

    base = model.mu + model.col_bias[ci]
    bu = fold_in_row_bias(y - base, kind=model.biases, reg=model.bias_reg)
    a = np.linalg.solve(K[np.ix_(ci, ci)] + lam * np.eye(3), y - base - bu)
    want = np.clip(model.mu + bu + model.col_bias + a @ K[ci], *model.range)
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-9)


def test_the_model_file_is_float32_and_does_not_scale_like_n_times_d(tmp_path):
    sizes = {}
    for d in (200, 800):  # same ratings, four times the columns
        df = _table(3, n=300, d=d, density=2400 / (300 * d))
        m = RatingsCompleter(kernel_rank=5, max_iter=2, lams=(3.0,)).fit(df)
        path = tmp_path / f"m{d}.npz"
        m.save(path)
        sizes[d] = path.stat().st_size
        with np.load(path) as f:
            assert f["U"].dtype == f["V"].dtype == np.float32
            assert json.loads(str(f["meta"]))["format_version"] == 3
        n_obs, n = len(df), 300
        # factors in float32, the observed pattern, biases and ids, some overhead
        bound = 4 * (n + d) * 5 + 16 * n_obs + 24 * (n + d) + 16384
        assert sizes[d] <= bound, (d, sizes[d], bound)
    # n x d grows by 600 columns x 300 rows x 8 bytes = 1.4 MB; the file by far less
    assert sizes[800] - sizes[200] < 0.02 * 300 * 600 * 8


def test_the_full_kernel_is_stored_in_float32(tmp_path):
    m = RatingsCompleter(max_iter=2, lams=(3.0,)).fit(_table())
    assert isinstance(m.result_, KernelResult)
    m.save(tmp_path / "m.npz")
    with np.load(tmp_path / "m.npz") as f:
        assert f["kernel"].dtype == f["coef_data"].dtype == np.float32
        width = f["kernel"].shape[0]
    assert width == min(60, 40) or width == max(60, 40)  # the kernel of one side only


@pytest.mark.parametrize("kernel_rank", ["auto", 3])
def test_memory_limit_refused_before_any_fit(monkeypatch, kernel_rank):
    def never(*a, **k):
        raise AssertionError("the completion was fitted")

    monkeypatch.setattr(estimator, "lin_rfm_complete", never)
    monkeypatch.setattr(estimator, "lowrank_lin_rfm", never)
    est = RatingsCompleter(memory_limit=1000, kernel_rank=kernel_rank)
    with pytest.raises(MemoryError, match=r"memory_limit=0\.00 GiB"):
        est.fit(_table())
    assert not hasattr(est, "model_")


@pytest.mark.parametrize(
    "params, name",
    [({"memory_limit": 0}, "memory_limit"), ({"memory_limit": "2G"}, "memory_limit"),
     ({"kernel_rank": 0}, "kernel_rank"), ({"kernel_rank": 2.5}, "kernel_rank"),
     ({"kernel_rank": "full"}, "kernel_rank"),
     ({"kernel_rank": 4, "client": object()}, "kernel_rank")],
)  # fmt: skip
def test_bad_memory_settings_name_the_argument(params, name):
    with pytest.raises((ValueError, TypeError), match=name):
        RatingsCompleter(**params).fit(_table())


def test_auto_takes_the_rank_capped_kernel_when_only_it_fits():
    df = _table()
    prob = MatrixCompletion(df["user"], df["item"], df["rating"], (60, 40))
    full = min(o["bytes"] for o in lin_rfm_plan(prob)["options"])
    low = lowrank_bytes(prob, 40)  # AUTO_RANK capped at the table's smaller side
    assert low < full
    m = RatingsCompleter(memory_limit=(low + full) / 2, max_iter=2, lams=(3.0,)).fit(df)
    assert m.result_.method == METHOD
    m = RatingsCompleter(memory_limit=2 * full, max_iter=2, lams=(3.0,)).fit(df)
    assert isinstance(m.result_, KernelResult)


@pytest.mark.parametrize("kernel_rank", ["auto", 4])
def test_top_n_from_row_blocks_equals_the_pairwise_ranking(lowrank, kernel_rank):
    m = lowrank if kernel_rank == 4 else RatingsCompleter(max_iter=2).fit(_table())
    model = m.model_
    rows = np.arange(60)
    for seen in (model.observed, None):
        a, sa = rank_rows(model.predict_index, rows, 40, 7, seen)
        b, sb = rank_rows(None, rows, 40, 7, seen, block=model.predict_rows)
        for x, y, u, v in zip(a, b, sa, sb):
            np.testing.assert_array_equal(x, y)
            np.testing.assert_allclose(u, v, rtol=1e-12, atol=1e-12)


def test_top_k_breaks_ties_to_the_lower_column_like_a_stable_sort():
    rng = np.random.default_rng(5)
    scores = rng.integers(0, 4, size=(50, 30)).astype(float)  # many ties
    scores[3, :] = -np.inf
    scores[4, 2:] = -np.inf
    order, best = _top_k(scores, 6)
    want = np.argsort(-scores, axis=1, kind="stable")[:, :6]
    np.testing.assert_array_equal(order, want)
    np.testing.assert_array_equal(best, np.take_along_axis(scores, want, axis=1))
