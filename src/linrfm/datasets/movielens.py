"""MovieLens-100K, read from a wheel that ships it (never downloaded, never committed).

The data set (943 users, 1,682 movies, 100,000 ratings from 1 to 5; GroupLens, University
of Minnesota) is found inside an installed ``recbole`` or ``neighbors`` package. Install
either without its dependencies::

    pip install --no-deps recbole      # or: pip install --no-deps neighbors
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from ..io import Ratings, read_ratings, require_pandas

__all__ = ["load_movielens100k", "movielens100k_path"]

# (package, file inside it, separator, user column, item column, rating column)
_SOURCES = (
    (
        "recbole",
        "dataset_example/ml-100k/ml-100k.inter",
        "\t",
        "user_id:token",
        "item_id:token",
        "rating:float",
    ),
    ("neighbors", "data/movielens100k.csv", ",", "User", "Item", "Rating"),
)

INSTALL_HINT = (
    "MovieLens-100K ships inside the 'recbole' and 'neighbors' wheels; install one of them "
    "without its dependencies: pip install --no-deps recbole   (or: pip install --no-deps "
    "neighbors)"
)


def _package_dir(name):
    """A package's directory, found without importing it (recbole imports torch)."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def movielens100k_path():
    """``(path, source)`` of the first MovieLens-100K file found, else FileNotFoundError."""
    for pkg, rel, sep, u, i, r in _SOURCES:
        base = _package_dir(pkg)
        if base is not None and (base / rel).is_file():
            return base / rel, (pkg, sep, u, i, r)
    raise FileNotFoundError(f"MovieLens-100K was not found. {INSTALL_HINT}")


def _time_column(path, sep):
    """The file's timestamp column (a header name starting with 'timestamp'), or None."""
    pd = require_pandas()
    header = pd.read_csv(path, sep=sep, nrows=0).columns
    return next((c for c in header if str(c).lower().startswith("timestamp")), None)


def load_movielens100k() -> Ratings:
    """MovieLens-100K as :class:`~linrfm.io.Ratings` with columns user, item, rating.

    When the file has a timestamp column (recbole's has, in Unix seconds) it is kept as
    :attr:`~linrfm.io.Ratings.time`, for :func:`linrfm.evaluation.time_split`; otherwise
    ``time`` is None.
    """
    path, (_pkg, sep, u, i, r) = movielens100k_path()
    pd = require_pandas()
    ts = _time_column(path, sep)
    df = pd.read_csv(path, sep=sep, usecols=[u, i, r] + ([ts] if ts else []))
    df = df[[u, i, r] + ([ts] if ts else [])]  # usecols keeps the file's order
    df.columns = ["user", "item", "rating"] + (["timestamp"] if ts else [])
    return read_ratings(df, "user", "item", "rating", time="timestamp" if ts else None)
