"""Solvers: one algorithm per module, each a plain function returning a result object."""

from .diagonal_net import diagonal_net
from .irls_vector import irls_p
from .linrfm import kernel_power, lin_rfm_complete
from .linrfm_sparse import lin_rfm_sparse

__all__ = ["lin_rfm_complete", "kernel_power", "lin_rfm_sparse", "irls_p", "diagonal_net"]
