"""The parameter checks of :class:`~linrfm.ratings.RatingsCompleter` (each one names the
parameter, before any fitting)."""

from __future__ import annotations

import numbers

import numpy as np

from .._validation import check_option, check_scalar
from .biases import BIASES

__all__ = ["METHODS", "check_params", "full_kernel_only"]

METHODS = ("linrfm", "softimpute")


def _floats(x):
    """``x`` (a number or a sequence of them) as a list of floats; [] if it is neither."""
    try:
        out = [float(v) for v in np.atleast_1d(np.asarray(x, dtype=object))]
    except (TypeError, ValueError):
        return []
    return out if all(np.isfinite(out)) else []


def check_params(est):
    """Check a :class:`RatingsCompleter`'s parameters (``est``); the candidate
    ``(lams, cooccurrence weights)``."""
    check_option(est.method, "method", METHODS)
    check_option(est.variant, "variant", ("auto", "one-sided", "two-sided"))
    check_option(est.kernel_side, "kernel_side", ("auto", "row", "col"))
    check_option(est.refit, "refit", ("full", "warm"))
    if est.dtype is not None:
        check_option(est.dtype, "dtype", ("float64", "float32"))
    check_option(est.biases, "biases", BIASES)
    check_scalar(est.alpha, "alpha", low=0, low_inclusive=False)
    check_scalar(est.max_iter, "max_iter", kind=numbers.Integral, low=1)
    check_scalar(est.n_lams, "n_lams", kind=numbers.Integral, low=1)
    check_scalar(est.lam_ratio, "lam_ratio", low=0, high=1, low_inclusive=False)
    check_scalar(est.bias_reg, "bias_reg", low=0)
    check_scalar(
        est.val_fraction,
        "val_fraction",
        low=0,
        high=1,
        low_inclusive=False,
        high_inclusive=False,
    )
    lams = _floats(est.lams)
    if not lams or not all(np.isfinite(lams)) or min(lams) < 0:
        raise ValueError(
            f"The 'lams' parameter must be a non-empty sequence of finite ridges >= 0; "
            f"got {est.lams!r}."
        )
    weights = _floats(est.cooccurrence)
    if not weights or not all(0 <= w < 1 for w in weights):
        raise ValueError(
            f"The 'cooccurrence' parameter must be a weight in [0, 1) or a non-empty "
            f"sequence of them; got {est.cooccurrence!r}."
        )
    check_scalar(est.memory_limit, "memory_limit", low=0, low_inclusive=False)
    if est.kernel_rank != "auto":
        check_scalar(est.kernel_rank, "kernel_rank", kind=numbers.Integral, low=1)
    if est.client is not None and est.kernel_rank != "auto":
        raise ValueError(
            "With a 'client' the full-kernel fit runs on the cluster: 'kernel_rank' must "
            f"be 'auto'; got kernel_rank={est.kernel_rank!r}."
        )
    if est.client is not None and (est.method, est.variant) not in (
        ("linrfm", "auto"),
        ("linrfm", "one-sided"),
    ):
        raise ValueError(
            "With a 'client', RatingsCompleter fits the one-sided lin-RFM on the cluster: "
            f"'method' must be 'linrfm' and 'variant' 'auto' or 'one-sided'; got "
            f"method={est.method!r}, variant={est.variant!r}."
        )
    if est.client is not None and (any(weights) or est.kernel_side != "auto"):
        raise ValueError(
            "With a 'client', 'cooccurrence' must be 0 and 'kernel_side' 'auto'; got "
            f"cooccurrence={est.cooccurrence!r}, kernel_side={est.kernel_side!r}."
        )
    if est.kernel_rank != "auto":
        full_kernel_only(est, weights, "with an integer 'kernel_rank'")
    return lams, weights


def full_kernel_only(est, weights, why):
    """Refuse the settings of ``est`` the rank-capped kernel does not take (a
    ValueError)."""
    given = {
        "cooccurrence": any(weights),
        "kernel_side": est.kernel_side != "auto",
        "refit": est.refit != "full",
        "dtype": est.dtype is not None,
    }
    named = [k for k, v in given.items() if v]
    if named:
        raise ValueError(
            f"The rank-capped kernel ({why}) takes no {', '.join(map(repr, named))}; "
            f"leave {'them' if len(named) > 1 else 'it'} at the default, or use the full "
            "kernel (kernel_rank='auto' with a large enough memory_limit)."
        )
