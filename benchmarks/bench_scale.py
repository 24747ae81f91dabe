"""Scale benchmarks for lin-RFM completion, with baselines in the same run (issue 5).

``square``: 5,000 x 5,000, rank 10, 1,000,000 observed entries. lin-RFM (defaults), ALS (the
true rank, ``bench_als.py``'s settings), SoftImpute and standard IRLS-p, each in its own
process (so each has its own peak resident memory) with a time limit. ``tall``: 500,000 x
2,000, rank 10, 20,000,000 observed, lin-RFM and ALS. lin-RFM and ALS record their error
after every iteration and the seconds to 1e-3 and 1e-6 (``--stop-at`` ends them early).
Errors are relative errors on 100,000 unobserved entries sampled uniformly (seeded); they
are measured from outside the solvers (a callback for lin-RFM, whose own stopping rule never
sees them).

    python benchmarks/bench_scale.py square [--limit 120] [--methods lin-rfm softimpute irls]
    python benchmarks/bench_scale.py tall [--limit 3600]
    python benchmarks/bench_scale.py square --n 1000 --d 1000 --n-obs 200000  # a smaller run
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
import warnings

import numpy as np

TARGETS = (1e-3, 1e-6)
PROBLEMS = {
    "square": dict(n=5000, d=5000, rank=10, n_obs=1_000_000),
    "tall": dict(n=500_000, d=2000, rank=10, n_obs=20_000_000),
}


def peak_rss_gib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux


def _report_memory(every=15.0):
    """Print the peak RSS every ``every`` seconds (a killed baseline still leaves a figure)."""
    import threading

    t0 = time.perf_counter()

    def loop():
        while True:
            time.sleep(every)
            print(
                f"  mem t={time.perf_counter() - t0:.0f}s cpu={time.process_time():.0f}s "
                f"peak_rss={peak_rss_gib():.2f}GiB",
                flush=True,
            )

    threading.Thread(target=loop, daemon=True).start()


def traced_fit(args, P, err, rows, cols):
    """lin-RFM (defaults) or ALS (the true rank, ``bench_als.py``'s settings), the error
    measured through the callback (its time excluded) until ``--limit`` seconds."""
    from bench_als import solver
    from linrfm.solvers.linrfm import lin_rfm_complete, lin_rfm_plan

    rec = {}
    kw = {} if args.dtype is None else {"dtype": args.dtype}
    if args.method == "lin-rfm":
        plan = lin_rfm_plan(P.problem, memory_limit=args.memory_limit, **kw)
        rec["plan"] = {k: plan[k] for k in ("variant", "side", "agop", "bytes")}
    trace = []
    paused = [0.0]
    clock = time.process_time if args.clock == "cpu" else time.perf_counter
    start = clock()
    wall0 = time.perf_counter()

    def cb(it, info):
        t = clock()
        e = err(info["result"].predict(rows, cols))
        trace.append((it, round(t - start - paused[0], 2), e, info.get("lam", float("nan"))))
        wall = time.perf_counter() - wall0
        print(
            f"  it {it} {args.clock}={trace[-1][1]}s wall={wall:.0f}s err={e:.2e} "
            f"lam={trace[-1][3]:.1e} rss={peak_rss_gib():.2f}GiB",
            flush=True,
        )
        paused[0] += clock() - t
        return t - start - paused[0] > args.limit or e <= args.stop_at

    if args.method == "als":
        res = solver("als", P.problem, args.rank, cb)
    else:
        res = lin_rfm_complete(
            P.problem, callback=cb, memory_limit=args.memory_limit, max_iter=args.max_iter, **kw
        )
    secs = clock() - start - paused[0]
    reach = {f"{t:g}": next((s for _, s, e, _ in trace if e <= t), None) for t in TARGETS}
    rec.update(
        clock=args.clock,
        seconds=secs,
        n_iter=res.n_iter,
        converged=res.converged,
        rel_error=err(res.predict(rows, cols)),
        seconds_to_target=next((s for _, s, e, _ in trace if e <= args.target), None),
        seconds_to=reach,
        trace=trace,
        time_limit_hit=secs > args.limit,
    )
    return rec


def _start_fit_peak():
    """Return the memory the generator freed to the system and reset the peak resident
    size (Linux: ``/proc/self/clear_refs``), so that ``_fit_peak`` is the fit's own peak
    with its input held (making the problem excluded); the current RSS in GiB."""
    import ctypes
    import gc

    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass
    return _status_gib("VmRSS")


def _fit_peak():
    """Peak resident size since ``_start_fit_peak`` (``VmHWM``), GiB."""
    return _status_gib("VmHWM")


def _status_gib(key):
    try:
        for line in open("/proc/self/status"):
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 2**20  # kB
    except OSError:
        pass
    return None


def run_one(args):
    """Run one method (in this process) and print one JSON record."""
    from linrfm import make_completion

    _report_memory()

    t0 = time.perf_counter()
    P = make_completion(args.n, args.d, args.rank, args.n_obs, random_state=args.seed)
    gen_s = time.perf_counter() - t0
    gen_rss = peak_rss_gib()
    rows, cols = P.unobserved(size=args.n_eval, random_state=1)
    truth = P.truth(rows, cols)
    tnorm = np.linalg.norm(truth)

    def err(pred):
        return float(np.linalg.norm(pred - truth) / tnorm)

    rec = dict(method=args.method, n=args.n, d=args.d, rank=args.rank, n_obs=args.n_obs)
    rec["rss_fit_start_gib"] = _start_fit_peak()
    cpu0 = time.process_time()
    rec.update(generate_s=gen_s, rss_after_generate_gib=gen_rss, load_before=os.getloadavg()[0])
    warnings.simplefilter("ignore")
    if args.method in ("lin-rfm", "als"):
        rec.update(traced_fit(args, P, err, rows, cols))
    elif args.method == "softimpute":
        from linrfm.solvers import soft_impute_complete

        start = time.perf_counter()
        res = soft_impute_complete(P.problem)
        rec.update(seconds=time.perf_counter() - start, n_iter=res.n_iter)
        rec["rel_error"] = err(res.predict(rows, cols))
    elif args.method == "irls":
        try:
            from linrfm.solvers.irls import irls_complete
        except ImportError:
            rec["status"] = "not available on this branch"
            print("RESULT " + json.dumps(rec), flush=True)
            return
        start = time.perf_counter()
        res = irls_complete(P.problem, p=0.0)
        rec.update(seconds=time.perf_counter() - start, n_iter=res.n_iter)
        rec["rel_error"] = err(res.predict(rows, cols))
    rec["cpu_s"] = time.process_time() - cpu0
    rec["peak_rss_gib"] = peak_rss_gib()
    rec["fit_peak_rss_gib"] = _fit_peak()
    rec["load_after"] = os.getloadavg()[0]
    print("RESULT " + json.dumps(rec), flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("problem", choices=sorted(PROBLEMS))
    ap.add_argument("--methods", nargs="+", default=None)
    ap.add_argument("--method", help=argparse.SUPPRESS)
    ap.add_argument("--n", type=int)
    ap.add_argument("--d", type=int)
    ap.add_argument("--rank", type=int)
    ap.add_argument("--n-obs", type=int)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--n-eval", type=int, default=100_000)
    ap.add_argument("--limit", type=float, default=None, help="seconds per method")
    ap.add_argument("--target", type=float, default=None)
    ap.add_argument("--max-iter", type=int, default=1000)
    ap.add_argument("--stop-at", type=float, default=0.0, help="stop at this error")
    ap.add_argument("--dtype", default=None)
    ap.add_argument(
        "--clock", choices=["wall", "cpu"], default="wall", help="lin-RFM's limit and times"
    )
    ap.add_argument("--timeout", type=float, default=None, help="kill a method after this")
    ap.add_argument("--memory-limit", type=float, default=4 * 2**30)
    args = ap.parse_args()
    for k, v in PROBLEMS[args.problem].items():
        if getattr(args, k) is None:
            setattr(args, k, v)
    if args.limit is None:
        args.limit = 120.0 if args.problem == "square" else 3600.0
    if args.target is None:
        args.target = 1e-3 if args.problem == "square" else 1e-2
    if args.method:
        return run_one(args)
    methods = args.methods or (
        ["lin-rfm", "als", "softimpute", "irls"] if args.problem == "square" else ["lin-rfm", "als"]
    )
    print(f"uptime: {os.popen('uptime').read().strip()}", flush=True)
    out = []
    timeout = args.timeout or args.limit + (60 if args.problem == "square" else 600)
    for m in methods:
        cmd = [sys.executable, __file__, args.problem, "--method", m]
        for k in ("n", "d", "rank", "n_obs", "seed", "n_eval", "limit", "target", "max_iter",
                  "stop_at"):  # fmt: skip
            cmd += [f"--{k.replace('_', '-')}", str(getattr(args, k))]
        cmd += ["--memory-limit", str(args.memory_limit), "--clock", args.clock]
        if args.dtype:
            cmd += ["--dtype", args.dtype]
        t0 = time.perf_counter()
        try:
            # generation + evaluation on top of the method's own limit
            proc = subprocess.run(
                cmd,
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
            lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
            rec = (
                json.loads(lines[-1][7:]) if lines else {"method": m, "error": proc.stderr[-2000:]}
            )
            if "status" in rec or "error" in rec:
                print(proc.stdout[-3000:], proc.stderr[-3000:])
        except subprocess.TimeoutExpired as e:
            rec = {"method": m, "status": f"killed after {timeout:.0f} s (time limit hit)"}
            partial = e.stdout.decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
            rec["progress"] = [ln.strip() for ln in partial.splitlines() if ln.startswith("  it")]
            mem = [ln.strip() for ln in partial.splitlines() if ln.startswith("  mem")]
            if mem:
                rec["last_memory_report"] = mem[-1]
        rec["wall_s"] = time.perf_counter() - t0
        print(json.dumps({k: v for k, v in rec.items() if k != "trace"}), flush=True)
        if "trace" in rec:
            print("  trace (iteration, seconds, rel. error, relative ridge):", rec["trace"])
        out.append(rec)
    print(f"uptime: {os.popen('uptime').read().strip()}", flush=True)


if __name__ == "__main__":
    main()
