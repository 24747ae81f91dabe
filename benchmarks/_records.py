"""What the cached benchmarks of issue 19 share: one JSON record per cell, written
atomically with the load average around it, and the command-line options to run or
tabulate them."""

from __future__ import annotations

import json
import os
from pathlib import Path

from linrfm._atomic import atomic_write_text


def cached(path: Path, make):
    """The record at ``path``; made by ``make()`` (a dict), stamped with the load averages
    before and after, and written first when it is not there yet. ``(record, new)``."""
    if path.exists():
        return json.loads(path.read_text()), False
    load0 = os.getloadavg()
    rec = dict(make(), load_before=load0, load_after=os.getloadavg())
    atomic_write_text(path, json.dumps(rec, indent=1))
    return rec, True


def records(cache: Path) -> list:
    """Every record under ``cache``."""
    return [json.loads(p.read_text()) for p in sorted(cache.glob("*.json"))]


def add_common_args(ap, cache: Path):
    """``--seed``, ``--cache`` (default ``cache``) and ``--table`` (print from the cache)."""
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--cache", type=Path, default=cache)
    ap.add_argument("--table", action="store_true", help="print the table from the cache only")
