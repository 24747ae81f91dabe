"""Solvers: one algorithm per module, each a plain function returning a result object.

Names are ``{method}_{problem}``; the old names of renamed functions still resolve, with a
DeprecationWarning (:mod:`linrfm._deprecated`).
"""

from .._deprecated import module_getattr
from .als import als_complete
from .deep_linear import deep_mf
from .diagonal_net import diagonal_net_regress
from .factorized_gd import factorized_gd
from .irls import irls_complete, irls_sense
from .irls_regress import irls_regress
from .linrfm import kernel_power, lin_rfm_complete, lin_rfm_plan
from .linrfm_regress import lin_rfm_regress
from .nuclear import soft_impute_sense
from .sensing import lin_rfm_sense
from .softimpute import soft_impute_complete

# Importing the submodule diagonal_net bound its name here; the old public name
# ``diagonal_net`` means the (deprecated) function, served by __getattr__.
globals().pop("diagonal_net", None)

__all__ = [
    "lin_rfm_complete",
    "lin_rfm_plan",
    "kernel_power",
    "lin_rfm_sense",
    "lin_rfm_regress",
    "irls_complete",
    "irls_sense",
    "irls_regress",
    "soft_impute_complete",
    "soft_impute_sense",
    "als_complete",
    "factorized_gd",
    "deep_mf",
    "diagonal_net_regress",
]

__getattr__ = module_getattr(__name__)
