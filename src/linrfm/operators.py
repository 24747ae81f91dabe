"""Deprecated: the measurement operators and ``MatrixSensing`` are in :mod:`linrfm.problems`."""

from . import problems as _problems
from .problems import sensing as _sensing
from .problems._moved import forward

__getattr__ = forward(__name__, (_problems, _sensing))
