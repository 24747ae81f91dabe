"""``linrfm experiment phase``: phase transitions of lin-RFM and its baselines.

A grid of (rank r, oversampling rho = n_obs / (r (n + d - r))) for matrix completion and for
Gaussian sensing; every method of :data:`VARIANTS` (a family of :mod:`linrfm.methods` at fixed
parameters, its completion or sensing function by the problem) named on the command line
runs on the same planted problems. A trial succeeds when the relative Frobenius error of the
recovered matrix is at most 1e-3. A completion sample with a row or column observed fewer
than r times is *coverage-limited*: the truth is not identifiable from it, so the methods are
not run on it (``--run-coverage-limited`` runs them anyway) and the trial counts as a
failure; cells where more than 10% of the seeds are coverage-limited are reported as such.

A third axis, the condition number kappa (``--kappa``, completion only), replaces the paper's
Gaussian factors by ``U diag(s) V^T`` with singular values geometric from 1 to 1/kappa
(:func:`~linrfm.datasets.make_completion`); the same seed draws the same mask at every
kappa. Every trial also records ``||E||_F / sigma_r`` of the truth, which a small relative
error can hide on ill-conditioned matrices (a wrong smallest direction).

Each finished trial is appended to ``phase_v3.csv`` at once (the version in the name changes
whenever what a trial runs changes, so older rows are never mixed in), and a re-run skips
finished trials, so the study can be completed across sittings. Trials run seed-major (every
cell and method for seed 0, then seed 1, ...) so an interrupted study covers the whole grid
with fewer seeds.
"""

from __future__ import annotations

import os
import time
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from .._cli_args import UsageError, add_study, integer, prepare_study_out, print_json, real
from ..methods import Variant
from ..problems import CoverageWarning
from ..results import ModelFitError
from ._phase_problems import GAUSSIAN, check_kappas, default_rhos, n_measurements, planted
from ._phase_report import (
    SUCCESS,
    coverage_limited_cells,
    plot,
    success_rate,
    thresholds,
    write_summary,
)
from ._runner import pyplot, run_grid

__all__ = [
    "register",
    "run_phase",
    "planted",
    "n_measurements",
    "thresholds",
    "coverage_limited_cells",
    "GAUSSIAN",
    "SUCCESS",
    "VARIANTS",
]

# The study's methods: the key is the ``method`` of the CSV rows (never change its meaning).
VARIANTS = {
    **{
        f"lin-rfm-a{atag}-{vtag}": Variant(
            "lin_rfm", {"alpha": a, "variant": var}, f"lin-RFM, alpha={a:g}, {var}"
        )
        for a, atag in ((0.5, "0.5"), (1.0, "1"))
        for var, vtag in (("one-sided", "one"), ("two-sided", "two"))
    },
    "lin-rfm": Variant("lin_rfm", {}, "lin-RFM"),
    "irls-p0": Variant("irls", {"p": 0.0}, "IRLS-p, p=0"),
    "irls-p1": Variant("irls", {"p": 1.0}, "IRLS-p, p=1"),
    # the nuclear norm: SoftImpute (completion) / FISTA-SVT (sensing), end of a lam path
    "softimpute": Variant("soft_impute", {}, "nuclear norm"),
    "nuclear-norm": Variant("soft_impute", {}, "nuclear norm"),
    "factorized-gd": Variant("factorized_gd", {}, "X = U V^T, GD from small init"),
    "scaled-gd": Variant("factorized_gd", {"scaled": True}, "ScaledGD from small init"),
    "deep-mf": Variant("deep_mf", {"depth": 3}, "deep matrix factorization, 3 factors"),
}
COMPLETION_METHODS = [
    "lin-rfm-a0.5-one",
    "lin-rfm-a0.5-two",
    "lin-rfm-a1-one",
    "lin-rfm-a1-two",
    "softimpute",
    "irls-p0",
    "irls-p1",
    "factorized-gd",
    "scaled-gd",
    "deep-mf",
]
SENSING_METHODS = [m if m != "softimpute" else "nuclear-norm" for m in COMPLETION_METHODS]
# the problem kinds of linrfm.methods
KINDS = {"completion": "complete", "sensing": "sense"}
KEYS = ["problem", "n", "rank", "rho", "kappa", "seed", "method"]
# The cache of finished trials. Bumped whenever what a trial runs changes, so rows of an
# older definition are never mixed with new ones (v1, phase.csv: SoftImpute stopped at
# rel. change 1e-5, factorized GD from 1e-3, coverage-limited samples were run; v2,
# phase_v2.csv: before lin-RFM's polish and the one meaning of converged=True (issue 16),
# without the kappa axis and ||E||_F / sigma_r: all its rows are of the Gaussian generator).
CSV_NAME = "phase_v3.csv"
# A row or column with k < r observations leaves an (r - k)-dimensional affine family of
# rank-r completions that agree with every observation (fix the other factor: the row's
# r coefficients meet only k equations), so no method can single out the truth.
SKIPPED = "not run: coverage-limited (a line has fewer than r observations)"
# SoftImpute on completion runs with the table's study parameters (linrfm.methods): the
# nuclear-norm solution at the end of a path to 1e-4 lam_max, computed fast enough to be run
# at all. Plain SoftImpute with its default tol stops far from that solution at small lam
# (its steps shrink long before the iterate arrives: error 1e-2 where the solution's is
# 4.4e-4, rank 5, rho 3); momentum with restarts reaches it in ~1,000 iterations instead of
# ~30,000; the path's earlier lams only warm start the last one, so they are solved loosely.


def variant(method: str) -> Variant:
    """The :data:`VARIANTS` entry of ``method``."""
    if method not in VARIANTS:
        raise ValueError(f"Unknown method {method!r}; choose one of {list(VARIANTS)}.")
    return VARIANTS[method]


def study_params(
    method: str,
    rank: int,
    deep_max_iter: int,
    path_max_iter=None,
    seed: int = 0,
    kind: str = "completion",
) -> dict:
    """Per-method settings of the study: the table's study parameters, the true rank to
    methods that take a target rank, the trial's seed to random starts, and the study's
    iteration caps of deep-mf (``deep_max_iter``) and the nuclear norm (``path_max_iter``)."""
    spec = variant(method).spec(KINDS[kind])
    kw = spec.study_kwargs(rank=rank, random_state=seed)
    if spec.family == "deep_mf":
        kw["max_iter"] = deep_max_iter
    if spec.family == "soft_impute" and path_max_iter is not None:
        kw["max_iter"] = path_max_iter
    return kw


def run_trial(
    params: dict, deep_max_iter: int = 5000, path_max_iter=None, run_limited: bool = False
) -> dict:
    """Run one (problem, cell, seed, method) and measure it against the planted truth.

    A completion sample with a row or column observed fewer than ``rank`` times is
    coverage-limited: the truth is not identifiable from it (see :data:`SKIPPED`), so the
    method is not run (unless ``run_limited``) and the trial is recorded as a failure.
    """
    kind, n, rank = params["problem"], int(params["n"]), int(params["rank"])
    rho, seed, method = float(params["rho"]), int(params["seed"]), params["method"]
    P = planted(kind, n, rank, rho, seed, params.get("kappa", GAUSSIAN))
    prob = P.problem
    if kind == "completion":
        min_line = int(min(prob.row_counts.min(), prob.col_counts.min()))
    else:
        min_line = -1
    limited = bool(kind == "completion" and min_line < rank)
    if limited and not run_limited:
        return {
            "n_obs": int(prob.n_obs),
            "min_line_obs": min_line,
            "coverage_limited": True,
            "rel_error": np.nan,
            "err_sigma_r": np.nan,
            "success": False,
            "success_sigma_r": False,
            "n_iter": 0,
            "converged": False,
            "seconds": 0.0,
            "note": SKIPPED,
        }
    t0 = time.perf_counter()
    err, err_s, n_iter, converged, note = np.inf, np.inf, 0, False, ""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            warnings.simplefilter("ignore", CoverageWarning)
            res = variant(method).fit(
                prob, **study_params(method, rank, deep_max_iter, path_max_iter, seed, kind)
            )
        X = res.to_dense()
        T = P.dense_truth()
        E = float(np.linalg.norm(X - T))
        err = E / float(np.linalg.norm(T))
        err_s = E / float(np.linalg.svd(T, compute_uv=False)[rank - 1])
        n_iter, converged = int(res.n_iter), bool(res.converged)
    except (ModelFitError, np.linalg.LinAlgError, FloatingPointError) as exc:
        note = type(exc).__name__
    return {
        "n_obs": int(prob.n_obs if kind == "completion" else prob.m),
        "min_line_obs": min_line,
        "coverage_limited": limited,
        "rel_error": err,
        "err_sigma_r": err_s,
        "success": bool(err <= SUCCESS),
        "success_sigma_r": bool(err_s <= SUCCESS),
        "n_iter": n_iter,
        "converged": converged,
        "seconds": round(time.perf_counter() - t0, 3),
        "note": note,
    }


def make_trials(problems, n, sensing_n, ranks, rhos, seeds, methods_for, kappas=(GAUSSIAN,)):
    trials = []
    for seed in range(seeds):
        for kind in problems:
            size = n if kind == "completion" else sensing_n
            for rank in ranks:
                for rho in rhos:
                    if rank > size or n_measurements(size, rank, rho) > size * size:
                        continue
                    for kappa in kappas if kind == "completion" else (GAUSSIAN,):
                        for method in methods_for(kind):
                            trials.append(
                                {
                                    "problem": kind,
                                    "n": size,
                                    "rank": rank,
                                    "rho": float(rho),
                                    "kappa": kappa,
                                    "seed": seed,
                                    "method": method,
                                }
                            )
    return trials


def _descending_cells(trials):
    """Group trials by (problem, rank, kappa, method), each with its cells by decreasing
    rho."""
    groups = {}
    for t in trials:
        key = (t["problem"], t["rank"], t["kappa"], t["method"])
        groups.setdefault(key, {}).setdefault(t["rho"], []).append(t)
    return [(key, sorted(cells.items(), key=lambda kv: -kv[0])) for key, cells in groups.items()]


def run_phase(
    out,
    *,
    problems=("completion", "sensing"),
    n=200,
    sensing_n=40,
    ranks=(2, 5, 10),
    rhos=None,
    kappas=None,
    seeds=10,
    methods=None,
    deep_max_iter=5000,
    path_max_iter=None,
    run_limited=False,
    down_to_threshold=False,
    level=0.9,
    make_plots=True,
    progress=True,
):
    """Run (or resume) the study into ``out``; return the rows of every trial run.

    With ``down_to_threshold``, each (problem, rank, method) runs its cells from the largest
    rho down, every seed of a cell before the next, and stops after the first cell whose
    success rate is below ``level``: the thresholds (smallest rho from which the method
    succeeds at that rho and every larger one) are exactly those of the full grid, and the
    cells below, which cannot change them, are not run (blank in the heatmaps). ``kappas``
    (None: the Gaussian factors only) adds completion cells whose truth has that condition
    number.
    """
    rhos = default_rhos() if rhos is None else [float(r) for r in rhos]
    kappas = check_kappas(kappas, problems)

    def methods_for(kind):
        if methods:
            return [
                m if not (kind == "sensing" and m == "softimpute") else "nuclear-norm"
                for m in methods
            ]
        return COMPLETION_METHODS if kind == "completion" else SENSING_METHODS

    for kind in problems:
        for m in methods_for(kind):
            variant(m)
    trials = make_trials(problems, n, sensing_n, ranks, rhos, seeds, methods_for, kappas)
    if not trials:
        raise UsageError(
            f"no trial to run: every rank ({', '.join(map(str, ranks))}) exceeds the matrix "
            f"size, or every rho asks for more measurements than entries (--n {n}, "
            f"--sensing-n {sensing_n})."
        )
    os.makedirs(out, exist_ok=True)
    path = os.path.join(out, CSV_NAME)

    def run(trials, desc="phase"):
        return run_grid(
            trials,
            lambda p: run_trial(p, deep_max_iter, path_max_iter, run_limited),
            path,
            keys=KEYS,
            progress=progress,
            desc=desc,
        )

    if not down_to_threshold:
        rows = run(trials)
    else:
        rows = []
        for (kind, rank, kappa, method), cells in _descending_cells(trials):
            for rho, cell in cells:
                got = run(cell, desc=f"{kind} r={rank} kappa={kappa} {method} rho={rho:g}")
                rows += got
                if success_rate(got) < level:
                    break
    summary = write_summary(rows, os.path.join(out, "summary.md"))
    if make_plots:
        plot(rows, out)
    return rows, summary


def _cmd(args) -> int:
    if args.quick:
        cfg = dict(n=20, sensing_n=8, ranks=[1, 2], rhos=[2.5], seeds=1, deep_max_iter=500)
    else:
        cfg = dict(
            n=args.n,
            sensing_n=args.sensing_n,
            ranks=args.ranks,
            rhos=args.rhos,
            seeds=args.seeds,
            deep_max_iter=args.deep_max_iter,
            path_max_iter=args.path_max_iter,
            run_limited=args.run_coverage_limited,
            down_to_threshold=args.down_to_threshold,
        )
    check_kappas(args.kappa, args.problems)  # before the folder is made
    if not args.no_plot:
        pyplot()  # matplotlib present, before any trial runs
    names = [CSV_NAME, "phase_v2.csv", "phase.csv"]  # older versions' rows count as results
    out = prepare_study_out(args.out, "phase", names, quick=args.quick, force=args.force)
    rows, summary = run_phase(
        out,
        problems=args.problems,
        kappas=args.kappa,
        methods=args.methods,
        make_plots=not args.no_plot,
        progress=not args.no_progress and not args.json,
        **cfg,
    )
    if args.json:
        th = thresholds(rows)
        print_json(
            {
                "out": out,
                "csv": os.path.join(out, CSV_NAME),
                "n_rows": len(rows),
                "thresholds": [
                    {"problem": k[0], "method": k[1], "rank": k[2], "kappa": k[3], "rho": v}
                    for k, v in sorted(th.items(), key=lambda kv: str(kv[0]))
                ],
            }
        )
    else:
        print(summary)
    return 0


def register(subparsers) -> None:
    """Add ``linrfm experiment phase``."""
    p = add_study(
        subparsers,
        "phase",
        _cmd,
        quick="a tiny grid (smoke test, < 1 min)",
        help="phase transitions over (rank, rho) for completion and Gaussian sensing",
        description="Success (rel. error <= 1e-3) of every method over a grid of rank and "
        "oversampling rho = n_obs / (r (n + d - r)). Finished trials are cached in "
        f"OUT/{CSV_NAME} and skipped on a re-run; OUT/summary.md and heatmap PNGs are "
        "written from all rows.",
    )
    p.add_argument(
        "--problems",
        nargs="+",
        default=["completion", "sensing"],
        choices=["completion", "sensing"],
    )
    p.add_argument("--n", type=integer(1), default=200, help="completion: n = d (default 200)")
    p.add_argument(
        "--sensing-n",
        type=integer(1),
        default=40,
        help="Gaussian sensing: n = d (default 40; a dense operator holds m n^2 numbers)",
    )
    p.add_argument("--ranks", type=integer(1), nargs="+", default=[2, 5, 10])
    p.add_argument(
        "--rhos",
        type=real(0, low_open=True),
        nargs="+",
        default=None,
        help="default 1.0..4.0 by 0.25",
    )
    p.add_argument(
        "--kappa",
        type=real(1),
        nargs="+",
        default=None,
        help="completion only: condition numbers of the truth, U diag(s) V^T with s geometric "
        "from 1 to 1/kappa (default: the paper's Gaussian factors, recorded as 'gaussian')",
    )
    p.add_argument("--seeds", type=integer(1), default=10, help="seeds per cell (default 10)")
    p.add_argument(
        "--methods", nargs="+", default=None, choices=list(VARIANTS), help="default: all"
    )
    p.add_argument(
        "--deep-max-iter", type=integer(1), default=5000, help="iteration cap of deep-mf"
    )
    p.add_argument(
        "--path-max-iter",
        type=integer(1),
        default=None,
        help="iteration cap per lam of SoftImpute / nuclear norm (default: 1500 for "
        "SoftImpute on completion, the solver's otherwise)",
    )
    p.add_argument(
        "--run-coverage-limited",
        action="store_true",
        help="run the methods on coverage-limited completion samples too (by default they "
        "are recorded as failures without running: the truth is not identifiable there)",
    )
    p.add_argument(
        "--down-to-threshold",
        action="store_true",
        help="per problem, rank and method, run rho from the largest down (all seeds of a "
        "cell first) and stop after the first cell under 90%% success: the same thresholds "
        "as the full grid, without the failing cells below them",
    )
