"""``linrfm experiment flat``: do flat minima recover the low-rank truth?

For each problem class of :func:`linrfm.datasets.make_flat_problem` (n = d = 30, rank 2, width 10 by
default) and a number of measurements from 1x to 6x the degrees of freedom
``r (n + d - r)``, every seed runs

* ``flat``: the flat-minimum finder (:func:`~linrfm.flat.solvers.flat_minimum`);
* ``gd_large``: gradient descent on the factors from a large random start (scale 3);
* ``gd_small``: gradient descent on the factors from a small random start (scale 1e-3);
* ``linrfm``: lin-RFM where the problem is linear in X (``lin_rfm_complete`` for
  completion, ``lin_rfm_sense`` for the others);
* ``softimpute``: nuclear-norm completion (``soft_impute_complete``, completion only);
* ``nuclear``: nuclear-norm sensing (``soft_impute_sense``) for the classes with a squared
  loss other than completion.

Each runs at its function's defaults (its entry of :mod:`linrfm.methods`, by :data:`VARIANTS`).

Recorded per run: relative error against the planted truth (measured here, outside the
solvers), the curvature at the solution (exact Hessian trace; Gauss-Newton term for the
``l1`` class; for dense solutions, that of the balanced SVD factorization), the final
loss, iterations, seconds. CSV rows are cached, so the study resumes.
"""

from __future__ import annotations

import os
import time
import warnings

import numpy as np

from .._cli_args import UsageError, add_study, integer, prepare_study_out, print_json, real
from ..datasets import FLAT_PROBLEM_KINDS as PROBLEM_CLASSES
from ..datasets import make_flat_problem as make_problem
from ..flat import curvature as S
from ..methods import Variant
from ..problems import degrees_of_freedom
from ._runner import pyplot, read_rows, run_grid, save_figure, write_text

__all__ = ["register", "run_study", "summarize", "compare_traces", "METHODS", "VARIANTS"]

# The study's methods: the key is the ``method`` of the CSV rows (never change its meaning).
VARIANTS = {
    "flat": Variant("flat_minimum", {}, "flat minimum"),
    "gd_large": Variant("factored_gd", {"init_scale": 3.0}, "GD, large start"),
    "gd_small": Variant("factored_gd", {"init_scale": 1e-3}, "GD, small start"),
    "linrfm": Variant("lin_rfm", {}, "lin-RFM"),
    "softimpute": Variant("soft_impute_complete", {}, "SoftImpute"),
    "nuclear": Variant("soft_impute_sense", {}, "nuclear norm"),
}
METHODS = list(VARIANTS)
SUCCESS = 1e-3


def _applies(kind, method):
    if method == "softimpute":
        return kind == "completion"
    if method == "nuclear":  # nuclear norm with a squared loss: not for the l1 (robust) class
        return kind not in ("completion", "robust")
    if method == "linrfm":  # it interpolates every measurement, the gross corruptions too
        return kind != "robust"
    return True


def _balanced(problem, X):
    """A balanced factorization of a dense solution, for its curvature."""
    if problem.symmetric:
        w, V = np.linalg.eigh((X + X.T) / 2)
        w = np.clip(w, 0, None)
        return (V * np.sqrt(w),)
    U, s, Vt = np.linalg.svd(X)
    k = min(U.shape[1], Vt.shape[0])
    return (U[:, :k] * np.sqrt(s), Vt.T[:, :k] * np.sqrt(s))


def run_trial(params, *, n, rank, width, gd_iter):
    """One (class, multiple, seed, method) run; returns the measured row."""
    kind, seed, method = params["kind"], params["seed"], params["method"]
    m = params["m"]
    pl = make_problem(kind, n, n, rank, m, random_state=seed)
    prob = pl.problem
    var = VARIANTS[method]
    # the factorized methods take the factored problem, the others its measurements
    factored = "factor" in var.problems
    spec = var.spec(prob if factored else prob.sensing)
    kw = spec.study_kwargs(width=width, random_state=seed) if factored else {}
    if spec.name == "factored_gd":
        kw["max_iter"] = gd_iter
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = var.fit(prob if factored else prob.sensing, **kw)
    elapsed = time.perf_counter() - t0
    X = res.to_dense()
    n_iter, converged = res.n_iter, res.converged
    if factored:
        factors = (res.U,) if prob.symmetric else (res.U, res.V)
    else:
        factors = _balanced(prob, X)
    r = prob.operator.apply(X) - prob.y
    clean = ~pl.corrupted
    return {
        "rel_err": pl.relative_error(X),
        "trace": S.sharpness(prob, factors),
        "fit": float(np.sqrt(np.mean(r[clean] ** 2) / np.mean(prob.y[clean] ** 2))),
        "n_iter": int(n_iter),
        "converged": bool(converged),
        "seconds": round(elapsed, 4),
    }


def build_trials(classes, multiples, seeds, methods, n, rank):
    """Seed-major order, so a partial run covers every point with fewer seeds."""
    dof = degrees_of_freedom(n, n, rank)
    # 3 and 3.0 are one trial: the CSV cache keys on the written value
    multiples = [int(k) if float(k).is_integer() else float(k) for k in multiples]
    trials = []
    for seed in range(seeds):
        for kind in classes:
            for mult in multiples:
                m = int(round(mult * dof))
                if kind == "completion":
                    m = min(m, n * n)
                for method in methods:
                    if _applies(kind, method):
                        trials.append(
                            {"kind": kind, "mult": mult, "m": m, "seed": seed, "method": method}
                        )
    return trials


def run_study(
    out,
    *,
    classes=None,
    methods=None,
    multiples=(1, 2, 3, 4, 5, 6),
    seeds=10,
    n=30,
    rank=2,
    width=10,
    gd_iter=2000,
    progress=True,
):
    """Run (or resume) the study; returns the rows of the CSV ``out/flat.csv``."""
    classes = list(PROBLEM_CLASSES) if classes is None else list(classes)
    methods = list(METHODS) if methods is None else list(methods)
    trials = build_trials(classes, multiples, seeds, methods, n, rank)
    path = os.path.join(out, "flat.csv")

    def run(p):
        return run_trial(p, n=n, rank=rank, width=width, gd_iter=gd_iter)

    return run_grid(trials, run, path, progress=progress, desc="flat study")


def summarize(rows):
    """Per class and method: smallest multiple with >= 90% success and median traces.

    Returns
    -------
    list of dict
        ``kind``, ``method``, ``n_seeds`` (fewest seeds at any point), ``min_mult``
        (None when never reached), and ``trace_at_3x``/``rel_err_at_3x`` medians
        and the same at the largest multiple run (``top_mult``).
    """
    groups = {}
    for r in rows:
        if r.get("rel_err", "") == "":
            continue
        groups.setdefault((r["kind"], r["method"]), []).append(r)
    out = []
    for (kind, method), rs in groups.items():
        by = {}
        for r in rs:
            by.setdefault(float(r["mult"]), []).append(r)
        mults = sorted(by)
        rate = {k: np.mean([float(r["rel_err"]) <= SUCCESS for r in by[k]]) for k in mults}
        ok = [k for k in mults if rate[k] >= 0.9]
        at3 = by.get(3.0, [])
        top = by[mults[-1]]
        out.append(
            {
                "kind": kind,
                "method": method,
                "n_seeds": min(len(by[k]) for k in mults),
                "min_mult": ok[0] if ok else None,
                "success_at_3x": float(rate.get(3.0, np.nan)),
                "rel_err_at_3x": float(np.median([float(r["rel_err"]) for r in at3]))
                if at3
                else np.nan,
                "trace_at_3x": float(np.median([float(r["trace"]) for r in at3]))
                if at3
                else np.nan,
                "top_mult": mults[-1],
                "success_at_top": float(rate[mults[-1]]),
                "trace_at_top": float(np.median([float(r["trace"]) for r in top])),
            }
        )
    out.sort(key=lambda d: (d["kind"], METHODS.index(d["method"])))
    return out


def compare_traces(rows, fit_tol=1e-4):
    """Is the flat solution the flattest interpolant? Per class, over every (m, seed).

    An interpolant is a solution whose relative residual on the clean measurements
    (``fit``) is at most ``fit_tol``. For each (class, m, seed) where the flat solution and
    at least one other method's solution interpolate, compare their curvatures.

    Returns
    -------
    list of dict
        ``kind``, ``cases``, ``flat_smallest`` (cases where the flat trace is the smallest,
        up to 1e-6 relative), and ``median_ratio`` (other interpolants' smallest trace over
        the flat one) and ``min_ratio``.
    """
    cases = {}
    for r in rows:
        if r.get("rel_err", "") == "" or float(r["fit"]) > fit_tol:
            continue
        cases.setdefault((r["kind"], r["mult"], r["seed"]), {})[r["method"]] = float(r["trace"])
    out = {}
    for (kind, _, _), tr in cases.items():
        if "flat" not in tr or len(tr) < 2:
            continue
        other = min(v for k, v in tr.items() if k != "flat")
        d = out.setdefault(kind, {"kind": kind, "cases": 0, "flat_smallest": 0, "ratios": []})
        d["cases"] += 1
        d["flat_smallest"] += tr["flat"] <= other * (1 + 1e-6)
        d["ratios"].append(other / tr["flat"])
    res = []
    for kind in sorted(out):
        d = out[kind]
        ratios = d.pop("ratios")
        d["median_ratio"] = float(np.median(ratios))
        d["min_ratio"] = float(np.min(ratios))
        res.append(d)
    return res


def format_summary(summary) -> str:
    lines = [
        "| class | method | seeds/pt | smallest m/dof with >=90% success | success at 3x "
        "| median rel err at 3x | median trace at 3x | success at top m | median trace at top m |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for s in summary:
        mm = "never" if s["min_mult"] is None else f"{s['min_mult']:g}x"
        lines.append(
            f"| {s['kind']} | {s['method']} | {s['n_seeds']} | {mm} | "
            f"{s['success_at_3x']:.0%} | {s['rel_err_at_3x']:.2g} | {s['trace_at_3x']:.4g} | "
            f"{s['success_at_top']:.0%} ({s['top_mult']:g}x) | {s['trace_at_top']:.4g} |"
        )
    return "\n".join(lines)


def plot(rows, out):
    """One PNG per class: success rate, median relative error and median trace vs m/dof."""
    plt = pyplot()
    rows = [r for r in rows if r.get("rel_err", "") != ""]
    paths = []
    for kind in sorted({r["kind"] for r in rows}):
        fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
        for method in METHODS:
            rs = [r for r in rows if r["kind"] == kind and r["method"] == method]
            if not rs:
                continue
            mults = sorted({float(r["mult"]) for r in rs})
            pick = [[r for r in rs if float(r["mult"]) == k] for k in mults]
            rate = [np.mean([float(r["rel_err"]) <= SUCCESS for r in p]) for p in pick]
            err = [np.median([float(r["rel_err"]) for r in p]) for p in pick]
            tr = [np.median([float(r["trace"]) for r in p]) for p in pick]
            axes[0].plot(mults, rate, "o-", label=method)
            axes[1].semilogy(mults, err, "o-", label=method)
            axes[2].semilogy(mults, tr, "o-", label=method)
        axes[0].set_ylabel(f"success rate (rel err <= {SUCCESS:g})")
        axes[1].set_ylabel("median relative error")
        axes[2].set_ylabel("median curvature at solution")
        for ax in axes:
            ax.set_xlabel("m / (r (n + d - r))")
        axes[0].legend(fontsize=8)
        fig.suptitle(f"flat study: {kind}")
        paths.append(save_figure(fig, os.path.join(out, f"flat_{kind}.png"), dpi=100))
    return paths


def _summary_text(rows) -> str:
    text = format_summary(summarize(rows))
    text += "\n\n| class | cases with another interpolant | flat trace smallest | "
    text += "median other/flat | min other/flat |\n|---|---|---|---|---|\n"
    for c in compare_traces(rows):
        text += (
            f"| {c['kind']} | {c['cases']} | {c['flat_smallest']} | "
            f"{c['median_ratio']:.4g} | {c['min_ratio']:.6g} |\n"
        )
    return text


def _cmd(args):
    if args.quick:
        kw = dict(multiples=(3,), seeds=1, n=8, rank=1, width=3, gd_iter=100)
    else:
        kw = dict(
            multiples=tuple(args.multiples),
            seeds=args.seeds,
            n=args.n,
            rank=args.rank,
            width=args.width,
            gd_iter=args.gd_iter,
        )
        if args.rank > args.n:
            raise UsageError(f"--rank {args.rank} is larger than --n {args.n}.")
    if not args.no_plot:
        pyplot()  # matplotlib present, before any trial runs
    out = prepare_study_out(
        args.out, "flat", "flat.csv", quick=args.quick, force=args.force or args.summary_only
    )
    if args.summary_only:  # a partial study: summarize what the CSV holds, run nothing
        rows = read_rows(os.path.join(out, "flat.csv"))
        if not rows:
            raise UsageError(f"--summary-only: no finished runs in {os.path.join(out, 'flat.csv')}")
    else:
        rows = run_study(
            out,
            classes=args.classes,
            methods=args.methods,
            progress=not args.no_progress and not args.json,
            **kw,
        )
    text = _summary_text(rows)
    write_text(os.path.join(out, "flat_summary.md"), text + "\n")
    paths = [] if args.no_plot else plot(rows, out)
    if args.json:
        print_json(
            {
                "out": out,
                "n_rows": len(rows),
                "summary": summarize(rows),
                "traces": compare_traces(rows),
            }
        )
        return 0
    print(text)
    for p in paths:
        print("wrote", p)
    return 0


def register(subparsers):
    """Add ``linrfm experiment flat``."""
    p = add_study(
        subparsers,
        "flat",
        _cmd,
        quick="tiny smoke-test grid",
        help="flat minima vs gradient descent, lin-RFM and nuclear norm on five classes",
        description=__doc__.split("\n\n")[0],
    )
    p.add_argument("--classes", nargs="+", choices=list(PROBLEM_CLASSES), default=None)
    p.add_argument("--methods", nargs="+", choices=METHODS, default=None)
    p.add_argument(
        "--multiples", nargs="+", type=real(0, low_open=True), default=[1, 2, 3, 4, 5, 6]
    )
    p.add_argument("--seeds", type=integer(1), default=10)
    p.add_argument("--n", type=integer(1), default=30, help="n = d (default 30)")
    p.add_argument("--rank", type=integer(1), default=2)
    p.add_argument("--width", type=integer(1), default=10)
    p.add_argument(
        "--gd-iter", type=integer(1), default=2000, help="GD iteration budget (default 2000)"
    )
    p.add_argument(
        "--summary-only",
        action="store_true",
        help="summarize and plot the runs already in OUT/flat.csv; run nothing",
    )
