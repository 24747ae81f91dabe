"""One-sided lin-RFM with and without momentum, in the same run.

For each problem and momentum b: the iteration and CPU seconds at which the relative error on
20,000 sampled unobserved entries first reaches 1e-2 and 1e-3 (measured from outside the solver
through its callback; the solver never sees the truth), and the error after ``--max-iter``
iterations (or where the solver's own rule stopped it). Every run is one-sided from the
default ridge (1e-2 relative) under each rule of ``--rules`` ('auto': 'decay' with momentum,
'fixed' without); the ratio of plain (b = 0) to extrapolated iterations to 1e-2 is printed.

    OPENBLAS_NUM_THREADS=1 python benchmarks/bench_momentum.py [--quick] [--betas 0 0.7]
        [--rules auto decay]
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from linrfm import lin_rfm_complete, make_completion

PROBLEMS = {
    # a scaled-down analogue of the tall benchmark (bench_scale.py tall): rows >> columns
    "tall 20000x400 r10": dict(n=20_000, d=400, rank=10, rho=4.0, max_iter=60),
    "tall 3000x60 r3": dict(n=3000, d=60, rank=3, rho=4.0, max_iter=300),
    "canonical 500x500 r5": dict(n=500, d=500, rank=5, n_obs=10_000, max_iter=300),
}
QUICK = {"tall 3000x60 r3": PROBLEMS["tall 3000x60 r3"]}


def run(planted, beta, max_iter, agop, rule):
    rows, cols = planted.unobserved(size=20_000, random_state=1)
    truth = planted.truth(rows, cols)
    tnorm = np.linalg.norm(truth)
    trace = []
    paused = [0.0]
    t0 = time.process_time()

    def cb(it, info):
        t = time.process_time()
        err = np.linalg.norm(info["result"].predict(rows, cols) - truth) / tnorm
        trace.append((it, t - t0 - paused[0], err))
        paused[0] += time.process_time() - t

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        lin_rfm_complete(
            planted.problem,
            variant="one-sided",
            agop=agop,
            momentum=beta,
            lam_rule=rule,
            max_iter=max_iter,
            callback=cb,
        )
    out = {"final_error": trace[-1][2], "iterations": trace[-1][0]}
    for label in ("1e-2", "1e-3"):
        hit = next(((it, s) for it, s, e in trace if e <= float(label)), (None, None))
        out[f"iter_{label}"], out[f"cpu_s_{label}"] = hit
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--betas", type=float, nargs="+", default=[0.0, 0.7])
    ap.add_argument("--rules", nargs="+", default=["auto"])
    ap.add_argument("--max-iter", type=int, default=None, help="override the per-problem cap")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--agop", default="sparse", choices=["dense", "sparse"])
    ap.add_argument("--quick", action="store_true", help="one small problem, 15 iterations")
    args = ap.parse_args()
    problems = QUICK if args.quick else PROBLEMS
    print("| problem | rule | b | iter to 1e-2 | CPU s | iter to 1e-3 | CPU s | error at end |")
    print("|---|---|---|---|---|---|---|---|")
    for (name, spec), rule in ((p, r) for p in problems.items() for r in args.rules):
        spec = dict(spec)
        rho = spec.pop("rho", None)
        max_iter = 15 if args.quick else (args.max_iter or spec["max_iter"])
        n, d, r = spec["n"], spec["d"], spec["rank"]
        n_obs = spec.get("n_obs") or int(rho * r * (n + d - r))
        planted = make_completion(n, d, r, n_obs, random_state=args.seed)
        base = None
        for beta in args.betas:
            rec = run(planted, beta, max_iter, args.agop, rule)
            cells = []
            for target in ("1e-2", "1e-3"):
                it, s = rec[f"iter_{target}"], rec[f"cpu_s_{target}"]
                cells += ["—", "—"] if it is None else [str(it), f"{s:.1f}"]
            ratio = ""
            if beta == 0:
                base = rec
            elif base is not None and base["iter_1e-2"] and rec["iter_1e-2"]:
                ratio = f" ({base['iter_1e-2'] / rec['iter_1e-2']:.1f}x fewer to 1e-2)"
            print(
                f"| {name} | {rule} | {beta:g} | "
                + " | ".join(cells)
                + f" | {rec['final_error']:.1e}"
                f" after {rec['iterations']}{ratio} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
