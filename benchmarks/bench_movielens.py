"""MovieLens-100K, seeded k-fold cross-validation, every method on the same folds in one run.

lin-RFM (noise-aware, ``RatingsCompleter`` defaults) and SoftImpute (``RatingsCompleter``
defaults) against scikit-surprise's SVD (its defaults) as the outside anchor, plus the
bias-only model. The data are read from an installed ``recbole`` or ``neighbors`` wheel
(``pip install --no-deps recbole``); surprise from ``pip install scikit-surprise``.

    OPENBLAS_NUM_THREADS=1 python benchmarks/bench_movielens.py [--folds 5] [--seed 0]

Prints a Markdown table (mean over folds: RMSE ± std, MAE, fit seconds, and each ratio
to surprise SVD); ``--json FILE`` also writes every fold's record.
"""

from __future__ import annotations

import argparse
import json
import platform

import numpy as np

from linrfm.datasets import load_movielens100k
from linrfm.evaluation import cross_validate
from linrfm.ratings import RatingsCompleter


def surprise_svd(seed):
    """A ``fit(train) -> predict(rows, cols)`` for cross_validate: surprise's SVD."""
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
        algo = surprise.SVD(random_state=seed)
        algo.fit(data.build_full_trainset())

        def predict(rows, cols):
            return np.array([algo.predict(int(u), int(i)).est for u, i in zip(rows, cols)])

        return predict

    return fit


def bias_only(seed):
    """Global mean + regularized row/column biases (lin-RFM with an overwhelming ridge)."""

    def fit(train):
        model = RatingsCompleter(lams=(1e9,), max_iter=1, random_state=seed).fit(train)
        return model.predict_index

    return fit


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", help="write all records to this file")
    args = ap.parse_args()
    table = load_movielens100k()
    methods = [
        "linrfm",
        "softimpute",
        ("surprise-svd", surprise_svd(args.seed)),
        ("bias-only", bias_only(args.seed)),
    ]
    res = cross_validate(table, methods=methods, folds=args.folds, seed=args.seed, progress=True)
    ref = next(s for s in res["summary"] if s["method"] == "surprise-svd")
    sp = res["split"]
    print(
        f"MovieLens-100K ({table.shape[0]} x {table.shape[1]}, {table.n_obs:,} ratings), "
        f"{sp['folds']}-fold CV, seed {sp['seed']}, fold fingerprint {sp['fingerprint']}; "
        f"{platform.processor() or platform.machine()}, Python {platform.python_version()}, "
        f"NumPy {np.__version__}\n"
    )
    print("| method | RMSE (± std over folds) | MAE | fit s / fold | RMSE / SVD | time / SVD |")
    print("|---|---|---|---|---|---|")
    for s in res["summary"]:
        print(
            f"| {s['method']} | {s['rmse']:.4f} ± {s['rmse_std']:.4f} | {s['mae']:.4f} | "
            f"{s['seconds']:.1f} | {s['rmse'] / ref['rmse']:.3f} | "
            f"{s['seconds'] / ref['seconds']:.2f} |"
        )
    per_fold = {}
    for r in res["runs"]:
        per_fold.setdefault(r["method"], []).append(round(r["rmse"], 4))
    print("\nper-fold RMSE:", json.dumps(per_fold))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(res, fh, indent=1)


if __name__ == "__main__":
    main()
