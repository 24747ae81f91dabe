"""lin-RFM for matrix completion (Radhakrishnan, Belkin, Drusvyatskiy, PNAS 2025).

Each row of the matrix is a kernel ridge regression from its column's one-hot vector to the
entry, with the kernel ``K = G^(2 alpha)`` built from the AGOP ``G = B^T B / n`` of the
current completion ``B``. The two-sided variant alternates this row half-step with the same
half-step on ``B^T`` (kernel from ``B B^T / d``).

:func:`lin_rfm_complete` checks the parameters, plans the run (:mod:`.plan`), builds an
engine (:mod:`.engines`) and runs it through :func:`linrfm.iteration.iterate`.
"""

from __future__ import annotations

import numbers
import time
from contextlib import contextmanager

import numpy as np

from ..._docs import fill_doc
from ..._scaling import scale_free
from ..._validation import check_bool, check_option, check_random_state, check_scalar
from ...backend import NUMPY, blas_threads, get_backend, to_numpy_input
from ...iteration import iterate, iterative
from ...problems import as_completion_problem
from ...results import KernelResult
from .._params import check_lin_rfm_params
from .engines import DenseLinRFM, SparseLinRFM
from .method import ridge_schedule, transposed
from .plan import AGOP_PATHS, VARIANTS, check_dtype, plan_fit

__all__ = ["lin_rfm_complete", "LAMBDA_RULES"]

LAMBDA_RULES = ("auto", "change", "fixed", "holdout", "decay")

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


def _auto_rule(lam_rule, variant, momentum):
    """'auto': 'change' two-sided; one-sided 'decay' with momentum, 'fixed' without."""
    if lam_rule != "auto":
        return lam_rule
    if variant == "two-sided":
        return "change"
    return "decay" if momentum else "fixed"


def _check_init(init, shape):
    if init is not None and (not isinstance(init, KernelResult) or tuple(init.shape) != shape):
        raise ValueError(
            f"init must be a KernelResult of shape {shape}; got {type(init).__name__}"
            f" of shape {getattr(init, 'shape', None)}."
        )


def _check_options(lam_rule, variant, agop, val_fraction, patience, n_threads, memory_limit):
    """The checks of the parameters lin-RFM's completion solver alone takes."""
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


def _make_method(prob, plan, *, init, val, **common):
    """The engine the plan chose, on the side it chose (the transpose for 'col')."""
    transpose = plan["side"] == "col"
    if transpose:
        prob = prob.transpose()
        init = transposed(init) if init is not None else None
        val = val.transpose() if val is not None else None
    common.update(init=init, val=val, transpose=transpose)
    if plan["agop"] == "sparse":
        method = SparseLinRFM(prob, **common)
    else:
        method = DenseLinRFM(prob, two_sided=plan["variant"] == "two-sided", **common)
    method.name = f"lin-RFM a={common['alpha']:g} {plan['variant']}" + (
        " (sparse AGOP)" if plan["agop"] == "sparse" else ""
    )
    if plan["variant"] == "one-sided":
        method.advice = "Increase max_iter, or try variant='two-sided'."
    return method


def _on_cluster(X, client, *, variant, agop, lam_rule, momentum, device, init, **kw):
    """The fit on the workers of a ``dask.distributed.Client`` (:mod:`linrfm.distributed`)."""
    from ...distributed import require_dask

    require_dask()
    for name, value, ok in (
        ("variant", variant, ("auto", "one-sided")),
        ("agop", agop, ("auto", "sparse")),
        ("lam_rule", lam_rule, ("auto", "change", "fixed", "decay")),
        ("device", device, (None,)),
        ("init", init, (None,)),
    ):
        if not any(value is v or value == v for v in ok):
            raise ValueError(
                f"With a client, lin-RFM runs the one-sided coefficient iteration: {name} must "
                f"be one of {ok}; got {value!r}."
            )
    from ...distributed.fit import complete_on_cluster

    t0 = time.perf_counter()
    momentum = _check_momentum(momentum, "one-sided")
    lam_rule = _auto_rule(lam_rule, "one-sided", momentum)
    method, run, plan = complete_on_cluster(X, client, lam_rule=lam_rule, momentum=momentum, **kw)
    keep = ("alpha", "lam", "replace", "tol", "max_iter")
    return _finish(
        method, run, t0, plan, lam_rule=lam_rule, momentum=momentum, device=None,
        dtype=check_dtype(kw["dtype"]), n_blocks=len(method.blocks.futures),
        **{k: kw[k] for k in keep},
    )  # fmt: skip


def _finish(method, run, t0, plan, *, alpha, lam, lam_rule, replace, tol, max_iter, dtype,
            device, momentum, **extra):  # fmt: skip
    """The result of a finished run, with the parameters it ran with."""
    params = {
        "alpha": alpha,
        "variant": plan["variant"],
        "lam": lam,
        "lam_rule": lam_rule,
        "lam_final": method.lam_final(),
        "replace": replace,
        "tol": tol,
        "max_iter": max_iter,
        "agop": plan["agop"],
        "kernel_side": plan["side"],
        "dtype": np.dtype(dtype).name,
        "memory_estimate": plan["bytes"],
        "device": device,
        "momentum": momentum,
        **extra,
    }
    return method.result(
        run.n_iter,
        converged=run.converged,
        history=run.history,
        elapsed=time.perf_counter() - t0,
        params=params,
    )


@contextmanager
def _thread_limit(n_threads, ops):
    """BLAS threads (threadpoolctl) and the backend's own limited to ``n_threads``."""
    if n_threads is None:
        yield
        return
    from threadpoolctl import threadpool_limits

    limits = threadpool_limits(limits=int(n_threads), user_api="blas")
    old = ops.set_threads(int(n_threads))
    try:
        yield
    finally:
        limits.restore_original_limits()
        ops.set_threads(old)


@scale_free("complete")
@fill_doc
@iterative
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
    random_state=None,
    agop: str = "auto",
    dtype=None,
    n_threads: int | None = None,
    device=None,
    momentum="auto",
    client=None,
    row: str | None = None,
    col: str | None = None,
    value: str | None = None,
    polish: bool = True,
    cooccurrence: float = 0.0,
    kernel_side: str = "auto",
    loop: dict,
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
    client : distributed.Client, optional
        Run on the workers of this Dask cluster (``pip install "linrfm[dask]"``;
        :mod:`linrfm.distributed`): the one-sided coefficient iteration ('auto' variant
        and AGOP path resolve to it, the others, 'holdout', ``device`` and ``init`` are
        refused), with the same result as the single-machine ``variant='one-sided',
        agop='sparse'`` fit. ``X`` may then also be a Dask DataFrame of ``row``, ``col``,
        ``value`` columns (e.g. ``dask.dataframe.read_parquet``; other names with
        ``row``, ``col``, ``value``), which never passes through the client.
        ``n_threads`` is then the BLAS threads of each worker task (default 1). There is
        no ``polish`` on a cluster (it would pass every observation through the client).
    row, col, value : str, optional
        With a Dask DataFrame ``X`` and a ``client``: the names of its row-index,
        column-index and value columns (default ``'row'``, ``'col'``, ``'value'``).
    polish : bool, default=True
        At iterations 1, 2, 4, 8, ... and when the iteration stops (exact mode,
        ``replace=True``, not 'holdout'), fit the observations by unregularized alternating
        least squares on a rank ``r`` read from the iterate's spectrum (its largest gap),
        started from the iterate's top right singular vectors (at the stop also the next
        ranks, each climbing from the fit below it and the top singular pair of its
        residual while that lowers the residual; a rank that fits to between 1e-12 and
        1e-9 yields to the next when that fits 10x better: at condition 1e10 the rank
        below the truth's fits to 8e-11), and accept that completion when ``r`` is
        identifiable (``r (n + d - r) < m``
        observations, every line observed ``r`` times) and it reproduces the observations
        to a relative residual of 1e-9 (:mod:`linrfm.solvers.linrfm.polish`; ALS that
        stalls below 1e-4 at the stop, 1e-6 before it, is finished by Gauss-Newton on
        the rank-``r`` matrices, and a fitting rank is stepped down while a smaller one
        still fits; the data must pin the fit down, an estimated error at most 1e-8, and
        single it out, every direction of the rank-``r`` matrices at it seen by some
        observation):
        the fit ends there, converged. Otherwise the iteration goes on; a stop whose
        polish fails is tightened once (``tol`` / 100: the smallest directions of an
        ill-conditioned matrix are still growing when the first stop fires), and at the
        last stop the lin-RFM iterate is returned unchanged and reported not converged
        (no identifiable rank reproduces the observations). Nothing unobserved is used.
        ``polish=False`` runs the lin-RFM iteration alone (for studying it). Measured:
        the canonical problem ends exact (3e-13) at iteration 1 in ~0.2 s, against 63
        iterations, 0.8 s and 2.7e-6 without (benchmarks/README.md, "Early polish"); on
        200 x 200, rank 3, condition number 1e4, the stopped iterate had
        ``||E||_F / sigma_3 ~ 1.1`` and the polished one ~2e-9; on 1000 x 1000, ranks 5
        and 10, condition 1e10, rho 3 and 4, the polish climbs to the truth's rank at the
        first stop, relative error ~1e-12 (benchmarks/README.md, "The polish climbs
        ranks"). ``params['polished']`` records the rank, sweeps, residual, ranks tried
        and the iteration.
    cooccurrence : float in [0, 1), default=0.0
        Weight ``w`` of the observed pattern in every kernel: ``(1 - w) K / m + w P``, with
        ``K`` the AGOP power scaled to a mean eigenvalue ``m`` of 1 and ``P`` the cosine
        similarity of the columns' observed patterns (rows' for the column half-step;
        :func:`~linrfm.solvers.linrfm.kernel.cooccurrence_kernel`). Which entries a user
        rated says something of the user (SVD++'s implicit feedback): on MovieLens-100K
        it lowers the noisy mode's RMSE by ~0.02 (benchmarks/README.md, issue 19).
        Not with a ``client``.
    kernel_side : {'auto', 'row', 'col'}, default='auto'
        The one-sided variant's kernel: 'row' regresses rows on a d x d kernel, 'col'
        columns on an n x n one; 'auto' takes the cheaper (``params['kernel_side']``).
    %(loop)s

    Returns
    -------
    KernelResult
        ``predict(rows, cols)``, ``to_dense()``, ``n_iter``, ``converged``, ``history``
        (``rel_change``, ``lam`` and, for 'holdout', ``val_rel_error`` per iteration),
        ``elapsed``. On every backend its arrays are NumPy/SciPy (the kernel and the
        coefficients are copied back from the device once, at the end, and at each
        ``callback`` call), so everything downstream works unchanged; ``params['device']``
        records the torch device (None for NumPy).

    %(warns)s

    %(raises)s
    """
    t0 = time.perf_counter()
    check_lin_rfm_params(alpha, lam, lam_min, tol, max_iter, replace)
    _check_options(lam_rule, variant, agop, val_fraction, patience, n_threads, memory_limit)
    check_bool(polish, "polish")
    check_scalar(cooccurrence, "cooccurrence", low=0, high=1, high_inclusive=False)
    check_option(kernel_side, "kernel_side", ("auto", "row", "col"))
    if client is not None and (cooccurrence or kernel_side != "auto"):
        raise ValueError("With a client, cooccurrence must be 0 and kernel_side 'auto'.")
    if (row, col, value) != (None, None, None):
        from ...distributed.data import named_triples

        X = named_triples(X, client, row=row, col=col, value=value)
    if client is not None:
        return _on_cluster(
            X, client, variant=variant, agop=agop, lam_rule=lam_rule, momentum=momentum,
            device=device, init=init, alpha=alpha, lam=lam, lam_min=lam_min, replace=replace,
            tol=tol, max_iter=max_iter, shape=shape, dtype=dtype, n_threads=n_threads, **loop,
        )  # fmt: skip
    X, tensor = to_numpy_input(X)
    ops = get_backend(device, like=tensor)
    if dtype is None and tensor is not None and str(tensor.dtype) == "torch.float32":
        dtype = "float32"
    dtype = check_dtype(dtype)
    alpha = float(alpha)
    prob = as_completion_problem(X, shape)
    _check_init(init, prob.shape)
    plan = plan_fit(prob, variant, agop, dtype, float(memory_limit), kernel_side)
    variant = plan["variant"]
    momentum = _check_momentum(momentum, variant)
    lam_rule = _auto_rule(lam_rule, variant, momentum)
    val = None
    if lam_rule == "holdout":
        prob, val = prob.split(val_fraction, check_random_state(random_state))
    lam_rel = float(init.params.get("lam_final", lam)) if init is not None else float(lam)
    method = _make_method(
        prob, plan, init=init, val=val, ridge=ridge_schedule(lam_rule, lam_rel, lam_min, tol),
        tol=tol, replace=replace, ops=ops, patience=patience, alpha=alpha, dtype=dtype,
        momentum=momentum, polish=polish, cooccurrence=float(cooccurrence),
    )  # fmt: skip
    with _thread_limit(n_threads, ops):
        method.set_workers(blas_threads() if ops.threaded_solves else 1)
        run = iterate(method, max_iter=max_iter, **loop)

    return _finish(
        method, run, t0, plan, alpha=alpha, lam=lam, lam_rule=lam_rule, replace=replace,
        tol=tol, max_iter=max_iter, dtype=dtype, momentum=momentum,
        device=None if ops is NUMPY else str(ops.device), polish=polish,
        cooccurrence=float(cooccurrence),
    )  # fmt: skip
