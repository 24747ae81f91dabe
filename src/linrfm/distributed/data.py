"""The observations as row blocks held by the workers, built as a Dask graph from the input
(a Dask DataFrame of triples, e.g. ``dask.dataframe.read_parquet``, or anything
:func:`linrfm.lin_rfm_complete` takes), so that a lost block is recomputed from it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..problems import as_completion_problem
from ..solvers.linrfm import plan as _plan
from . import tasks

__all__ = ["Triples", "Blocks", "as_triples", "make_blocks"]


@dataclass
class Triples:
    """A Dask DataFrame of observations and the names of its (row, column, value) columns."""

    frame: object
    row: str = "row"
    col: str = "col"
    value: str = "value"

    @property
    def names(self):
        return (self.row, self.col, self.value)


def _is_dask_frame(X) -> bool:
    return type(X).__module__.startswith("dask") and hasattr(X, "to_delayed")


def as_triples(X, shape, npartitions):
    """``(Triples, shape)``: a Dask DataFrame stays one; other input goes into the graph once."""
    import dask.dataframe as dd
    import pandas as pd

    if isinstance(X, Triples):
        triples = X
    elif _is_dask_frame(X):
        triples = Triples(X)
    else:
        prob = as_completion_problem(X, shape)
        frame = pd.DataFrame({"row": prob.rows, "col": prob.cols, "value": prob.values})
        return Triples(dd.from_pandas(frame, npartitions=npartitions, sort=False)), prob.shape
    missing = [c for c in triples.names if c not in triples.frame.columns]
    if missing:
        raise ValueError(
            f"The Dask DataFrame has no column {missing[0]!r} (columns: "
            f"{list(triples.frame.columns)}); name the (row, col, value) columns with "
            "linrfm.distributed.Triples(frame, row=..., col=..., value=...)."
        )
    return triples, shape


@dataclass
class _Counts:
    """What the plan reads of a problem: its shape and line counts (``n + d`` numbers)."""

    shape: tuple
    row_counts: np.ndarray
    col_counts: np.ndarray

    @property
    def n_obs(self) -> int:
        return int(self.row_counts.sum())


def _counts(client, delayed, names, shape):
    import dask

    parts = client.gather(
        client.compute([dask.delayed(tasks.counts_of)(d, names) for d in delayed])
    )
    rc = _add([p[0] for p in parts])
    cc = _add([p[1] for p in parts])
    if shape is None:
        shape = (rc.size, cc.size)
    shape = (int(shape[0]), int(shape[1]))
    if rc.size > shape[0] or cc.size > shape[1]:
        raise ValueError(
            f"shape={shape} is too small for the indices (largest row {rc.size - 1}, "
            f"largest column {cc.size - 1})."
        )
    rc = np.concatenate([rc, np.zeros(shape[0] - rc.size, np.int64)])
    cc = np.concatenate([cc, np.zeros(shape[1] - cc.size, np.int64)])
    return _Counts(shape, rc, cc)


def _add(arrays):
    out = np.zeros(max((a.size for a in arrays), default=0), np.int64)
    for a in arrays:
        out[: a.size] += a
    return out


def balanced_bounds(counts, n_blocks):
    """Contiguous row blocks of about equal solve cost ``sum |O_i|^3 (+ |O_i|^2 + 1)``."""
    c = counts.astype(np.float64)
    cum = np.cumsum(c**3 + c**2 + 1.0)
    n_blocks = max(1, min(n_blocks, counts.size))
    cuts = np.searchsorted(cum, cum[-1] * np.arange(1, n_blocks) / n_blocks, side="right")
    bounds = np.unique(np.concatenate([[0], cuts, [counts.size]]))
    return bounds


@dataclass
class Blocks:
    """The row blocks (futures held on the workers) of the problem, on the planned side."""

    futures: list
    bounds: np.ndarray
    shape: tuple
    transpose: bool
    plan: dict


def _sample(n_lines):
    """The rows the relative change is measured on: the single-machine path's sample."""
    if n_lines <= _plan.CHANGE_SAMPLE:
        return None
    rng = np.random.default_rng(0)
    return np.sort(rng.choice(n_lines, _plan.CHANGE_SAMPLE, replace=False))


def make_blocks(client, triples, shape, dtype, workers):
    """Plan the side (as the single-machine one-sided path does), then shuffle the
    observations into one row block per worker, balanced by the solve cost, and persist."""
    import dask

    delayed = triples.frame.to_delayed()
    counts = _counts(client, delayed, triples.names, shape)
    plan = _plan.plan_fit(counts, "one-sided", "sparse", dtype, float("inf"))
    transpose = plan["side"] == "col"
    line_counts = counts.col_counts if transpose else counts.row_counts
    n_lines, width = counts.shape[::-1] if transpose else counts.shape
    bounds = balanced_bounds(line_counts, len(workers))
    pieces = [dask.delayed(tasks.split, nout=len(bounds) - 1)(
        d, triples.names, transpose, bounds) for d in delayed]  # fmt: skip
    sample = _sample(n_lines)
    blocks = []
    for p in range(len(bounds) - 1):
        start, stop = int(bounds[p]), int(bounds[p + 1])
        local = None if sample is None else sample[(sample >= start) & (sample < stop)] - start
        with dask.annotate(workers=[workers[p % len(workers)]], allow_other_workers=True):
            block = dask.delayed(tasks.build)(
                start, stop, width, local, dtype, *[piece[p] for piece in pieces]
            )
        blocks.append(block)
    futures = client.compute(blocks, optimize_graph=False)
    return Blocks(futures, bounds, counts.shape, transpose, plan)


def named_triples(X, client, *, row=None, col=None, value=None):
    """A Dask DataFrame whose columns are named by ``row``, ``col``, ``value``, as
    :class:`Triples` (``lin_rfm_complete(..., row=, col=, value=)``); refused elsewhere."""
    names = {"row": row, "col": col, "value": value}
    given = {k: v for k, v in names.items() if v is not None}
    if not given:
        return X
    if client is None or not type(X).__module__.startswith("dask"):
        raise ValueError(
            f"{', '.join(map(repr, given))} name the columns of a Dask DataFrame X fitted "
            f"with a client; got X of type {type(X).__name__} and client={client!r}."
        )
    for k, v in given.items():
        if not isinstance(v, str):
            raise TypeError(f"The {k!r} parameter must be a column name (str); got {v!r}.")
    return Triples(X, **{k: v or k for k, v in names.items()})
