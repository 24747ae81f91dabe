"""lin-RFM for matrix completion: :func:`lin_rfm_complete` and its parts.

- :mod:`.plan`: the cost model and :func:`lin_rfm_plan`;
- :mod:`.kernel`: :func:`kernel_power`, :func:`eig_power`, the half-step, :func:`lin_rfm_step`;
- :mod:`.method`: what the engines share (ridge schedule, window stop, 'holdout', result);
- :mod:`.engines`: the dense and the coefficient ('sparse' AGOP) engines;
- :mod:`.complete`: :func:`lin_rfm_complete`.
"""

from .complete import LAMBDA_RULES, lin_rfm_complete
from .kernel import eig_power, kernel_power, lin_rfm_step
from .plan import AGOP_PATHS, VARIANTS, lin_rfm_plan

__all__ = [
    "lin_rfm_complete",
    "lin_rfm_plan",
    "lin_rfm_step",
    "kernel_power",
    "eig_power",
    "LAMBDA_RULES",
    "VARIANTS",
    "AGOP_PATHS",
]
