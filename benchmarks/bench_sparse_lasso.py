"""Fit time of lin-RFM (sparse, alpha = 1/2) against scikit-learn's Lasso at one lambda.

n = 500, d = 10,000, k = 50 (Gaussian design and nonzeros, no noise), both in the same run
and the same thread settings, so the ratio is what to read (the absolute seconds depend on
the load). Prints one Markdown table row per method with the relative error to the
planted vector, measured from outside the solvers.

    OPENBLAS_NUM_THREADS=1 PYTHONPATH=src python benchmarks/bench_sparse_lasso.py
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
from sklearn.linear_model import Lasso

from linrfm.datasets import make_sparse_regression
from linrfm.solvers import lin_rfm_regress


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=500)
    ap.add_argument("--d", type=int, default=10_000)
    ap.add_argument("--k", type=int, default=50)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--lasso-ratio",
        type=float,
        nargs="+",
        default=[1e-2, 1e-3],
        help="Lasso lambda as a fraction of lambda_max (one fit each)",
    )
    args = ap.parse_args(argv)
    P = make_sparse_regression(args.n, args.d, args.k, random_state=args.seed)
    X, y = P.problem.X, P.problem.y
    lmax = float(np.max(np.abs(X.T @ y))) / args.n
    rows = []

    t0 = time.perf_counter()
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        res = lin_rfm_regress(X, y, alpha=0.5)
    t_rfm = time.perf_counter() - t0
    note = f"{res.n_iter} iterations" + (", ConvergenceWarning" if w else "")
    rows.append(("lin-RFM a=1/2 (defaults)", t_rfm, P.rel_error(res.coef), note))

    for ratio in args.lasso_ratio:
        m = Lasso(alpha=ratio * lmax, fit_intercept=False, max_iter=100_000, tol=1e-6)
        t0 = time.perf_counter()
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            m.fit(X, y)
        t = time.perf_counter() - t0
        note = f"{m.n_iter_} CD epochs" + (", ConvergenceWarning" if w else "")
        rows.append((f"Lasso lambda={ratio:g} lambda_max", t, P.rel_error(m.coef_), note))

    t_ref = rows[1][1]
    print(f"n={args.n}, d={args.d}, k={args.k}, seed={args.seed}")
    print("| method | seconds | ratio to Lasso (first lambda) | rel. error | notes |")
    print("|---|---|---|---|---|")
    for name, t, err, note in rows:
        print(f"| {name} | {t:.2f} | {t / t_ref:.2f} | {err:.1e} | {note} |")


if __name__ == "__main__":
    main()
