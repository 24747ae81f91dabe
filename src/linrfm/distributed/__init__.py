"""lin-RFM completion on a Dask cluster (``pip install "linrfm[dask]"``).

>>> from distributed import Client                                  # doctest: +SKIP
>>> client = Client("scheduler-address:8786")                        # doctest: +SKIP
>>> res = linrfm.lin_rfm_complete(dd.read_parquet("ratings/"), client=client)  # doctest: +SKIP

The observations (a Dask DataFrame of ``row``, ``col``, ``value`` columns, or
:class:`Triples` naming others; or anything :func:`linrfm.lin_rfm_complete` takes) are
shuffled into row blocks that stay on the workers; each iteration shares the d x d kernel
once and sums the workers' d x d parts in block order. The coefficients (|Omega| numbers,
the model) reach the client only for the result: at the end, and at each ``callback`` call
(its ``info['result']``); ``checkpoint=`` follows a fit with the d x d state alone.
Importing this package needs no Dask; using it does.
"""

from __future__ import annotations

__all__ = ["Triples", "ClusterLostError", "require_dask", "complete_on_cluster"]

_INSTALL = 'lin-RFM on a Dask cluster needs dask.distributed: pip install "linrfm[dask]"'


def require_dask() -> None:
    """Raise an ImportError naming the extra to install when dask.distributed is missing."""
    try:
        import dask.dataframe  # noqa: F401
        import distributed  # noqa: F401
    except ImportError as err:
        raise ImportError(f"{_INSTALL} (missing: {err.name}).") from err


def __getattr__(name):
    if name in __all__ and name != "require_dask":
        require_dask()
        from . import data, fit, method

        return {
            "Triples": data.Triples,
            "ClusterLostError": method.ClusterLostError,
            "complete_on_cluster": fit.complete_on_cluster,
        }[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
