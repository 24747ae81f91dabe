"""Image completion: lin-RFM against SoftImpute on grayscale photographs (issue 19).

Each image that ships with scikit-image (``camera``, ``moon``, ``coins``; scaled to [0, 1])
is observed on a seeded random 30% or 50% of its pixels. Both methods are
:class:`~linrfm.ratings.RatingsCompleter` fits of the observed pixels (the global mean
removed, predictions clipped to [0, 1]), every parameter chosen on 10% of the *observed*
pixels held out (``val_fraction``), then refitted on all observed pixels:

- ``softimpute``: the point of a SoftImpute path of :data:`SI_PATH` ``lam`` values from
  ``lambda_max`` down to ``1e-3 lambda_max`` with the lowest held-out error; when that point
  is the path's last, the path is extended by a decade (same density) and refitted;
- ``linrfm``: the relative ridge among :data:`LIN_LAMS` and the iteration count (up to
  :data:`LIN_ITER`) with the lowest held-out error (two-sided noisy lin-RFM, alpha 1/2).

Reported: the relative error ``||pred - truth|| / ||truth||`` over the unobserved pixels
(never seen by either fit). Each (image, fraction, method) record is cached as JSON under
``--cache``; ``--table`` prints the table from the cache.

    pip install scikit-image
    OPENBLAS_NUM_THREADS=1 python benchmarks/bench_images.py [--images camera moon coins]
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import numpy as np

from linrfm.ratings import RatingsCompleter

try:  # run as a script (benchmarks/ on the path) or as benchmarks.<name>
    from _records import add_common_args, cached, records
except ImportError:
    from benchmarks._records import add_common_args, cached, records

CACHE = Path(__file__).parent / "results" / "images"
IMAGES = ("camera", "moon", "coins")
FRACTIONS = (0.3, 0.5)
SI_PATH = dict(n_lams=20, lam_ratio=1e-3)
LIN_LAMS = (1e-3, 1e-2, 3e-2, 0.1, 0.3, 1.0)
LIN_ITER = 12
METHODS = {
    "softimpute": dict(method="softimpute", **SI_PATH),
    "linrfm": dict(method="linrfm", lams=LIN_LAMS, max_iter=LIN_ITER),
}


def load_image(name):
    """A scikit-image sample image as float64 in [0, 1] (grayscale)."""
    try:
        import skimage.data
    except ImportError as exc:
        raise SystemExit("this benchmark needs scikit-image: pip install scikit-image") from exc
    img = np.asarray(getattr(skimage.data, name)(), dtype=np.float64)
    if img.ndim == 3:
        img = img[..., :3] @ np.array([0.2125, 0.7154, 0.0721])
    return img / 255.0


def observe(shape, fraction, seed):
    """A seeded boolean mask with ``round(fraction * size)`` observed pixels."""
    n = int(np.prod(shape))
    mask = np.zeros(n, bool)
    mask[np.random.default_rng(seed).choice(n, int(round(fraction * n)), replace=False)] = True
    return mask.reshape(shape)


def cell(name, fraction, method, seed):
    """Fit one method on one (image, fraction); its record (relative error, seconds)."""
    img = load_image(name)
    mask = observe(img.shape, fraction, seed)
    r, c = np.nonzero(mask)
    ur, uc = np.nonzero(~mask)
    params = dict(METHODS[method])
    t0 = time.perf_counter()
    while True:
        est = RatingsCompleter(biases="global", random_state=seed, **params)
        est.fit((r, c, img[r, c]))
        if method != "softimpute" or est.chosen_["path_index"] < params["n_lams"] - 1:
            break
        # the best point is the path's last: extend the path by a decade (same density)
        params.update(n_lams=params["n_lams"] + SI_PATH["n_lams"] // 3,
                      lam_ratio=params["lam_ratio"] / 10)  # fmt: skip
    secs = time.perf_counter() - t0
    pred = est.predict(ur, uc)
    truth = img[ur, uc]
    chosen = {
        k: (float(v) if isinstance(v, (float, np.floating)) else v) for k, v in est.chosen_.items()
    }
    return {
        "image": name,
        "shape": list(img.shape),
        "fraction": fraction,
        "method": method,
        "rel_error": float(np.linalg.norm(pred - truth) / np.linalg.norm(truth)),
        "seconds": secs,
        "chosen": chosen,
        "params": {k: v for k, v in params.items() if k in ("n_lams", "lam_ratio", "lams")},
        "seed": seed,
    }


def table(cache):
    recs = records(cache)
    key = {(r["image"], r["fraction"], r["method"]): r for r in recs}
    print(
        f"{platform.processor() or platform.machine()}, Python {platform.python_version()}, "
        f"NumPy {np.__version__}\n"
    )
    print(
        "| image | observed | SoftImpute (λ on held-out) | lin-RFM | lin-RFM / SoftImpute | "
        "lin-RFM chosen (ridge, iterations) | seconds SI / lin-RFM |"
    )
    print("|---|---|---|---|---|---|---|")
    for name in IMAGES:
        for f in FRACTIONS:
            si, lr = key.get((name, f, "softimpute")), key.get((name, f, "linrfm"))
            if si is None or lr is None:
                continue
            ch = lr["chosen"]
            print(
                f"| {name} {tuple(si['shape'])} | {f:.0%} | {si['rel_error']:.4f} | "
                f"{lr['rel_error']:.4f} | {lr['rel_error'] / si['rel_error']:.3f} | "
                f"{ch['lam']:g}, {ch['n_iter']} | {si['seconds']:.0f} / {lr['seconds']:.0f} |"
            )


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--images", nargs="*", default=list(IMAGES))
    ap.add_argument("--fractions", type=float, nargs="*", default=list(FRACTIONS))
    ap.add_argument("--methods", nargs="*", default=list(METHODS), choices=list(METHODS))
    add_common_args(ap, CACHE)
    args = ap.parse_args()
    args.cache.mkdir(parents=True, exist_ok=True)
    if not args.table:
        for name in args.images:
            for f in args.fractions:
                for m in args.methods:
                    path = args.cache / f"{name}_{round(100 * f)}_{m}.json"
                    rec, new = cached(path, lambda: cell(name, f, m, args.seed))  # noqa: B023
                    if new:
                        print(
                            f"{name} {f:.0%} {m}: rel err {rec['rel_error']:.4f}, "
                            f"{rec['seconds']:.1f} s, {rec['chosen']}",
                            flush=True,
                        )
    table(args.cache)


if __name__ == "__main__":
    main()
