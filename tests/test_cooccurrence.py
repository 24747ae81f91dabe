"""The observed pattern as a kernel (``cooccurrence``) and the one-sided kernel's side
(``kernel_side``): lin_rfm_complete and RatingsCompleter (issue 19)."""

import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

from linrfm import make_completion
from linrfm.ratings import RatingsCompleter
from linrfm.solvers.linrfm import lin_rfm_complete
from linrfm.solvers.linrfm.kernel import cooccurrence_kernel

NOISY = dict(replace=False, lam_rule="fixed", tol=1e-300)


def _fit(P, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return lin_rfm_complete(P, **{**NOISY, **kw})


def test_cooccurrence_kernel_is_the_cosine_of_the_column_patterns():
    # 3 rows x 4 columns; column 3 never observed
    lines = np.array([0, 0, 1, 1, 1, 2])
    idx = np.array([0, 1, 0, 1, 2, 0])
    P = cooccurrence_kernel(lines, idx, 3, 4)
    M = np.zeros((3, 4))
    M[lines, idx] = 1
    norms = np.linalg.norm(M, axis=0)
    expected = np.zeros((4, 4))
    for j in range(3):
        for k in range(3):
            expected[j, k] = M[:, j] @ M[:, k] / (norms[j] * norms[k])
    np.testing.assert_allclose(P, expected)
    assert P[0, 1] == pytest.approx(2 / np.sqrt(6))  # columns 0 (3 rows) and 1 (2 rows)
    np.testing.assert_allclose(np.diag(P), [1, 1, 1, 0], atol=1e-15)


@pytest.mark.parametrize("side", ["row", "col"])
def test_kernel_is_the_scaled_agop_mixed_with_the_pattern(side):
    # one one-sided step from the observations: K = (1 - w) G / mean eig(G) + w P
    P = make_completion(30, 20, 2, 250, random_state=0).problem
    w, lam = 0.4, 0.5
    res = _fit(P, variant="one-sided", kernel_side=side, cooccurrence=w, lam=lam, max_iter=1,
               momentum=0.0)  # fmt: skip
    assert res.params["kernel_side"] == side and res.params["cooccurrence"] == w
    rows, cols = (P.rows, P.cols) if side == "row" else (P.cols, P.rows)
    n, d = P.shape if side == "row" else P.shape[::-1]
    B = np.zeros((n, d))
    B[rows, cols] = P.values
    G = B.T @ B / n
    K = (1 - w) * G / (np.trace(G) / d) + w * cooccurrence_kernel(rows, cols, n, d)
    np.testing.assert_allclose(res.kernel, K, rtol=1e-10, atol=1e-12)
    # the absolute ridge is relative to the mixed kernel's mean eigenvalue
    assert res.lam == pytest.approx(lam * np.trace(K) / d)


def test_zero_cooccurrence_is_the_plain_iteration():
    P = make_completion(25, 20, 2, 200, random_state=1)
    a = _fit(P, lam=1.0, max_iter=2)
    b = _fit(P, lam=1.0, max_iter=2, cooccurrence=0.0)
    np.testing.assert_array_equal(a.to_dense(), b.to_dense())


def test_dense_and_coefficient_engines_agree_with_cooccurrence():
    P = make_completion(30, 25, 2, 300, random_state=2)
    kw = dict(variant="one-sided", kernel_side="row", cooccurrence=0.5, lam=1.0, max_iter=3)
    dense = _fit(P, agop="dense", **kw)
    coef = _fit(P, agop="sparse", **kw)
    np.testing.assert_allclose(dense.to_dense(), coef.to_dense(), rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize(
    "kw, match",
    [
        ({"cooccurrence": 1.0}, "'cooccurrence' parameter"),
        ({"cooccurrence": -0.1}, "'cooccurrence' parameter"),
        ({"kernel_side": "left"}, "kernel_side"),
        ({"variant": "two-sided", "kernel_side": "col"}, "kernel_side='col'"),
        ({"client": object(), "cooccurrence": 0.5}, "With a client"),
        ({"client": object(), "kernel_side": "row"}, "With a client"),
    ],
)
def test_bad_cooccurrence_and_side_are_refused(kw, match):
    P = make_completion(10, 8, 1, 50, random_state=0)
    with pytest.raises(ValueError, match=match):
        lin_rfm_complete(P, **kw)


def _pattern_table(seed, n=50, d=30):
    """Ratings whose pattern carries the signal: a user rates what they like."""
    rng = np.random.default_rng(seed)
    Y = 3 + rng.standard_normal((n, 2)) @ rng.standard_normal((2, d))
    obs = rng.random((n, d)) < 1 / (1 + np.exp(-(Y - 3)))
    r, c = np.nonzero(obs)
    return r, c, Y[r, c] + 0.3 * rng.standard_normal(r.size)


def test_ratings_completer_chooses_a_weight_on_validation():
    r, c, v = _pattern_table(0)
    model = RatingsCompleter(
        variant="one-sided", kernel_side="row", cooccurrence=(0.0, 0.6), lams=(1.0, 3.0),
        max_iter=3,
    ).fit((r, c, v))  # fmt: skip
    ch = model.chosen_
    assert ch["cooccurrence"] in (0.0, 0.6) and ch["lam"] in (1.0, 3.0)
    assert model.result_.params["cooccurrence"] == ch["cooccurrence"]
    assert model.result_.params["kernel_side"] == "row"
    assert model.n_iter_ == ch["n_iter"]
    # the chosen pair is the best of the grid on the held-out observations
    for w in (0.0, 0.6):
        one = RatingsCompleter(variant="one-sided", kernel_side="row", cooccurrence=w,
                               lams=(1.0, 3.0), max_iter=3).fit((r, c, v))  # fmt: skip
        assert ch["val_rmse"] <= one.chosen_["val_rmse"] + 1e-12


@pytest.mark.parametrize(
    "kw, match",
    [
        ({"cooccurrence": (0.2, 1.0)}, "'cooccurrence' parameter"),
        ({"cooccurrence": ()}, "'cooccurrence' parameter"),
        ({"cooccurrence": "high"}, "'cooccurrence' parameter"),
        ({"kernel_side": "up"}, "kernel_side"),
        ({"client": object(), "cooccurrence": 0.5}, "With a 'client'"),
        # the rank-capped kernel (linrfm.ratings.lowrank) takes none of them
        ({"kernel_rank": 3, "cooccurrence": 0.5}, "rank-capped kernel .* 'cooccurrence'"),
        ({"kernel_rank": 3, "refit": "warm", "dtype": "float32"}, "'refit', 'dtype'"),
    ],
)
def test_ratings_completer_bad_cooccurrence(kw, match):
    r, c, v = _pattern_table(1, n=10, d=8)
    with pytest.raises(ValueError, match=match):
        RatingsCompleter(**kw).fit((r, c, v))


def test_triples_input_gives_the_same_fit():
    P = make_completion(12, 10, 1, 70, random_state=3).problem
    a = _fit(P, cooccurrence=0.3, lam=1.0, max_iter=2)
    b = _fit((P.rows, P.cols, P.values), shape=P.shape, cooccurrence=0.3, lam=1.0, max_iter=2)
    np.testing.assert_allclose(a.to_dense(), b.to_dense(), rtol=1e-12, atol=1e-14)


def test_warm_refit_is_one_iteration_from_the_chosen_iterate(tmp_path):
    r, c, v = _pattern_table(2)
    kw = dict(variant="one-sided", kernel_side="row", cooccurrence=0.5, lams=(2.0,), max_iter=4)
    full = RatingsCompleter(**kw).fit((r, c, v))
    warm = RatingsCompleter(refit="warm", **kw).fit((r, c, v))
    assert warm.chosen_["refit"] == "warm" and full.chosen_["refit"] == "full"
    assert warm.n_iter_ == 1 and full.n_iter_ == full.chosen_["n_iter"]
    # the same validation runs choose the same iteration count
    assert warm.chosen_["n_iter"] == full.chosen_["n_iter"]
    assert warm.chosen_["val_rmse"] == full.chosen_["val_rmse"]
    pred = warm.predict_index(r, c)
    assert np.all(np.isfinite(pred)) and not np.allclose(pred, full.predict_index(r, c))
    warm.save(tmp_path / "m.npz")
    back = RatingsCompleter.load(tmp_path / "m.npz")
    assert back.refit == "warm" and back.cooccurrence == 0.5 and back.kernel_side == "row"
    # the model file stores float32 where accuracy allows (linrfm.ratings.persist)
    np.testing.assert_allclose(back.predict_index(r, c), pred, rtol=1e-6)


def test_bad_refit_is_refused():
    r, c, v = _pattern_table(1, n=10, d=8)
    with pytest.raises(ValueError, match="refit"):
        RatingsCompleter(refit="twice").fit((r, c, v))


def test_float32_fit_matches_float64():
    r, c, v = _pattern_table(3)
    kw = dict(cooccurrence=0.5, lams=(2.0,), max_iter=3)
    a = RatingsCompleter(**kw).fit((r, c, v))
    b = RatingsCompleter(dtype="float32", **kw).fit((r, c, v))
    assert b.result_.params["dtype"] == "float32"
    np.testing.assert_allclose(b.predict_index(r, c), a.predict_index(r, c), atol=1e-3)
    with pytest.raises(ValueError, match="'dtype' parameter"):
        RatingsCompleter(dtype="float16").fit((r, c, v))
