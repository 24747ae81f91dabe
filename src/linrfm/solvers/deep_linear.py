"""Deep matrix factorization: ``X = W_L ... W_1`` trained by gradient descent (Arora et al. 2019).

A deep linear network with ``L >= 2`` factors (square ``h x h`` inside, ``h x d`` first and
``n x h`` last; all square when ``n = d = h``), small random initialization and plain
gradient descent on ``f = ||A(X) - y||^2 / (2 p)``: the deep-linear-network baseline of
lin-RFM's paper. Works for completion and for sensing (see ``_measure``).
"""

from __future__ import annotations

import numbers
import time

import numpy as np

from .._docs import fill_doc
from .._scaling import scale_free
from .._validation import check_random_state, check_scalar
from ..iteration import Method, Stop, iterate, iterative
from ..results import FactorResult, ModelFitError
from ._measure import Measurements
from ._params import check_loop, finished

__all__ = ["deep_mf", "deep_objective", "iterate_gd"]

# A sparse A*(r) of at most this many entries is multiplied densely.
_DENSE_E_MAX = 4_000_000


def _product(Ws):
    P = Ws[0]
    for W in Ws[1:]:
        P = W @ P
    return P


def _prefixes(Ws):
    """``[W_1, W_2 W_1, ..., W_L ... W_1]``: the partial products (the last is X)."""
    out = [Ws[0]]
    for W in Ws[1:]:
        out.append(W @ out[-1])
    return out


def _grads(Ws, E, p, prefixes=None):
    """``dF/dW_j = (W_L...W_{j+1})^T E (W_{j-1}...W_1)^T / p`` for every factor.

    ``E = A*(r)`` may be a sparse matrix (completion) or dense (sensing); a sparse ``E`` of
    a matrix small enough is made dense (dense products are faster there). ``prefixes``
    (from :func:`_prefixes`) saves recomputing the partial products.
    """
    if hasattr(E, "toarray") and E.shape[0] * E.shape[1] <= _DENSE_E_MAX:
        E = E.toarray()
    L = len(Ws)
    if prefixes is None:
        prefixes = _prefixes(Ws)
    grads = [None] * L
    left = E  # (W_L ... W_{j+1})^T E
    for j in range(L - 1, -1, -1):
        if j == 0:
            g = left.toarray() if hasattr(left, "toarray") else left
        else:
            g = np.asarray(left @ prefixes[j - 1].T)
        grads[j] = g / p
        if j > 0:
            left = np.asarray((left.T @ Ws[j]).T)
    return grads


def deep_objective(problem, Ws, *, shape=None):
    """Loss ``||A(W_L...W_1) - y||^2 / (2 p)`` and its gradients (data units).

    Parameters
    ----------
    problem : MatrixSensing or completion input
    Ws : list of ndarray
        ``W_1`` (h x d) first, ``W_L`` (n x h) last.

    Returns
    -------
    loss : float
    grads : list of ndarray
    """
    meas = problem if isinstance(problem, Measurements) else Measurements(problem, shape)
    X = _product(Ws)
    r = meas.apply(X) - meas.y
    E = meas.adjoint(r)
    return float(r @ r) / (2 * meas.p), _grads(Ws, E, meas.p)


def iterate_gd(method, **kwargs):
    """:func:`~linrfm.iteration.iterate` for a gradient method: a divergence (a non-finite
    record) advises a smaller step."""
    try:
        return iterate(method, **kwargs)
    except ModelFitError as exc:
        raise ModelFitError(f"{exc} Try a smaller 'step'.") from exc


class _DeepGD(Method):
    """Gradient descent on the factors ``W_1 ... W_L`` (in units where ``||X*||_2 ~ 1``)."""

    name = "deep matrix factorization"
    advice = "Increase max_iter or step, or lower init_scale."
    state = ("Ws", "X_prev", "done")

    def __init__(self, meas, Ws, *, step, tol):
        self.meas, self.Ws, self.lr = meas, Ws, step
        self.s = meas.sigma
        self.y_s = meas.y / self.s
        self.ynorm = np.linalg.norm(self.y_s)
        self.stop = Stop(tol, key="rel_residual", label="relative training residual")
        self.X_prev, self.done = None, False

    def step(self, it):
        meas = self.meas
        prefixes = _prefixes(self.Ws)
        X = prefixes[-1]
        r = meas.apply(X) - self.y_s
        rel_res = float(np.linalg.norm(r) / self.ynorm) if self.ynorm > 0 else 0.0
        record = {"loss": 0.5 * float(r @ r) / meas.p, "rel_residual": rel_res}
        xn = np.linalg.norm(X)
        tol = self.stop.tol
        stalled = (
            self.X_prev is not None and xn > 0 and np.linalg.norm(X - self.X_prev) < 1e-2 * tol * xn
        )
        # converged: the factors stay as they are (no step after the test)
        self.done = rel_res < tol or stalled
        if not self.done:
            self.X_prev = X
            grads = _grads(self.Ws, meas.adjoint(r), meas.p, prefixes)
            self.Ws = [W - self.lr * g for W, g in zip(self.Ws, grads)]
        return record

    def converged(self, history):
        return self.done

    def result(self, n_iter):
        U = _product(self.Ws[1:]) * self.s
        n, d = self.meas.shape
        return FactorResult(
            shape=(n, d), n_iter=n_iter, method="deep-mf", U=U, V=self.Ws[0].T.copy()
        )


@scale_free("auto", {"loss": 2})
@fill_doc
@iterative
def deep_mf(
    problem,
    *,
    depth: int = 3,
    width: int | None = None,
    init_scale: float = 1e-2,
    step: float = 0.3,
    tol: float = 1e-6,
    max_iter: int = 20000,
    shape=None,
    random_state=None,
    loop: dict,
) -> FactorResult:
    """Recover a matrix as a product of ``depth`` factors trained by gradient descent.

    Parameters
    ----------
    problem : MatrixSensing or completion input
    depth : int >= 2, default=3
        Number of factors ``L``.
    width : int, optional
        Inner dimension ``h`` (default ``min(n, d)``; factors are square when n = d).
    init_scale : float > 0, default=1e-2
        Every factor starts with i.i.d. ``N(0, init_scale^2 / h)`` entries (near-zero
        product), in units where ``||X*||_2 ~ 1``.
    step : float > 0, default=0.3
        Gradient step in those units.
    tol : float > 0, default=1e-6
        Stop when the relative training residual ``||A(X) - y|| / ||y||`` falls below
        ``tol``, or when the relative change of ``X`` falls below ``tol * 1e-2``.
    max_iter : int, default=20000
    shape : tuple, optional
    random_state : None, int or numpy.random.Generator
    %(loop)s

    Returns
    -------
    FactorResult
        ``U = W_L ... W_2`` (scaled back to data units) and ``V = W_1^T``; ``history``
        holds ``loss`` and ``rel_residual``.
    """
    t0 = time.perf_counter()
    meas = Measurements(problem, shape)
    n, d = meas.shape
    check_scalar(depth, "depth", kind=numbers.Integral, low=2)
    if width is None:
        width = min(n, d)
    check_scalar(width, "width", kind=numbers.Integral, low=1)
    check_scalar(init_scale, "init_scale", low=0, low_inclusive=False)
    check_scalar(step, "step", low=0, low_inclusive=False)
    check_loop(tol, max_iter)
    rng = check_random_state(random_state)
    h = int(width)
    dims = [d] + [h] * (depth - 1) + [n]
    Ws = [
        init_scale / np.sqrt(h) * rng.standard_normal((dims[j + 1], dims[j])) for j in range(depth)
    ]
    method = _DeepGD(meas, Ws, step=step, tol=tol)
    run = iterate_gd(method, max_iter=max_iter, **loop)
    params = {"depth": depth, "width": h, "init_scale": init_scale, "step": step}
    params.update(tol=tol, max_iter=max_iter)
    return finished(
        method.result(run.n_iter), run, t0, history=("loss", "rel_residual"), params=params
    )
