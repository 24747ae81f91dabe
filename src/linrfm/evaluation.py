"""Honest evaluation on observed entries: seeded splits, k-fold CV, RMSE and MAE.

Every split is a function of ``(n_obs, seed)`` and is recorded with the results (the seed
and a fingerprint of the fold assignment), so a result can be reproduced exactly.
"""

from __future__ import annotations

import hashlib
import numbers
import time

import numpy as np

from ._validation import check_random_state, check_scalar
from .io import Ratings
from .methods import ratings_method

__all__ = ["rmse", "mae", "kfold", "train_val_test_split", "fingerprint", "cross_validate"]


def rmse(pred, truth) -> float:
    """Root mean squared error."""
    return float(np.sqrt(np.mean((np.asarray(pred) - np.asarray(truth)) ** 2)))


def mae(pred, truth) -> float:
    """Mean absolute error."""
    return float(np.mean(np.abs(np.asarray(pred) - np.asarray(truth))))


def kfold(n_obs: int, folds: int, seed=0) -> np.ndarray:
    """Fold label (0..folds-1) of each observation: a seeded random, balanced assignment."""
    check_scalar(folds, "folds", kind=numbers.Integral, low=2)
    if folds > n_obs:
        raise ValueError(f"folds={folds} exceeds the number of observations ({n_obs}).")
    rng = check_random_state(seed)
    return rng.permutation(np.arange(n_obs) % folds)


def train_val_test_split(n_obs: int, val: float = 0.1, test: float = 0.1, seed=0):
    """Seeded split of observation indices into (train, validation, test) boolean masks."""
    check_scalar(val, "val", low=0, high=1, high_inclusive=False)
    check_scalar(test, "test", low=0, high=1, high_inclusive=False)
    if val + test >= 1:
        raise ValueError(f"val + test must be < 1; got {val} + {test}.")
    perm = check_random_state(seed).permutation(n_obs)
    n_test, n_val = int(round(test * n_obs)), int(round(val * n_obs))
    masks = [np.zeros(n_obs, dtype=bool) for _ in range(3)]
    masks[2][perm[:n_test]] = True
    masks[1][perm[n_test : n_test + n_val]] = True
    masks[0][perm[n_test + n_val :]] = True
    return tuple(masks)


def fingerprint(labels: np.ndarray) -> str:
    """A short hash of a fold assignment, to check a split was reproduced."""
    return hashlib.sha256(np.ascontiguousarray(labels, dtype=np.int64).tobytes()).hexdigest()[:16]


def cross_validate(
    ratings: Ratings,
    methods=("linrfm", "softimpute"),
    folds: int = 5,
    seed=0,
    progress: bool = False,
    model_params=None,
) -> dict:
    """k-fold cross-validation of several methods on the same folds.

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
    folds : int >= 2
    seed : int
        Seeds the fold assignment (recorded with its fingerprint) and the methods'
        validation splits.
    progress : bool
        A progress bar over (method, fold).
    model_params : dict, optional
        Extra :class:`~linrfm.ratings.RatingsCompleter` parameters per method name.

    Returns
    -------
    dict
        ``split`` (folds, seed, n_obs and the fingerprint of the fold labels, from
        :func:`kfold`), ``runs`` (method, fold, rmse, mae, seconds, n_test per fold;
        ``seconds`` is the fit time) and ``summary`` (per method, the means over folds
        and the standard deviation of the RMSE).
    """
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
    labels = kfold(ratings.n_obs, folds, seed)
    runs = []
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(fits) * folds, desc="cross-validation")
    try:
        for k in range(folds):
            test_mask = labels == k
            train, test = ratings.subset(~test_mask), ratings.subset(test_mask)
            for name, fit in fits:
                t0 = time.perf_counter()
                predict = fit(train)
                secs = time.perf_counter() - t0
                pred = np.asarray(predict(test.rows, test.cols), dtype=np.float64)
                runs.append(
                    {
                        "method": name,
                        "fold": k,
                        "rmse": rmse(pred, test.values),
                        "mae": mae(pred, test.values),
                        "seconds": secs,
                        "n_test": int(test.n_obs),
                    }
                )
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(method=name, rmse=f"{runs[-1]['rmse']:.4f}", refresh=False)
    finally:
        if bar is not None:
            bar.close()
    summary = []
    for name, _ in fits:
        rs = [r for r in runs if r["method"] == name]
        summary.append(
            {
                "method": name,
                "rmse": float(np.mean([r["rmse"] for r in rs])),
                "rmse_std": float(np.std([r["rmse"] for r in rs])),
                "mae": float(np.mean([r["mae"] for r in rs])),
                "seconds": float(np.mean([r["seconds"] for r in rs])),
            }
        )
    split = {"folds": folds, "seed": seed, "n_obs": ratings.n_obs}
    split["fingerprint"] = fingerprint(labels)
    return {"split": split, "runs": runs, "summary": summary}
