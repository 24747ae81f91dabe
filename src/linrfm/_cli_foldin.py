"""``linrfm complete --fold-in FILE``: rows that are not in the model (new users), given by
a few ratings each, predicted and ranked without refitting
(:meth:`~linrfm.ratings.RatingsCompleter.predict_new_row`: the new row's bias, then one
kernel ridge regression against the fitted column kernel; lin-RFM models only)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._cli_args import UsageError, check_input_file

__all__ = ["NewRows", "read_new_rows", "check_pair_columns", "predict_pairs", "top_n"]


@dataclass
class NewRows:
    """The ratings of the rows to fold in (a :class:`~linrfm.io.Ratings`, ids as read)."""

    table: object

    def ratings(self, k):
        """Column ids and ratings of new row ``k`` (an index into ``table.row_ids``)."""
        t = self.table
        at = t.rows == k
        return t.col_ids[t.cols[at]], t.values[at]


def _some(ids) -> list:
    return [x.item() if isinstance(x, np.generic) else x for x in ids[:3]]


def read_new_rows(path, names, known_rows, known_cols, sep=None, duplicates="error"):
    """The ratings in ``path`` (columns ``names``) of rows not in ``known_rows``, on columns
    of ``known_cols``; a :class:`UsageError` naming --fold-in otherwise."""
    from .io import _lookup, read_ratings

    check_input_file(path, "--fold-in")
    try:
        table = read_ratings(path, *names, sep=sep, duplicates=duplicates)
    except ValueError as exc:
        raise UsageError(f"--fold-in {path}: {exc}") from None
    old = _lookup(known_rows, table.row_ids, "row", names[0], "ignore") >= 0
    if old.any():
        raise UsageError(
            f"--fold-in {path}: {int(old.sum())} row id(s) in '{names[0]}' are already in the "
            f"model, e.g. {_some(table.row_ids[old])}; --fold-in is for new rows (refit to "
            "update fitted ones)."
        )
    new_cols = _lookup(known_cols, table.col_ids, "column", names[1], "ignore") < 0
    if new_cols.any():
        raise UsageError(
            f"--fold-in {path}: {int(new_cols.sum())} column id(s) in '{names[1]}' are not "
            f"in the model, e.g. {_some(table.col_ids[new_cols])}; a new row is folded in "
            "from its ratings of fitted columns."
        )
    return NewRows(table)


def check_pair_columns(new, pairs, names, known_cols, source) -> None:
    """The pairs of new rows name fitted columns only (a folded-in row has no bias
    fallback for a column the model never saw)."""
    from .io import _lookup

    k = _lookup(new.table.row_ids, pairs[names[0]].to_numpy(), "row", names[0], "ignore")
    cols = pairs[names[1]].to_numpy()[k >= 0]
    unknown = _lookup(known_cols, cols, "column", names[1], "ignore") < 0
    if unknown.any():
        raise UsageError(
            f"--pairs {source}: {int(unknown.sum())} pair(s) of --fold-in rows name columns "
            f"not in the model, e.g. {_some(cols[unknown])}."
        )


def predict_pairs(model, rows, cols, unknown, new=None):
    """Predictions at the pairs ``(rows[k], cols[k])`` of ids: rows of ``new`` folded in,
    the others by ``model.predict(..., unknown=unknown)``."""
    from .io import _lookup

    if new is None:
        return model.predict(rows, cols, unknown=unknown)
    k = _lookup(new.table.row_ids, rows, "row", model.names_[0], "ignore")
    pred = np.empty(len(rows))
    old = k < 0
    if old.any():
        pred[old] = model.predict(rows[old], cols[old], unknown=unknown)
    for j in np.unique(k[~old]):
        at = k == j
        pred[at] = model.predict_new_row(*new.ratings(j), target_col_ids=cols[at])
    return pred


def top_n(model, new, k):
    """:meth:`~linrfm.ratings.RatingsCompleter.recommend`'s table for the rows of ``new``:
    each row's ``k`` best-scored fitted columns it has not rated, best first."""
    import scipy.sparse as sp

    from .io import _lookup, require_pandas
    from .ratings.model import rank_rows

    pd = require_pandas()
    d = len(model.col_ids_)
    frames = []
    for j, row_id in enumerate(new.table.row_ids):
        col_ids, values = new.ratings(j)
        scores = model.predict_new_row(col_ids, values)
        seen = _lookup(model.col_ids_, col_ids, "column", model.names_[1], "error")
        seen = sp.csr_matrix((np.ones(seen.size), (np.zeros(seen.size, int), seen)), (1, d))
        (top,), (best,) = rank_rows(lambda r, c, s=scores: s[c], np.zeros(1, int), d, k, seen)
        frames.append(
            pd.DataFrame(
                {
                    model.names_[0]: np.repeat(row_id, top.size),
                    model.names_[1]: model.col_ids_[top],
                    "score": best,
                    "rank": np.arange(1, top.size + 1),
                }
            )
        )
    return pd.concat(frames, ignore_index=True)
