"""How the cost of an iteration grows: lin-RFM against ALS and SoftImpute (issue 18, item 4),
and lin-RFM's cost model (``lin_rfm_plan``) against the measurements (item 5).

Study ``methods`` (the default), rank 10, oversampling rho = |Omega| / (r (n + d - r)) = 4:

- over |Omega|: d = 1,000 fixed, n = |Omega| / (rho r) - d + r (40 observations a row; the
  top point, 2e7, is the tall bar problem's size);
- over the width d: n = 20,000 fixed, d = 250 ... 4,000.

Methods: ``lin-rfm`` (every default), ``als`` (true rank, ``lam=1e-8``, ``tol=1e-12``: the
configuration of ``bench_als.py``) and ``softimpute`` (defaults). Every (point, method) runs
in its own process with one BLAS thread, until the relative error on 10,000 sampled
unobserved entries (measured through the callback, its time excluded) reaches 1e-3, or its
CPU-time cap runs out: then it is a "not reached" row. Time per iteration is the median of
the per-iteration CPU seconds after the first (the first holds the setup); exponents are
least-squares slopes of log(s / iteration) on log(|Omega|) or log(d). Memory: the peak of the
solver's traced allocations (``tracemalloc``, NumPy's buffers included, the evaluation's
excluded) beside lin-RFM's predicted ``bytes``; the problem's own arrays are not in either.
The memory is that of a second fit over the same iterations: the timed fit runs untraced
(tracing slows a fit by ~20%).

Study ``agop``: the earlier one-sided dense vs coefficient-AGOP comparison (40 observations a
row, rank 5), the same child, methods ``lin-rfm-dense`` and ``lin-rfm-sparse``.

Records are appended one line each to ``OUT/scaling_<study>.jsonl`` as the runs finish, and a
rerun skips the points already there (delete the file to start over); the tables are printed
and ``OUT/scaling_<study>.png`` (log-log) is written atomically.

    python benchmarks/bench_scaling.py [--study methods|agop] [--axis obs d] [--cap 60]
        [--obs 1e5 3e5 1e6 ...] [--widths 250 500 ...] [--quick] [--out benchmarks/results]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import tracemalloc
import warnings
from pathlib import Path

import numpy as np

TARGET = 1e-3
RANK, RHO = 10, 4.0
OBS_D, WIDTH_N = 1000, 20_000
STUDIES = {
    "methods": ("lin-rfm", "als", "softimpute"),
    "agop": ("lin-rfm-dense", "lin-rfm-sparse"),
    "plan": ("lin-rfm-iteration", "lin-rfm-dense", "lin-rfm-sparse"),
}
# the cost model's check (study 'plan'): the two-sided plan on near-square problems, the
# two one-sided AGOP paths on tall ones, small enough to run a few iterations each
PLAN_GRID = [("plan", *p, ("lin-rfm-iteration",)) for p in [
    (600, 400, 5, 20_000), (1500, 1500, 10, 150_000), (3000, 1000, 10, 150_000),
    (2000, 2000, 10, 600_000)]] + [("plan", *p, ("lin-rfm-dense", "lin-rfm-sparse")) for p in [
    (5000, 200, 5, 200_000), (12_000, 300, 10, 480_000), (100_000, 50, 5, 1_000_000),
    (400_000, 20, 3, 2_000_000)]]  # fmt: skip


def methods_grid(axes, obs, widths):
    """(axis, n, d, rank, n_obs) of the methods study at fixed rho."""
    grid = []
    if "obs" in axes:
        for m in obs:
            n = int(round(m / (RHO * RANK))) - OBS_D + RANK
            grid.append(("obs", n, OBS_D, RANK, int(m)))
    if "d" in axes:
        for d in widths:
            grid.append(("d", WIDTH_N, d, RANK, int(round(RHO * RANK * (WIDTH_N + d - RANK)))))
    return grid


def agop_grid(quick):
    if quick:
        ns, ds, n_fixed, d_fixed = [2000, 4000], [100, 200], 2000, 100
    else:
        ns, ds, n_fixed, d_fixed = [10_000, 20_000, 40_000], [250, 500, 1000], 10_000, 500
    pts = [("n", n, d_fixed) for n in ns] + [("d", n_fixed, d) for d in ds]
    return [(axis, n, d, 5, 40 * n) for axis, n, d in pts]


def lin_rfm_kw(method):
    """lin-RFM's arguments: every default ('lin-rfm'), the iteration alone with every other
    default ('lin-rfm-iteration': no polish, which would end most fits at iteration 1, so
    the cost of an iteration, the cost model's subject, is measured), or the iteration
    alone on a one-sided AGOP path ('lin-rfm-dense', 'lin-rfm-sparse')."""
    if method == "lin-rfm":
        return {}
    if method == "lin-rfm-iteration":
        return dict(polish=False)
    agop = method.rsplit("-", 1)[1]
    return dict(variant="one-sided", agop=agop, memory_limit=2**36, polish=False)


def replan(rec):
    """``lin_rfm_plan`` of a run's problem with the current cost model (the record keeps
    the one of its time), from the counts of observations a row and a column."""
    from types import SimpleNamespace

    from linrfm.solvers.linrfm.plan import plan_fit

    if "row_hist" in rec:
        rc, cc = (np.repeat(np.arange(len(h)), h) for h in (rec["row_hist"], rec["col_hist"]))
    else:  # a record from before the histograms: make the problem again (seeded)
        from linrfm import make_completion

        P = make_completion(
            rec["n"], rec["d"], rec["rank"], rec["n_obs"], random_state=rec.get("seed", 0)
        )
        rc, cc = P.problem.row_counts, P.problem.col_counts
    prob = SimpleNamespace(shape=(rec["n"], rec["d"]), n_obs=rec["n_obs"], row_counts=rc)
    prob.col_counts = cc
    kw = {"variant": "auto", "agop": "auto", "memory_limit": 2**31, **lin_rfm_kw(rec["method"])}
    plan = plan_fit(prob, kw["variant"], kw["agop"], np.float64, float(kw["memory_limit"]))
    ran = rec["plan"]  # the option the run took (the model may choose another now)
    return next(
        o
        for o in plan["options"]
        if (o["variant"], o["side"], o["agop"]) == (ran["variant"], ran["side"], ran["agop"])
    )


def fit(method, problem, rank, callback):
    """Run ``method``; returns lin-RFM's plan (the same arguments as its fit) or None."""
    from bench_als import solver
    from linrfm.solvers import soft_impute_complete
    from linrfm.solvers.linrfm import lin_rfm_complete, lin_rfm_plan

    if method == "softimpute":
        soft_impute_complete(problem, callback=callback)
        return None
    if method == "als":
        solver("als", problem, rank, callback)
        return None
    kw = lin_rfm_kw(method)
    # before tracing: not part of the fit's memory
    plan = lin_rfm_plan(problem, **{k: v for k, v in kw.items() if k != "polish"})
    lin_rfm_complete(problem, callback=callback, **kw)
    return {k: plan[k] for k in ("variant", "side", "agop", "seconds_per_iter", "bytes")}


def child(method, n, d, rank, n_obs, cap, seed=0):
    """Fit one method in this process; print one ``ITER`` line an iteration, then ``RESULT``."""
    from linrfm import make_completion

    # a tiny fit first, so that lazy imports and first-call set-ups are neither timed nor traced
    W = make_completion(60, 50, 2, 1500, random_state=0)
    fit(method, W.problem, 2, lambda it, info: it >= 2 + 0 * info["result"].predict([0], [0]))
    t0 = time.perf_counter()
    P = make_completion(n, d, rank, n_obs, random_state=seed)
    rows, cols = P.unobserved(size=10_000, random_state=1)
    truth = P.truth(rows, cols)
    rec = dict(method=method, n=n, d=d, rank=rank, n_obs=n_obs, cap_cpu_s=cap, seed=seed)
    rec["generate_wall_s"] = time.perf_counter() - t0
    st = dict(cb=0.0, times=[], errs=[], peak=0, traced=False)

    def callback(it, info):
        c0 = time.process_time()
        if st["traced"]:
            # the second fit: memory only, over the first fit's iterations
            st["peak"] = max(st["peak"], tracemalloc.get_traced_memory()[1])
            info.clear()
            tracemalloc.reset_peak()
            return it >= len(st["times"])
        st["times"].append(c0 - start - st["cb"])  # the solver's CPU seconds so far
        pred = info["result"].predict(rows, cols)
        err = float(np.linalg.norm(pred - truth) / np.linalg.norm(truth))
        # the result handed to the callback (the loop keeps it until the next one) and the
        # evaluation's temporaries are not the solver's
        del pred
        info.clear()
        st["cb"] += time.process_time() - c0
        st["errs"].append(err)
        print("ITER " + json.dumps([it, round(st["times"][-1], 3), err]), flush=True)
        return err <= TARGET or st["times"][-1] > cap

    warnings.simplefilter("ignore")
    # timed untraced (tracing every allocation slows a fit by ~20%: 74,010 x 1,000, 3e6
    # observations, 5.5 against 4.5 CPU s an iteration), then traced over the same iterations
    start = time.process_time()
    plan = fit(method, P.problem, rank, callback)
    st["traced"] = True
    tracemalloc.start()
    fit(method, P.problem, rank, callback)
    tracemalloc.stop()
    times, errs = st["times"], st["errs"]
    steps = np.diff(times) if len(times) > 1 else np.asarray(times)
    reached = [t for t, e in zip(times, errs) if e <= TARGET]
    rec.update(
        iterations=len(times),
        s_per_iter=float(np.median(steps)) if len(steps) else None,
        setup_s=float(times[0] - np.median(steps)) if len(times) > 1 else None,
        s_to_target=reached[0] if reached else None,
        final_err=errs[-1] if errs else None,
        peak_traced_bytes=st["peak"],
        plan=plan,
        row_hist=np.bincount(P.problem.row_counts).tolist(),
        col_hist=np.bincount(P.problem.col_counts).tolist(),
        trace=[[round(t, 3), e] for t, e in zip(times, errs)],
    )
    print("RESULT " + json.dumps(rec), flush=True)


def run_point(method, point, cap, seed):
    """One child process; a child killed by the wall timeout still leaves its iterations."""
    axis, n, d, rank, n_obs = point[:5]
    cmd = [sys.executable, os.path.abspath(__file__), "--child", method]
    cmd += [str(v) for v in (n, d, rank, n_obs, cap, seed)]
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    load0, t0 = os.getloadavg()[0], time.perf_counter()
    timeout = 10 * cap + 900  # generation + a loaded box; CPU time is what the cap counts
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
        out, err = done.stdout, done.stderr
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
        err = f"killed after {timeout} s wall"
    lines = out.splitlines()
    res = [ln[7:] for ln in lines if ln.startswith("RESULT ")]
    if res:
        rec = json.loads(res[-1])
    else:
        its = [json.loads(ln[5:]) for ln in lines if ln.startswith("ITER ")]
        rec = dict(method=method, n=n, d=d, rank=rank, n_obs=n_obs, cap_cpu_s=cap)
        rec.update(error=err[-1500:], iterations=len(its), trace=[i[1:] for i in its])
        steps = np.diff([i[1] for i in its])
        rec["s_per_iter"] = float(np.median(steps)) if len(steps) else None
    rec.update(axis=axis, wall_s=time.perf_counter() - t0)
    rec.update(load=[load0, os.getloadavg()[0]])
    return rec


def exponents(recs, methods):
    """{(axis, method): slope of log s/iteration on log x} over the points with a time."""
    out = {}
    for axis in ("obs", "d", "n"):
        for m in methods:
            pts = [r for r in recs if r["axis"] == axis and r["method"] == m and r["s_per_iter"]]
            if len(pts) >= 2:
                x = np.log([xval(r) for r in pts])
                out[axis, m] = float(np.polyfit(x, np.log([r["s_per_iter"] for r in pts]), 1)[0])
    return out


def xval(r):
    return {"obs": r["n_obs"], "d": r["d"], "n": r["n"], "plan": r["n_obs"]}[r["axis"]]


def tables(recs, methods):
    """The markdown tables: every run, the exponents, and lin-RFM's plan against its runs."""
    out = [
        "| axis | n | d | abs(Omega) | method | s / iteration | to 1e-3: CPU s (iterations) "
        "| final error | peak traced MiB | load |",
        "|---|" * 1 + "---|" * 9,
    ]
    for r in recs:
        reach = "not reached" if r.get("s_to_target") is None else f"{r['s_to_target']:.1f}"
        if r.get("s_to_target") is not None:
            errs = [e for _, e in r["trace"]]
            reach += f" ({next(i for i, e in enumerate(errs) if e <= TARGET) + 1})"
        reach += " (killed)" if "error" in r else ""
        spi = f"{r['s_per_iter']:.3g}" if r.get("s_per_iter") else "–"
        fe = f"{r['final_err']:.1e}" if r.get("final_err") is not None else "–"
        mem = f"{r['peak_traced_bytes'] / 2**20:.0f}" if r.get("peak_traced_bytes") else "–"
        out.append(
            f"| {r['axis']} | {r['n']:,} | {r['d']:,} | {r['n_obs']:.2g} | {r['method']} | {spi} "
            f"| {reach} | {fe} | {mem} | {r['load'][0]:.1f}–{r['load'][1]:.1f} |"
        )
    out += ["", "| axis | method | exponent |", "|---|---|---|"]
    out += [f"| {a} | {m} | {e:.2f} |" for (a, m), e in exponents(recs, methods).items()]
    out += [
        "",
        "| axis | n | d | abs(Omega) | plan | model s/it | measured s/it | ratio "
        "| model MiB | measured MiB | ratio |",
        "|---|" + "---|" * 10,
    ]
    for r in recs:
        p = r.get("plan") and replan(r)
        if p and r.get("s_per_iter") and r.get("peak_traced_bytes"):
            mb, pb = r["peak_traced_bytes"] / 2**20, p["bytes"] / 2**20
            out.append(
                f"| {r['axis']} | {r['n']:,} | {r['d']:,} | {r['n_obs']:.2g} | {p['variant']}, "
                f"{p['side']}, {p['agop']} | {p['seconds_per_iter']:.3g} | {r['s_per_iter']:.3g} "
                f"| {r['s_per_iter'] / p['seconds_per_iter']:.2f} | {pb:.0f} | {mb:.0f} "
                f"| {mb / pb:.2f} |"
            )
    return "\n".join(out)


def plot(recs, methods, path):
    from linrfm.experiments._runner import pyplot, save_figure

    plt = pyplot()
    axes_names = [a for a in ("obs", "n", "d") if any(r["axis"] == a for r in recs)]
    if not axes_names:  # the plan study: a table, no axis to plot
        return
    fig, axes = plt.subplots(2, len(axes_names), figsize=(4.5 * len(axes_names), 7), squeeze=False)
    for j, axis in enumerate(axes_names):
        for m in methods:
            pts = [r for r in recs if r["axis"] == axis and r["method"] == m]
            t = [(xval(r), r["s_per_iter"]) for r in pts if r.get("s_per_iter")]
            b = [
                (xval(r), r["peak_traced_bytes"] / 2**20) for r in pts if r.get("peak_traced_bytes")
            ]
            if t:
                axes[0, j].loglog(*zip(*t), "o-", label=m)
            if b:
                axes[1, j].loglog(*zip(*b), "s--", label=m)
        axes[0, j].set_title({"obs": "vs |Ω| (d fixed)", "d": "vs d (n fixed)", "n": "vs n"}[axis])
        axes[1, j].set_xlabel({"obs": "|Ω|", "d": "d", "n": "n"}[axis])
    axes[0, 0].set_ylabel("CPU s / iteration (1 thread)")
    axes[1, 0].set_ylabel("peak traced MiB")
    for ax in axes.ravel():
        ax.xaxis.set_minor_formatter(plt.NullFormatter())
        ax.grid(True, which="both", alpha=0.3)
        if ax.lines:
            ax.legend()
    fig.tight_layout()
    save_figure(fig, path, dpi=110)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--study", choices=sorted(STUDIES), default="methods")
    ap.add_argument("--axis", nargs="+", choices=["obs", "d"], default=["obs", "d"])
    ap.add_argument("--obs", nargs="+", type=float, default=[1e5, 3e5, 1e6, 3e6, 1e7, 2e7])
    ap.add_argument("--widths", nargs="+", type=int, default=[250, 500, 1000, 2000, 4000])
    ap.add_argument("--methods", nargs="+", default=None)
    ap.add_argument("--cap", type=float, default=60.0, help="CPU seconds a run")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quick", action="store_true", help="tiny sizes, 5 s cap: a smoke test")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results"))
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("params", nargs="*", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        n, d, rank, n_obs, cap, seed = args.params
        return child(args.child, int(n), int(d), int(rank), int(n_obs), float(cap), int(seed))
    methods = args.methods or STUDIES[args.study]
    if args.study == "agop":
        grid = agop_grid(args.quick)
    elif args.study == "plan":
        grid = PLAN_GRID
    elif args.quick:
        grid = [("obs", 300, 100, 3, 4000), ("obs", 600, 100, 3, 8000)]
        grid += [("d", 400, 60, 3, 5000), ("d", 400, 120, 3, 6000)]
    else:
        grid = methods_grid(args.axis, args.obs, args.widths)
    cap = 5.0 if args.quick else args.cap
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    tag = args.study + ("_quick" if args.quick else "")
    return run_study(grid, methods, cap, args.seed, out_dir / f"scaling_{tag}.jsonl")


def run_study(grid, methods, cap, seed, log):
    from linrfm._atomic import append_line

    def key(r):
        return (r["axis"], r["method"], r["n"], r["d"], r["n_obs"], r["cap_cpu_s"])

    recs = [json.loads(ln) for ln in log.read_text().splitlines()] if log.exists() else []
    done = {key(r) for r in recs}
    print(f"uptime: {os.popen('uptime').read().strip()}", flush=True)
    for point in grid:
        for m in point[5] if len(point) > 5 else methods:
            axis, n, d, _, n_obs = point[:5]
            if (axis, m, n, d, n_obs, cap) in done:
                continue
            rec = run_point(m, point, cap, seed)
            append_line(log, json.dumps(rec) + "\n")
            recs.append(rec)
            print({k: v for k, v in rec.items() if k != "trace"}, flush=True)
    print(f"uptime: {os.popen('uptime').read().strip()}", flush=True)
    print(tables(recs, methods))
    plot(recs, methods, log.with_suffix(".png"))


if __name__ == "__main__":
    main()
