"""MovieLens-100K, seeded k-fold cross-validation, every method on the same folds.

Methods (each one's parameters chosen only on observations held out from its training fold,
or left at the defaults its authors ship; no test fold is ever looked at):

- ``linrfm``: ``RatingsCompleter`` defaults (biases, then the noisy lin-RFM residual, ridge
  and iteration count chosen on 10% of the training fold).
- ``linrfm-tuned``: ``RatingsCompleter`` with the settings of :data:`TUNED`: one-sided
  lin-RFM with the items' kernel (each user regressed on the items), the observed pattern
  mixed into the kernel (``cooccurrence``, which items a user rated: SVD++'s implicit
  feedback); the (weight, ridge, iteration count) chosen on the training fold's held-out
  10% among the grid's pairs. The grid was designed on a 90/10 split inside fold 0's
  training part, never on a test fold.
- ``linrfm-fast``: :data:`FAST`, the same model with the weight and ridge fixed at that
  split's best (0.7, 2); the iteration count chosen per fold among 1..5 (the split's
  best was 4), then one warm iteration on all ratings (``refit="warm"``) instead of a
  refit, in float32.
- ``softimpute``: ``RatingsCompleter(method='softimpute')`` (the path point chosen on 10%).
- ``als``: the same biases, then ALS on the residual; the ridge chosen on 10% of the
  training fold, the rank by ``als_complete``'s own held-out choice inside the rest.
- ``surprise-svd``, ``surprise-svdpp``: scikit-surprise's ``SVD`` and ``SVDpp`` with their
  defaults (``random_state`` = seed).
- ``bias-only``: the biases with no completion.

Every (method, fold) record is cached as JSON under ``--cache`` (with the load average
before and after the fit), so methods can be run one at a time and the table printed from
the cache (``--table``). Time ratios are only meaningful between records taken in one run.

    OPENBLAS_NUM_THREADS=1 python benchmarks/bench_movielens.py --methods surprise-svd als
    python benchmarks/bench_movielens.py --table

The data are read from an installed ``recbole`` or ``neighbors`` wheel (``pip install
--no-deps recbole``); surprise from ``pip install scikit-surprise``.
"""

from __future__ import annotations

import argparse
import json
import platform
import warnings
from pathlib import Path

import numpy as np

from linrfm.datasets import load_movielens100k
from linrfm.evaluation import cross_validate, fingerprint, kfold
from linrfm.ratings import RatingsCompleter

try:  # run as a script (benchmarks/ on the path) or as benchmarks.<name>
    from _records import add_common_args, cached, records
except ImportError:
    from benchmarks._records import add_common_args, cached, records
from linrfm.ratings.biases import fit_biases

CACHE = Path(__file__).parent / "results" / "movielens"
# lin-RFM settings beyond the defaults, all still chosen on the training fold's held-out 10%
TUNED = dict(variant="one-sided", kernel_side="row", cooccurrence=(0.6, 0.8), lams=(1.5, 3.0))
# the same model at the dev split's best (weight, ridge), only the iteration count chosen per
# fold, and one warm iteration on all ratings instead of a refit: the fast setting
FAST = dict(
    variant="one-sided",
    kernel_side="row",
    cooccurrence=0.7,
    lams=(2.0,),
    refit="warm",
    dtype="float32",
    max_iter=5,
)
ALS_LAMS = (0.02, 0.05, 0.1, 0.2)


def _surprise(algo_name):
    def factory(seed):
        try:
            import surprise
        except ImportError as exc:
            raise SystemExit(
                "this benchmark needs scikit-surprise: pip install scikit-surprise"
            ) from exc
        import pandas as pd

        def fit(train):
            df = pd.DataFrame({"u": train.rows, "i": train.cols, "r": train.values})
            scale = (float(train.values.min()), float(train.values.max()))
            data = surprise.Dataset.load_from_df(df, surprise.Reader(rating_scale=scale))
            algo = getattr(surprise, algo_name)(random_state=seed)
            algo.fit(data.build_full_trainset())

            def predict(rows, cols):
                return np.array([algo.predict(int(u), int(i)).est for u, i in zip(rows, cols)])

            return predict

        return fit

    return factory


def _completer(**params):
    def factory(seed):
        def fit(train):
            return RatingsCompleter(random_state=seed, **params).fit(train).predict_index

        return fit

    return factory


def _als(seed):
    """Biases, then ALS on the residual; the ridge chosen on 10% of the training fold."""
    from sklearn.exceptions import ConvergenceWarning

    from linrfm.solvers.als import als_complete

    def als(r, c, y, shape, lam):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            return als_complete(
                (r, c, y), shape=shape, lam=lam, tol=1e-4, max_iter=50, random_state=seed
            )

    def fit(train):
        r, c, v, shape = train.rows, train.cols, train.values, train.shape
        mu, bu, bi = fit_biases(r, c, v, shape)
        y = v - mu - bu[r] - bi[c]
        held = np.zeros(v.size, bool)
        held[np.random.default_rng(seed).choice(v.size, v.size // 10, replace=False)] = True
        k = ~held
        scores = [
            np.sqrt(
                np.mean(
                    (als(r[k], c[k], y[k], shape, lam).predict(r[held], c[held]) - y[held]) ** 2
                )
            )
            for lam in ALS_LAMS
        ]
        res = als(r, c, y, shape, ALS_LAMS[int(np.argmin(scores))])
        lo, hi = float(v.min()), float(v.max())

        def predict(rows, cols):
            return np.clip(mu + bu[rows] + bi[cols] + res.predict(rows, cols), lo, hi)

        return predict

    return fit


FACTORIES = {
    "linrfm": _completer(),
    "linrfm-tuned": _completer(**TUNED),
    "linrfm-fast": _completer(**FAST),
    "softimpute": _completer(method="softimpute"),
    "als": _als,
    "surprise-svd": _surprise("SVD"),
    "surprise-svdpp": _surprise("SVDpp"),
    "bias-only": _completer(lams=(1e9,), max_iter=1),
}


def run(methods, folds, seed, cache, which=None):
    """Fit each method on each fold not yet in ``cache`` (folds outer, so the methods of
    one fold run back to back under the same load); one JSON record per (method, fold)."""
    table = load_movielens100k()
    labels = kfold(table.n_obs, folds, seed)
    fits = {m: FACTORIES[m](seed) for m in methods}
    for k in range(folds) if which is None else which:
        for method, fit in fits.items():

            def make(k=k, method=method, fit=fit):
                part = [(labels != k, labels == k)]
                res = cross_validate(table, methods=[(method, fit)], folds=part, seed=seed)
                split = {"folds": folds, "seed": seed, "fingerprint": fingerprint(labels)}
                return dict(res["runs"][0], fold=k, split=split)

            rec, new = cached(cache / f"{method}_f{k}.json", make)
            if new:
                print(
                    f"{method} fold {k}: rmse {rec['rmse']:.4f}, {rec['seconds']:.1f} s", flush=True
                )


def table(cache, ref="surprise-svd"):
    """Markdown table of the cached records (methods in :data:`FACTORIES` order)."""
    recs = records(cache)
    by = {
        m: sorted((r for r in recs if r["method"] == m), key=lambda r: r["fold"]) for m in FACTORIES
    }
    by = {m: rs for m, rs in by.items() if rs}
    base = {r["fold"]: r for r in by.get(ref, [])}
    print(
        f"{platform.processor() or platform.machine()}, Python {platform.python_version()}, "
        f"NumPy {np.__version__}; fold fingerprints "
        f"{sorted({r['split']['fingerprint'] for r in recs})}\n"
    )
    print("| method | folds | RMSE (± std) | MAE | fit s / fold | RMSE / SVD | time / SVD | load |")
    print("|---|---|---|---|---|---|---|---|")
    for m, rs in by.items():
        rm = np.array([r["rmse"] for r in rs])
        secs = np.mean([r["seconds"] for r in rs])
        same = [r for r in rs if r["fold"] in base]
        ratio = np.mean([r["rmse"] / base[r["fold"]]["rmse"] for r in same]) if same else np.nan
        tr = np.mean([r["seconds"] / base[r["fold"]]["seconds"] for r in same]) if same else np.nan
        load = np.mean([r["load_before"][0] for r in rs])
        print(
            f"| {m} | {len(rs)} | {rm.mean():.4f} ± {rm.std():.4f} | "
            f"{np.mean([r['mae'] for r in rs]):.4f} | {secs:.1f} | {ratio:.3f} | {tr:.2f} | "
            f"{load:.1f} |"
        )
    print(
        "\nper-fold RMSE:",
        json.dumps({m: [round(r["rmse"], 4) for r in rs] for m, rs in by.items()}),
    )


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--methods", nargs="*", default=list(FACTORIES), choices=list(FACTORIES))
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--only-folds", type=int, nargs="*", help="run these folds only")
    add_common_args(ap, CACHE)
    args = ap.parse_args()
    args.cache.mkdir(parents=True, exist_ok=True)
    if not args.table:
        run(args.methods, args.folds, args.seed, args.cache, args.only_folds)
    table(args.cache)


if __name__ == "__main__":
    main()
