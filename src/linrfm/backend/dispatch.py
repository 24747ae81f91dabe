"""Which backend runs a fit: the array module follows the input, or ``device=``."""

from __future__ import annotations

import re
import sys

import scipy.sparse as sp

from .numpy_ops import NUMPY
from .torch_ops import TorchOps

__all__ = ["get_backend", "is_tensor", "ops_of", "to_numpy_input"]

_DEVICE_FORMS = "None, 'cpu', 'cuda', 'cuda:N' or a torch.device"


def is_tensor(x) -> bool:
    """Whether ``x`` is a torch tensor (without importing torch)."""
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(x, torch.Tensor)


def ops_of(x):
    """The backend of the array ``x`` (NumPy, or torch on ``x``'s device)."""
    return TorchOps(x.device) if is_tensor(x) else NUMPY


def _import_torch():
    try:
        import torch
    except ImportError as exc:
        raise ImportError(
            'The PyTorch backend of linrfm needs torch: pip install "linrfm[torch]" '
            "(or pip install torch==2.13.0 for a CPU build)."
        ) from exc
    return torch


def get_backend(device=None, like=None):
    """The backend for the ``device`` parameter and the input ``like``.

    NumPy input with ``device=None`` gives NumPy; a tensor input gives torch on that
    tensor's device; ``device`` (a str or ``torch.device``) gives torch on that device,
    whatever the input (a tensor elsewhere is moved there).

    Raises
    ------
    ImportError
        When torch is needed and not installed.
    ValueError
        For an unknown or unavailable device, naming the available ones.
    """
    if device is None:
        if like is None:
            return NUMPY
        return TorchOps(like.device)
    if isinstance(device, str):
        if not re.fullmatch(r"cpu|cuda(:\d+)?", device):
            raise ValueError(f"The 'device' parameter must be {_DEVICE_FORMS}; got {device!r}.")
    elif type(device).__name__ != "device" or not type(device).__module__.startswith("torch"):
        raise ValueError(f"The 'device' parameter must be {_DEVICE_FORMS}; got {device!r}.")
    torch = _import_torch()
    dev = torch.device(device)
    n_cuda = torch.cuda.device_count() if torch.cuda.is_available() else 0
    available = ["cpu"] + [f"cuda:{k}" for k in range(n_cuda)]
    if dev.type not in ("cpu", "cuda") or (
        dev.type == "cuda" and (n_cuda == 0 or (dev.index or 0) >= n_cuda)
    ):
        raise ValueError(
            f"The 'device' parameter is {str(device)!r}, which torch cannot use here "
            f"(torch.cuda.is_available() is {torch.cuda.is_available()}); available: "
            f"{', '.join(repr(a) for a in available)}."
        )
    return TorchOps(dev)


def to_numpy_input(X):
    """Completion input with torch tensors read back as NumPy/SciPy, and the tensor that
    holds the observed values (None for NumPy input): its device and dtype lead.

    Accepts a dense tensor with NaN for the missing entries, a sparse COO tensor, or a
    ``(rows, cols, values)`` tuple holding tensors; anything else is returned unchanged.
    """
    if isinstance(X, tuple):
        parts = [to_numpy_input(x) for x in X]
        tensors = [t for _, t in parts[-1:] + parts if t is not None]  # values first
        return tuple(p for p, _ in parts), (tensors[0] if tensors else None)
    if not is_tensor(X):
        return X, None
    if X.layout != sys.modules["torch"].strided:
        C = X.detach().coalesce().cpu()
        r, c = C.indices().numpy()
        return sp.coo_matrix((C.values().numpy(), (r, c)), shape=tuple(C.shape)), X
    return X.detach().cpu().numpy(), X
