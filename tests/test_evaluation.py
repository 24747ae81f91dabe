"""Seeded splits, k-fold cross-validation and the metrics."""

import numpy as np
import pytest

from linrfm.evaluation import (
    cross_validate,
    fingerprint,
    kfold,
    mae,
    ndcg_at_k,
    precision_at_k,
    ranking_metrics,
    recall_at_k,
    rmse,
    time_split,
    train_val_test_split,
)
from linrfm.io import read_ratings

pd = pytest.importorskip("pandas")


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


# ---------------------------------------------------------------------- ranking metrics
def test_ranking_metrics_by_hand():
    # user 0: relevant {1, 4}, recommended [4, 2, 1]; user 1: relevant {7}, [3, 5, 6]
    # user 2 has no relevant item and is left out
    rel = [[1, 4], [7], []]
    rec = [[4, 2, 1], [3, 5, 6], [1, 2, 3]]
    assert precision_at_k(rel, rec, k=2) == pytest.approx((1 / 2 + 0) / 2)
    assert recall_at_k(rel, rec, k=2) == pytest.approx((1 / 2 + 0) / 2)
    assert recall_at_k(rel, rec, k=3) == pytest.approx((2 / 2 + 0) / 2)
    # user 0 at k=3: DCG = 1/log2(2) + 1/log2(4) = 1.5, ideal = 1 + 1/log2(3)
    assert ndcg_at_k(rel, rec, k=3) == pytest.approx((1.5 / (1 + 1 / np.log2(3)) + 0) / 2)
    with pytest.raises(ValueError, match="one entry per user"):
        ndcg_at_k(rel, rec[:2])
    with pytest.raises(ValueError, match="No user has a relevant item"):
        precision_at_k([[]], [[1]])


@pytest.mark.parametrize("k", [1, 3, 10])
def test_ndcg_matches_sklearn_on_full_rankings(k):
    from sklearn.metrics import ndcg_score

    rng = np.random.default_rng(k)
    truth = (rng.random((6, 12)) < 0.3).astype(float)
    truth[:, 0] = 1.0  # every user has a relevant item
    scores = rng.standard_normal((6, 12))  # no ties
    rel = [np.flatnonzero(t) for t in truth]
    rec = [np.argsort(-s) for s in scores]
    assert ndcg_at_k(rel, rec, k=k) == pytest.approx(ndcg_score(truth, scores, k=k))


def test_ranking_metrics_of_a_predict_function():
    # 4 users x 5 items; an oracle-free scorer that prefers higher item indices
    t = read_ratings(np.array([[1.0, np.nan, 3, np.nan, 5], [2, 2, np.nan, 4, np.nan]] * 2))
    test_mask = np.isin(np.arange(t.n_obs), [2, 3])  # (0, 4) and (1, 0) held out
    train, test = t.subset(~test_mask), t.subset(test_mask)
    got = ranking_metrics(train, test, lambda r, c: c.astype(float), k=2)
    # user 0 unseen {1, 3, 4}: top-2 [4, 3], relevant {4}; user 1 unseen {0, 2, 4}: [4, 2]
    assert got == {
        "precision@2": pytest.approx(0.25),
        "recall@2": pytest.approx(0.5),
        "ndcg@2": pytest.approx(0.5),
        "n_users": 2,
    }
    with pytest.raises(ValueError, match="threshold=9"):
        ranking_metrics(train, test, lambda r, c: c.astype(float), threshold=9)


# ---------------------------------------------------------------------- time split
def _timed(seed=0, n=400):
    rng = np.random.default_rng(seed)
    df = pd.DataFrame(
        {
            "u": rng.integers(0, 30, n),
            "i": rng.integers(0, 20, n),
            "r": rng.integers(1, 6, n).astype(float),
            "ts": rng.integers(0, 50, n),  # many ties
        }
    )
    return read_ratings(df, "u", "i", "r", time="ts", duplicates="last")


def test_time_split_trains_strictly_before_testing():
    t = _timed()
    assert t.time is not None and t.time.size == t.n_obs
    tr, va, te = time_split(t, test=0.2, val=0.1)
    np.testing.assert_array_equal(tr.astype(int) + va + te, np.ones(t.n_obs))
    assert t.time[tr].max() < t.time[va].min() <= t.time[va].max() < t.time[te].min()
    # ties go to the later part, so test holds at least the fraction asked
    assert te.sum() >= round(0.2 * t.n_obs) and te.sum() < 0.35 * t.n_obs
    sub = t.subset(te)
    np.testing.assert_array_equal(sub.time, t.time[te])
    tr2, _, te2 = time_split(t.time, test=0.2)
    assert t.time[tr2].max() < t.time[te2].min()


def test_time_column_is_checked_and_merged():
    df = pd.DataFrame({"u": [1, 1, 2], "i": [1, 1, 2], "r": [3.0, 5.0, 1.0], "ts": [9, 4, 7]})
    t = read_ratings(df, "u", "i", "r", time="ts", duplicates="mean")
    np.testing.assert_array_equal(t.time, [9.0, 7.0])  # a merged pair keeps its latest time
    dates = df.assign(ts=["2020-01-02", "2020-01-01", "2021-05-01"])
    t = read_ratings(dates, "u", "i", "r", time="ts", duplicates="last")
    assert t.time.dtype == np.dtype("datetime64[ns]")
    with pytest.raises(ValueError, match="Column 'ts' \\(time\\) must hold numbers or dates"):
        read_ratings(df.assign(ts=["x", "y", "z"]), "u", "i", "r", time="ts", duplicates="last")
    with pytest.raises(ValueError, match="Column 'ts' \\(time\\) holds 1 missing"):
        read_ratings(df.assign(ts=[1, np.nan, 2]), "u", "i", "r", time="ts", duplicates="last")
    with pytest.raises(ValueError, match="not found"):
        read_ratings(df, "u", "i", "r", time="when", duplicates="last")
    with pytest.raises(ValueError, match="no time column"):
        time_split(_table())
    with pytest.raises(ValueError, match="ties in time leave the training"):
        time_split(np.zeros(10))


def test_cross_validate_on_a_time_split_with_ranking_metrics():
    t = _timed(1, n=600)
    tr, _, te = time_split(t, test=0.25)

    def mean_fit(train):
        mu = train.values.mean()
        return lambda rows, cols: np.full(len(rows), mu) + cols * 1e-3

    res = cross_validate(t, methods=[("mean", mean_fit)], folds=[(tr, te)], k=3)
    (run,) = res["runs"]
    train, test = t.subset(tr), t.subset(te)
    assert run["rmse"] == pytest.approx(rmse(train.values.mean() + test.cols * 1e-3, test.values))
    want = ranking_metrics(train, test, mean_fit(train), k=3)
    assert {key: run[key] for key in want} == want
    assert res["summary"][0]["ndcg@3"] == pytest.approx(want["ndcg@3"])
    assert res["split"]["folds"] == 1
    # a scikit-learn splitter gives the same runs as the same folds given as masks
    from sklearn.model_selection import KFold

    cv = KFold(3, shuffle=True, random_state=2)
    parts = [(a, b) for a, b in cv.split(np.empty((t.n_obs, 1)))]
    a = cross_validate(t, methods=[("mean", mean_fit)], folds=cv)
    b = cross_validate(t, methods=[("mean", mean_fit)], folds=parts)
    assert [r["rmse"] for r in a["runs"]] == [r["rmse"] for r in b["runs"]]
    assert a["split"]["fingerprint"] == b["split"]["fingerprint"]
    with pytest.raises(ValueError, match="both its train and test"):
        cross_validate(t, methods=[("mean", mean_fit)], folds=[(tr, tr)])
    with pytest.raises(TypeError, match="folds must be an int >= 2, a scikit-learn splitter"):
        cross_validate(t, methods=[("mean", mean_fit)], folds="time")
