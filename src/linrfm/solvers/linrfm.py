"""lin-RFM for matrix completion (Radhakrishnan, Belkin, Drusvyatskiy, PNAS 2025).

Each row of the matrix is a kernel ridge regression from its column's one-hot vector to the
entry, with the kernel ``K = G^(2 alpha)`` built from the AGOP ``G = B^T B / n`` of the
current completion ``B``. The two-sided variant alternates this row half-step with the same
half-step on ``B^T`` (kernel from ``B B^T / d``).
"""

from __future__ import annotations

import numbers
import time

import numpy as np
import scipy.sparse as sp

from .._validation import check_option, check_random_state, check_scalar
from ..problems import as_completion_problem
from ..results import KernelResult
from ._backend import NUMPY, get_backend, ops_of, to_numpy_input
from ._driver import (
    absolute_ridge,
    check_lin_rfm_params,
    iterate,
    next_ridge,
    record_ridge_step,
    ridge_warning,
)
from ._rowsolve import LineSolver, blas_threads

__all__ = [
    "lin_rfm_complete",
    "lin_rfm_plan",
    "lin_rfm_step",
    "kernel_power",
    "LAMBDA_RULES",
    "VARIANTS",
    "AGOP_PATHS",
]

LAMBDA_RULES = ("auto", "change", "fixed", "holdout", "decay")
VARIANTS = ("auto", "one-sided", "two-sided")
AGOP_PATHS = ("auto", "dense", "sparse")


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
    w, Q = ops_of(G).eigh(G)
    w = w.clip(min=0.0) ** (2.0 * alpha)
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


_GiB = 2**30
# The coefficient ('sparse') AGOP path measures the relative change of the iterate on at
# most this many rows (all rows when there are fewer: then it is exact).
_CHANGE_SAMPLE = 8192
# Rough seconds per operation on one core, for the cost model (only ratios matter):
# a dense matrix-product flop, a sparse-times-dense multiply-add (scipy), a sparse-sparse
# multiply-add (scipy), a gathered kernel entry.
_T_FLOP, _T_SPMM, _T_SPGEMM, _T_GATHER = 1 / 40e9, 0.7e-9, 15e-9, 10e-9


def _side_cost(n_lines, width, counts):
    """Seconds per half-step and bytes of one side (lines regressed with a width^2 kernel).

    Returns a dict with the cost of the dense path (holds the n_lines x width iterate) and
    of the coefficient path (AGOP from the solve coefficients, no dense iterate).
    """
    n_obs = float(np.sum(counts))
    sq = float(np.sum(counts.astype(np.float64) ** 2))
    solves = sq * _T_GATHER + float(np.sum(counts.astype(np.float64) ** 3)) * _T_FLOP
    dense_t = 2.0 * n_lines * width**2 * _T_FLOP + n_obs * width * _T_SPMM + solves
    sparse_t = 4.0 * width**3 * _T_FLOP + sq * _T_SPGEMM + solves
    return {"dense_time": dense_t, "sparse_time": sparse_t}


def _obs_bytes(n_obs, sum_sq, itemsize):
    # problem arrays are the caller's; the solver adds index/pattern/padding arrays and
    # a few coefficient vectors, plus one batch of gathered blocks
    return n_obs * (48 + 3 * itemsize) + min(sum_sq, 2**22) * (8 + 2 * itemsize)


def lin_rfm_plan(
    X,
    *,
    variant: str = "auto",
    agop: str = "auto",
    dtype=None,
    memory_limit: float = 2 * _GiB,
    shape=None,
) -> dict:
    """How :func:`lin_rfm_complete` will run on ``X``, and what it will cost.

    The variant, the side of the kernel and the AGOP path are chosen by a cost model
    (seconds per iteration, from operation counts) under the memory budget.

    Parameters
    ----------
    X : completion input (see :func:`lin_rfm_complete`)
    variant : {'auto', 'one-sided', 'two-sided'}
    agop : {'auto', 'dense', 'sparse'}
    dtype : {None, 'float64', 'float32'}
    memory_limit : float
        Bytes the solver's working arrays may take.
    shape : tuple of int, optional

    Returns
    -------
    dict
        ``variant``, ``side`` ('row': the kernel is d x d; 'col': one-sided on the
        transpose, n x n kernel), ``agop`` ('dense' or 'sparse'), ``bytes`` (estimated
        peak working memory), ``seconds_per_iter`` (model, one core) and the
        alternatives considered (``options``).
    """
    prob = as_completion_problem(X, shape)
    check_option(variant, "variant", VARIANTS)
    check_option(agop, "agop", AGOP_PATHS)
    check_scalar(memory_limit, "memory_limit", low=0, low_inclusive=False)
    return _plan(prob, variant, agop, _check_dtype(dtype), float(memory_limit))


def _plan(prob, variant, agop, dtype, memory_limit):
    n, d = prob.shape
    s = np.dtype(dtype).itemsize
    sq = max(
        float(np.sum(prob.row_counts.astype(np.float64) ** 2)),
        float(np.sum(prob.col_counts.astype(np.float64) ** 2)),
    )
    obs = _obs_bytes(prob.n_obs, sq, s)
    rc = _side_cost(n, d, prob.row_counts)  # rows regressed, d x d kernel
    cc = _side_cost(d, n, prob.col_counts)  # columns regressed, n x n kernel
    options = []
    for side, c, lines, width in (("row", rc, n, d), ("col", cc, d, n)):
        # one-sided momentum keeps the last output too: a dense iterate, or the last
        # coefficients with their kernel and AGOP
        dense_bytes = 4 * n * d * s + 3 * width * width * s + obs
        sparse_bytes = (
            10 * width * width * s
            + 2 * min(_CHANGE_SAMPLE, lines) * width * s
            + prob.n_obs * s
            + obs
        )
        options.append(("one-sided", side, "dense", c["dense_time"], dense_bytes))
        options.append(("one-sided", side, "sparse", c["sparse_time"], sparse_bytes))
    two_bytes = 3 * n * d * s + 3 * max(n, d) ** 2 * s + 2 * obs
    options.append(("two-sided", "row", "dense", rc["dense_time"] + cc["dense_time"], two_bytes))
    if variant != "auto":
        options = [o for o in options if o[0] == variant]
    if agop != "auto":
        options = [o for o in options if o[2] == agop]
    if not options:
        raise ValueError(
            f"variant={variant!r} with agop={agop!r} is not available: the two-sided "
            "variant needs the dense iterate (agop='dense' or 'auto')."
        )
    fits = [o for o in options if o[4] <= memory_limit]
    if not fits:
        best = min(options, key=lambda o: o[4])
        raise MemoryError(
            f"lin-RFM on a {n} x {d} matrix with {prob.n_obs} observations needs an "
            f"estimated {best[4] / _GiB:.2f} GiB at the least (variant={best[0]!r}, "
            f"agop={best[2]!r}, dtype={np.dtype(dtype).name}), more than "
            f"memory_limit={memory_limit / _GiB:.2f} GiB. Raise memory_limit, or try "
            "dtype='float32', variant='one-sided' or agop='sparse'."
        )
    one = [o for o in fits if o[0] == "one-sided"]
    two = [o for o in fits if o[0] == "two-sided"]
    best_one = min(one, key=lambda o: o[3]) if one else None
    # Two-sided needs ~10x fewer iterations (benchmarks/README.md): worth up to 10x the
    # cost of one iteration.
    if two and (best_one is None or two[0][3] <= 10 * best_one[3]):
        pick = two[0]
    else:
        pick = best_one
    return {
        "variant": pick[0],
        "side": pick[1],
        "agop": pick[2],
        "seconds_per_iter": pick[3],
        "bytes": pick[4],
        "options": [
            dict(zip(("variant", "side", "agop", "seconds_per_iter", "bytes"), o)) for o in options
        ],
    }


# measured on tall one-sided problems (benchmarks/README.md, "One-sided momentum")
_ONE_SIDED_MOMENTUM = 0.7


def _check_momentum(momentum, variant):
    """The momentum for ``variant``: 'auto' resolved, a number checked to lie in [0, 1)."""
    if isinstance(momentum, str):
        if momentum != "auto":
            raise ValueError(
                f"The 'momentum' parameter must be 'auto' or a real number in [0, 1); "
                f"got {momentum!r}."
            )
        return _ONE_SIDED_MOMENTUM if variant == "one-sided" else 0.0
    check_scalar(momentum, "momentum", low=0, high=1, high_inclusive=False)
    momentum = float(momentum)
    if momentum and variant == "two-sided":
        raise ValueError(
            f"momentum={momentum:g} applies to the one-sided iteration only; the two-sided "
            "variant takes momentum=0 (or 'auto')."
        )
    return momentum


def _check_dtype(dtype):
    if dtype is None:
        return np.float64
    try:
        dt = np.dtype(dtype)
    except TypeError:
        dt = None
    if dt not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise ValueError(
            f"The 'dtype' parameter must be None, 'float32' or 'float64'; got {dtype!r}."
        )
    return dt.type


class _HalfStep:
    """One lin-RFM half-step on one side (rows as samples of a ``n_lines x width`` matrix)."""

    def __init__(self, lines, idx, values, n_lines, width, alpha, replace, ops=NUMPY):
        self.solver = LineSolver(lines, idx, values, n_lines, width, ops=ops)
        self.alpha = alpha
        self.replace = replace
        self.width = width
        self.n_lines = n_lines

    def kernel(self, G: np.ndarray, lam_rel: float):
        """Kernel ``G^(2 alpha)`` and the absolute ridge for a relative one."""
        K = kernel_power(G, self.alpha)
        return K, absolute_ridge(lam_rel, float(K.trace()) / self.width)

    def __call__(self, B: np.ndarray, lam_rel: float):
        """Return (new B, coefficient matrix, kernel, absolute lambda)."""
        G = (B.T @ B) / self.n_lines
        K, lam = self.kernel(G, lam_rel)
        return self.apply(K, lam)

    def apply(self, K: np.ndarray, lam: float):
        """The half-step with kernel ``K`` and absolute ridge ``lam``."""
        coef = self.solver.solve(K, lam)
        A = self.solver.coef_matrix(coef)
        Bn = self.solver.ops.spmm(A, K, self.solver.n_workers)
        if self.replace:
            # B = A (K + lam I): on the observed pattern this restores y exactly.
            Bn[self.solver.lines_x, self.solver.idx_x] += lam * coef
        return Bn, A, K, lam


def _rel_change(B, B_prev, chunk=4096, ops=NUMPY):
    """``||B - B_prev||_F / ||B_prev||_F`` in row chunks (no n x d temporary)."""
    num = den = 0.0
    for s in range(0, B.shape[0], chunk):
        P = ops.as_float64(B_prev[s : s + chunk])
        num += float(((B[s : s + chunk] - P) ** 2).sum())
        den += float((P**2).sum())
    return np.sqrt(num / den) if den > 0 else np.inf


class _DenseEngine:
    """The iterate held densely: one-sided (rows) or two-sided (rows then columns)."""

    def __init__(self, prob, alpha, replace, two_sided, dtype, init, ops=NUMPY, momentum=0.0):
        n, d = prob.shape
        self.shape = (n, d)
        self.replace = replace
        self.ops = ops
        self.momentum = momentum
        # the input of the next half-step when momentum extrapolates (None: self.B)
        self._B_in = None
        self.row_step = _HalfStep(prob.rows, prob.cols, prob.values, n, d, alpha, replace, ops)
        self.col_step = None
        if two_sided:
            order = np.lexsort((prob.rows, prob.cols))
            self.col_step = _HalfStep(
                prob.cols[order], prob.rows[order], prob.values[order], d, n, alpha, replace, ops
            )
        if init is not None:
            self.B = ops.array(init.to_dense(), dtype=dtype)
        else:
            self.B = ops.zeros((n, d), dtype)
            self.B[self.row_step.solver.lines_x, self.row_step.solver.idx_x] = ops.array(
                prob.values, dtype
            )
        self.A = self.K = None
        self.lam_abs = 0.0
        self.side = "row"

    def set_workers(self, n_workers):
        for hs in (self.row_step, self.col_step):
            if hs is not None:
                hs.solver.n_workers = n_workers

    def step(self, lam_rel):
        B_prev = self.B
        # extrapolate only between outputs: the first input (observations or a warm
        # start) is none, and self.A is set by the first half-step
        extrapolate = self.momentum and self.A is not None
        B_in = B_prev if self._B_in is None else self._B_in
        B, self.A, self.K, self.lam_abs = self.row_step(B_in, lam_rel)
        self.side = "row"
        if self.col_step is not None:
            Bt, self.A, self.K, self.lam_abs = self.col_step(B.T, lam_rel)
            B = Bt.T
            self.side = "col"
        self.B = B
        if extrapolate:
            self._B_in = (1 + self.momentum) * B - self.momentum * B_prev
        return _rel_change(B, B_prev, ops=self.ops)

    def snapshot(self):
        return self.side, self.A, self.K, self.lam_abs

    def values_at(self, rows, cols):
        ops = self.ops
        return ops.to_numpy(self.B[ops.index(rows), ops.index(cols)])


class _SparseEngine:
    """One-sided lin-RFM with no dense iterate (DESIGN.md, "Cost and scale").

    The state is the sparse coefficient matrix ``A`` and the kernel ``K``; the completion is
    ``B = A (K + lam I)`` and its AGOP ``(K + lam I) (A^T A) (K + lam I) / n``.
    """

    def __init__(self, prob, alpha, replace, dtype, init, random_state=0, ops=NUMPY, momentum=0.0):
        n, d = prob.shape
        self.shape = (n, d)
        self.n = n
        self.momentum = momentum
        # (coef, K + lam I, its unscaled AGOP) of the last half-step, for momentum
        self._last = None
        self.replace = replace
        self.dtype = dtype
        self.ops = ops
        self.step_ = _HalfStep(prob.rows, prob.cols, prob.values, n, d, alpha, replace, ops)
        solver = self.step_.solver
        if n <= _CHANGE_SAMPLE:
            self.sample = None
        else:
            rng = np.random.default_rng(random_state)
            self.sample = np.sort(rng.choice(n, _CHANGE_SAMPLE, replace=False))
            # the observations of the sampled rows, and their pattern as a matrix of its own
            counts = solver.counts[self.sample]
            sel = np.repeat(solver.indptr[self.sample] - np.cumsum(counts) + counts, counts)
            sel += np.arange(sel.size)
            self._sel = ops.index(sel)
            sub = sp.csr_matrix(
                (np.ones(sel.size), solver.idx[sel], np.concatenate([[0], np.cumsum(counts)])),
                shape=(self.sample.size, d),
            )
            self._sub_pattern = ops.pattern(sub)
        if init is None:
            values = ops.array(prob.values, dtype)
            self.G = solver.gram(values) / n
            self.B_rows = self._rows_times(values, ops.eye(d, dtype))
        elif init.side == "row":
            shift = init.lam if init.replace else 0.0
            Kl = np.asarray(init.kernel, dtype=dtype) + shift * np.eye(d, dtype=dtype)
            S = np.asarray((init.coef.T @ init.coef).toarray(), dtype=dtype)
            self.G = ops.array(Kl @ (S @ Kl) / n)
            A = init.coef if self.sample is None else init.coef[self.sample]
            self.B_rows = ops.array(np.asarray(A @ Kl))
        else:
            B = np.asarray(init.to_dense(), dtype=dtype)
            self.G = ops.array(B.T @ B / n)
            self.B_rows = ops.array(B if self.sample is None else B[self.sample])
        self.A = self.K = None
        self.lam_abs = 0.0

    def _rows_times(self, coef, M):
        """``A M`` on the sampled rows (all rows when there is no sample), dense."""
        ops = self.ops
        workers = self.step_.solver.n_workers
        if self.sample is None:
            return ops.spmm(self.step_.solver.coef_matrix(coef), M, workers)
        return ops.spmm(ops.sparse(self._sub_pattern, coef[self._sel]), M, workers)

    def set_workers(self, n_workers):
        self.step_.solver.n_workers = n_workers

    def step(self, lam_rel):
        hs = self.step_
        K, lam = hs.kernel(self.G, lam_rel)
        coef = hs.solver.solve(K, lam)
        A = hs.solver.coef_matrix(coef)
        shift = lam if self.replace else 0.0
        Kl = K + shift * self.ops.eye(K.shape[0], K.dtype) if shift else K
        S = hs.solver.gram(coef)
        G = Kl @ (S @ Kl)
        if self.momentum:
            G_out = G
            if self._last is not None:
                # the AGOP of (1 + b) B_k - b B_{k-1}, with B = A (K + lam I): a Gram
                # matrix, so positive semidefinite like the plain one
                c0, Kl0, G0 = self._last
                b = self.momentum
                X = Kl @ (hs.solver.gram(coef, c0) @ Kl0)
                G = (1 + b) ** 2 * G + b**2 * G0 - b * (1 + b) * (X + X.T)
            self._last = (coef, Kl, G_out)
        # symmetrize: rounding makes the product slightly asymmetric, and the iteration
        # amplifies an asymmetric part (it diverges without this)
        self.G = (G + G.T) / (2 * self.n)
        B_rows = self._rows_times(coef, Kl)
        change = _rel_change(B_rows, self.B_rows, ops=self.ops)
        self.B_rows = B_rows
        self.A, self.K, self.lam_abs = A, K, lam
        return change

    def snapshot(self):
        return "row", self.A, self.K, self.lam_abs

    def values_at(self, rows, cols):
        side, A, K, lam = self.snapshot()
        return KernelResult(
            shape=self.shape,
            side=side,
            coef=self.ops.to_scipy(A),
            kernel=self.ops.to_numpy(K),
            lam=lam,
            replace=self.replace,
        ).predict(rows, cols)


def _transposed(res: KernelResult) -> KernelResult:
    """The same KernelResult read as the transposed matrix."""
    out = KernelResult(**{f: getattr(res, f) for f in res.__dataclass_fields__})
    out.shape = tuple(res.shape)[::-1]
    out.side = "col" if res.side == "row" else "row"
    return out


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
    agop: str = "auto",
    dtype=None,
    n_threads: int | None = None,
    device=None,
    momentum="auto",
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
        and converges in far fewer iterations. 'auto' chooses two-sided when its estimate
        fits ``memory_limit`` and one of its iterations costs at most 10 one-sided ones
        (cost model of :func:`lin_rfm_plan`), one-sided otherwise.
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
        style), down to ``max(lam_min, tol)``: the level convergence asks for, below which
        the one-sided solves only lose precision (at 1e-11 the iterate wanders).
        'auto' is 'change' for the two-sided variant; for the one-sided one it is
        'decay' with momentum and 'fixed' without, the measured best of each
        (benchmarks/README.md, "One-sided momentum"): without momentum the one-sided
        iteration freezes far from the truth when its ridge shrinks, and a fixed ridge
        leaves an error floor (~5e-3 at the default ``lam``) that decay removes.
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
        Bytes the solver's working arrays may take. The plan (variant, side of the
        kernel, AGOP path; see :func:`lin_rfm_plan`) is chosen among those whose estimate
        fits; a ``MemoryError`` is raised before any work when none does.
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
    agop : {'auto', 'dense', 'sparse'}, default='auto'
        How the AGOP is computed. 'dense' holds the completed n x d matrix ``B`` and forms
        ``B^T B / n``; 'sparse' holds only the solve coefficients ``A`` (sparse, on the
        observed pattern) and the kernel, with ``B = A (K + lam I)`` and
        ``G = (K + lam I) (A^T A) (K + lam I) / n`` (memory O(d^2 + |Omega|); one-sided
        only; the relative change is then measured on a fixed sample of at most 8192
        rows). 'auto' chooses by a cost model. With ``variant='one-sided'``, 'auto' also
        puts the kernel on the cheaper side (the transpose when that is cheaper).
    dtype : {None, 'float64', 'float32'}, default=None
        Working precision (None: float64, or float32 for float32 tensor input).
    n_threads : int, optional
        Limit BLAS threads during the fit (threadpoolctl; on the torch backend also
        torch's intra-op threads); None leaves them as they are.
    device : None, 'cpu', 'cuda', 'cuda:N' or torch.device, default=None
        Array backend. None with NumPy/SciPy input runs on NumPy. A torch device runs the
        same iteration on PyTorch tensors on that device (``pip install "linrfm[torch]"``).
        When ``X`` holds torch tensors (a dense tensor with NaN for missing, a sparse COO
        tensor, or a ``(rows, cols, values)`` tuple of tensors) and ``device`` is None,
        the torch backend runs on the tensor's device: the array module follows the input.
        A given ``device`` wins over the input's (the data are moved there).
    momentum : 'auto' or float in [0, 1), default='auto'
        Extrapolation of the one-sided iteration: each half-step's AGOP is taken from
        ``(1 + b) B_k - b B_{k-1}``, the last two completions (Nesterov's form on the
        fixed-point map; a Gram matrix, so the kernel stays positive semidefinite). The
        result is always a plain half-step's output. The one-sided iteration contracts
        linearly and slowly (0.93-0.99 per iteration on tall matrices); ``b = 0.7`` cut the
        iterations to a given error ~3x (benchmarks/README.md, "One-sided momentum"). 'auto'
        is 0.7 for the one-sided variant and 0 for the two-sided one, which converges fast
        without it and takes none. A warm start (``init``) begins without extrapolation:
        the result holds only the last completion.

    Returns
    -------
    KernelResult
        ``predict(rows, cols)``, ``to_dense()``, ``n_iter``, ``converged``, ``history``
        (``rel_change``, ``lam`` and, for 'holdout', ``val_rel_error`` per iteration),
        ``elapsed``. On every backend its arrays are NumPy/SciPy (the kernel and the
        coefficients are copied back from the device once, at the end, and at each
        ``callback`` call), so everything downstream works unchanged; ``params['device']``
        records the torch device (None for NumPy).

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
    check_lin_rfm_params(alpha, lam, lam_min, tol, max_iter, replace, callback)
    check_option(variant, "variant", VARIANTS)
    check_option(lam_rule, "lam_rule", LAMBDA_RULES)
    check_scalar(
        val_fraction, "val_fraction", low=0, high=1, low_inclusive=False, high_inclusive=False
    )
    check_scalar(patience, "patience", kind=numbers.Integral, low=1)
    if n_threads is not None:
        check_scalar(n_threads, "n_threads", kind=numbers.Integral, low=1)
    check_option(agop, "agop", AGOP_PATHS)
    check_scalar(memory_limit, "memory_limit", low=0, low_inclusive=False)
    X, tensor = to_numpy_input(X)
    ops = get_backend(device, like=tensor)
    if dtype is None and tensor is not None and str(tensor.dtype) == "torch.float32":
        dtype = "float32"
    dtype = _check_dtype(dtype)
    alpha = float(alpha)
    prob = as_completion_problem(X, shape)
    n, d = prob.shape
    if init is not None and (not isinstance(init, KernelResult) or tuple(init.shape) != (n, d)):
        raise ValueError(
            f"init must be a KernelResult of shape {(n, d)}; got {type(init).__name__}"
            f" of shape {getattr(init, 'shape', None)}."
        )
    plan = _plan(prob, variant, agop, dtype, float(memory_limit))
    variant = plan["variant"]
    momentum = _check_momentum(momentum, variant)
    if lam_rule == "auto":
        if variant == "two-sided":
            lam_rule = "change"
        else:
            lam_rule = "decay" if momentum else "fixed"

    val = None
    if lam_rule == "holdout":
        prob, val = prob.split(val_fraction, check_random_state(random_state))

    transpose = plan["side"] == "col"
    if transpose:
        prob = prob.transpose()
        init = _transposed(init) if init is not None else None
        if val is not None:
            val = val.transpose()
    if plan["agop"] == "sparse":
        engine = _SparseEngine(prob, alpha, replace, dtype, init, ops=ops, momentum=momentum)
    else:
        engine = _DenseEngine(
            prob, alpha, replace, variant == "two-sided", dtype, init, ops, momentum
        )
    lam_rel = float(init.params.get("lam_final", lam)) if init is not None else float(lam)

    limits = None
    if n_threads is not None:
        from threadpoolctl import threadpool_limits

        limits = threadpool_limits(limits=int(n_threads), user_api="blas")
        torch_threads = ops.set_threads(int(n_threads))
    engine.set_workers(blas_threads() if ops.threaded_solves else 1)

    history = {"rel_change": [], "lam": []}
    if val is not None:
        history["val_rel_error"] = []
        val_norm = np.linalg.norm(val.values)
        best_val, stale = np.inf, 0

    def as_result(**kw):
        side, A, K, lam_abs = engine.snapshot()
        res = KernelResult(
            shape=prob.shape,
            method="lin-rfm",
            side=side,
            coef=ops.to_scipy(A),
            kernel=ops.to_numpy(K),
            lam=lam_abs,
            replace=replace,
            **kw,
        )
        return _transposed(res) if transpose else res

    def step(it):
        nonlocal lam_rel, best_val, stale
        change = engine.step(lam_rel)
        done = record_ridge_step("lin-RFM", it, history, change, lam_rel, tol, lam_rule, lam_min)
        info = {"iteration": it, "rel_change": change, "lam": lam_rel}
        if val is not None:
            fitted = engine.values_at(val.rows, val.cols)
            verr = float(np.linalg.norm(fitted - val.values) / val_norm)
            history["val_rel_error"].append(verr)
            info["val_rel_error"] = verr
            if verr < best_val * (1 - 1e-3):
                best_val, stale = verr, 0
            else:
                stale += 1
            done = done or stale >= patience
            lam_rel = next_ridge("change", lam_rel, verr, lam_min)
        else:
            floor = max(lam_min, tol) if lam_rule == "decay" else lam_min
            lam_rel = next_ridge(lam_rule, lam_rel, change, floor)
        postfix = {
            "change": f"{change:.2e}",
            "lam": f"{lam_rel:.1e}",
            "elapsed": f"{time.perf_counter() - t0:.1f}s",
        }
        return done, info, postfix

    advice = ", or try variant='two-sided'." if variant == "one-sided" else "."
    try:
        it, converged = iterate(
            step,
            max_iter=max_iter,
            callback=callback,
            progress=progress,
            desc=f"lin-RFM a={alpha:g} {variant}",
            # a light snapshot (references, no copies) to predict from the iterate
            result=lambda it: as_result(n_iter=it),
            warning=lambda: ridge_warning(
                "lin-RFM", max_iter, history["rel_change"], tol, lam_rel, advice
            ),
        )
    finally:
        if limits is not None:
            limits.restore_original_limits()
            ops.set_threads(torch_threads)

    params = {
        "alpha": alpha,
        "variant": variant,
        "lam": lam,
        "lam_rule": lam_rule,
        "lam_final": lam_rel,
        "replace": replace,
        "tol": tol,
        "max_iter": max_iter,
        "agop": plan["agop"],
        "kernel_side": plan["side"],
        "dtype": np.dtype(dtype).name,
        "memory_estimate": plan["bytes"],
        "device": None if ops is NUMPY else str(ops.device),
        "momentum": momentum,
    }
    return as_result(
        n_iter=it,
        converged=converged,
        history=history,
        elapsed=time.perf_counter() - t0,
        params=params,
    )
