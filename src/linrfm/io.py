"""Reading tables of (row id, column id, value) triples.

Ids of any type are mapped to indices and back; nothing is dropped silently: whatever an
option merges or drops is counted in :attr:`Ratings.report`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ._validation import check_option
from .problems import MatrixCompletion

__all__ = [
    "Ratings",
    "UnknownIdError",
    "read_ratings",
    "ratings_from_frame",
    "ratings_from_matrix",
    "require_pandas",
]

DUPLICATE_POLICIES = ("error", "mean", "last")


class UnknownIdError(KeyError):
    """An id asked for was not in the fitted table."""

    def __str__(self):  # KeyError would print the message in quotes
        return str(self.args[0]) if self.args else ""


def require_pandas():
    """Import pandas, or say exactly what to install."""
    try:
        import pandas as pd
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "Reading tables needs pandas: pip install 'linrfm[io]' (pandas and pyarrow)."
        ) from exc
    return pd


@dataclass
class Ratings:
    """Observed ratings with their original ids.

    Attributes
    ----------
    rows, cols : ndarray of int64
        Indices into ``row_ids`` and ``col_ids``.
    values : ndarray of float64
    row_ids, col_ids : ndarray
        The original ids, sorted; index ``k`` stands for ``row_ids[k]``.
    names : tuple of str
        Column names of the row id, column id and value (used when writing files).
    report : dict
        ``read`` (rows of the input), ``duplicates`` (the policy) and
        ``duplicates_merged`` (input rows folded into another by that policy), ``kept``.
    time : ndarray or None
        When each rating was made (float or datetime64, one per rating), if the table
        had a time column (``read_ratings(..., time=...)``); used by
        :func:`linrfm.evaluation.time_split`.
    """

    rows: np.ndarray
    cols: np.ndarray
    values: np.ndarray
    row_ids: np.ndarray
    col_ids: np.ndarray
    names: tuple = ("row", "col", "value")
    report: dict = field(default_factory=dict)
    time: np.ndarray | None = None

    @property
    def shape(self):
        return (len(self.row_ids), len(self.col_ids))

    @property
    def n_obs(self) -> int:
        return int(self.values.size)

    def problem(self) -> MatrixCompletion:
        """The index-based completion problem, for the solvers in :mod:`linrfm.solvers`."""
        return MatrixCompletion(self.rows, self.cols, self.values, self.shape)

    def subset(self, mask) -> Ratings:
        """The same id maps with only the observations where ``mask`` holds."""
        mask = np.asarray(mask, dtype=bool)
        return Ratings(
            self.rows[mask],
            self.cols[mask],
            self.values[mask],
            self.row_ids,
            self.col_ids,
            self.names,
            dict(self.report),
            None if self.time is None else self.time[mask],
        )


def _lookup(known, ids, what, name, missing):
    """Positions of ``ids`` in ``known`` (-1 for an unknown id when ``missing='ignore'``)."""
    pd = require_pandas()
    ids = np.asarray(ids)
    if ids.ndim != 1:
        raise ValueError(f"{what} ids must be 1-dimensional; got shape {ids.shape}.")
    pos = pd.Index(known).get_indexer(ids)
    if np.any(pos < 0) and known.dtype.kind != ids.dtype.kind:
        # the same ids read with another type (e.g. '12' vs 12, or ids saved as text by
        # a model file): compare as text
        pos = pd.Index(known.astype(str)).get_indexer(ids.astype(str))
    found = pos >= 0
    if not np.all(found) and missing == "error":
        bad = ids[~found]
        raise UnknownIdError(
            f"{bad.size} {what} id(s) in '{name}' were not seen in the fitted data, "
            f"e.g. {bad[:3].tolist()} (predict(..., unknown='bias') predicts pairs with "
            "unknown ids from the biases alone)."
        )
    return pos.astype(np.int64)


def _item(x):
    """A NumPy scalar as the Python value (for messages)."""
    return x.item() if isinstance(x, np.generic) else x


def _times(df, time):
    """The ``time`` column as float64 (numbers) or datetime64[ns] (dates), all present."""
    pd = require_pandas()
    t = df[time]
    if pd.api.types.is_bool_dtype(t) or not (
        pd.api.types.is_numeric_dtype(t) or pd.api.types.is_datetime64_any_dtype(t)
    ):
        try:
            t = pd.to_datetime(t, format="mixed")
        except (TypeError, ValueError) as exc:
            raise ValueError(
                f"Column '{time}' (time) must hold numbers or dates; got values such as "
                f"{t.iloc[0]!r}."
            ) from exc
    if pd.api.types.is_datetime64_any_dtype(t):
        if getattr(t.dt, "tz", None) is not None:
            t = t.dt.tz_convert("UTC").dt.tz_localize(None)
        out = t.to_numpy(dtype="datetime64[ns]")
        bad = np.isnat(out)
    else:
        out = t.to_numpy(dtype=np.float64)
        bad = ~np.isfinite(out)
    if bad.any():
        raise ValueError(f"Column '{time}' (time) holds {int(bad.sum())} missing time(s).")
    return out


def ratings_from_frame(df, row, col, value, *, duplicates="error", time=None) -> Ratings:
    """Build :class:`Ratings` from a pandas DataFrame.

    Parameters
    ----------
    df : pandas.DataFrame
    row, col, value : str
        Column names of the row id, the column id and the value.
    duplicates : {'error', 'mean', 'last'}, default='error'
        What to do with repeated (row, col) pairs: refuse, average them, or keep the last
        occurrence. Merged observations are counted in ``report['duplicates_merged']``.
    time : str, optional
        Column name of when each rating was made (numbers, e.g. Unix seconds, or dates),
        kept as :attr:`Ratings.time`; a merged pair keeps its latest time.
    """
    pd = require_pandas()
    check_option(duplicates, "duplicates", DUPLICATE_POLICIES)
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"Expected a pandas DataFrame; got {type(df).__name__}.")
    missing = [c for c in (row, col, value, time) if c is not None and c not in df.columns]
    if missing:
        raise ValueError(
            f"Column(s) {missing} not found in the table; its columns are {list(df.columns)}."
        )
    if len(df) == 0:
        raise ValueError("The table holds no rows: at least one rating is required.")
    for c in (row, col):
        if df[c].isna().any():
            raise ValueError(f"Column '{c}' holds {int(df[c].isna().sum())} missing id(s).")
    vals = pd.to_numeric(df[value], errors="coerce")
    bad = vals.isna() & df[value].notna()
    if bad.any():
        first = df[value][bad].iloc[0]
        raise ValueError(
            f"Column '{value}' holds {int(bad.sum())} non-numeric value(s), e.g. {first!r}."
        )
    v = vals.to_numpy(dtype=np.float64)
    nonfinite = ~np.isfinite(v)
    if nonfinite.any():
        raise ValueError(
            f"Column '{value}' holds {int(nonfinite.sum())} missing or non-finite rating(s) "
            "(NaN/inf); every rating must be a finite number."
        )
    t = None if time is None else _times(df, time)
    row_codes, row_ids = pd.factorize(df[row], sort=True)
    col_codes, col_ids = pd.factorize(df[col], sort=True)
    rows = np.asarray(row_codes, dtype=np.int64)
    cols = np.asarray(col_codes, dtype=np.int64)
    report = {"read": int(len(df)), "duplicates_merged": 0, "duplicates": duplicates}
    lin = rows * len(col_ids) + cols
    uniq, inverse, counts = np.unique(lin, return_inverse=True, return_counts=True)
    n_dup = int(len(lin) - len(uniq))
    if n_dup:
        if duplicates == "error":
            k = int(np.flatnonzero(counts > 1)[0])
            r, c = divmod(int(uniq[k]), len(col_ids))
            raise ValueError(
                f"{n_dup} row(s) repeat an earlier ({row}, {col}) pair, e.g. "
                f"({_item(row_ids[r])!r}, {_item(col_ids[c])!r}); pass duplicates='mean' "
                "or 'last' to merge them."
            )
        if duplicates == "mean":
            v = np.bincount(inverse, weights=v) / counts
        else:  # last occurrence wins
            last = np.zeros(len(uniq), dtype=np.int64)
            np.maximum.at(last, inverse, np.arange(len(lin)))  # position of the last one
            v = v[last]
        if t is not None:  # a merged pair is as recent as its latest rating
            latest = np.full(len(uniq), t.min())
            np.maximum.at(latest, inverse, t)
            t = latest
        rows, cols = uniq // len(col_ids), uniq % len(col_ids)
        report["duplicates_merged"] = n_dup  # rows of the table folded into another
    report["kept"] = int(len(v))
    return Ratings(
        rows,
        cols,
        np.asarray(v, dtype=np.float64),
        np.asarray(row_ids),
        np.asarray(col_ids),
        (row, col, value),
        report,
        t,
    )


def ratings_from_matrix(X) -> Ratings:
    """Build :class:`Ratings` from a matrix: ids are the row and column indices.

    Parameters
    ----------
    X : scipy.sparse matrix or array_like
        A sparse matrix whose stored entries are the observations, or a dense array in
        which NaN marks a missing entry (any other non-finite value is an error).
    """
    import warnings

    from .problems import CoverageWarning, as_completion_problem

    with warnings.catch_warnings():
        # empty rows/columns keep their ids; the fit warns about them if they matter
        warnings.simplefilter("ignore", CoverageWarning)
        prob = as_completion_problem(X)
    n, d = prob.shape
    report = {"read": prob.n_obs, "duplicates_merged": 0, "duplicates": "error"}
    report["kept"] = prob.n_obs
    return Ratings(prob.rows, prob.cols, prob.values, np.arange(n), np.arange(d), report=report)


# formats read_csv would misread as text: refused by name instead
_NOT_TEXT = {
    ".xlsx": "an Excel workbook",
    ".xls": "an Excel workbook",
    ".ods": "a spreadsheet",
    ".json": "JSON",
    ".npz": "a NumPy archive (a saved model? use --model / RatingsCompleter.load)",
    ".npy": "a NumPy array",
    ".pkl": "a pickle",
    ".pickle": "a pickle",
    ".feather": "a Feather table",
    ".h5": "an HDF5 file",
    ".hdf5": "an HDF5 file",
}
_SEPARATORS = {"\t": "tab ('\\t')", ";": "';'", "|": "'|'", ",": "','"}


def _read_error(path, sep, exc) -> ValueError:
    """A reading failure as a ValueError that names the file and what it expected."""
    pd = require_pandas()
    if isinstance(exc, pd.errors.EmptyDataError):
        return ValueError(f"{path} is empty: expected a table with a header line and rows.")
    if isinstance(exc, UnicodeDecodeError):
        return ValueError(
            f"{path} is not a text table: byte {exc.start} is not UTF-8 text (binary data? "
            "a .parquet file needs the .parquet extension)."
        )
    what = "a parquet file" if sep is None else f"a text table separated by {sep!r}"
    first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    return ValueError(f"{path} could not be read as {what}: {first}")


def _sniffed(path, df):
    """``df`` (a text file read as one column with the separator its extension implies)
    read again with the separator :class:`csv.Sniffer` finds in its first lines, when that
    gives more columns; else ``df``. The separator used is in ``attrs['sniffed_sep']``."""
    import csv

    pd = require_pandas()
    with open(path, encoding="utf-8", errors="replace", newline="") as fh:
        head = fh.read(1 << 16)
    try:
        sep = csv.Sniffer().sniff(head, delimiters="".join(_SEPARATORS)).delimiter
        again = pd.read_csv(path, sep=sep)
    except (csv.Error, ValueError, pd.errors.ParserError):
        return df  # the caller's check_columns hints at the separator
    if len(again.columns) <= 1:
        return df
    again.attrs["sniffed_sep"] = sep
    return again


def _read_table(path, sep=None):
    """A file as a DataFrame; errors name the file and what was expected. With no
    ``sep``, a text file that reads as one column is read again with a sniffed separator."""
    pd = require_pandas()
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"No such file: {path}" if not path.exists() else f"{path} is not a file."
        )
    suffix = path.suffix.lower()
    if sep is None and suffix in _NOT_TEXT:
        raise ValueError(
            f"{path} looks like {_NOT_TEXT[suffix]}, not a table linrfm reads (.csv, .tsv, "
            ".parquet); export it as CSV, or pass sep= to read it as text anyway."
        )
    guess = sep is None
    if suffix in (".parquet", ".pq"):
        sep = None
    elif sep is None:
        sep = "\t" if suffix in (".tsv", ".tab", ".inter") else ","
    try:
        if sep is None:
            return pd.read_parquet(path)
        df = pd.read_csv(path, sep=sep)
        return _sniffed(path, df) if guess and len(df.columns) == 1 else df
    except ImportError:
        raise
    except (ValueError, OSError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        raise _read_error(path, sep, exc) from exc
    except Exception as exc:  # pyarrow's own errors (ArrowInvalid, ...)
        raise _read_error(path, sep, exc) from exc


def check_columns(df, columns, source, option="sep") -> None:
    """Every name of ``columns`` is a column of ``df`` (read from ``source``), or a
    ValueError listing those it has, with a hint at the separator when the whole header
    was read as one column."""
    missing = [c for c in columns if c not in df.columns]
    if not missing:
        return
    msg = f"Column(s) {missing} not found in {source}; its columns are {list(df.columns)}."
    if len(df.columns) == 1:
        head = str(df.columns[0])
        found = [name for s, name in _SEPARATORS.items() if s in head]
        if found:
            msg += f" The header holds {found[0]}: is the file separated by it? Pass {option}."
    raise ValueError(msg)


def read_ratings(
    source, row=None, col=None, value=None, *, sep=None, duplicates="error", time=None
):
    """Read (row id, column id, value) triples into a :class:`Ratings` table.

    Parameters
    ----------
    source : str, path, pandas.DataFrame, scipy.sparse matrix or ndarray
        A ``.csv``/``.tsv`` (or any text file with ``sep``) or ``.parquet`` file, or a
        DataFrame, each with one row per rating; or a matrix (sparse: stored entries are
        observed; dense: NaN is missing), whose ids are its indices.
    row, col, value : str
        Column names of the row id, the column id and the rating (tables only).
    sep : str, optional
        Field separator for text files (default: tab for ``.tsv``, else comma; a file
        that then reads as one column is read with the separator :class:`csv.Sniffer`
        finds, recorded in ``report['sniffed_sep']``).
    duplicates : {'error', 'mean', 'last'}, default='error'
        Repeated (row, col) pairs: refuse, average them, or keep the last one; the number
        merged is in ``report['duplicates_merged']``.
    time : str, optional
        Column name of the rating's time (numbers or dates), kept as
        :attr:`Ratings.time` for a time-ordered split (tables only).

    Returns
    -------
    Ratings

    Raises
    ------
    ValueError
        Missing columns, non-numeric or non-finite ratings, missing ids, duplicate pairs
        (with ``duplicates='error'``), or an empty table.
    """
    import scipy.sparse as sp

    if sp.issparse(source) or isinstance(source, np.ndarray):
        return ratings_from_matrix(source)
    pd = require_pandas()
    if None in (row, col, value):
        raise ValueError(
            "row, col and value (the column names of the row id, the column id and the "
            f"rating) are required for a table; got row={row!r}, col={col!r}, value={value!r}."
        )
    if isinstance(source, pd.DataFrame):
        return ratings_from_frame(source, row, col, value, duplicates=duplicates, time=time)
    df = _read_table(source, sep=sep)
    check_columns(df, (row, col, value), source, option="sep= (command line: --sep)")
    try:
        table = ratings_from_frame(df, row, col, value, duplicates=duplicates, time=time)
    except ValueError as exc:  # name the file: the user may have read several
        raise ValueError(f"{source}: {exc}") from exc
    if "sniffed_sep" in df.attrs:
        table.report["sniffed_sep"] = df.attrs["sniffed_sep"]
    return table
