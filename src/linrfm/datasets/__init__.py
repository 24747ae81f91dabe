"""Data: seeded planted problems (with their truth) and loaders of real data sets.

Planted generators return a ``Planted*`` object whose ``.problem`` (a problem object of
:mod:`linrfm.problems`) is all a solver may see; the truth stays outside, for measuring.

- completion: :func:`make_completion`, :func:`sample_entries`
- sparse regression: :func:`make_sparse_regression`
- sensing: :func:`make_sensing`, :func:`relative_error`
- factor problems of the flat-minima study: :func:`make_flat_problem` (by kind) or
  :func:`make_factor_sensing`, :func:`make_factor_completion`, :func:`make_bilinear`,
  :func:`make_robust_sensing`, :func:`make_quadratic_sensing`
- real data: :func:`load_movielens100k`, :func:`movielens100k_path`
"""

from . import completion, factor, movielens, regression, sensing
from .completion import *  # noqa: F403
from .factor import *  # noqa: F403
from .movielens import *  # noqa: F403
from .regression import *  # noqa: F403
from .sensing import *  # noqa: F403

# each module lists its public names once, in its own __all__ (linrfm._index reads these)
__all__ = [
    *completion.__all__,
    *regression.__all__,
    *sensing.__all__,
    *factor.__all__,
    *movielens.__all__,
]
