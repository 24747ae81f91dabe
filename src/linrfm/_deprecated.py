"""The one place mapping old public names to new ones.

``linrfm`` and ``linrfm.solvers`` resolve an old name through their module ``__getattr__``
(:func:`module_getattr`): the new object is returned with a DeprecationWarning.
"""

from __future__ import annotations

import sys
import warnings

__all__ = ["RENAMED", "module_getattr"]

# old name -> new name, in both linrfm and linrfm.solvers
RENAMED = {
    "lin_rfm_sparse": "lin_rfm_regress",
    "irls_p": "irls_regress",
    "soft_impute": "soft_impute_complete",
    "nuclear_norm_sense": "soft_impute_sense",
    "deep_matrix_factorization": "deep_mf",
    "diagonal_net": "diagonal_net_regress",
}


def module_getattr(module_name: str, fallback=None):
    """A module ``__getattr__`` serving :data:`RENAMED`, then ``fallback(name)`` if given."""

    def __getattr__(name):
        if name in RENAMED:
            new = RENAMED[name]
            warnings.warn(
                f"{module_name}.{name} is deprecated; use {module_name}.{new}.",
                DeprecationWarning,
                stacklevel=2,
            )
            return getattr(sys.modules[module_name], new)
        if fallback is not None:
            return fallback(name)
        raise AttributeError(f"module {module_name!r} has no attribute {name!r}")

    return __getattr__
