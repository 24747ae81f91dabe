"""Scaling of one lin-RFM iteration: CPU seconds per iteration and peak resident memory
versus n (d fixed) and versus d (n fixed), for the dense and the coefficient ('sparse')
AGOP paths of the one-sided update, at a fixed number of observations per row.

Each point runs in its own process (its own peak RSS; the generator's arrays included).
CPU seconds (single BLAS thread) rather than wall seconds: the box is shared.

    python benchmarks/bench_scaling.py [--quick] [--out benchmarks/results]
"""

from __future__ import annotations

import argparse
import csv
import json
import resource
import subprocess
import sys
import time
import warnings
from pathlib import Path


def point(n, d, per_row, agop, iters):
    from linrfm import make_completion
    from linrfm.solvers.linrfm import lin_rfm_complete

    P = make_completion(n, d, 5, n * per_row, random_state=0)
    warnings.simplefilter("ignore")
    c0 = time.process_time()
    lin_rfm_complete(P.problem, variant="one-sided", agop=agop, max_iter=iters, memory_limit=2**36)
    cpu = (time.process_time() - c0) / iters
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**10  # MiB
    print(json.dumps(dict(n=n, d=d, per_row=per_row, agop=agop, cpu_s_per_iter=cpu, rss_mib=rss)))


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--iters", type=int, default=2)
    ap.add_argument("--out", default=str(Path(__file__).parent / "results"))
    ap.add_argument("--point", nargs=5, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.point:
        n, d, per_row, agop, iters = args.point
        return point(int(n), int(d), int(per_row), agop, int(iters))
    per_row = 40
    if args.quick:
        ns, ds, n_fixed, d_fixed = [2000, 4000], [100, 200], 2000, 100
    else:
        ns, ds = [10_000, 20_000, 40_000], [250, 500, 1000]
        n_fixed, d_fixed = 10_000, 500
    grid = [("n", n, d_fixed) for n in ns] + [("d", n_fixed, d) for d in ds]
    rows = []
    for axis, n, d in grid:
        for agop in ("dense", "sparse"):
            cmd = [sys.executable, __file__, "--point", str(n), str(d), str(per_row), agop]
            cmd.append(str(args.iters))
            out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
            rec = json.loads(out.strip().splitlines()[-1])
            rec["axis"] = axis
            print(rec, flush=True)
            rows.append(rec)
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    with open(out_dir / "scaling.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    plot(rows, out_dir / "scaling.png")


def plot(rows, path):
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as e:  # pragma: no cover
        raise SystemExit("the plot needs matplotlib: pip install linrfm[plot]") from e
    fig, axes = plt.subplots(2, 2, figsize=(9, 7))
    for j, axis in enumerate(("n", "d")):
        for agop, style in (("dense", "o-"), ("sparse", "s--")):
            pts = [r for r in rows if r["axis"] == axis and r["agop"] == agop]
            x = [r[axis] for r in pts]
            axes[0, j].loglog(x, [r["cpu_s_per_iter"] for r in pts], style, label=agop)
            axes[1, j].loglog(x, [r["rss_mib"] for r in pts], style, label=agop)
        fixed = "d" if axis == "n" else "n"
        val = next(r[fixed] for r in rows if r["axis"] == axis)
        axes[0, j].set_title(f"vs {axis} ({fixed} = {val}, 40 obs/row)")
        axes[1, j].set_xlabel(axis)
    axes[0, 0].set_ylabel("CPU s / iteration (1 thread)")
    axes[1, 0].set_ylabel("peak RSS (MiB)")
    for ax in axes.ravel():
        ax.legend()
        ax.grid(True, which="both", alpha=0.3)
    fig.suptitle("one-sided lin-RFM, alpha = 1/2: dense vs coefficient AGOP")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    main()
