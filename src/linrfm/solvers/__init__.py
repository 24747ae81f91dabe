"""Solvers: one algorithm per module, each a plain function returning a result object."""

from .deep_linear import deep_matrix_factorization
from .diagonal_net import diagonal_net
from .factorized_gd import factorized_gd
from .irls import irls_complete, irls_sense
from .irls_vector import irls_p
from .linrfm import kernel_power, lin_rfm_complete, lin_rfm_plan
from .linrfm_sparse import lin_rfm_sparse
from .nuclear import nuclear_norm_sense
from .sensing import lin_rfm_sense
from .softimpute import soft_impute

__all__ = [
    "lin_rfm_complete",
    "lin_rfm_plan",
    "kernel_power",
    "lin_rfm_sense",
    "lin_rfm_sparse",
    "irls_complete",
    "irls_sense",
    "irls_p",
    "soft_impute",
    "nuclear_norm_sense",
    "factorized_gd",
    "deep_matrix_factorization",
    "diagonal_net",
]
