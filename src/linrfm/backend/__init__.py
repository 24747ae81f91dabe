"""Array backends: NumPy/SciPy, and PyTorch (CPU or CUDA) when it is installed.

The solvers' arithmetic is written once: ``@``, ``.T``, ``.trace()``, ``.clip(min=)``,
``.take()``, ``.sum()`` and integer-array indexing mean the same on an ndarray and on a
tensor. What differs between the two array modules -- creating arrays, index arrays on a
device, eigendecomposition, the batched positive-definite solve, sparse matrices on a fixed
pattern, scatter-adds -- is gathered in one small class per backend (:class:`NumpyOps`,
:class:`TorchOps`). The array module follows the input (the idea of scikit-learn's
``get_namespace``): :func:`get_backend`.

This package knows no solver: solvers use it, never the reverse.
"""

from .dispatch import get_backend, is_tensor, ops_of, to_numpy_input
from .numpy_ops import (
    NUMPY,
    NumpyOps,
    batched_spd_solve,
    blas_threads,
    parallel_map,
    sparse_dense_matmul,
    worth_threading,
)
from .torch_ops import TorchOps

__all__ = [
    "NUMPY",
    "NumpyOps",
    "TorchOps",
    "get_backend",
    "is_tensor",
    "ops_of",
    "to_numpy_input",
    "batched_spd_solve",
    "blas_threads",
    "parallel_map",
    "sparse_dense_matmul",
    "worth_threading",
]
