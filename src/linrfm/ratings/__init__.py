"""Completing real, noisy rating tables by their original ids.

:class:`RatingsCompleter` removes the global mean and ridge-regularized row and column
biases, completes the residual with noise-aware lin-RFM (no exact replacement; the ridge
and the number of iterations chosen on a validation split of the *observed* entries) or
with SoftImpute (the point of its ``lam`` path chosen the same way), and predicts any pair
by its ids, top-k recommendations, and new rows without refitting. Models are saved to one
``.npz`` file (arrays plus JSON metadata with a format version and a checksum; no pickle).

Modules: :mod:`.biases` (:func:`fit_biases`), :mod:`.model` (the fitted state and its
predictions), :mod:`.persist` (the model file), :mod:`.estimator` (the estimator).
"""

from .biases import fit_biases
from .estimator import RatingsCompleter
from .persist import FORMAT_VERSION

__all__ = ["RatingsCompleter", "fit_biases", "FORMAT_VERSION"]
