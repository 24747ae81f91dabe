"""``linrfm experiment sparse``: sample complexity of sparse linear regression.

For every n of a grid and every seed, a planted k-sparse ``beta*`` (Gaussian nonzeros,
Gaussian design, no noise) is recovered by every method; a run succeeds when
``||beta - beta*|| / ||beta*|| <= 1e-3``. The truth is used only to score, from outside.
Writes ``sparse.csv`` (one row per run, resumable), ``sparse.png`` (success probability
versus n) and ``sparse_thresholds.csv`` (per method, the smallest n from which it
succeeds in >= 90% of seeds at that n and at every larger n of the grid).
"""

from __future__ import annotations

import csv
import os
import time
import warnings
from collections import defaultdict

import numpy as np

from .._atomic import atomic_write
from .._cli_args import UsageError, add_int, add_study, integer, prepare_study_out, print_json
from ..methods import Variant
from ._runner import pyplot, read_rows, run_grid, save_figure

__all__ = ["register", "METHODS", "run_method", "thresholds", "run_study"]

SUCCESS = 1e-3
# Initialization of the diagonal networks, relative to the data's scale of beta (see
# linrfm.solvers.diagonal_net): the better of 1e-4, 1e-8 and 1e-12 for each depth in a
# pilot at n = 250 and 400 (d = 1000, k = 20, seed 0; benchmarks/README.md).
NET_INIT = {2: 1e-8, 3: 1e-4}
# The study's methods: the key is the ``method`` of the CSV rows (never change its meaning).
METHODS = {
    "rfm-0.25": Variant("lin_rfm_regress", {"alpha": 0.25}, "lin-RFM a=1/4"),
    "rfm-0.5": Variant("lin_rfm_regress", {"alpha": 0.5}, "lin-RFM a=1/2"),
    "rfm-1": Variant("lin_rfm_regress", {"alpha": 1.0}, "lin-RFM a=1"),
    "irls-0": Variant("irls_regress", {"p": 0.0}, "IRLS-p p=0"),
    "irls-0.5": Variant("irls_regress", {"p": 0.5}, "IRLS-p p=0.5"),
    "irls-1": Variant("irls_regress", {"p": 1.0}, "IRLS-p p=1"),
    # LassoCV with scikit-learn's tol; the path end with tol 1e-7, well below the 1e-3
    # criterion, and 1,000 epochs per lambda capping the slow, failing small-n fits
    "lasso-cv": Variant("lasso_regress", {"cv": 5, "tol": 1e-4}, "Lasso (5-fold CV)"),
    "lasso-path": Variant("lasso_regress", {}, "Lasso (path end, 1e-4 lmax)"),
    # noiseless: OMP stops when the residual vanishes (no sparsity level is given)
    "omp": Variant("omp_regress", {}, "OMP"),
    "net-2": Variant(
        "diagonal_net_regress", {"depth": 2, "init_scale": NET_INIT[2]}, "diagonal net L=2"
    ),
    "net-3": Variant(
        "diagonal_net_regress", {"depth": 3, "init_scale": NET_INIT[3]}, "diagonal net L=3"
    ),
}
# the plot's line style per method
STYLES = {"lin_rfm": "-", "irls": "--", "lasso": ":", "omp": "-."}


def _problem(n, d, k, seed):
    from ..datasets import make_sparse_regression

    rng = np.random.default_rng([int(seed), int(n), int(d), int(k)])
    return make_sparse_regression(n, d, k, random_state=rng)


def run_method(method: str, X, y, *, max_iter=None, net_max_iter=None):
    """Fit ``method`` (a key of :data:`METHODS`) to ``(X, y)``; returns (coef, n_iter).

    ``max_iter`` caps lin-RFM and IRLS-p, ``net_max_iter`` the diagonal networks (None:
    the table's study parameters).
    """
    var = METHODS[method]
    spec = var.spec("regress")
    kw = spec.study_kwargs()
    cap = net_max_iter if spec.family == "diagonal_net" else max_iter
    if spec.iterative and cap is not None:
        kw["max_iter"] = cap
    res = var.fit((X, y), **kw)
    return res.coef, res.n_iter


def _trial(params, max_iter, net_max_iter):
    planted = _problem(params["n"], params["d"], params["k"], params["seed"])
    X, y = planted.problem.X, planted.problem.y
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # capped runs are scored as they stand
        coef, n_iter = run_method(
            params["method"], X, y, max_iter=max_iter, net_max_iter=net_max_iter
        )
    seconds = time.perf_counter() - t0
    err = planted.rel_error(coef)
    return {
        "rel_error": err,
        "success": int(err <= SUCCESS),
        "n_iter": n_iter,
        "seconds": round(seconds, 4),
    }


def thresholds(rows, methods, level: float = 0.9) -> dict:
    """Per method, the smallest n from which the success rate is >= ``level`` at that n and
    every larger n of the grid (None when there is none)."""
    rate = defaultdict(list)
    for r in rows:
        rate[(r["method"], int(r["n"]))].append(int(r["success"]))
    out = {}
    for m in methods:
        ns = sorted(n for (mm, n) in rate if mm == m)
        best = None
        for n in reversed(ns):
            if np.mean(rate[(m, n)]) >= level:
                best = n
            else:
                break
        out[m] = best
    return out


def _plot(rows, methods, path, title):
    plt = pyplot()
    rate = defaultdict(list)
    errs = defaultdict(list)
    for r in rows:
        rate[(r["method"], int(r["n"]))].append(int(r["success"]))
        errs[(r["method"], int(r["n"]))].append(float(r["rel_error"]))
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(13, 5))
    for i, m in enumerate(methods):
        ns = sorted(n for (mm, n) in rate if mm == m)
        if not ns:
            continue
        label, family = METHODS[m].label, METHODS[m].spec("regress").family
        seeds = sorted({len(rate[(m, n)]) for n in ns})
        count = f"{seeds[0]}" if len(seeds) == 1 else f"{seeds[0]}-{seeds[-1]}"
        kw = dict(
            linestyle=STYLES.get(family, (0, (1, 1))),
            marker="o",
            ms=3,
            color=plt.cm.tab20(list(METHODS).index(m) * 2 % 20 + (1 if i >= 10 else 0)),
            label=f"{label} ({count} seeds)",
        )
        ax.plot(ns, [np.mean(rate[(m, n)]) for n in ns], **kw)
        ax2.plot(ns, [np.median(errs[(m, n)]) for n in ns], **kw)
    ax.set_xlabel("n (samples)")
    ax.set_ylabel(f"success probability (rel. error <= {SUCCESS:g})")
    ax.set_ylim(-0.03, 1.03)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    ax2.set_xlabel("n (samples)")
    ax2.set_ylabel("median relative error")
    ax2.set_yscale("log")
    ax2.axhline(SUCCESS, color="k", lw=0.8, ls=":")
    ax2.grid(alpha=0.3)
    ax2.set_title("median relative error (dotted: success threshold)")
    save_figure(fig, path, dpi=120)


def run_study(
    *,
    d=1000,
    k=20,
    ns=None,
    seeds=range(20),
    methods=tuple(METHODS),
    out="linrfm-results/sparse",
    max_iter=None,
    net_max_iter=None,
    progress=True,
    plot=True,
    run=True,
):
    """Run (or resume) the study and write its CSV, thresholds and plot.

    Trials run seed by seed (every n and method for one seed, then the next), so a study
    stopped early holds complete seeds.

    Returns
    -------
    rows : list of dict
        Every row of the CSV for the requested methods.
    thr : dict
        :func:`thresholds` of those rows.
    """
    ns = list(range(40, 401, 10)) if ns is None else list(ns)
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise ValueError(f"unknown method(s) {unknown}; choose from {list(METHODS)}.")
    os.makedirs(out, exist_ok=True)
    csv_path = os.path.join(out, "sparse.csv")
    if run:
        trials = [
            {"method": m, "d": d, "k": k, "n": n, "seed": s}
            for s in seeds
            for n in ns
            for m in methods
        ]
        run_grid(
            trials,
            lambda p: _trial(p, max_iter, net_max_iter),
            csv_path,
            progress=progress,
            desc="sparse",
        )
    rows = [
        r
        for r in read_rows(csv_path)
        if r["method"] in methods and int(r["d"]) == d and int(r["k"]) == k
    ]
    thr = thresholds(rows, methods)

    def write(fh):
        # a csv writer: labels hold commas ("Lasso (path end, 1e-4 lmax)")
        writer = csv.writer(fh)
        writer.writerow(["method", "label", "n_90"])
        for m in methods:
            writer.writerow([m, METHODS[m].label, thr[m] if thr[m] is not None else "never"])

    atomic_write(os.path.join(out, "sparse_thresholds.csv"), write, mode="w", newline="")
    if plot and rows:
        _plot(rows, methods, os.path.join(out, "sparse.png"), f"d={d}, k={k}, no noise")
    return rows, thr


def _check_args(args) -> None:
    """The cross-option checks of ``linrfm experiment sparse``, before any trial runs."""
    if args.quick or args.plot_only:
        return
    if args.n_min > args.n_max:
        raise UsageError(f"--n-min {args.n_min} is larger than --n-max {args.n_max}: no n to run.")
    if args.k > args.d:
        raise UsageError(f"--k {args.k} nonzeros do not fit in --d {args.d} features.")


def _cmd(args) -> int:
    _check_args(args)
    if args.quick:
        d, k, ns, seeds = 100, 5, [20, 40, 60], range(2)
        net_max_iter = min(args.net_max_iter or 500, 500)
    else:
        d, k = args.d, args.k
        ns = range(args.n_min, args.n_max + 1, args.n_step)
        seeds = range(args.seed_start, args.seed_start + args.seeds)
        net_max_iter = args.net_max_iter
    if not args.no_plot:
        pyplot()  # matplotlib present, before any trial runs
    out = prepare_study_out(
        args.out, "sparse", "sparse.csv", quick=args.quick, force=args.force or args.plot_only
    )
    if args.plot_only and not read_rows(os.path.join(out, "sparse.csv")):
        raise UsageError(f"--plot-only: no finished runs in {os.path.join(out, 'sparse.csv')}.")
    rows, thr = run_study(
        d=d,
        k=k,
        ns=ns,
        seeds=seeds,
        methods=args.methods,
        out=out,
        max_iter=args.max_iter,
        net_max_iter=net_max_iter,
        progress=not args.no_progress and not args.json,
        plot=not args.no_plot,
        run=not args.plot_only,
    )
    if args.json:
        print_json({"out": out, "n_rows": len(rows), "n_90": thr})
        return 0
    print(f"{len(rows)} runs in {os.path.join(out, 'sparse.csv')}")
    print("smallest n with >= 90% success there and at every larger n:")
    for m in args.methods:
        print(f"  {METHODS[m].label:<30} {thr[m] if thr[m] is not None else 'never'}")
    return 0


def register(subparsers) -> None:
    """Add ``sparse`` to the ``linrfm experiment`` subcommands."""
    p = add_study(
        subparsers,
        "sparse",
        _cmd,
        quick="tiny grid (d=100, k=5), a smoke test",
        help="sample complexity of sparse regression: lin-RFM vs IRLS-p, Lasso, OMP, "
        "diagonal networks",
        description="Success probability (relative error <= 1e-3) versus the number of "
        "samples n, for a planted k-sparse vector in d dimensions. Writes sparse.csv "
        "(resumable), sparse_thresholds.csv and sparse.png to --out.",
    )
    add_int(p, "--d", 1000, "features")
    add_int(p, "--k", 20, "nonzeros")
    add_int(p, "--n-min", 40, "smallest n")
    add_int(p, "--n-max", 400, "largest n")
    add_int(p, "--n-step", 10, "step of n")
    add_int(p, "--seeds", 20, "seeds per n")
    add_int(p, "--seed-start", 0, "first seed", low=0)
    p.add_argument(
        "--methods",
        nargs="+",
        default=list(METHODS),
        choices=list(METHODS),
        help="methods (default all)",
    )
    p.add_argument(
        "--max-iter",
        type=integer(1),
        default=None,
        help="lin-RFM / IRLS-p iterations (default 300)",
    )
    p.add_argument(
        "--net-max-iter",
        type=integer(1),
        default=None,
        help="diagonal-network GD steps (default 3000)",
    )
    p.add_argument("--plot-only", action="store_true", help="re-plot the existing CSV")
