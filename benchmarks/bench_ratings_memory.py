"""Peak memory of the ratings path on a large synthetic table (issue 19, item 2).

A synthetic rating table (``--users`` x ``--items``, ``--ratings`` distinct pairs; rank-8
taste plus noise, rounded to the stars 1..5, item popularity skewed) is written once; then
every stage runs in its own fresh subprocess (the table is made in one too: a child
inherits its parent's peak at the fork), which reports its peak resident set size
(``resource.getrusage(RUSAGE_SELF).ru_maxrss``) and its seconds:

- ``load``: read the table only (the baseline: what the data alone cost);
- ``fit``: ``RatingsCompleter(memory_limit=...).fit((users, items, ratings))`` and ``save``;
- ``predict``: ``RatingsCompleter.load`` and ``predict`` of ``--pairs`` random pairs;
- ``topn``: ``RatingsCompleter.load`` and ``recommend(every user, k=10)``.

Reported per stage: peak RSS, its ratio to the ``load`` stage's, seconds; and the model
file's size. The targets of issue 19 are a peak RSS of at most 4 GiB for every stage and a
model file of at most 1 GiB on 200,000 x 10,000 with 10 M ratings.

Usage::

    PYTHONPATH=src python benchmarks/bench_ratings_memory.py            # 200k x 10k, 10 M
    PYTHONPATH=src python benchmarks/bench_ratings_memory.py --quick    # 20k x 2k, 1 M
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np

STAGES = ("load", "fit", "predict", "topn")
_GiB = 2**30


def make_table(n, d, m, seed=0):
    """``(users, items, ratings)``: ``m`` distinct pairs, ratings in 1..5."""
    rng = np.random.default_rng(seed)
    pop = 1.0 / np.arange(1, d + 1) ** 0.8  # skewed item popularity
    pop /= pop.sum()
    keys = np.empty(0, dtype=np.int64)
    while keys.size < m:
        k = m - keys.size
        u = rng.integers(0, n, size=int(k * 1.2) + 1000)
        i = rng.choice(d, size=u.size, p=pop)
        keys = np.unique(np.concatenate([keys, u * d + i]))
    keys = rng.permutation(keys)[:m]
    users, items = keys // d, keys % d
    del keys
    r = 8
    U = rng.standard_normal((n, r)).astype(np.float32) / np.sqrt(r)
    V = rng.standard_normal((d, r)).astype(np.float32) / np.sqrt(r)
    taste = np.empty(m, dtype=np.float32)
    for s in range(0, m, 1_000_000):
        sl = slice(s, s + 1_000_000)
        taste[sl] = np.einsum("ij,ij->i", U[users[sl]], V[items[sl]])
    ratings = np.clip(np.rint(3.5 + taste + 0.5 * rng.standard_normal(m)), 1, 5)
    return users, items, ratings.astype(np.float64)


def _peak_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def stage(name, folder, args):
    """Run one stage in this process; return its figures."""
    from linrfm import RatingsCompleter

    f = np.load(os.path.join(folder, "table.npz"))
    users, items, ratings = f["users"], f["items"], f["ratings"]
    model = os.path.join(folder, "model.npz")
    out = {}
    t0 = time.perf_counter()
    if name == "fit":
        # (memory_limit is new in issue 19: without it, the version before is measured)
        known = RatingsCompleter().get_params()
        kw = {"memory_limit": args.memory_limit * _GiB} if "memory_limit" in known else {}
        est = RatingsCompleter(**kw)
        est.fit((users, items, ratings))
        est.save(model)
        out.update(
            model_mib=os.path.getsize(model) / 2**20,
            chosen=est.chosen_,
            result=type(est.result_).__name__,
        )
    elif name == "predict":
        est = RatingsCompleter.load(model)
        rng = np.random.default_rng(1)
        p = est.predict(
            est.row_ids_[rng.integers(0, len(est.row_ids_), args.pairs)],
            est.col_ids_[rng.integers(0, len(est.col_ids_), args.pairs)],
        )
        out["mean_prediction"] = float(p.mean())
    elif name == "topn":
        est = RatingsCompleter.load(model)
        top = est.recommend(est.row_ids_, k=10)
        out["rows"] = len(top)
    out.update(stage=name, seconds=time.perf_counter() - t0, peak_mib=_peak_mib())
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="20,000 x 2,000, 1 M ratings")
    ap.add_argument("--users", type=int, default=200_000)
    ap.add_argument("--items", type=int, default=10_000)
    ap.add_argument("--ratings", type=int, default=10_000_000)
    ap.add_argument("--pairs", type=int, default=1_000_000)
    ap.add_argument("--memory-limit", type=float, default=2.0, help="GiB (memory_limit)")
    ap.add_argument("--stage", choices=("gen", *STAGES), help=argparse.SUPPRESS)
    ap.add_argument("--dir", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.stage == "gen":
        users, items, ratings = make_table(args.users, args.items, args.ratings)
        np.savez(os.path.join(args.dir, "table.npz"), users=users, items=items, ratings=ratings)
        return
    if args.stage:
        print(json.dumps(stage(args.stage, args.dir, args)))
        return
    if args.quick:
        args.users, args.items, args.ratings = 20_000, 2_000, 1_000_000
    with tempfile.TemporaryDirectory() as folder:
        t0 = time.perf_counter()
        # in a subprocess too: a child inherits its parent's peak RSS at the fork, so the
        # parent never holds the table
        gen = [sys.executable, __file__, "--stage", "gen", "--dir", folder]
        gen += ["--users", str(args.users), "--items", str(args.items)]
        subprocess.run([*gen, "--ratings", str(args.ratings)], check=True)
        print(
            f"table {args.users} x {args.items}, {args.ratings} ratings "
            f"({time.perf_counter() - t0:.0f} s); load {os.getloadavg()}",
            flush=True,
        )
        rows = []
        for name in STAGES:
            cmd = [sys.executable, __file__, "--stage", name, "--dir", folder]
            cmd += ["--pairs", str(args.pairs), "--memory-limit", str(args.memory_limit)]
            done = subprocess.run(cmd, capture_output=True, text=True)
            if done.returncode:
                print(f"stage {name} failed:\n{done.stderr[-2000:]}", flush=True)
                break
            rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
            print(json.dumps(rows[-1]), flush=True)
    base = rows[0]["peak_mib"] if rows else float("nan")
    print("\n| stage | peak RSS (MiB) | / load | seconds |\n|---|---|---|---|")
    for r in rows:
        print(f"| {r['stage']} | {r['peak_mib']:.0f} | {r['peak_mib'] / base:.2f} | "
              f"{r['seconds']:.1f} |")  # fmt: skip
    if len(rows) > 1:
        print(f"model file: {rows[1]['model_mib']:.1f} MiB; load averages {os.getloadavg()}")


if __name__ == "__main__":
    main()
