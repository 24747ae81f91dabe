"""Parameter and array checks shared by every public entry point.

Each check names the argument, what was expected and what was received, so a user
never meets a raw traceback from deep inside NumPy.
"""

from __future__ import annotations

import numbers

import numpy as np

__all__ = [
    "check_real_array",
    "check_index_array",
    "check_scalar",
    "check_option",
    "check_random_state",
    "check_bool",
    "check_callback",
]


def _describe(x) -> str:
    if isinstance(x, np.ndarray):
        return f"an array of dtype {x.dtype} and shape {x.shape}"
    return f"{x!r} (type {type(x).__name__})"


def check_real_array(x, name: str, *, ndim=None, allow_nan: bool = False, allow_empty=False):
    """Convert ``x`` to a float64 array, refusing object, string and complex input.

    Parameters
    ----------
    x : array_like
        The input.
    name : str
        Argument name used in error messages.
    ndim : int or None
        Required number of dimensions.
    allow_nan : bool
        Whether NaN is allowed (it never is for ±inf).
    allow_empty : bool
        Whether a zero-size array is allowed.

    Returns
    -------
    numpy.ndarray
        A float64 array.
    """
    if hasattr(x, "__array_namespace__") and not isinstance(x, np.ndarray):
        # e.g. a torch tensor: bring it to NumPy for validation purposes.
        try:
            x = np.asarray(x)
        except Exception as exc:  # pragma: no cover - depends on foreign libraries
            raise TypeError(f"{name} could not be converted to a NumPy array: {exc}") from exc
    arr = np.asarray(x) if not isinstance(x, np.ndarray) else x
    if arr.dtype.kind not in "biuf":
        raise TypeError(
            f"{name} must hold real numbers (int, bool or float); got {_describe(arr)}."
        )
    if ndim is not None and arr.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-dimensional; got shape {arr.shape}.")
    if arr.size == 0 and not allow_empty:
        raise ValueError(f"{name} is empty; at least one value is required.")
    arr = arr.astype(np.float64, copy=False)
    if allow_nan:
        bad = np.isinf(arr)
        if bad.any():
            raise ValueError(
                f"{name} holds {int(bad.sum())} infinite value(s); only finite values "
                "(and NaN for a missing entry) are allowed."
            )
    else:
        bad = ~np.isfinite(arr)
        if bad.any():
            raise ValueError(
                f"{name} holds {int(bad.sum())} non-finite value(s) (NaN or inf); "
                "all values must be finite."
            )
    return arr


def check_index_array(x, name: str, upper: int, *, axis_name: str = "size"):
    """Convert ``x`` to an int64 index array with every value in ``[0, upper)``."""
    arr = np.asarray(x)
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)) or not np.all(arr == np.round(arr)):
            raise TypeError(f"{name} must hold whole numbers; got non-integer float values.")
    elif arr.dtype.kind not in "iub":
        raise TypeError(f"{name} must be an integer index array; got {_describe(arr)}.")
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-dimensional; got shape {arr.shape}.")
    arr = arr.astype(np.int64, copy=False)
    if arr.size:
        lo, hi = int(arr.min()), int(arr.max())
        if lo < 0:
            raise ValueError(f"{name} holds a negative index ({lo}); indices must be >= 0.")
        if hi >= upper:
            raise ValueError(
                f"{name} holds index {hi}, out of range for {axis_name} {upper} "
                f"(valid indices are 0 to {upper - 1})."
            )
    return arr


def check_scalar(
    x,
    name: str,
    *,
    kind=numbers.Real,
    low=None,
    high=None,
    low_inclusive: bool = True,
    high_inclusive: bool = True,
    allow_none: bool = False,
):
    """Check a scalar parameter against a type and an interval, scikit-learn style."""
    if x is None and allow_none:
        return None
    kind_name = "an int" if kind is numbers.Integral else "a real number"
    if isinstance(x, bool) or not isinstance(x, kind):
        raise TypeError(f"The {name!r} parameter must be {kind_name}; got {_describe(x)}.")
    if kind is numbers.Real and not np.isfinite(x):
        raise ValueError(f"The {name!r} parameter must be finite; got {x!r}.")
    ok_low = low is None or (x >= low if low_inclusive else x > low)
    ok_high = high is None or (x <= high if high_inclusive else x < high)
    if not (ok_low and ok_high):
        lb = "[" if low_inclusive else "("
        hb = "]" if high_inclusive else ")"
        lo = "-inf" if low is None else low
        hi = "inf" if high is None else high
        raise ValueError(
            f"The {name!r} parameter must be {kind_name} in the range {lb}{lo}, {hi}{hb}; "
            f"got {x!r}."
        )
    return x


def check_option(x, name: str, options):
    """Check that ``x`` is one of ``options``."""
    if x not in options:
        raise ValueError(f"The {name!r} parameter must be one of {sorted(options)!r}; got {x!r}.")
    return x


def check_bool(x, name: str):
    """Check that ``x`` is a bool (Python or NumPy)."""
    if not isinstance(x, (bool, np.bool_)):
        raise TypeError(f"The {name!r} parameter must be a bool; got {x!r}.")
    return x


def check_callback(callback, name: str = "callback"):
    """Check that ``callback`` (the parameter ``name``) is callable or None."""
    if callback is not None and not callable(callback):
        raise TypeError(f"The {name!r} parameter must be callable or None; got {callback!r}.")
    return callback


def check_random_state(seed) -> np.random.Generator:
    """Return a :class:`numpy.random.Generator` from a seed, a Generator or None.

    The one rule for seeds everywhere: None, a non-negative int, or a Generator (used as
    is); anything else (a string, a float, a negative int, a bool) is a clear error.
    """
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is None or (isinstance(seed, numbers.Integral) and not isinstance(seed, bool)):
        if seed is not None and seed < 0:
            raise ValueError(
                f"The 'random_state' parameter must be None, a non-negative int or a numpy "
                f"Generator; got {seed!r}."
            )
        return np.random.default_rng(seed)
    raise TypeError(
        f"The 'random_state' parameter must be None, a non-negative int or a numpy "
        f"Generator; got {_describe(seed)}."
    )
