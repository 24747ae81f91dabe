"""lin-RFM on a CUDA device (issue 18, item 6): the torch tests on CUDA, then the square and
tall scale problems on the device, written to one JSON file.

1. ``pytest tests/test_torch_backend.py -k cuda``: every torch test is parametrized over the
   devices torch sees (``DEVICES`` there: CPU, plus CUDA when ``torch.cuda.is_available()``),
   so on a CUDA machine ``-k cuda`` selects the same checks on the GPU.
2. ``square``: 5,000 x 5,000, rank 10, 1,000,000 observed; ``tall``: 500,000 x 2,000, rank 10,
   20,000,000 observed (``bench_scale.py``'s problems). ``lin_rfm_complete(device='cuda')``
   with its defaults but ``memory_limit`` (the device's memory, scaled by ``--memory-fraction``;
   the plan chosen is recorded). Through the callback (its time excluded; the device is
   synchronized first): seconds per iteration, seconds and iterations to relative error 1e-3
   and 1e-6 on 100,000 sampled unobserved entries, and the peak device memory
   (``torch.cuda.max_memory_allocated``, reset before each fit). A fit stops at 1e-6, at its
   own stop, or after ``--limit`` seconds.

Without CUDA (or without torch) it exits at once with status 2 and says why.

    python benchmarks/bench_gpu.py [--problems square tall] [--limit 600] [--skip-tests]
        [--out benchmarks/results/gpu.json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np

from bench_scale import PROBLEMS, TARGETS

ROOT = Path(__file__).resolve().parent.parent


def require_cuda():
    """The torch module, or SystemExit(2) with the reason when there is no CUDA device."""
    try:
        import torch
    except ImportError:
        sys.stderr.write('bench_gpu.py needs PyTorch with CUDA: pip install "linrfm[torch]".\n')
        raise SystemExit(2) from None
    if not torch.cuda.is_available():
        sys.stderr.write(
            f"bench_gpu.py needs a CUDA device, and torch.cuda.is_available() is False here "
            f"(torch {torch.__version__}, built for CUDA {torch.version.cuda}). Nothing was "
            "run; run it on a machine with an NVIDIA GPU and a CUDA build of torch.\n"
        )
        raise SystemExit(2)
    return torch


def run_tests():
    """The torch backend's tests on CUDA; returns pytest's status and its summary line."""
    cmd = [sys.executable, "-m", "pytest", "-q", "tests/test_torch_backend.py", "-k", "cuda"]
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=env)
    lines = done.stdout.strip().splitlines()
    print(done.stdout[-3000:], done.stderr[-2000:], flush=True)
    return {"command": " ".join(cmd[1:]), "returncode": done.returncode, "summary": lines[-1:]}


def run_problem(torch, name, limit, memory_limit, device="cuda"):
    """Fit one problem on the device; returns its figures."""
    from linrfm import make_completion
    from linrfm.solvers.linrfm import lin_rfm_complete, lin_rfm_plan

    t0 = time.perf_counter()
    P = make_completion(**PROBLEMS[name], random_state=0)
    rows, cols = P.unobserved(size=min(100_000, P.shape[0] * P.shape[1] // 2), random_state=1)
    truth = P.truth(rows, cols)
    rec = dict(problem=name, **PROBLEMS[name], generate_s=time.perf_counter() - t0)
    plan = lin_rfm_plan(P.problem, memory_limit=memory_limit)
    rec["plan"] = {k: plan[k] for k in ("variant", "side", "agop", "bytes")}
    st = {"cb": 0.0, "times": [], "errs": []}

    def callback(it, info):
        torch.cuda.synchronize()
        c0 = time.perf_counter()
        st["times"].append(c0 - start - st["cb"])
        pred = np.asarray(info["result"].predict(rows, cols))
        st["errs"].append(float(np.linalg.norm(pred - truth) / np.linalg.norm(truth)))
        st["cb"] += time.perf_counter() - c0
        print(f"  {name} it {it}: {st['times'][-1]:.2f} s, error {st['errs'][-1]:.2e}", flush=True)
        return st["errs"][-1] <= TARGETS[-1] or st["times"][-1] > limit

    torch.cuda.reset_peak_memory_stats()
    warnings.simplefilter("ignore")
    torch.cuda.synchronize()
    start = time.perf_counter()
    res = lin_rfm_complete(P.problem, device=device, memory_limit=memory_limit, callback=callback)
    times, errs = st["times"], st["errs"]
    for tgt in TARGETS:
        hit = [(t, i + 1) for i, (t, e) in enumerate(zip(times, errs)) if e <= tgt]
        rec[f"to_{tgt:g}"] = {"seconds": hit[0][0], "iteration": hit[0][1]} if hit else None
    rec.update(
        iterations=len(times),
        s_per_iter=float(np.median(np.diff(times))) if len(times) > 1 else float(times[0]),
        first_iter_s=times[0] if times else None,
        final_err=errs[-1] if errs else None,
        converged=bool(res.converged),
        peak_device_bytes=int(torch.cuda.max_memory_allocated()),
        trace=[[round(t, 3), e] for t, e in zip(times, errs)],
    )
    return rec


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--problems", nargs="+", choices=sorted(PROBLEMS), default=["square", "tall"])
    ap.add_argument("--limit", type=float, default=600.0, help="seconds a fit")
    ap.add_argument("--memory-fraction", type=float, default=0.8)
    ap.add_argument("--skip-tests", action="store_true")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "gpu.json"))
    args = ap.parse_args(argv)
    torch = require_cuda()
    from linrfm._atomic import atomic_write_text

    props = torch.cuda.get_device_properties(0)
    out = {
        "device": props.name,
        "device_memory_bytes": props.total_memory,
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "load": os.getloadavg(),
    }
    if not args.skip_tests:
        out["tests"] = run_tests()
    memory_limit = args.memory_fraction * props.total_memory
    out["problems"] = []
    for name in args.problems:
        out["problems"].append(run_problem(torch, name, args.limit, memory_limit))
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(args.out, json.dumps(out, indent=1))  # after each problem
        print(json.dumps({k: v for k, v in out["problems"][-1].items() if k != "trace"}))
    print(f"written: {args.out}")


if __name__ == "__main__":
    main()
