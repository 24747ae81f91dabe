"""RatingsCompleter with pandas and scikit-learn conventions: DataFrames and tuples in,
pairs and single pairs out, batched top-k, score for GridSearchCV, clear bad-input errors."""

import warnings

import numpy as np
import pytest
from sklearn.model_selection import GridSearchCV, KFold

pd = pytest.importorskip("pandas")

import linrfm  # noqa: E402
from linrfm import RatingsCompleter, read_ratings  # noqa: E402
from linrfm.io import UnknownIdError  # noqa: E402


def _frame(seed=0, n=30, d=20, frac=0.5, names=("user", "item", "rating")):
    rng = np.random.default_rng(seed)
    Y = 3 + 0.8 * rng.standard_normal((n, 2)) @ rng.standard_normal((2, d))
    Y += rng.standard_normal((n, 1)) + rng.standard_normal((1, d))  # row/column offsets
    rows, cols = np.nonzero(rng.random((n, d)) < frac)
    vals = Y[rows, cols] + 0.2 * rng.standard_normal(rows.size)
    u, i, r = names
    return pd.DataFrame({u: [f"u{k}" for k in rows], i: cols * 3 + 1, r: vals})


SMALL = {"lams": (3.0,), "max_iter": 3}


def test_importable_from_the_package():
    assert linrfm.RatingsCompleter is RatingsCompleter
    assert linrfm.read_ratings is read_ratings
    assert callable(linrfm.time_split) and callable(linrfm.ndcg_at_k)


@pytest.mark.parametrize(
    "names", [("user", "item", "rating"), ("userId", "movieId", "rating"), ("row", "col", "value")]
)
def test_dataframe_round_trip_equals_fitting_the_ratings(names):
    df = _frame(names=names)
    u, i, r = names
    a = RatingsCompleter(**SMALL).fit(df)  # names guessed
    b = RatingsCompleter(**SMALL).fit(read_ratings(df, u, i, r))
    pairs = df[[u, i]].sample(frac=1.0, random_state=1).reset_index(drop=True)
    np.testing.assert_array_equal(a.predict(pairs), b.predict(pairs[u], pairs[i]))
    assert a.names_ == (u, i, r)
    # one pair of scalar ids gives a float, the same as in a batch
    got = a.predict(pairs[u][0], pairs[i][0])
    assert isinstance(got, float) and got == a.predict(pairs)[0]


def test_fit_with_given_names_tuple_and_x_y():
    df = _frame().rename(columns={"user": "who", "item": "what", "rating": "stars"})
    base = RatingsCompleter(**SMALL).fit(read_ratings(df, "who", "what", "stars"))
    pairs = df[["who", "what"]]
    named = RatingsCompleter(**SMALL).fit(df, row="who", col="what", value="stars")
    tup = RatingsCompleter(**SMALL).fit((df["who"], df["what"], df["stars"]))
    xy = RatingsCompleter(**SMALL).fit(pairs, df["stars"])
    for m in (named, tup, xy):
        np.testing.assert_array_equal(m.predict(df["who"], df["what"]), base.predict(pairs))
    assert xy.names_ == ("who", "what", "stars") and tup.names_ == ("row", "col", "value")


def test_batched_recommend_equals_one_by_one_and_skips_seen():
    df = _frame(seed=3)
    m = RatingsCompleter(**SMALL).fit(df)
    users = ["u5", "u0", "u17", "u5"]
    table = m.recommend(users, k=4)
    assert list(table.columns) == ["user", "item", "score", "rank"]
    for u in dict.fromkeys(users):
        ids, scores = m.recommend(u, k=4)
        part = table[table["user"] == u]
        n_times = users.count(u)
        np.testing.assert_array_equal(part["item"], np.tile(ids, n_times))
        np.testing.assert_array_equal(part["score"], np.tile(scores, n_times))
        np.testing.assert_array_equal(part["rank"], np.tile(np.arange(1, 5), n_times))
        assert not set(df.loc[df["user"] == u, "item"]) & set(ids)
    assert list(table["user"]) == [u for u in users for _ in range(4)]
    # with seen items kept, the best of all columns: its scores are those of predict
    ids, scores = m.recommend("u5", k=60, exclude_seen=False)
    assert len(ids) == 20 and np.all(np.diff(scores) <= 0)
    np.testing.assert_array_equal(scores, m.predict(["u5"] * 20, ids))
    with pytest.raises(UnknownIdError, match="'zed'"):
        m.recommend(["u1", "zed"])


def test_score_is_negative_rmse_with_bias_fallback():
    df = _frame(seed=4)
    m = RatingsCompleter(**SMALL).fit(df.iloc[:-40])
    held = pd.concat([df.iloc[-40:], pd.DataFrame({"user": ["new"], "item": [1], "rating": [3]})])
    pred = m.predict(held["user"], held["item"], unknown="bias")
    rmse = np.sqrt(np.mean((pred - held["rating"]) ** 2))
    assert m.score(held) == pytest.approx(-rmse)
    assert m.score(held[["user", "item"]], held["rating"]) == pytest.approx(-rmse)
    assert m.score((held["user"], held["item"]), held["rating"]) == pytest.approx(-rmse)
    with pytest.raises(TypeError, match="score expects a DataFrame of ratings"):
        m.score(np.zeros((3, 2)), [1.0, 2.0, 3.0])


def test_grid_search_over_a_parameter():
    # large row/column offsets: removing them ('both') must beat fitting none ('none')
    df = _frame(seed=5, n=40, d=25, frac=0.6)
    cv = KFold(3, shuffle=True, random_state=0)
    grid = GridSearchCV(RatingsCompleter(**SMALL), {"biases": ["none", "both"]}, cv=cv)
    grid.fit(df)
    assert grid.best_params_ == {"biases": "both"}
    # its scores are the folds' negative RMSE computed by hand
    manual = [
        RatingsCompleter(**SMALL, biases="none").fit(df.iloc[tr]).score(df.iloc[te])
        for tr, te in cv.split(df)
    ]
    assert grid.cv_results_["mean_test_score"][0] == pytest.approx(np.mean(manual))
    assert (
        grid.best_estimator_.predict("u0", 1)
        == grid.predict(pd.DataFrame({"user": ["u0"], "item": [1]}))[0]
    )


def test_bad_tables_name_the_argument():
    df = _frame()
    with pytest.raises(ValueError, match=r"X: cannot tell which columns.*\['a', 'b', 'c'\].*row="):
        RatingsCompleter().fit(df.set_axis(["a", "b", "c"], axis=1))
    with pytest.raises(ValueError, match="X: Column 'rating' holds 1 non-numeric value.*'five'"):
        RatingsCompleter().fit(
            df.astype({"rating": object}).assign(rating=["five"] + [3.0] * (len(df) - 1))
        )
    bad = df.astype({"user": object})
    bad.loc[2, "user"] = np.nan
    with pytest.raises(ValueError, match="X: Column 'user' holds 1 missing id"):
        RatingsCompleter().fit(bad)
    with pytest.raises(ValueError, match="X: Column 'row' holds 1 missing id"):
        RatingsCompleter().fit(([1.0, np.nan, 2.0], [0, 1, 2], [1.0, 2.0, 3.0]))
    m = RatingsCompleter(**SMALL).fit(df)
    with pytest.raises(ValueError, match="row_ids: cannot tell which columns hold the row ids"):
        m.predict(pd.DataFrame({"a": ["u1"], "b": [1], "c": [0]}))
    with pytest.raises(ValueError, match="row_ids: 1 row id.* missing"):
        m.predict(["u1", None], [1, 1])
    with pytest.raises(ValueError, match="y: the held-out ratings must be 2 finite"):
        m.score(df[["user", "item"]].iloc[:2], ["x", 3])
    with pytest.raises(TypeError, match="expected a DataFrame of pairs, or row ids with col_ids"):
        m.predict(["u1"])


@pytest.mark.parametrize("method", ["linrfm", "softimpute"])
@pytest.mark.parametrize("c", [4.0, 1.0, 0.0])
def test_a_constant_table_predicts_the_constant(method, c):
    # implicit-feedback style data (every rating the same): biases take it all, the
    # residual is zero, and the completion of zero is zero — no crash, no drift
    df = pd.DataFrame({"user": list("aabbcc"), "item": [1, 2, 1, 2, 1, 2], "rating": [c] * 6})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = RatingsCompleter(method=method).fit(df)
    assert model.predict("a", 2) == c
    np.testing.assert_array_equal(model.predict(["b", "c"], [1, 2]), [c, c])
