"""Compare oracle-free ridge rules for lin-RFM on the canonical problem.

For each variant (one-/two-sided), rule and alpha: the iteration at which the unobserved-entry
MSE first reaches 1e-3 (measured from outside the solver through its callback: the solver
never sees the truth), the iteration at which the solver's own rule stops, and the MSE there.

    python benchmarks/bench_lambda_rules.py [--seeds 0 1 2] [--out results/lambda_rules.csv]

Finished runs are cached in the CSV, so an interrupted run resumes; it prints a Markdown table.
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from linrfm import lin_rfm_complete, make_completion
from linrfm.experiments._runner import read_rows, run_grid

RULES = {
    "change": dict(lam_rule="change", lam=1e-2),
    "fixed 1e-2": dict(lam_rule="fixed", lam=1e-2),
    "fixed 1e-3": dict(lam_rule="fixed", lam=1e-3),
    "holdout 10%": dict(lam_rule="holdout", lam=1e-2, val_fraction=0.1),
    "decay": dict(lam_rule="decay", lam=1e-2),
}


def run(planted, alpha, variant, rule_kw, max_iter):
    rows, cols = planted.unobserved()
    truth = planted.truth(rows, cols)
    first = {"iter": None, "seconds": None}
    t0 = time.perf_counter()
    paused = [0.0]

    def cb(it, info):
        t = time.perf_counter()
        if first["iter"] is None:
            mse = np.mean((info["result"].predict(rows, cols) - truth) ** 2)
            if mse <= 1e-3:
                first["iter"], first["seconds"] = it, t - t0 - paused[0]
        paused[0] += time.perf_counter() - t
        return False

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        res = lin_rfm_complete(
            planted.problem,
            alpha=alpha,
            variant=variant,
            max_iter=max_iter,
            callback=cb,
            random_state=0,
            **rule_kw,
        )
    ev = planted.evaluate(res)
    return {
        "iter_to_1e-3": first["iter"],
        "seconds_to_1e-3": first["seconds"],
        "stop_iter": res.n_iter,
        "converged": res.converged,
        "mse_at_stop": ev["mse"],
        "rel_error_at_stop": ev["rel_error"],
    }


def table(rows) -> str:
    """Markdown summary: per variant, alpha and rule, the range over seeds."""

    def rng(vals, fmt):
        vals = [v for v in vals if v not in ("", "None")]
        if not vals:
            return "never"
        lo, hi = min(map(float, vals)), max(map(float, vals))
        return fmt(lo) if lo == hi else f"{fmt(lo)}–{fmt(hi)}"

    groups = {}
    for r in rows:
        groups.setdefault((r["variant"], r["alpha"], r["rule"]), []).append(r)
    out = [
        "| variant | α | rule | seeds | iterations to MSE 1e-3 | own stop: iterations "
        "| converged | MSE at stop |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for (variant, alpha, rule), rs in groups.items():
        missed = sum(r["iter_to_1e-3"] in ("", "None") for r in rs)
        to = rng([r["iter_to_1e-3"] for r in rs], lambda v: f"{v:,.0f}")
        if missed and missed < len(rs):
            to += f" ({missed} never)"
        conv = sum(r["converged"] == "True" for r in rs)
        out.append(
            f"| {variant} | {float(alpha):g} | {rule} | {len(rs)} | {to} | "
            f"{rng([r['stop_iter'] for r in rs], lambda v: f'{v:,.0f}')} | {conv}/{len(rs)} | "
            f"{rng([r['mse_at_stop'] for r in rs], lambda v: f'{v:.1e}')} |"
        )
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--max-iter", type=int, default=3000)
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "lambda_rules.csv"))
    ap.add_argument(
        "--table-only", action="store_true", help="print the table of the finished runs only"
    )
    args = ap.parse_args()
    if args.table_only:
        print(table(read_rows(args.out)))
        return
    trials = [
        {"variant": variant, "alpha": alpha, "rule": name, "seed": seed}
        for variant in ["two-sided", "one-sided"]
        for alpha in [0.5, 1.0]
        for name in RULES
        for seed in args.seeds
    ]

    def one(t):
        planted = make_completion(500, 500, 5, 10_000, random_state=t["seed"])
        return run(planted, t["alpha"], t["variant"], RULES[t["rule"]], args.max_iter)

    rows = run_grid(trials, one, args.out, desc="ridge rules")
    print(table(rows))


if __name__ == "__main__":
    main()
