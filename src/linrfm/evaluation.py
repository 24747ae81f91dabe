"""Honest evaluation on observed entries: seeded and time-ordered splits, k-fold CV, the
error metrics (RMSE, MAE) and the ranking metrics recommenders are judged by
(precision@k, recall@k, NDCG@k).

Splits and error metrics are scikit-learn's (:class:`~sklearn.model_selection.KFold`,
:class:`~sklearn.model_selection.ShuffleSplit`,
:func:`~sklearn.metrics.mean_squared_error`, :func:`~sklearn.metrics.mean_absolute_error`).
Every seeded split is a function of ``(n_obs, seed)`` and is recorded with the results (the
seed and a fingerprint of the fold assignment), so a result can be reproduced exactly.
"""

from __future__ import annotations

import hashlib
import numbers
import time

import numpy as np
from sklearn.metrics import mean_absolute_error, mean_squared_error
from sklearn.model_selection import KFold, ShuffleSplit

from ._validation import check_random_state, check_scalar
from .io import Ratings
from .methods import ratings_method

__all__ = [
    "rmse",
    "mae",
    "precision_at_k",
    "recall_at_k",
    "ndcg_at_k",
    "ranking_metrics",
    "kfold",
    "train_val_test_split",
    "time_split",
    "fingerprint",
    "cross_validate",
]


def _pair(pred, truth):
    pred, truth = np.broadcast_arrays(np.asarray(pred, float), np.asarray(truth, float))
    return truth.ravel(), pred.ravel()


def rmse(pred, truth) -> float:
    """Root mean squared error (:func:`sklearn.metrics.mean_squared_error`, square root)."""
    return float(np.sqrt(mean_squared_error(*_pair(pred, truth))))


def mae(pred, truth) -> float:
    """Mean absolute error (:func:`sklearn.metrics.mean_absolute_error`)."""
    return float(mean_absolute_error(*_pair(pred, truth)))


# ---------------------------------------------------------------------- ranking metrics
def _hits(relevant, recommended, k):
    """Per user with at least one relevant item: (hit flags of the top k, #relevant)."""
    check_scalar(k, "k", kind=numbers.Integral, low=1)
    if len(relevant) != len(recommended):
        raise ValueError(
            f"relevant and recommended must hold one entry per user; got {len(relevant)} "
            f"and {len(recommended)}."
        )
    out = []
    for rel, rec in zip(relevant, recommended):
        rel = set(np.asarray(list(rel)).tolist())
        if rel:
            top = np.asarray(list(rec))[:k].tolist()
            out.append((np.array([x in rel for x in top], dtype=float), len(rel)))
    if not out:
        raise ValueError("No user has a relevant item: the ranking metrics are undefined.")
    return out


def precision_at_k(relevant, recommended, k=10) -> float:
    """Mean over users of (relevant items among the first ``k`` recommended) / ``k``.

    Parameters
    ----------
    relevant : sequence of collections
        Per user, the items that count as relevant (e.g. their held-out ratings >= 4).
    recommended : sequence of sequences
        Per user, the recommended items, best first.
    k : int >= 1

    Users with no relevant item are left out (as in :func:`recall_at_k` and
    :func:`ndcg_at_k`); a list shorter than ``k`` still divides by ``k``.
    """
    return float(np.mean([h.sum() / k for h, _ in _hits(relevant, recommended, k)]))


def recall_at_k(relevant, recommended, k=10) -> float:
    """Mean over users of (relevant items among the first ``k``) / (relevant items).
    Arguments as in :func:`precision_at_k`."""
    return float(np.mean([h.sum() / n for h, n in _hits(relevant, recommended, k)]))


def ndcg_at_k(relevant, recommended, k=10) -> float:
    """Mean over users of the normalized discounted cumulative gain of the first ``k``,
    binary relevance: ``DCG = sum_i rel_i / log2(i + 2)`` over positions ``i < k``,
    divided by the DCG of an ideal list (all relevant items first). Arguments as in
    :func:`precision_at_k`; equals :func:`sklearn.metrics.ndcg_score` with binary
    relevance and the full ranking."""
    disc = 1.0 / np.log2(np.arange(k) + 2.0)
    vals = [
        h @ disc[: h.size] / disc[: min(n, k)].sum() for h, n in _hits(relevant, recommended, k)
    ]
    return float(np.mean(vals))


def ranking_metrics(train: Ratings, test: Ratings, predict, k=10, threshold=None) -> dict:
    """precision@k, recall@k and NDCG@k of the top ``k`` unseen items per test user.

    Every user with a relevant held-out item gets all items scored by ``predict(rows,
    cols)`` (indices of the shared id maps), minus those rated in ``train``; the ``k``
    best (ties to the lower index) are compared with the user's relevant test items: those
    rated ``>= threshold``, or every test item when ``threshold`` is None.

    Returns
    -------
    dict
        ``precision@k``, ``recall@k``, ``ndcg@k`` (with ``k`` the number) and
        ``n_users`` (users ranked).
    """
    from .ratings.model import rank_rows

    check_scalar(k, "k", kind=numbers.Integral, low=1)
    keep = np.ones(test.n_obs, bool) if threshold is None else test.values >= threshold
    users = np.unique(test.rows[keep])
    if users.size == 0:
        raise ValueError(f"No held-out rating reaches threshold={threshold}.")
    n, d = train.shape
    seen = _csr(train.rows, train.cols, (n, d))
    rel = _csr(test.rows[keep], test.cols[keep], (n, d))
    recs, _ = rank_rows(predict, users, d, k, seen)
    rels = [rel.indices[rel.indptr[i] : rel.indptr[i + 1]] for i in users]
    return {
        f"precision@{k}": precision_at_k(rels, recs, k),
        f"recall@{k}": recall_at_k(rels, recs, k),
        f"ndcg@{k}": ndcg_at_k(rels, recs, k),
        "n_users": int(users.size),
    }


def _csr(rows, cols, shape):
    import scipy.sparse as sp

    return sp.csr_matrix((np.ones(rows.size, np.int8), (rows, cols)), shape=shape)


# ---------------------------------------------------------------------- splits
def _sk_seed(seed):
    """A seed for scikit-learn (None or an int) from ours (None, an int or a Generator)."""
    rng = check_random_state(seed)  # validates
    return seed if seed is None or isinstance(seed, numbers.Integral) else int(rng.integers(2**31))


def kfold(n_obs: int, folds: int, seed=0) -> np.ndarray:
    """Fold label (0..folds-1) of each observation: scikit-learn's shuffled
    :class:`~sklearn.model_selection.KFold` seeded with ``seed`` (fold sizes differ by at
    most one). The assignment differs from linrfm <= 0.1's own permutation, so fold
    fingerprints recorded before changed."""
    check_scalar(folds, "folds", kind=numbers.Integral, low=2)
    if folds > n_obs:
        raise ValueError(f"folds={folds} exceeds the number of observations ({n_obs}).")
    labels = np.empty(n_obs, dtype=np.int64)
    splitter = KFold(int(folds), shuffle=True, random_state=_sk_seed(seed))
    for k, (_, test) in enumerate(splitter.split(np.empty((n_obs, 1)))):
        labels[test] = k
    return labels


def _shuffle_out(idx, n_out, seed):
    """``(kept, out)`` subsets of ``idx``: ``n_out`` drawn by a seeded ShuffleSplit."""
    if n_out == 0:
        return idx, idx[:0]
    kept, out = next(ShuffleSplit(1, test_size=n_out, random_state=seed).split(idx))
    return idx[kept], idx[out]


def train_val_test_split(n_obs: int, val: float = 0.1, test: float = 0.1, seed=0):
    """Seeded split of observation indices into (train, validation, test) boolean masks.

    ``round(test * n_obs)`` observations go to test and ``round(val * n_obs)`` of the rest
    to validation, each drawn by scikit-learn's :class:`~sklearn.model_selection.ShuffleSplit`
    with the same seed.
    """
    check_scalar(val, "val", low=0, high=1, high_inclusive=False)
    check_scalar(test, "test", low=0, high=1, high_inclusive=False)
    if val + test >= 1:
        raise ValueError(f"val + test must be < 1; got {val} + {test}.")
    seed = _sk_seed(seed)
    n_test, n_val = int(round(test * n_obs)), int(round(val * n_obs))
    rest, te = _shuffle_out(np.arange(n_obs), n_test, seed)
    tr, va = _shuffle_out(rest, n_val, seed)
    masks = [np.zeros(n_obs, dtype=bool) for _ in range(3)]
    for m, idx in zip(masks, (tr, va, te)):
        m[idx] = True
    return tuple(masks)


def time_split(ratings, test: float = 0.2, val: float = 0.0):
    """Time-ordered split into (train, validation, test) boolean masks.

    The latest ``test`` fraction of the ratings is the test set and the ``val`` fraction
    before it the validation set: every training rating is strictly older than every
    validation rating, which is strictly older than every test rating. Ratings tied with
    a cut go to the later part, so a part may be a little larger than asked.

    Parameters
    ----------
    ratings : Ratings with ``time`` (``read_ratings(..., time=...)``), or array of times
    test, val : float
        Fractions of the ratings (``test`` in (0, 1), ``val`` in [0, 1), sum < 1).
    """
    check_scalar(test, "test", low=0, high=1, low_inclusive=False, high_inclusive=False)
    check_scalar(val, "val", low=0, high=1, high_inclusive=False)
    if val + test >= 1:
        raise ValueError(f"val + test must be < 1; got {val} + {test}.")
    t = ratings.time if isinstance(ratings, Ratings) else np.asarray(ratings)
    if t is None:
        raise ValueError(
            "time_split: ratings has no time column; read it with "
            "read_ratings(..., time='<column>')."
        )
    n = t.size
    order = np.sort(t, kind="stable")
    n_test = max(1, int(round(test * n)))
    n_val = int(round(val * n))
    t_test = order[n - n_test]
    t_val = order[max(0, n - n_test - n_val)] if n_val else t_test
    masks = (t < t_val, (t >= t_val) & (t < t_test), t >= t_test)
    if not masks[0].any() or (n_val and not masks[1].any()):
        raise ValueError(
            "time_split: ties in time leave the training or validation part empty; "
            f"got {n} ratings with {np.unique(t).size} distinct times."
        )
    return masks


def fingerprint(labels: np.ndarray) -> str:
    """A short hash of a fold assignment, to check a split was reproduced."""
    return hashlib.sha256(np.ascontiguousarray(labels, dtype=np.int64).tobytes()).hexdigest()[:16]


def _as_mask(x, n, what):
    x = np.asarray(x)
    if x.dtype == bool:
        if x.shape != (n,):
            raise ValueError(f"A {what} mask of folds must have shape ({n},); got {x.shape}.")
        return x
    mask = np.zeros(n, dtype=bool)
    mask[x.astype(np.int64)] = True
    return mask


def _folds(folds, n_obs, seed):
    """``(labels, [(train mask, test mask), ...])`` from an int, a scikit-learn splitter
    or an iterable of (train, test) pairs (indices or boolean masks)."""
    if isinstance(folds, numbers.Integral) and not isinstance(folds, bool):
        labels = kfold(n_obs, folds, seed)
        return labels, [(labels != k, labels == k) for k in range(int(folds))]
    try:
        if isinstance(folds, (str, bytes, bool)):
            raise TypeError("not a split")
        pairs = folds.split(np.empty((n_obs, 1))) if hasattr(folds, "split") else folds
        pairs = [(_as_mask(a, n_obs, "train"), _as_mask(b, n_obs, "test")) for a, b in pairs]
    except (TypeError, ValueError) as exc:
        raise TypeError(
            "folds must be an int >= 2, a scikit-learn splitter or an iterable of (train, "
            f"test) index arrays or boolean masks; got {type(folds).__name__} ({exc})."
        ) from exc
    labels = np.full(n_obs, -1, dtype=np.int64)
    for k, (tr, te) in enumerate(pairs):
        if np.any(tr & te):
            raise ValueError(f"Fold {k} has observations in both its train and test parts.")
        labels[te] = k
    if not pairs:
        raise ValueError("folds holds no (train, test) pair.")
    return labels, pairs


def _fits(methods, seed, model_params):
    from .ratings import RatingsCompleter

    fits = []
    for m in methods:
        if isinstance(m, str):
            method = ratings_method(m)
            params = {"random_state": seed, **(model_params or {}).get(m, {})}

            def fit(train, method=method, params=params):
                return RatingsCompleter(method=method, **params).fit(train).predict_index

            fits.append((m, fit))
        else:
            name, fit = m
            if not callable(fit):
                raise TypeError(f"The fit function of method {name!r} is not callable.")
            fits.append((str(name), fit))
    return fits


def cross_validate(
    ratings: Ratings,
    methods=("linrfm", "softimpute"),
    folds=5,
    seed=0,
    progress: bool = False,
    model_params=None,
    *,
    k=None,
    threshold=None,
) -> dict:
    """Cross-validation of several methods on the same folds.

    Parameters
    ----------
    ratings : Ratings
    methods : sequence of str or (name, fit) pairs
        A name of a method with a :class:`~linrfm.ratings.RatingsCompleter` method in the
        method table (:mod:`linrfm.methods`): ``'linrfm'`` or ``'lin_rfm_complete'``,
        ``'softimpute'`` or ``'soft_impute_complete'``; runs are recorded under the name
        given. A pair ``(name, fit)`` adds any other method: ``fit(train)`` takes the
        training :class:`~linrfm.io.Ratings` and returns ``predict(rows, cols)`` over its
        indices.
    folds : int >= 2, scikit-learn splitter, or iterable of (train, test) pairs
        ``k`` seeded folds (:func:`kfold`); any splitter with ``split(X)`` (e.g.
        ``KFold``); or given parts as index arrays or boolean masks, e.g.
        ``[time_split(ratings)[::2]]`` for one time-ordered train/test split.
    seed : int
        Seeds the fold assignment (recorded with its fingerprint) and the methods'
        validation splits.
    progress : bool
        A progress bar over (method, fold).
    model_params : dict, optional
        Extra :class:`~linrfm.ratings.RatingsCompleter` parameters per method name.
    k : int, optional
        Also rank the unseen items of every test user (:func:`ranking_metrics`) and
        record ``precision@k``, ``recall@k`` and ``ndcg@k``.
    threshold : float, optional
        A held-out rating is relevant when ``>= threshold`` (default: every one).

    Returns
    -------
    dict
        ``split`` (folds, seed, n_obs and the fingerprint of the fold labels: each
        observation's test fold, -1 if none), ``runs`` (method, fold, rmse, mae,
        seconds, n_test per fold, and the ranking metrics with ``k``; ``seconds`` is the
        fit time) and ``summary`` (per method, the means over folds and the standard
        deviation of the RMSE).
    """
    fits = _fits(methods, seed, model_params)
    labels, parts = _folds(folds, ratings.n_obs, seed)
    runs = []
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(fits) * len(parts), desc="cross-validation")
    try:
        for fold, (train_mask, test_mask) in enumerate(parts):
            train, test = ratings.subset(train_mask), ratings.subset(test_mask)
            for name, fit in fits:
                runs.append(_run(name, fit, fold, train, test, k, threshold))
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(method=name, rmse=f"{runs[-1]['rmse']:.4f}", refresh=False)
    finally:
        if bar is not None:
            bar.close()
    summary = []
    for name, _ in fits:
        rs = [r for r in runs if r["method"] == name]
        row = {"method": name}
        for key in rs[0]:
            if key not in ("method", "fold", "n_test", "n_users"):
                row[key] = float(np.mean([r[key] for r in rs]))
        row["rmse_std"] = float(np.std([r["rmse"] for r in rs]))
        summary.append(row)
    split = {"folds": len(parts), "seed": seed, "n_obs": ratings.n_obs}
    split["fingerprint"] = fingerprint(labels)
    return {"split": split, "runs": runs, "summary": summary}


def _run(name, fit, fold, train, test, k, threshold):
    t0 = time.perf_counter()
    predict = fit(train)
    secs = time.perf_counter() - t0
    pred = np.asarray(predict(test.rows, test.cols), dtype=np.float64)
    run = {
        "method": name,
        "fold": fold,
        "rmse": rmse(pred, test.values),
        "mae": mae(pred, test.values),
        "seconds": secs,
        "n_test": int(test.n_obs),
    }
    if k is not None:
        run.update(ranking_metrics(train, test, predict, k=k, threshold=threshold))
    return run
