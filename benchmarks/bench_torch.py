"""PyTorch backend against NumPy, same run: the canonical problem (500x500, rank 5, 10,000
observed), default lin-RFM on each backend.

Each backend is warmed up (imports, first allocations) and then run ``--repeats`` times,
interleaved (NumPy, torch, NumPy, torch, ...) so that a change of machine load hits both; the
table gives the fastest repeat, wall and CPU seconds (``time.process_time``, all threads of
the process), iterations, and the MSE on the unobserved entries (measured from outside the
solver), with the torch/NumPy ratio. BLAS and torch are limited to ``--threads`` threads.

    OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 python benchmarks/bench_torch.py \
        [--seeds 0 1 2] [--device cpu] [--dtype float64] [--repeats 3] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from linrfm import lin_rfm_complete, make_completion


def _fit(planted, device, dtype):
    t0, c0 = time.perf_counter(), time.process_time()
    res = lin_rfm_complete(planted.problem, device=device, dtype=dtype)
    secs, cpu = time.perf_counter() - t0, time.process_time() - c0
    r, c = planted.unobserved()
    mse = float(np.mean((res.predict(r, c) - planted.truth(r, c)) ** 2))
    return {"seconds": secs, "cpu_seconds": cpu, "n_iter": res.n_iter, "mse": mse}


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--device", default="cpu", help="torch device (cpu, cuda, cuda:N)")
    ap.add_argument("--dtype", default="float64")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(args.threads)
    records = []
    with threadpool_limits(limits=args.threads, user_api="blas"):
        for seed in args.seeds:
            planted = make_completion(500, 500, 5, 10_000, random_state=seed)
            runs = {"numpy": [], "torch": []}
            with warnings.catch_warnings():  # warm-up (imports, first allocations)
                warnings.simplefilter("ignore", ConvergenceWarning)
                for backend in runs:
                    device = None if backend == "numpy" else args.device
                    lin_rfm_complete(planted.problem, max_iter=2, device=device, dtype=args.dtype)
            for _ in range(args.repeats):
                runs["numpy"].append(_fit(planted, None, args.dtype))
                runs["torch"].append(_fit(planted, args.device, args.dtype))
            best = {k: min(v, key=lambda r: r["seconds"]) for k, v in runs.items()}
            records.append(
                {
                    "seed": seed,
                    **{f"{k}_{f}": v[f] for k, v in best.items() for f in v},
                    "ratio_wall": best["torch"]["seconds"] / best["numpy"]["seconds"],
                    "ratio_cpu": best["torch"]["cpu_seconds"] / best["numpy"]["cpu_seconds"],
                }
            )
    load = os.getloadavg()
    meta = {
        "device": args.device,
        "dtype": args.dtype,
        "threads": args.threads,
        "repeats": args.repeats,
        "torch": torch.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
        "machine": platform.processor() or platform.machine(),
        "loadavg_1_5_15": [round(x, 2) for x in load],
    }
    if args.json:
        print(json.dumps({"meta": meta, "records": records}, indent=1))
        return
    print(f"<!-- {meta} -->")
    print(
        "| seed | NumPy: iters, wall s, CPU s, MSE | torch-"
        f"{args.device}: iters, wall s, CPU s, MSE | torch / NumPy wall | torch / NumPy CPU |"
    )
    print("|---|---|---|---|---|")
    for r in records:
        cells = [
            f"{r[f'{k}_n_iter']}, {r[f'{k}_seconds']:.2f}, {r[f'{k}_cpu_seconds']:.2f}, "
            f"{r[f'{k}_mse']:.1e}"
            for k in ("numpy", "torch")
        ]
        print(
            f"| {r['seed']} | {cells[0]} | {cells[1]} | {r['ratio_wall']:.2f} "
            f"| {r['ratio_cpu']:.2f} |"
        )


if __name__ == "__main__":
    main()
