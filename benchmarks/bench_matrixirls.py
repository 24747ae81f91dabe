"""lin-RFM against MatrixIRLS (Kuemmerle & Verdun, ICML 2021) on ill-conditioned completion.

Both methods solve the same problems, exchanged as ``.mat`` files: n x n, rank r (default
1000 x 1000, rank 5), ``X = U diag(s) V^T`` with orthonormal U, V and s geometric from 1 to
1/kappa (``make_completion(..., kappa=)``, rescaled to mean squared entry 1), uniform masks
redrawn until every row and column holds >= r + 1 entries, rho = observations / r(2n - r).

* linrfm: ``lin_rfm_complete`` with its defaults (no rank given). Its relative error to the
  planted matrix is read after every iteration by a callback whose own time is excluded.
* MatrixIRLS: the authors' MATLAB code run under GNU Octave (``benchmarks/matrixirls_cell.m``),
  **given the true rank** (its smoothing rule ``mode_eps='oracle_model_order'``, as its
  authors run it), with the options of their ill-conditioned experiment (ICML 2021, Figure 3:
  p = 0, tol 1e-12, tol_CG 1e-9, N0 400, N0_inner 500, epsmin 1e-16). Time is measured inside
  Octave (MatrixIRLS's own tic/toc per iterate), so Octave's start-up is excluded; the errors
  of the saved iterates are computed after the run.

Per cell: each method's time to relative error ``--target`` (1e-9); a method that stops
first is timed to its stop and its final error reported. Also ``||E||_F / sigma_r`` of the
returned matrix and the ratio of times linrfm / MatrixIRLS. Each finished cell is cached as
JSON under ``--out`` (default ./linrfm-results/matrixirls, never a committed folder) and
skipped when rerun. Both sides get ``--threads`` BLAS threads (default 1).

MatrixIRLS is not part of linrfm and is never committed: fetch it into a temporary folder
(``git clone https://github.com/ckuemmerle/MatrixIRLS /tmp/MatrixIRLS``) and pass
``--matrixirls /tmp/MatrixIRLS`` (or set MATRIXIRLS_PATH). Its two MEX helpers are compiled
for Octave with ``mkoctfile`` into ``OUT/mex``. Without Octave or the code the script prints
why and exits 0 (``--quick``: n = 200, two kappas, two rhos, a CI smoke run)::

    PYTHONPATH=src python benchmarks/bench_matrixirls.py --matrixirls /tmp/MatrixIRLS --quick
    nice -n 5 python benchmarks/bench_matrixirls.py --matrixirls /tmp/MatrixIRLS
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import scipy.io
from sklearn.exceptions import ConvergenceWarning

from linrfm import lin_rfm_complete, make_completion
from linrfm._atomic import atomic_write, atomic_write_text
from linrfm.problems.completion import CoverageWarning

HERE = Path(__file__).resolve().parent
#: options of the authors' ill-conditioned run (experiment_ICML2021_Figure3_kappa1e10_rank10.m)
MIRLS_OPTS = {"tol": 1e-12, "tol_CG": 1e-9, "N0": 400, "N0_inner": 500, "epsmin": 1e-16}
MEX = {"partXY": "partXY.c", "setSval": "setSval.cpp"}
GRID = {"kappas": [10, 1e3, 1e5, 1e10], "rhos": [1.5, 2, 2.5, 3, 4]}
QUICK = {"n": 200, "kappas": [10, 1e5], "rhos": [2, 3]}


def make_problem(n, rank, kappa, rho, seed, max_redraws=10_000):
    """The planted problem of one cell: masks redrawn until each line holds >= rank + 1.

    Returns ``(planted, n_obs, redraws)``; the redraws come from one seeded stream, so the
    problem depends only on ``(n, rank, kappa, rho, seed)``.
    """
    n_obs = int(round(rho * rank * (2 * n - rank)))
    rng = np.random.default_rng(seed)
    for redraws in range(max_redraws):
        with warnings.catch_warnings():  # a draw leaving a line empty is rejected below
            warnings.simplefilter("ignore", CoverageWarning)
            planted = make_completion(n, n, rank, n_obs, kappa=kappa, random_state=rng)
        p = planted.problem
        if (
            min(np.bincount(p.rows, minlength=n).min(), np.bincount(p.cols, minlength=n).min())
            > rank
        ):
            return planted, n_obs, redraws
    raise RuntimeError(f"no mask with >= {rank + 1} entries per line in {max_redraws} draws")


def sigma_r(planted) -> float:
    """The smallest nonzero singular value of the planted ``U V^T`` (from the factors)."""
    ru, rv = np.linalg.qr(planted.U, mode="r"), np.linalg.qr(planted.V, mode="r")
    return float(np.linalg.svd(ru @ rv.T, compute_uv=False)[-1])


def write_problem(path, planted, options=MIRLS_OPTS) -> None:
    """Write the observed entries (1-based indices), the truth's factors and the options."""
    p = planted.problem
    n, d = p.shape
    data = {"d1": n, "d2": d, "r": planted.rank, "rows": p.rows + 1.0, "cols": p.cols + 1.0}
    data.update(y=p.values, U0=planted.U, V0=planted.V, **options)
    atomic_write(path, lambda fh: scipy.io.savemat(fh, data, do_compression=False))


def read_problem(path):
    """Back from a problem file: ``(rows, cols, values, shape, U0, V0)`` with 0-based indices."""
    m = scipy.io.loadmat(path)
    rows = m["rows"].ravel().astype(np.int64) - 1
    cols = m["cols"].ravel().astype(np.int64) - 1
    shape = (int(m["d1"].item()), int(m["d2"].item()))
    return rows, cols, m["y"].ravel(), shape, m["U0"], m["V0"]


def summarize(times, errors, stop_s, abs_err, norm_truth, s_r, target):
    """One method's record: first time at ``target`` (or its stop) and its final errors."""
    errors = np.asarray(errors, dtype=float)
    hit = np.flatnonzero(errors <= target)
    final = abs_err / norm_truth
    return {
        "reached": bool(hit.size),
        "seconds": float(times[hit[0]]) if hit.size else float(stop_s),
        "iterations_to_target": int(hit[0]) + 1 if hit.size else None,
        "stop_s": float(stop_s),
        "n_iter": int(errors.size),
        "rel_error": float(final),
        "E_over_sigma_r": float(abs_err / s_r),
        "success": bool(final <= target),
    }


def run_linrfm(planted, threads, target):
    """lin_rfm_complete with its defaults; the error callback's own time is excluded."""
    truth = planted.dense_truth()
    norm_truth = float(np.linalg.norm(truth))
    times, errors, paused = [], [], [0.0]

    def callback(it, info):
        c0 = time.perf_counter()
        errors.append(float(np.linalg.norm(info["result"].to_dense() - truth)) / norm_truth)
        times.append(c0 - t0 - paused[0])
        paused[0] += time.perf_counter() - c0

    t0 = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        try:
            res = lin_rfm_complete(planted.problem, callback=callback, n_threads=threads)
        except Exception as exc:  # recorded as this cell's failure, the grid goes on
            return {"reached": False, "success": False, "error": f"{type(exc).__name__}: {exc}"}
    stop = time.perf_counter() - t0 - paused[0]
    abs_err = float(np.linalg.norm(res.to_dense() - truth))
    out = summarize(times, errors, stop, abs_err, norm_truth, sigma_r(planted), target)
    polished = res.params.get("polished") or {}
    out.update(
        converged=bool(res.converged),
        variant=res.params.get("variant"),
        polished_rank=polished.get("rank") if isinstance(polished, dict) else None,
        warnings=[str(w.message)[:200] for w in caught],
    )
    return out


def _octave_quote(path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def missing_requirement(mirls, octave="octave"):
    """Why the MatrixIRLS side cannot run (None when it can)."""
    if shutil.which(octave) is None:
        return f"GNU Octave ({octave!r}) not found: apt-get install -y octave"
    if shutil.which("mkoctfile") is None:
        return "mkoctfile not found (it ships with Debian's octave package, or liboctave-dev)"
    if not mirls:
        return "no MatrixIRLS code: pass --matrixirls PATH or set MATRIXIRLS_PATH"
    if not (Path(mirls) / "algorithms" / "MatrixIRLS" / "MatrixIRLS.m").is_file():
        return f"{mirls} holds no algorithms/MatrixIRLS/MatrixIRLS.m (a MatrixIRLS checkout?)"
    return None


def build_mex(mirls, mex_dir) -> None:
    """Compile MatrixIRLS's two MEX helpers for Octave (once, into ``mex_dir``)."""
    mex_dir.mkdir(parents=True, exist_ok=True)
    stubs = mex_dir / "include"  # MATLAB-only headers the sources include but do not use
    stubs.mkdir(exist_ok=True)
    for header in ("blas.h", "matrix.h"):
        (stubs / header).touch()
    env = dict(os.environ, CFLAGS="-O2 -fPIC -include stddef.h")  # partXY.c needs ptrdiff_t
    for name, source in MEX.items():
        if (mex_dir / f"{name}.mex").is_file():
            continue
        cmd = ["mkoctfile", "--mex", f"-I{stubs}", "-o", str(mex_dir / f"{name}.mex")]
        cmd.append(str(Path(mirls) / "tools" / source))
        subprocess.run(cmd, check=True, env=env, capture_output=True, text=True)


def run_matrixirls(problem_file, planted, args, target):
    """MatrixIRLS under Octave on ``problem_file``; times come from inside Octave."""
    result_file = problem_file.with_suffix(".mirls.mat")
    call = ", ".join(
        _octave_quote(p) for p in (problem_file, result_file, args.matrixirls, args.out / "mex")
    )
    cmd = [args.octave, "--no-gui", "--norc", "--quiet", "--eval"]
    cmd.append(f"addpath({_octave_quote(HERE)}); matrixirls_cell({call});")
    threads = str(args.threads)
    env = dict(os.environ, OPENBLAS_NUM_THREADS=threads, OMP_NUM_THREADS=threads)
    result_file.unlink(missing_ok=True)
    try:
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=args.budget)
    except subprocess.TimeoutExpired:
        return {"reached": False, "success": False, "error": f"timeout after {args.budget:g} s"}
    if not result_file.is_file():
        return {"reached": False, "success": False, "error": proc.stderr[-800:]}
    m = scipy.io.loadmat(result_file)
    result_file.unlink()
    times, errors = m["times"].ravel(), m["rel_err"].ravel()
    norm_truth = float(np.linalg.norm(planted.U @ planted.V.T))
    out = summarize(
        times, errors, m["wall"].item(), m["final_abs_err"].item(), norm_truth,
        sigma_r(planted), target,
    )  # fmt: skip
    out["setup_s"] = float(m["wall"].item() - times[-1])  # outside MatrixIRLS's own clock
    return out


def run_cell(n, rank, kappa, rho, seed, args):
    """One cell, cached as JSON: returns the record (computing it when not cached)."""
    key = f"n{n}_r{rank}_k{kappa:g}_rho{rho:g}_s{seed}"
    cache = args.out / "cells" / f"{key}.json"
    if cache.is_file():
        return json.loads(cache.read_text())
    planted, n_obs, redraws = make_problem(n, rank, kappa, rho, seed)
    problem_file = args.out / "cells" / f"{key}.problem.mat"
    write_problem(problem_file, planted)
    rec = {"n": n, "rank": rank, "kappa": kappa, "rho": rho, "seed": seed, "n_obs": n_obs}
    rec.update(redraws=redraws, threads=args.threads, load_before=os.getloadavg())
    rec["matrixirls"] = run_matrixirls(problem_file, planted, args, args.target)
    rec["linrfm"] = run_linrfm(planted, args.threads, args.target)
    rec.update(load_after=os.getloadavg(), finished=time.strftime("%Y-%m-%d %H:%M:%S"))
    problem_file.unlink()
    atomic_write_text(cache, json.dumps(rec, indent=1, default=float))
    return rec


def _cell_text(m) -> str:
    if "error" in m:
        return f"failed: {m['error'].strip().splitlines()[-1][:60] if m['error'] else '?'}"
    mark = "" if m["reached"] else " (stop)"
    return f"{m['seconds']:.2f}{mark}, {m['rel_error']:.1e}, {m['E_over_sigma_r']:.1e}"


def table(records) -> str:
    """Markdown: per cell, each method's time (to target or stop), rel. error, ||E||/sigma_r."""
    lines = [
        "| kappa | rho | seed | linrfm s, rel err, E/sigma_r | MatrixIRLS s, rel err, "
        "E/sigma_r | linrfm / MatrixIRLS | load 1-min |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in records:
        lin, mir = r["linrfm"], r["matrixirls"]
        failed = "error" in mir or "error" in lin
        ratio = "n/a" if failed else f"{lin['seconds'] / mir['seconds']:.2f}"
        if not failed and not (lin["reached"] and mir["reached"]):
            ratio += " (not both at target)"
        load = f"{r['load_before'][0]:.1f}-{r['load_after'][0]:.1f}"
        lines.append(
            f"| {r['kappa']:g} | {r['rho']:g} | {r['seed']} | {_cell_text(lin)} | "
            f"{_cell_text(mir)} | {ratio} | {load} |"
        )
    return "\n".join(lines)


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--matrixirls", default=os.environ.get("MATRIXIRLS_PATH"))
    ap.add_argument("--octave", default="octave")
    ap.add_argument("--quick", action="store_true", help="n = 200, a 2 x 2 grid (smoke)")
    ap.add_argument("--n", type=int, default=None, help="size (default 1000; 200 with --quick)")
    ap.add_argument("--rank", type=int, default=5)
    ap.add_argument("--kappas", type=float, nargs="+", default=None)
    ap.add_argument("--rhos", type=float, nargs="+", default=None)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--target", type=float, default=1e-9)
    ap.add_argument("--threads", type=int, default=1, help="BLAS threads of both sides")
    ap.add_argument("--budget", type=float, default=3600.0, help="seconds per MatrixIRLS run")
    ap.add_argument("--out", type=Path, default=Path("linrfm-results") / "matrixirls")
    args = ap.parse_args(argv)
    base = QUICK if args.quick else {"n": 1000, **GRID}
    args.n = args.n or base["n"]
    args.kappas = args.kappas or base["kappas"]
    args.rhos = args.rhos or base["rhos"]
    args.out = args.out.resolve()
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    why = missing_requirement(args.matrixirls, args.octave)
    if why:
        print(f"bench_matrixirls: skipped, {why}.")
        return 0
    args.matrixirls = str(Path(args.matrixirls).resolve())
    build_mex(args.matrixirls, args.out / "mex")
    (args.out / "cells").mkdir(parents=True, exist_ok=True)
    machine = f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores"
    print(f"# {machine}, threads {args.threads}, n {args.n}, rank {args.rank}", flush=True)
    records = []
    for kappa in args.kappas:
        for rho in args.rhos:
            for seed in args.seeds:
                records.append(run_cell(args.n, args.rank, kappa, rho, seed, args))
                print(table(records[-1:]).splitlines()[-1], flush=True)
    print(table(records))
    return 0


if __name__ == "__main__":
    sys.exit(main())
