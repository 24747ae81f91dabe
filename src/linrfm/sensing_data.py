"""Deprecated: the planted sensing problems are in :mod:`linrfm.datasets`."""

from . import datasets as _datasets
from .datasets import sensing as _sensing
from .problems._moved import forward

__getattr__ = forward(__name__, (_datasets, _sensing))
