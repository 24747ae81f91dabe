"""Deprecated: the MovieLens-100K loader is in :mod:`linrfm.datasets`."""

from . import datasets as _datasets
from .datasets import movielens as _movielens
from .problems._moved import forward

__getattr__ = forward(__name__, (_datasets, _movielens))
