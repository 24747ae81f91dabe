"""Deprecated: :class:`FactorProblem` is in :mod:`linrfm.problems`; the planted factor
problems are in :mod:`linrfm.datasets` (``make_problem`` -> ``make_flat_problem``,
``make_sensing`` -> ``make_factor_sensing``, ``make_completion`` ->
``make_factor_completion``, ``PROBLEM_CLASSES`` -> ``FLAT_PROBLEM_KINDS``).
"""

from .. import datasets as _datasets
from .. import problems as _problems
from ..datasets import factor as _planted_factor
from ..problems import factor as _factor
from ..problems._moved import forward

__getattr__ = forward(
    __name__,
    (_problems, _datasets, _factor, _planted_factor),
    renamed={
        "PROBLEM_CLASSES": "FLAT_PROBLEM_KINDS",
        "make_problem": "make_flat_problem",
        "make_sensing": "make_factor_sensing",
        "make_completion": "make_factor_completion",
    },
)
