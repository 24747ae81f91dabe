"""What :class:`~linrfm.ratings.RatingsCompleter` accepts: DataFrames (column names given
or guessed), :class:`~linrfm.io.Ratings`, ``(rows, cols, values)`` tuples, id arrays and
single pairs; each turned into ids (and ratings) with a clear error naming the argument."""

from __future__ import annotations

import numpy as np

from ..io import Ratings, ratings_from_frame, require_pandas

__all__ = ["NAME_GUESSES", "guess_names", "as_ratings", "check_ids", "id_pairs", "id_triples"]

# (row id, column id, rating) column names tried, in this order, when none are given
NAME_GUESSES = (
    ("user", "item", "rating"),
    ("userId", "movieId", "rating"),
    ("user_id", "item_id", "rating"),
    ("row", "col", "value"),
)


def guess_names(df, given, *, need_value=True, arg="X"):
    """``(row, col, value)`` column names of ``df``: those given (None = guess) filled in
    from the first of :data:`NAME_GUESSES` whose columns ``df`` holds; pairs without
    ratings (``need_value=False``) in a two-column frame are its two columns, in order."""
    k = 3 if need_value else 2
    cols = set(df.columns)
    if not need_value and given[:2] == (None, None) and len(df.columns) == 2:
        return (*df.columns, given[2])
    for guess in ((None,) * 3, *NAME_GUESSES):
        names = tuple(g if g is not None else h for g, h in zip(given, guess))
        if all(n is not None and n in cols for n in names[:k]):
            return names
    what = "row ids, column ids and ratings" if need_value else "row ids and column ids"
    tried = ", ".join("/".join(g[:k]) for g in NAME_GUESSES)
    raise ValueError(
        f"{arg}: cannot tell which columns hold the {what}: its columns are "
        f"{list(df.columns)}, given row={given[0]!r}, col={given[1]!r}"
        + (f", value={given[2]!r}" if need_value else "")
        + f". Pass the column names (row=, col=, value=); tried {tried}."
    )


def _frame_of_tuple(X, names, arg):
    pd = require_pandas()
    parts = [np.asarray(p) for p in X]
    if any(p.ndim != 1 for p in parts) or len({p.size for p in parts}) != 1:
        raise ValueError(
            f"{arg}: a (rows, cols, values) tuple needs three 1-d sequences of one length; "
            f"got shapes {[p.shape for p in parts]}."
        )
    return pd.DataFrame(dict(zip(names, parts)))


def as_ratings(X, y=None, names=(None, None, None), duplicates="error") -> Ratings:
    """A :class:`Ratings` from what ``fit`` accepts (see ``RatingsCompleter.fit``)."""
    pd = require_pandas()
    if isinstance(X, Ratings):
        if y is not None:
            raise ValueError("fit: y must be None when X is a Ratings table (it has the ratings).")
        return X
    if isinstance(X, pd.DataFrame):
        if y is not None:  # X holds the pairs, y the ratings
            r, c, _ = guess_names(X, names, need_value=False)
            v = names[2] or getattr(y, "name", None) or "rating"
            X = pd.DataFrame({r: X[r].to_numpy(), c: X[c].to_numpy(), v: np.asarray(y)})
            names = (r, c, v)
        else:
            names = guess_names(X, names)
    elif isinstance(X, tuple) and len(X) == 3 and y is None:
        names = tuple(g or h for g, h in zip(names, NAME_GUESSES[-1]))
        X = _frame_of_tuple(X, names, "X")
    else:
        raise TypeError(
            "fit expects a pandas DataFrame of ratings, a linrfm.io.Ratings table (from "
            "linrfm.read_ratings) or a (rows, cols, values) tuple; got "
            f"{type(X).__name__} (a matrix: linrfm.read_ratings(matrix) first)."
        )
    try:
        return ratings_from_frame(X, *names, duplicates=duplicates)
    except ValueError as exc:
        raise ValueError(f"fit: X: {exc}") from exc


def check_ids(x, what, arg):
    """``x`` as a 1-d array of ids, none missing (else an error naming ``arg``)."""
    pd = require_pandas()
    x = np.asarray(x)
    if x.ndim != 1:
        raise ValueError(f"{arg}: {what} ids must be one id or 1-dimensional; got shape {x.shape}.")
    bad = pd.isna(x)
    if bad.any():
        raise ValueError(f"{arg}: {int(bad.sum())} {what} id(s) are missing (NaN/None).")
    return x


def id_pairs(X, cols, names, arg="row_ids"):
    """``(row ids, column ids, scalar)`` from a DataFrame of pairs (columns named as in
    fit, or guessed), two id sequences, or one pair of scalar ids (``scalar`` True)."""
    pd = require_pandas()
    if isinstance(X, pd.DataFrame):
        if cols is not None:
            raise ValueError(f"{arg}: with a DataFrame of pairs, col_ids must be None.")
        known = names if all(n in X.columns for n in names[:2]) else (None, None, None)
        r, c, _ = guess_names(X, known, need_value=False, arg=arg)
        X, cols = X[r], X[c]
    elif cols is None:
        raise TypeError(
            f"{arg}: expected a DataFrame of pairs, or row ids with col_ids; got "
            f"{type(X).__name__} and no col_ids."
        )
    scalar = np.ndim(X) == 0 and np.ndim(cols) == 0
    if scalar:
        X, cols = [X], [cols]
    return (
        check_ids(X, "row", arg),
        check_ids(cols, "column", "col_ids" if arg == "row_ids" else arg),
        scalar,
    )


def id_triples(X, y, names):
    """``(row ids, column ids, ratings)`` held out for ``score``: a DataFrame with the
    ratings (or pairs with ``y``), a :class:`Ratings`, or a (rows, cols, values) tuple."""
    pd = require_pandas()
    if isinstance(X, Ratings):
        return X.row_ids[X.rows], X.col_ids[X.cols], X.values
    if isinstance(X, tuple) and len(X) == 3 and y is None:
        X = _frame_of_tuple(X, NAME_GUESSES[-1], "X")
        names = NAME_GUESSES[-1]
    if isinstance(X, pd.DataFrame) and y is None:
        known = names if all(n in X.columns for n in names) else (None, None, None)
        names = guess_names(X, known, arg="X")
        y = X[names[2]]
    is_pairs = isinstance(X, pd.DataFrame) or (isinstance(X, (tuple, list)) and len(X) == 2)
    if y is None or not is_pairs:
        raise TypeError(
            "score expects a DataFrame of ratings, a Ratings table, a (rows, cols, values) "
            "tuple, or pairs (a DataFrame or a (rows, cols) tuple) with y; got "
            f"{type(X).__name__} and {'no y' if y is None else 'y'}."
        )
    if isinstance(X, pd.DataFrame):
        r, c, _ = id_pairs(X, None, names, arg="X")
    else:
        r, c, _ = id_pairs(X[0], X[1], names, arg="X")
    v = pd.to_numeric(pd.Series(np.asarray(y)), errors="coerce").to_numpy(dtype=float)
    if v.shape != r.shape or not np.all(np.isfinite(v)):
        raise ValueError(
            f"y: the held-out ratings must be {r.size} finite numbers, one per pair; got "
            f"{v.size} with {int(np.sum(~np.isfinite(v)))} missing or non-numeric."
        )
    return r, c, v
