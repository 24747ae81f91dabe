"""Write ``reference.npz``: every pinned case's result on the code of the day.

Run against the old (pre-refactor) code::

    PYTHONPATH=/path/to/old/src python tests/pinned/generate.py [OUT]

Each case ``c`` stores ``c/X``, ``c/n_iter`` and ``c/converged``.
"""

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pinned.cases import CASES  # noqa: E402

HERE = Path(__file__).resolve().parent


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    path = Path(argv[0]) if argv else HERE / "reference.npz"
    arrays = {}
    for case in CASES:
        t0 = time.perf_counter()
        res = case.run()
        arrays[f"{case.name}/X"] = res["X"]
        arrays[f"{case.name}/n_iter"] = np.int64(res["n_iter"])
        arrays[f"{case.name}/converged"] = np.int64(res["converged"])
        print(
            f"{case.name:32s} shape={res['X'].shape} n_iter={res['n_iter']} "
            f"converged={res['converged']} {time.perf_counter() - t0:.2f}s",
            flush=True,
        )
    import linrfm

    print("linrfm from", linrfm.__file__)
    np.savez_compressed(path, **arrays)
    print(f"wrote {path} ({path.stat().st_size} bytes, {len(CASES)} cases)")


if __name__ == "__main__":
    main()
