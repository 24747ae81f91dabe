"""Two versions of linrfm side by side: no speed regression across a refactor.

Runs three small fits — the canonical completion (500x500, rank 5, 10,000 entries, lin-RFM
defaults), a quick Gaussian sensing fit (lin-RFM, 20x20, rank 2, 3x the degrees of freedom)
and a quick sparse regression (lin-RFM, n=100, d=1000, k=20) — each in a fresh process per
run, alternating the two source trees (A B A B ...), and reports the median wall time of
each with the ratio new/base. Times are of the fit alone (imports and data excluded).

    python benchmarks/bench_versions.py --base /path/to/old/src --new src --repeats 7
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys

# One snippet for both trees: it resolves the new public names first, then the old ones.
SNIPPET = r"""
import json, sys, time, warnings
warnings.simplefilter("ignore")
import numpy as np
import linrfm
from linrfm import datasets

def fn(*names):
    for name in names:
        for mod in ("linrfm", "linrfm.solvers"):
            try:
                m = __import__(mod, fromlist=[name])
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    return getattr(m, name)
            except (ImportError, AttributeError):
                pass
    raise LookupError(names)

case = sys.argv[1]
if case == "canonical":
    p = datasets.make_completion(500, 500, rank=5, n_obs=10_000, random_state=0).problem
    f = lambda: fn("lin_rfm_complete")(p)
elif case == "sensing":
    try:
        make = datasets.make_sensing
    except AttributeError:
        from linrfm.sensing_data import make_sensing as make  # before the data layer
    p = make(20, 20, 2, 3 * 2 * (40 - 2), random_state=0).problem
    f = lambda: fn("lin_rfm_sense")(p)
else:
    p = datasets.make_sparse_regression(100, 1000, 20, random_state=0).problem
    f = lambda: fn("lin_rfm_regress", "lin_rfm_sparse")(p.X, p.y)
f()  # warm-up: first-call costs (BLAS, caches) are not the fit's
t = time.perf_counter()
res = f()
print(json.dumps({"seconds": time.perf_counter() - t, "n_iter": res.n_iter}))
"""

CASES = ("canonical", "sensing", "sparse")


def run_once(src, case, threads):
    env = dict(os.environ, PYTHONPATH=os.path.abspath(src))
    env.update({k: str(threads) for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS")})
    out = subprocess.run(
        [sys.executable, "-c", SNIPPET, case],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--base", required=True, help="src/ folder of the baseline version")
    ap.add_argument("--new", default="src", help="src/ folder of the new version")
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--cases", nargs="+", default=list(CASES), choices=CASES)
    args = ap.parse_args(argv)
    if args.repeats < 1:
        ap.error(f"--repeats must be >= 1; got {args.repeats}")
    times = {(c, v): [] for c in args.cases for v in ("base", "new")}
    iters = {}
    for _ in range(args.repeats):
        for case in args.cases:
            for version, src in (("base", args.base), ("new", args.new)):
                rec = run_once(src, case, args.threads)
                times[case, version].append(rec["seconds"])
                iters[case, version] = rec["n_iter"]
    print(
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"{args.threads} BLAS threads, median of {args.repeats} alternating runs\n"
    )
    print("| case | base s | new s | new/base | iterations (base, new) |")
    print("|---|---|---|---|---|")
    for case in args.cases:
        b = statistics.median(times[case, "base"])
        n = statistics.median(times[case, "new"])
        print(
            f"| {case} | {b:.3f} | {n:.3f} | {n / b:.3f} | "
            f"{iters[case, 'base']}, {iters[case, 'new']} |"
        )


if __name__ == "__main__":
    main()
