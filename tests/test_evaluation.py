"""Seeded splits, k-fold cross-validation and the metrics."""

import numpy as np
import pytest

from linrfm.evaluation import cross_validate, fingerprint, kfold, mae, rmse, train_val_test_split
from linrfm.io import read_ratings


def test_metrics_known_values():
    assert rmse([1.0, 2.0, 3.0], [1.0, 2.0, 7.0]) == pytest.approx(4 / np.sqrt(3))
    assert mae([1.0, 2.0, 3.0], [2.0, 2.0, 7.0]) == pytest.approx(5 / 3)


def test_kfold_is_balanced_seeded_and_a_partition():
    labels = kfold(103, 5, seed=7)
    counts = np.bincount(labels)
    assert counts.sum() == 103 and counts.max() - counts.min() <= 1
    np.testing.assert_array_equal(labels, kfold(103, 5, seed=7))
    assert fingerprint(labels) == fingerprint(kfold(103, 5, seed=7))
    assert fingerprint(labels) != fingerprint(kfold(103, 5, seed=8))


def test_kfold_bad_input():
    with pytest.raises(ValueError, match="'folds' parameter"):
        kfold(10, 1)
    with pytest.raises(ValueError, match="exceeds the number of observations"):
        kfold(3, 5)


def test_train_val_test_split_partitions():
    tr, va, te = train_val_test_split(200, val=0.1, test=0.2, seed=3)
    assert (tr.sum(), va.sum(), te.sum()) == (140, 20, 40)
    np.testing.assert_array_equal(tr.astype(int) + va + te, np.ones(200))
    np.testing.assert_array_equal(te, train_val_test_split(200, val=0.1, test=0.2, seed=3)[2])
    with pytest.raises(ValueError, match="val \\+ test must be < 1"):
        train_val_test_split(10, val=0.5, test=0.5)


def _table():
    rng = np.random.default_rng(0)
    Y = rng.standard_normal((30, 20))
    Y[rng.random(Y.shape) < 0.5] = np.nan
    return read_ratings(Y)


def test_cross_validate_runs_every_method_on_the_same_folds():
    t = _table()
    seen = {}

    def mean_of(name):
        def fit(train):
            seen.setdefault(name, []).append(train.n_obs)
            mu = train.values.mean()
            return lambda rows, cols: np.full(len(rows), mu)

        return fit

    res = cross_validate(t, methods=[("a", mean_of("a")), ("b", mean_of("b"))], folds=4, seed=1)
    assert seen["a"] == seen["b"] and len(seen["a"]) == 4
    labels = kfold(t.n_obs, 4, seed=1)
    assert res["split"] == {
        "folds": 4,
        "seed": 1,
        "n_obs": t.n_obs,
        "fingerprint": fingerprint(labels),
    }
    k = 2  # fold 2 by hand
    mu = t.values[labels != k].mean()
    run = next(r for r in res["runs"] if r["method"] == "a" and r["fold"] == k)
    assert run["rmse"] == pytest.approx(rmse(mu, t.values[labels == k]))
    assert run["n_test"] == int(np.sum(labels == k))
    a = next(s for s in res["summary"] if s["method"] == "a")
    assert a["rmse"] == pytest.approx(
        np.mean([r["rmse"] for r in res["runs"] if r["method"] == "a"])
    )


def test_cross_validate_library_methods_and_bad_names():
    res = cross_validate(
        _table(), methods=["linrfm"], folds=2, model_params={"linrfm": {"max_iter": 2}}
    )
    assert [s["method"] for s in res["summary"]] == ["linrfm"]
    # the table's name of the same method runs the same fits, recorded under that name
    res2 = cross_validate(
        _table(),
        methods=["lin_rfm_complete"],
        folds=2,
        model_params={"lin_rfm_complete": {"max_iter": 2}},
    )
    assert [s["method"] for s in res2["summary"]] == ["lin_rfm_complete"]
    assert [r["rmse"] for r in res2["runs"]] == [r["rmse"] for r in res["runs"]]
    assert all(np.isfinite(r["rmse"]) and r["seconds"] >= 0 for r in res["runs"])
    with pytest.raises(ValueError, match="Unknown method 'svd'"):
        cross_validate(_table(), methods=["svd"])
    with pytest.raises(TypeError, match="not callable"):
        cross_validate(_table(), methods=[("x", 3)])
