"""How lin-RFM runs on a problem: the variant, the side of the kernel and the AGOP path,
chosen by a cost model (seconds per iteration from operation counts) under a memory budget."""

from __future__ import annotations

import numpy as np

from ..._validation import check_option, check_scalar
from ...problems import as_completion_problem
from .._rowsolve import largest_batch

__all__ = ["lin_rfm_plan", "plan_fit", "check_dtype", "VARIANTS", "AGOP_PATHS", "CHANGE_SAMPLE"]

VARIANTS = ("auto", "one-sided", "two-sided")
AGOP_PATHS = ("auto", "dense", "sparse")

_GiB = 2**30
# The coefficient ('sparse') AGOP path measures the relative change of the iterate on at
# most this many rows (all rows when there are fewer: then it is exact).
CHANGE_SAMPLE = 8192
# Seconds per operation on one core, for the cost model: a dense matrix-product flop, a
# sparse-times-dense multiply-add (scipy), a sparse-sparse multiply-add (scipy), a gathered
# kernel entry, a line's batched solve per cube of its observations (LU's c^3 / 3 flops at
# about the product's rate), an observation's own bookkeeping in a half-step (its
# coefficient's scatter and gathers, the pattern's copy). Fitted (smallest largest relative
# error, the scipy product's cost held at its measured 0.7 ns; the sparse Gram product's
# 14.4 ns rounded up to 15, its cost per multiply-add growing once its operands outgrow
# the cache) to 19 untraced one-thread measurements on an AVX2 EPYC; measured/model
# 0.82-1.26 on a second set of runs
# (benchmarks/README.md, "lin-RFM's cost model"; bench_scaling.py --study plan and methods).
_T_FLOP, _T_SPMM, _T_SPGEMM, _T_GATHER = 1 / 45e9, 0.7e-9, 15e-9, 5e-9
_T_SOLVE, _T_OBS = 7e-12, 170e-9
# Bytes, measured (tracemalloc) on the NumPy backend in float64 and written as int + float
# parts: per line (counts, offsets); per gathered kernel entry of the largest batched solve
# (two int64 index arrays at the gather's peak); per observation, (int, float) bytes held
# during the block solves and during the rest of a half-step, by path (the one-sided paths'
# integer parts re-measured after the int32 indices and the shared pattern: measured/model
# 0.91-1.06 at 2e4-3e6 observations); a fixed overhead.
_LINE_BYTES, _BATCH_BYTES, _FIXED_BYTES = 16, 16, 2 * 2**20
_OBS_BYTES = {
    ("sparse", "solve"): (10, 4),
    ("sparse", "other"): (2, 8),
    ("dense", "solve"): (18, 3),
    ("dense", "other"): (8, 3),
    ("two-sided", "solve"): (60, 6),
    ("two-sided", "other"): (0, 0),  # its peak is in the solves
}


def _side_cost(n_lines, width, counts):
    """Seconds per half-step of one side (lines regressed with a width^2 kernel), for the
    dense path (holds the n_lines x width iterate) and the coefficient path (AGOP from the
    solve coefficients, no dense iterate; with the default momentum: four d x d products,
    and ``_T_SPGEMM`` as measured covers both of its sparse Gram products)."""
    n_obs = float(np.sum(counts))
    sq = float(np.sum(counts.astype(np.float64) ** 2))
    solves = sq * _T_GATHER + float(np.sum(counts.astype(np.float64) ** 3)) * _T_SOLVE
    solves += n_obs * _T_OBS
    dense_t = 2.0 * n_lines * width**2 * _T_FLOP + n_obs * width * _T_SPMM + solves
    # the sampled rows' product A K measures the change
    sampled = n_obs * min(1.0, CHANGE_SAMPLE / max(n_lines, 1))
    sparse_t = 8.0 * width**3 * _T_FLOP + sq * _T_SPGEMM + sampled * width * _T_SPMM + solves
    return {"dense_time": dense_t, "sparse_time": sparse_t}


def _obs_bytes(path, n_obs, itemsize, batch):
    """Bytes of the observations' arrays at the two peaks of a half-step on ``path``: during
    the block solves (with their largest batch of ``batch`` kernel entries), and after."""
    per = {ph: a + b * itemsize for (p, ph), (a, b) in _OBS_BYTES.items() if p == path}
    return {"solve": n_obs * per["solve"] + _BATCH_BYTES * batch, "other": n_obs * per["other"]}


def check_dtype(dtype):
    """The working dtype (``np.float64`` or ``np.float32``) for the ``dtype`` parameter."""
    if dtype is None:
        return np.float64
    try:
        dt = np.dtype(dtype)
    except TypeError:
        dt = None
    if dt not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise ValueError(
            f"The 'dtype' parameter must be None, 'float32' or 'float64'; got {dtype!r}."
        )
    return dt.type


def lin_rfm_plan(
    X,
    *,
    variant: str = "auto",
    agop: str = "auto",
    dtype=None,
    memory_limit: float = 2 * _GiB,
    shape=None,
) -> dict:
    """How :func:`lin_rfm_complete` will run on ``X``, and what it will cost.

    The variant, the side of the kernel and the AGOP path are chosen by a cost model
    (seconds per iteration, from operation counts) under the memory budget.

    Parameters
    ----------
    X : completion input (see :func:`lin_rfm_complete`)
    variant : {'auto', 'one-sided', 'two-sided'}
    agop : {'auto', 'dense', 'sparse'}
    dtype : {None, 'float64', 'float32'}
    memory_limit : float
        Bytes the solver's working arrays may take.
    shape : tuple of int, optional

    Returns
    -------
    dict
        ``variant``, ``side`` ('row': the kernel is d x d; 'col': one-sided on the
        transpose, n x n kernel), ``agop`` ('dense' or 'sparse'), ``bytes`` (estimated
        peak working memory), ``seconds_per_iter`` (model, one core) and the
        alternatives considered (``options``).
    """
    prob = as_completion_problem(X, shape)
    check_option(variant, "variant", VARIANTS)
    check_option(agop, "agop", AGOP_PATHS)
    check_scalar(memory_limit, "memory_limit", low=0, low_inclusive=False)
    return plan_fit(prob, variant, agop, check_dtype(dtype), float(memory_limit))


def _options(prob, s):
    """Every (variant, side, agop, seconds per iteration, bytes) the solver can run."""
    n, d = prob.shape
    m = prob.n_obs
    batch = {"row": largest_batch(prob.row_counts), "col": largest_batch(prob.col_counts)}
    rc = _side_cost(n, d, prob.row_counts)  # rows regressed, d x d kernel
    cc = _side_cost(d, n, prob.col_counts)  # columns regressed, n x n kernel
    options = []
    for side, c, lines, width in (("row", rc, n, d), ("col", cc, d, n)):
        base = _FIXED_BYTES + _LINE_BYTES * lines
        dense_obs = _obs_bytes("dense", m, s, batch[side])
        # one-sided momentum keeps the last output too: the dense path holds two n x d
        # arrays during the solves, five while it extrapolates
        dense_bytes = (
            base
            + 3 * width * width * s
            + max(2 * n * d * s + dense_obs["solve"], 5 * n * d * s + dense_obs["other"])
        )
        # the coefficient path: during the solves the AGOP, the last kernel and AGOP
        # (momentum), the padded kernel and the last sampled rows; after, the Gram products
        # and the new sampled rows too
        sampled = min(CHANGE_SAMPLE, lines) * width * s
        sparse_obs = _obs_bytes("sparse", m, s, batch[side])
        sparse_bytes = base + max(
            sparse_obs["solve"] + 4 * width * width * s + sampled,
            sparse_obs["other"] + 10 * width * width * s + 2 * sampled,
        )
        options.append(("one-sided", side, "dense", c["dense_time"], dense_bytes))
        options.append(("one-sided", side, "sparse", c["sparse_time"], sparse_bytes))
    # two-sided: the last and the new iterate, the column side's n x n AGOP and padded
    # kernel, the row side's d x d kernel, both sides' observation arrays
    two_bytes = (
        _FIXED_BYTES
        + _LINE_BYTES * (n + d)
        + (2 * n * d + 2 * max(n, d) ** 2 + min(n, d) ** 2) * s
        + _obs_bytes("two-sided", m, s, max(batch.values()))["solve"]
    )
    options.append(("two-sided", "row", "dense", rc["dense_time"] + cc["dense_time"], two_bytes))
    return options


def plan_fit(prob, variant, agop, dtype, memory_limit, kernel_side="auto"):
    """:func:`lin_rfm_plan` on a checked :class:`~linrfm.problems.MatrixCompletion`;
    ``kernel_side`` 'row' or 'col' keeps the options of that side only."""
    n, d = prob.shape
    options = _options(prob, np.dtype(dtype).itemsize)
    if variant != "auto":
        options = [o for o in options if o[0] == variant]
    if kernel_side != "auto":
        options = [o for o in options if o[1] == kernel_side]
    if agop != "auto":
        options = [o for o in options if o[2] == agop]
    if not options:
        raise ValueError(
            f"variant={variant!r} with agop={agop!r} and kernel_side={kernel_side!r} is not "
            "available: the two-sided variant needs the dense iterate (agop='dense' or "
            "'auto') and starts on the rows (kernel_side='row' or 'auto')."
        )
    fits = [o for o in options if o[4] <= memory_limit]
    if not fits:
        best = min(options, key=lambda o: o[4])
        raise MemoryError(
            f"lin-RFM on a {n} x {d} matrix with {prob.n_obs} observations needs an "
            f"estimated {best[4] / _GiB:.2f} GiB at the least (variant={best[0]!r}, "
            f"agop={best[2]!r}, dtype={np.dtype(dtype).name}), more than "
            f"memory_limit={memory_limit / _GiB:.2f} GiB. Raise memory_limit, or try "
            "dtype='float32', variant='one-sided' or agop='sparse'."
        )
    one = [o for o in fits if o[0] == "one-sided"]
    two = [o for o in fits if o[0] == "two-sided"]
    best_one = min(one, key=lambda o: o[3]) if one else None
    # Two-sided needs ~10x fewer iterations (benchmarks/README.md): worth up to 10x the
    # cost of one iteration.
    if two and (best_one is None or two[0][3] <= 10 * best_one[3]):
        pick = two[0]
    else:
        pick = best_one
    return {
        "variant": pick[0],
        "side": pick[1],
        "agop": pick[2],
        "seconds_per_iter": pick[3],
        "bytes": pick[4],
        "options": [
            dict(zip(("variant", "side", "agop", "seconds_per_iter", "bytes"), o)) for o in options
        ],
    }
