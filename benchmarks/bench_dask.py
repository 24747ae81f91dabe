"""Strong scaling of lin-RFM on Dask: seconds per iteration with 1 and 2 worker processes
(one thread each, BLAS limited to one thread), beside the single-machine one-sided
coefficient path on one thread, on the same problem and parameters.

Per-iteration seconds are the median gap between successive checkpoints (the setup, the
shuffle of the observations into row blocks and the first iteration excluded). Bytes moved
per iteration follow from the design: the d x d kernel broadcast to every worker, and one
d x d part (two with momentum) per block gathered back, 8 bytes a number.

    python benchmarks/bench_dask.py [--quick] [--n N --d D --per-row K --iters T] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import time
import warnings
from pathlib import Path

import numpy as np


def _per_iter(fit):
    stamps = []

    def tick(checkpoint):  # the loop's checkpoint hook: d x d state, nothing gathered
        stamps.append(time.perf_counter())

    t0 = time.perf_counter()
    res = fit(tick)
    gaps = np.diff(stamps)
    return dict(
        s_per_iter=float(np.median(gaps)) if gaps.size else float("nan"),
        total_s=time.perf_counter() - t0,
        n_iter=res.n_iter,
    ), res


def run(n, d, per_row, iters, workers=(1, 2)):
    from distributed import Client, LocalCluster

    import linrfm
    from linrfm import make_completion

    P = make_completion(n, d, 5, n * per_row, random_state=0)
    X = P.problem
    kw = dict(max_iter=iters, tol=1e-15, lam_rule="fixed", momentum=0.0, n_threads=1)
    warnings.simplefilter("ignore")
    out = {"n": n, "d": d, "n_obs": X.n_obs, "iters": iters}
    out["single"], ref = _per_iter(
        # the iteration, as the cluster runs it: no polish
        lambda cb: linrfm.lin_rfm_complete(
            X,
            variant="one-sided",
            agop="sparse",
            checkpoint=cb,
            memory_limit=16e9,
            polish=False,
            **kw,
        )
    )
    rows, cols = P.unobserved()
    ref_pred = ref.predict(rows[:20000], cols[:20000])
    for w in workers:
        with (
            LocalCluster(
                n_workers=w, threads_per_worker=1, processes=True, dashboard_address=None
            ) as cluster,
            Client(cluster) as client,
        ):
            rec, res = _per_iter(
                lambda cb: linrfm.lin_rfm_complete(X, client=client, checkpoint=cb, **kw)
            )  # noqa: B023, E501
        pred = res.predict(rows[:20000], cols[:20000])
        rec["rel_diff_vs_single"] = float(
            np.linalg.norm(pred - ref_pred) / np.linalg.norm(ref_pred)
        )
        rec["bytes_per_iter"] = 8 * d * d * (w + res.params["n_blocks"])
        out[f"dask_{w}"] = rec
    if "dask_1" in out and "dask_2" in out:
        out["ratio_2_over_1"] = out["dask_2"]["s_per_iter"] / out["dask_1"]["s_per_iter"]
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results"))
    ap.add_argument("--n", type=int, help="rows (default 100,000; --quick 20,000)")
    ap.add_argument("--d", type=int, help="columns (default 500; --quick 200)")
    ap.add_argument("--per-row", type=int, help="observations a row (default 100; --quick 40)")
    ap.add_argument("--iters", type=int, help="iterations (default 8; --quick 6)")
    args = ap.parse_args()
    # the default takes minutes a configuration on one core: ~10 s an iteration
    size = (20_000, 200, 40, 6) if args.quick else (100_000, 500, 100, 8)
    given = (args.n, args.d, args.per_row, args.iters)
    n, d, per_row, iters = (g if g is not None else s for g, s in zip(given, size))
    rec = run(n, d, per_row, iters)
    rec["quick"] = args.quick
    rec["loadavg_after"] = list(os.getloadavg())  # timings are only as good as the load
    print(json.dumps(rec, indent=1))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    name = "dask_quick.json" if args.quick else "dask.json"
    (out / name).write_text(json.dumps(rec, indent=1) + "\n")


if __name__ == "__main__":
    main()
