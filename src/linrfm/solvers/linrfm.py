"""lin-RFM for matrix completion (Radhakrishnan, Belkin, Drusvyatskiy, PNAS 2025).

Each row of the matrix is a kernel ridge regression from its column's one-hot vector to the
entry, with the kernel ``K = G^(2 alpha)`` built from the AGOP ``G = B^T B / n`` of the
current completion ``B``. The two-sided variant alternates this row half-step with the same
half-step on ``B^T`` (kernel from ``B B^T / d``).
"""

from __future__ import annotations

import numbers
import time
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from .._validation import check_option, check_random_state, check_scalar
from ..problems import as_completion_problem
from ..results import KernelResult, ModelFitError
from ._rowsolve import LineSolver

__all__ = ["lin_rfm_complete", "lin_rfm_step", "kernel_power", "LAMBDA_RULES", "VARIANTS"]

LAMBDA_RULES = ("auto", "change", "fixed", "holdout", "decay")
VARIANTS = ("auto", "one-sided", "two-sided")
# The ridge rule moves the iterate in bursts (each decrease of the ridge shifts the fixed
# point), so one quiet iteration proves little: convergence needs this many in a row.
_WINDOW = 5


def kernel_power(G: np.ndarray, alpha: float) -> np.ndarray:
    """``G^(2 alpha)`` for a symmetric PSD matrix ``G``.

    ``alpha = 1/2`` returns ``G`` and ``alpha = 1`` returns ``G @ G`` (no matrix function);
    any other power uses a symmetric eigendecomposition with negative eigenvalues clipped.
    """
    if alpha == 0.5:
        return G
    if alpha == 1.0:
        return G @ G
    return eig_power(G, alpha)


def eig_power(G: np.ndarray, alpha: float) -> np.ndarray:
    """``G^(2 alpha)`` by a symmetric eigendecomposition, negative eigenvalues clipped."""
    w, Q = np.linalg.eigh(G)
    w = np.clip(w, 0.0, None) ** (2.0 * alpha)
    return (Q * w) @ Q.T


def lin_rfm_step(B, X, *, alpha: float = 0.5, lam: float, replace: bool = True, shape=None):
    """One one-sided lin-RFM step from the completion ``B`` with an absolute ridge.

    ``K = (B^T B / n)^(2 alpha)``; every row ``i`` becomes
    ``y_i^T (K[O_i, O_i] + lam I)^-1 K[O_i, :]``, with its observed entries then replaced
    by ``y_i`` if ``replace``. Useful for studying the update itself; the solver is
    :func:`lin_rfm_complete`.

    Parameters
    ----------
    B : ndarray, shape (n, d)
        Current completion.
    X : completion input (see :func:`lin_rfm_complete`)
    alpha : float > 0
    lam : float >= 0
        Absolute ridge.
    replace : bool

    Returns
    -------
    ndarray, shape (n, d)
    """
    prob = as_completion_problem(X, shape)
    check_scalar(alpha, "alpha", low=0, low_inclusive=False)
    check_scalar(lam, "lam", low=0)
    B = np.asarray(B, dtype=np.float64)
    if B.shape != prob.shape:
        raise ValueError(f"B has shape {B.shape}; the problem's shape is {prob.shape}.")
    n, d = prob.shape
    step = _HalfStep(prob.rows, prob.cols, prob.values, n, d, float(alpha), replace)
    G = (B.T @ B) / n
    return step.apply(kernel_power(G, float(alpha)), lam)[0]


def _fit_budget_two_sided(n: int, d: int, memory_limit: float) -> bool:
    """Whether both the n x n and the d x d kernel (plus their AGOPs) fit the budget."""
    return 2 * 8 * (n * n + d * d) <= memory_limit


class _HalfStep:
    """One lin-RFM half-step on one side (rows as samples of a ``n_lines x width`` matrix)."""

    def __init__(self, lines, idx, values, n_lines, width, alpha, replace):
        self.solver = LineSolver(lines, idx, values, n_lines, width)
        self.lines = lines
        self.alpha = alpha
        self.replace = replace
        self.width = width
        self.n_lines = n_lines

    def __call__(self, B: np.ndarray, lam_rel: float):
        """Return (new B, coefficient matrix, kernel, absolute lambda)."""
        G = (B.T @ B) / self.n_lines
        K = kernel_power(G, self.alpha)
        scale = np.trace(K) / self.width
        if not np.isfinite(scale):
            raise ModelFitError("The kernel holds NaN or inf; the iteration diverged.")
        lam = lam_rel * scale if scale > 0 else lam_rel
        return self.apply(K, lam)

    def apply(self, K: np.ndarray, lam: float):
        """The half-step with kernel ``K`` and absolute ridge ``lam``."""
        coef = self.solver.solve(K, lam)
        A = self.solver.coef_matrix(coef)
        Bn = np.asarray(A @ K)
        if self.replace:
            # B = A (K + lam I): on the observed pattern this restores y exactly.
            Bn[self.lines, self.solver.idx] += lam * coef
        return Bn, A, K, lam


def lin_rfm_complete(
    X,
    *,
    alpha: float = 0.5,
    variant: str = "auto",
    lam: float = 1e-2,
    lam_rule: str = "auto",
    lam_min: float = 1e-12,
    replace: bool = True,
    tol: float = 1e-6,
    max_iter: int = 1000,
    val_fraction: float = 0.1,
    patience: int = 10,
    shape=None,
    memory_limit: float = 2**31,
    init=None,
    callback=None,
    progress: bool = False,
    random_state=None,
) -> KernelResult:
    """Complete a partially observed matrix with lin-RFM.

    Parameters
    ----------
    X : MatrixCompletion, ndarray with NaN for missing, scipy.sparse matrix or
        ``(rows, cols, values)`` tuple
        The observed entries (with a tuple, pass ``shape``).
    alpha : float > 0, default=0.5
        Power of the AGOP: the kernel is ``G^(2 alpha)``. ``alpha = 1/2`` and ``alpha = 1``
        need no matrix function; other values use an eigendecomposition. At a fixed point
        lin-RFM is IRLS for the Schatten-p quasi-norm with ``p = 2 - 4 alpha``.
    variant : {'auto', 'one-sided', 'two-sided'}, default='auto'
        'one-sided' is the paper's update (rows regressed with the d x d kernel).
        'two-sided' alternates it with the same half-step on the columns (n x n kernel)
        and converges in far fewer iterations. 'auto' chooses two-sided when both kernels
        fit ``memory_limit``, one-sided otherwise.
    lam : float >= 0, default=1e-2
        Initial ridge, relative to the kernel's scale ``tr(K) / width`` (so it does not
        depend on the data's units).
    lam_rule : {'auto', 'change', 'fixed', 'holdout', 'decay'}, default='auto'
        How the ridge evolves (none of them looks at unobserved entries):
        'change' sets ``lam_k = min(lam_{k-1}, relative change of the iterate)``;
        'fixed' keeps ``lam``; 'holdout' holds out ``val_fraction`` of the observations and
        sets ``lam_k = min(lam_{k-1}, relative error on them)``, stopping when that error
        has not improved for ``patience`` iterations; 'decay' divides the ridge by 10
        whenever the relative change falls below ``sqrt(lam) / 100`` (Chartrand-Yin
        style). 'auto' is 'change' for the two-sided variant and 'fixed' for the
        one-sided one, the measured best of each (benchmarks/README.md): the one-sided
        iteration freezes far from the truth when its ridge shrinks.
    lam_min : float >= 0, default=1e-12
        Floor for the relative ridge.
    replace : bool, default=True
        Keep observed entries exactly (exact, noiseless recovery). ``False`` is the noisy
        mode: the observed entries are smoothed by the ridge too.
    tol : float > 0, default=1e-6
        Stop when the relative change of the completed matrix in one iteration,
        ``||B_k - B_{k-1}||_F / ||B_{k-1}||_F``, falls below ``tol``.
    max_iter : int, default=1000
        Maximum number of iterations (a two-sided iteration is a row and a column
        half-step).
    val_fraction : float in (0, 1), default=0.1
        Fraction of observations held out by ``lam_rule='holdout'``.
    patience : int, default=10
        Iterations without validation improvement before 'holdout' stops.
    shape : tuple of int, optional
        Shape of the matrix, required for triple input.
    memory_limit : float, default=2 GiB
        Bytes the kernels may take; decides 'auto'.
    init : KernelResult, optional
        Warm start from a previous result on the same shape.
    callback : callable, optional
        ``callback(iteration, info)`` after each iteration with a dict of the monitored
        quantities and ``info['result']``, a :class:`KernelResult` of the current iterate
        (valid during the call); returning True stops the iteration.
    progress : bool, default=False
        Show a tqdm progress bar.
    random_state : None, int or numpy.random.Generator
        Used by 'holdout' to choose the held-out observations.

    Returns
    -------
    KernelResult
        ``predict(rows, cols)``, ``to_dense()``, ``n_iter``, ``converged``, ``history``
        (``rel_change``, ``lam`` and, for 'holdout', ``val_rel_error`` per iteration),
        ``elapsed``.

    Warns
    -----
    sklearn.exceptions.ConvergenceWarning
        When ``max_iter`` is reached before ``tol``.

    Raises
    ------
    ModelFitError
        When the iterate becomes non-finite.
    """
    t0 = time.perf_counter()
    check_scalar(alpha, "alpha", low=0, low_inclusive=False)
    check_option(variant, "variant", VARIANTS)
    check_scalar(lam, "lam", low=0)
    check_option(lam_rule, "lam_rule", LAMBDA_RULES)
    check_scalar(lam_min, "lam_min", low=0)
    check_scalar(tol, "tol", low=0, low_inclusive=False)
    check_scalar(max_iter, "max_iter", kind=numbers.Integral, low=1)
    check_scalar(
        val_fraction, "val_fraction", low=0, high=1, low_inclusive=False, high_inclusive=False
    )
    check_scalar(patience, "patience", kind=numbers.Integral, low=1)
    if not isinstance(replace, (bool, np.bool_)):
        raise TypeError(f"The 'replace' parameter must be a bool; got {replace!r}.")
    if callback is not None and not callable(callback):
        raise TypeError("The 'callback' parameter must be callable or None.")
    alpha = float(alpha)
    prob = as_completion_problem(X, shape)
    n, d = prob.shape
    if variant == "auto":
        variant = "two-sided" if _fit_budget_two_sided(n, d, memory_limit) else "one-sided"
    if lam_rule == "auto":
        lam_rule = "change" if variant == "two-sided" else "fixed"

    val = None
    if lam_rule == "holdout":
        prob, val = prob.split(val_fraction, check_random_state(random_state))

    row_step = _HalfStep(prob.rows, prob.cols, prob.values, n, d, alpha, replace)
    col_step = None
    if variant == "two-sided":
        order = np.lexsort((prob.rows, prob.cols))
        col_step = _HalfStep(
            prob.cols[order], prob.rows[order], prob.values[order], d, n, alpha, replace
        )

    if init is not None:
        if not isinstance(init, KernelResult) or tuple(init.shape) != (n, d):
            raise ValueError(
                f"init must be a KernelResult of shape {(n, d)}; got {type(init).__name__}"
                f" of shape {getattr(init, 'shape', None)}."
            )
        B = init.to_dense()
        lam_rel = float(init.params.get("lam_final", lam))
    else:
        B = np.zeros((n, d))
        B[prob.rows, prob.cols] = prob.values
        lam_rel = float(lam)

    history = {"rel_change": [], "lam": []}
    if val is not None:
        history["val_rel_error"] = []
        val_norm = np.linalg.norm(val.values)
        best_val, stale = np.inf, 0

    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=max_iter, desc=f"lin-RFM a={alpha:g} {variant}", leave=False)

    converged = False
    it = 0
    A = K = None
    lam_abs = 0.0
    side = "row"
    try:
        for it in range(1, max_iter + 1):
            B_prev = B
            B, A, K, lam_abs = row_step(B, lam_rel)
            side = "row"
            if col_step is not None:
                Bt, A, K, lam_abs = col_step(B.T, lam_rel)
                B = Bt.T
                side = "col"
            norm_prev = np.linalg.norm(B_prev)
            change = np.linalg.norm(B - B_prev) / norm_prev if norm_prev > 0 else np.inf
            if not np.isfinite(change):
                raise ModelFitError(
                    f"lin-RFM iterate became non-finite at iteration {it}; try a larger "
                    "'lam' or 'lam_min'."
                )
            history["rel_change"].append(float(change))
            history["lam"].append(lam_rel)
            # Converged: the iterate stopped moving under a ridge already at the
            # tolerance's level (for 'change', a step taken with a larger ridge can look
            # stationary at that ridge's fixed point, not the ridge-free limit).
            recent = max(history["rel_change"][-_WINDOW:])
            settled = (
                len(history["rel_change"]) >= _WINDOW
                and recent < tol
                and (lam_rule == "fixed" or lam_rel <= max(tol, lam_min))
            )
            info = {"iteration": it, "rel_change": change, "lam": lam_rel}
            stop_val = False
            if val is not None:
                verr = float(np.linalg.norm(B[val.rows, val.cols] - val.values) / val_norm)
                history["val_rel_error"].append(verr)
                info["val_rel_error"] = verr
                if verr < best_val * (1 - 1e-3):
                    best_val, stale = verr, 0
                else:
                    stale += 1
                stop_val = stale >= patience
                lam_rel = max(lam_min, min(lam_rel, verr))
            elif lam_rule == "change":
                lam_rel = max(lam_min, min(lam_rel, change))
            elif lam_rule == "decay" and change < np.sqrt(lam_rel) / 100:
                lam_rel = max(lam_min, lam_rel / 10)
            if bar is not None:
                bar.update(1)
                bar.set_postfix(change=f"{change:.2e}", lam=f"{lam_rel:.1e}", refresh=False)
            if settled:
                converged = True
                break
            if stop_val:
                converged = True
                break
            if callback is not None:
                # a light snapshot (references, no copies) to predict from the iterate
                info["result"] = KernelResult(
                    shape=(n, d),
                    n_iter=it,
                    method="lin-rfm",
                    side=side,
                    coef=A,
                    kernel=K,
                    lam=lam_abs,
                    replace=replace,
                )
            if callback is not None and callback(it, info):
                break
    finally:
        if bar is not None:
            bar.close()

    if not converged and it >= max_iter:
        warnings.warn(
            f"lin-RFM did not converge in max_iter={max_iter} iterations: the largest "
            f"relative change of the iterate over the last {_WINDOW} iterations is "
            f"{max(history['rel_change'][-_WINDOW:]):.2e} (tol={tol:g}) and the relative "
            f"ridge is {lam_rel:.1e}. Increase max_iter"
            + (", or try variant='two-sided'." if variant == "one-sided" else "."),
            ConvergenceWarning,
            stacklevel=2,
        )
    params = {
        "alpha": alpha,
        "variant": variant,
        "lam": lam,
        "lam_rule": lam_rule,
        "lam_final": lam_rel,
        "replace": replace,
        "tol": tol,
        "max_iter": max_iter,
    }
    return KernelResult(
        shape=(n, d),
        n_iter=it,
        converged=converged,
        history=history,
        elapsed=time.perf_counter() - t0,
        method="lin-rfm",
        params=params,
        side=side,
        coef=A,
        kernel=K,
        lam=lam_abs,
        replace=replace,
    )
