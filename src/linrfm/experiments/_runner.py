"""Run a grid of independent trials, caching each finished trial in a CSV so a study resumes.

A study describes every trial as a dict of parameters (method, size, seed, ...). Trials whose
parameters already stand in the CSV are skipped; each newly finished trial is appended at
once (one line in one write, flushed to disk), so an interrupted study loses at most the
trial it was running. A last line cut short by an interruption is dropped, with a warning,
when the CSV is read again. Summaries and plots are written whole or not at all
(:mod:`linrfm._atomic`).
"""

from __future__ import annotations

import csv
import io
import os
import warnings
from collections.abc import Callable, Iterable

from .._atomic import append_line, atomic_write, atomic_write_text

__all__ = ["run_grid", "read_rows", "trial_key", "pyplot", "save_figure", "write_text"]


def trial_key(params: dict, keys: Iterable[str]) -> tuple:
    """The identity of a trial: its parameters named by ``keys``, as strings."""
    return tuple(_fmt(params[k]) for k in keys)


def _fmt(v) -> str:
    if isinstance(v, float):
        return repr(v)
    return str(v)


def read_rows(path: str | os.PathLike) -> list[dict]:
    """Every row of a study's CSV (an empty list when it does not exist yet).

    A last line without its newline was cut short by an interrupted run: it is dropped
    from the file (rewritten atomically) with a warning, as is any row whose number of
    fields differs from the header's.
    """
    if not os.path.exists(path):
        return []
    with open(path, "rb") as fh:
        data = fh.read()
    if data and not data.endswith(b"\n"):
        cut = data.rfind(b"\n") + 1
        warnings.warn(
            f"{path}: its last line was cut short (an interrupted run?) and is dropped: "
            f"{data[cut : cut + 80].decode('utf-8', 'replace')!r}",
            RuntimeWarning,
            stacklevel=2,
        )
        data = data[:cut]
        atomic_write(path, lambda fh: fh.write(data))
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path} is not a study's CSV (not UTF-8 text: {exc}).") from None
    reader = csv.DictReader(io.StringIO(text, newline=""))
    rows, bad = [], 0
    for row in reader:
        if None in row or None in row.values():
            bad += 1
        else:
            rows.append(row)
    if bad:
        warnings.warn(
            f"{path}: {bad} row(s) with a wrong number of fields are ignored.",
            RuntimeWarning,
            stacklevel=2,
        )
    return rows


def run_grid(
    trials: list[dict],
    run: Callable[[dict], dict],
    path: str | os.PathLike,
    *,
    keys: Iterable[str] | None = None,
    progress: bool = True,
    desc: str = "trials",
) -> list[dict]:
    """Run every trial not yet in ``path`` and return all rows for these trials.

    Parameters
    ----------
    trials : list of dict
        The parameters of each trial; every dict has the same keys.
    run : callable
        ``run(params) -> dict`` of measured results for one trial (no key of ``params``).
    path : path-like
        The CSV. Rows are ``params`` followed by the results; a new trial is appended when
        it finishes.
    keys : iterable of str, optional
        Parameters that identify a trial (default: all of them).
    progress : bool
        Show a tqdm progress bar.
    desc : str
        The bar's label.

    Returns
    -------
    list of dict
        One row per trial, in the order of ``trials``, as read back from the CSV (values are
        strings, as in any CSV).
    """
    if not trials:
        return []
    keys = list(trials[0]) if keys is None else list(keys)
    missing = [k for k in keys if any(k not in t for t in trials)]
    if missing:
        raise ValueError(f"keys {missing} are not parameters of every trial.")
    done = {trial_key(r, keys): r for r in read_rows(path)}
    todo = [t for t in trials if trial_key(t, keys) not in done]
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)

    bar = None
    if progress and todo:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(todo), desc=desc, leave=False)
    try:
        for params in todo:
            res = run(dict(params))
            clash = set(res) & set(params)
            if clash:
                raise ValueError(f"results repeat parameter names {sorted(clash)}.")
            row = {
                **{k: _fmt(v) for k, v in params.items()},
                **{k: _fmt(v) for k, v in res.items()},
            }
            _append(path, row)
            done[trial_key(params, keys)] = row
            if bar is not None:
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    return [done[trial_key(t, keys)] for t in trials]


def _append(path, row: dict) -> None:
    exists = os.path.exists(path) and os.path.getsize(path) > 0
    if exists:
        with open(path, newline="") as fh:
            header = next(csv.reader(fh), [])
        if header != list(row):
            new = [c for c in row if c not in header]
            if new or set(header) - set(row):
                # a different study (or an older version of it) wrote this file
                raise ValueError(
                    f"{path} holds columns {header}; this study writes {list(row)}. "
                    "Use another output path or remove the file."
                )
            row = {c: row[c] for c in header}
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(row))
    if not exists:
        w.writeheader()
    w.writerow(row)
    append_line(path, buf.getvalue())


def pyplot():
    """matplotlib's pyplot on the file-only Agg backend, or a clear ImportError."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "Plots need matplotlib: pip install linrfm[plot] (or run with --no-plot)."
        ) from exc
    return plt


def save_figure(fig, path, **kwargs) -> str:
    """A finished figure: laid out (``tight_layout``), ``fig.savefig`` to ``path`` written
    whole or not at all, then closed; returns ``path``."""
    fig.tight_layout()
    fmt = os.path.splitext(str(path))[1].lstrip(".").lower() or "png"
    try:
        atomic_write(path, lambda fh: fig.savefig(fh, format=fmt, **kwargs))
    finally:
        pyplot().close(fig)
    return str(path)


def write_text(path, text: str) -> str:
    """Write a summary to ``path`` whole or not at all; returns ``path``."""
    atomic_write_text(path, text)
    return str(path)
