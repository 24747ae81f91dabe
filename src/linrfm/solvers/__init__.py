"""Solvers: one algorithm per module, each a plain function returning a result object."""

from .linrfm import kernel_power, lin_rfm_complete, lin_rfm_plan

__all__ = ["lin_rfm_complete", "lin_rfm_plan", "kernel_power"]
