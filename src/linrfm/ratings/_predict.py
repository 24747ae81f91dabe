"""Predicting with a fitted :class:`~linrfm.ratings.RatingsCompleter`: by ids (pairs, a
DataFrame of pairs, one pair), scoring held-out ratings, top-k recommendations for one row
or many, and new rows folded in."""

from __future__ import annotations

import numbers

import numpy as np
from sklearn.metrics import mean_squared_error

from .._validation import check_option, check_scalar
from ..io import _lookup, require_pandas
from ._tables import check_ids, id_pairs, id_triples

__all__ = ["RatingsPredictions"]


class RatingsPredictions:
    """The prediction methods of :class:`~linrfm.ratings.RatingsCompleter` (a mixin: it
    reads ``model_``, ``row_ids_``, ``col_ids_`` and ``names_`` set by ``fit``)."""

    def _check_fitted(self):
        if not hasattr(self, "model_"):
            raise RuntimeError("This RatingsCompleter is not fitted yet; call fit first.")

    def predict_index(self, rows, cols):
        """Predictions at index pairs ``(rows[k], cols[k])`` of the fitted table."""
        self._check_fitted()
        return self.model_.predict_index(rows, cols)

    def predict(self, row_ids, col_ids=None, *, unknown="error"):
        """Predictions for pairs given by their original ids.

        Parameters
        ----------
        row_ids : array_like, scalar id or pandas.DataFrame
            Row ids; one id (with one column id: a single prediction); or a DataFrame
            of pairs whose columns are named as in fit (or guessed, as in :meth:`fit`).
        col_ids : array_like or scalar id, same length as ``row_ids``
            Column ids (None with a DataFrame). Text is compared as text when the id
            types differ.
        unknown : {'error', 'bias'}, default='error'
            An id never seen in fit raises :class:`~linrfm.io.UnknownIdError` (a
            ``KeyError``) with 'error'; with 'bias' the pair is predicted from the biases
            alone: the global mean plus whichever of its row and column biases is known.

        Returns
        -------
        ndarray of float, or a float for one pair of scalar ids
        """
        self._check_fitted()
        check_option(unknown, "unknown", ("error", "bias"))
        rows, cols, scalar = id_pairs(row_ids, col_ids, self.names_)
        miss = "error" if unknown == "error" else "ignore"
        ri = _lookup(self.row_ids_, rows, "row", self.names_[0], miss)
        ci = _lookup(self.col_ids_, cols, "column", self.names_[1], miss)
        if ri.shape != ci.shape:
            raise ValueError(
                f"row_ids and col_ids must have the same length; got {ri.size} and {ci.size}."
            )
        pred = self.model_.predict_partial(ri, ci)
        return float(pred[0]) if scalar else pred

    def score(self, X, y=None):
        """Negative RMSE on held-out ratings (higher is better, as scikit-learn's model
        selection expects); ``X`` as in :meth:`fit`. Pairs with an id not seen in fit are
        predicted from the biases (``unknown='bias'``), so any split can be scored."""
        rows, cols, truth = id_triples(X, y, self.names_)
        pred = self.predict(rows, cols, unknown="bias")
        return -float(np.sqrt(mean_squared_error(truth, pred)))

    def recommend(self, users, k=10, exclude_seen=True):
        """The ``k`` best-scored column ids for one row id or for many.

        Parameters
        ----------
        users : row id, or sequence of row ids
        k : int >= 1
        exclude_seen : bool, default=True
            Leave out the columns each row rated in fit.

        Returns
        -------
        (ids, scores) for one row id: at most ``k`` column ids, best first, and their
        predictions. For a sequence: a DataFrame with columns named as in fit (row id,
        column id), ``score`` and ``rank`` (1 = best), ``k`` rows per row id (fewer when
        it has fewer unseen columns), in the order of ``users``. Ties go to the column
        that sorts first; a row's list does not depend on the others asked with it.
        """
        self._check_fitted()
        check_scalar(k, "k", kind=numbers.Integral, low=1)
        one = np.ndim(users) == 0
        ids = check_ids([users] if one else users, "row", "users")
        ri = _lookup(self.row_ids_, ids, "row", self.names_[0], "error")
        tops, scores = self.model_.recommend_rows(ri, k, bool(exclude_seen))
        if one:
            return self.col_ids_[tops[0]], scores[0]
        pd = require_pandas()
        sizes = [t.size for t in tops]
        return pd.DataFrame(
            {
                self.names_[0]: np.repeat(ids, sizes),
                self.names_[1]: self.col_ids_[np.concatenate(tops)] if tops else [],
                "score": np.concatenate(scores) if tops else [],
                "rank": np.concatenate([np.arange(1, n + 1) for n in sizes]) if tops else [],
            }
        )

    def predict_new_row(self, col_ids, values, target_col_ids=None):
        """Predict a new row (e.g. a new user) from a few ratings, without refitting.

        The new row's bias is fitted as in :func:`fit_biases` (the column biases held
        fixed); its residual is one kernel ridge regression against the fitted
        column-side kernel ``K = (B^T B / n)^(2 alpha)`` of the completion ``B``, with the
        chosen relative ridge (lin-RFM models only).

        Parameters
        ----------
        col_ids, values : array_like
            The new row's rated column ids and its ratings.
        target_col_ids : array_like, optional
            Columns to predict (default: every fitted column, in ``col_ids_`` order).

        Returns
        -------
        ndarray of float
        """
        self._check_fitted()
        if not self.model_.folds_in:
            raise ValueError("predict_new_row needs a lin-RFM model (method='linrfm').")
        ci = _lookup(self.col_ids_, col_ids, "column", self.names_[1], "error")
        y = np.asarray(values, dtype=np.float64)
        if y.shape != ci.shape or y.size == 0 or not np.all(np.isfinite(y)):
            raise ValueError(
                "values must be finite, non-empty and as long as col_ids; got "
                f"{y.size} value(s) for {ci.size} id(s)."
            )
        if np.unique(ci).size != ci.size:
            raise ValueError("col_ids holds a column more than once.")
        if target_col_ids is None:
            tj = np.arange(len(self.col_ids_))
        else:
            tj = _lookup(self.col_ids_, target_col_ids, "column", self.names_[1], "error")
        return self.model_.fold_in(ci, y, tj)
