"""Diagonal deep linear networks trained by gradient descent from a small initialization.

The predictor is linear, ``f(x) = beta^T x``, with ``beta`` parametrized as

- ``form='pm'``: ``beta = u^L - v^L`` (elementwise powers; for ``L = 2`` the classical
  ``u*u - v*v`` of Woodworth et al., COLT 2020), initialized at ``u = v = s``;
- ``form='product'``: ``beta = w_1 * ... * w_L`` (elementwise), initialized at
  ``w_1 = 0``, ``w_l = s`` for ``l >= 2`` (so ``beta`` starts at 0 and may take either sign).

Gradient descent on ``(1 / 2n) ||X beta - y||^2`` with closed-form gradients (chain rule
through the elementwise parametrization). From a small initialization the implicit bias
favours sparse ``beta``; the smaller ``s``, the sparser (and the slower).

**Step rule.** At every iteration ``eta_t = step / c_t`` with ``c_t`` the largest
per-coordinate curvature bound of the loss in the parameters:
``c_t = max_i [ L_X * sum_l (d beta_i / d theta_{l,i})^2 + |g_i| * sum_{l != m}
|d^2 beta_i / d theta_{l,i} d theta_{m,i}| ]`` (the second-derivative term only on the
diagonal for ``form='pm'``), where ``L_X = ||X||_2^2 / n`` (power iteration) and
``g = X^T (X beta - y) / n``. It lets the tiny initial weights grow by a bounded factor
per step (so escaping the small initialization takes O(log(1/s)) steps) and keeps the
late phase stable.
"""

from __future__ import annotations

import numbers
import time

import numpy as np
import scipy.sparse as sp

from .._docs import fill_doc
from .._scaling import scale_free
from .._validation import check_option, check_scalar
from ..iteration import Method, Run, Stop, iterative
from ..problems import as_regression_problem
from ..results import VectorResult
from ._params import check_loop, finished
from .deep_linear import iterate_gd

__all__ = ["diagonal_net_regress", "diagonal_net_loss_grad", "diagonal_net_coef", "NET_FORMS"]

NET_FORMS = ("pm", "product")


def _ipow(x, k: int):
    """``x**k`` for a small non-negative int ``k`` by repeated products (faster than pow)."""
    out = np.ones_like(x)
    for _ in range(k):
        out = out * x
    return out


def diagonal_net_coef(params, form="pm"):
    """``beta`` from the parameters (``[u, v, L]`` or ``[w_1, ..., w_L]``, see
    :func:`diagonal_net_loss_grad`)."""
    if form == "pm":
        u, v, L = params
        return _ipow(u, L) - _ipow(v, L)
    out = np.ones_like(params[0])
    for w in params:
        out = out * w
    return out


def _chain(params, form):
    """Jacobian diagonals ``d beta / d theta_l`` (one array per parameter block)."""
    if form == "pm":
        u, v, L = params
        return [L * _ipow(u, L - 1), -L * _ipow(v, L - 1)]
    L = len(params)
    # prefix/suffix products: no division, exact when some w_l is 0
    pre = [np.ones_like(params[0])]
    for w in params[:-1]:
        pre.append(pre[-1] * w)
    suf = [np.ones_like(params[0])]
    for w in params[:0:-1]:
        suf.append(suf[-1] * w)
    suf = suf[::-1]
    return [pre[i] * suf[i] for i in range(L)]


def diagonal_net_loss_grad(params, X, y, form="pm"):
    """Loss ``(1/2n)||X beta - y||^2`` and its gradient in each parameter block.

    Parameters
    ----------
    params : list
        ``[u, v, L]`` for ``form='pm'`` (arrays ``u``, ``v`` and the int depth ``L``), or
        ``[w_1, ..., w_L]`` for ``form='product'``.
    X : ndarray or sparse matrix, shape (n, d)
    y : ndarray, shape (n,)
    form : {'pm', 'product'}

    Returns
    -------
    loss : float
    grads : list of ndarray
        One gradient per array in ``params`` (``u`` and ``v``, or each ``w_l``).
    """
    n = X.shape[0]
    beta = diagonal_net_coef(params, form)
    r = X @ beta - y
    g = np.asarray(X.T @ r).ravel() / n
    return 0.5 * float(r @ r) / n, [J * g for J in _chain(params, form)]


def _curvature(params, form, g, lip, J):
    if form == "pm":
        u, v, L = params
        J2 = J[0] * J[0] + J[1] * J[1]
        if L == 1:
            return float(lip * np.max(J2))
        second = L * (L - 1) * (_ipow(np.abs(u), L - 2) + _ipow(np.abs(v), L - 2))
        return float(np.max(lip * J2 + np.abs(g) * second))
    L = len(params)
    J2 = sum(j * j for j in J)
    second = np.zeros_like(g)
    if L >= 2:
        absw = [np.abs(w) for w in params]
        for a in range(L):
            for b in range(a + 1, L):
                prod = np.ones_like(g)
                for c in range(L):
                    if c not in (a, b):
                        prod = prod * absw[c]
                second += 2 * prod
    return float(np.max(lip * J2 + np.abs(g) * second))


def _spectral_norm_sq(X, n_iter=100, random_state=0) -> float:
    """``||X||_2^2`` by power iteration on ``X^T X`` (a slight overestimate is kept)."""
    rng = np.random.default_rng(random_state)
    v = rng.standard_normal(X.shape[1])
    v /= np.linalg.norm(v)
    lam = 0.0
    for _ in range(n_iter):
        w = np.asarray(X.T @ (X @ v)).ravel()
        nw = np.linalg.norm(w)
        if nw == 0:
            return 0.0
        if abs(nw - lam) <= 1e-6 * nw:
            lam = nw
            break
        lam = nw
        v = w / nw
    return 1.01 * lam


class _DiagonalGD(Method):
    """Gradient descent on the diagonal network's parameters with the curvature step rule."""

    name = "diagonal network"
    advice = "Increase max_iter, or raise tol or init_scale."
    state = ("params",)

    def __init__(self, Xm, y, params, *, form, step, tol, lip):
        self.Xm, self.y, self.params, self.form = Xm, y, params, form
        self.lr, self.lip = step, lip
        self.y_norm = float(np.linalg.norm(y))
        self.blocks = 2 if form == "pm" else len(params)
        self.stop = Stop(tol, key="rel_residual", label="relative residual")

    def step(self, it):
        Xm, params, form = self.Xm, self.params, self.form
        n = Xm.shape[0]
        beta = diagonal_net_coef(params, form)
        r = Xm @ beta - self.y
        res = float(np.linalg.norm(r)) / self.y_norm
        g = np.asarray(Xm.T @ r).ravel() / n
        record = {"loss": 0.5 * res * res * self.y_norm * self.y_norm / n, "rel_residual": res}
        if res < self.stop.tol:
            return record  # converged: no step after the test
        J = _chain(params, form)
        eta = self.lr / _curvature(params, form, g, self.lip, J)
        for i in range(self.blocks):
            params[i] = params[i] - eta * (J[i] * g)
        record["eta"] = eta
        return record

    def result(self, n_iter):
        return VectorResult(
            shape=(self.Xm.shape[1],),
            n_iter=n_iter,
            method=f"diagonal-net-{self.form}",
            coef=diagonal_net_coef(self.params, self.form),
        )


def _init_params(form, L, d, s):
    """``u = v = s`` ('pm'), or ``w_1 = 0``, ``w_l = s`` ('product')."""
    if form == "pm":
        return [np.full(d, s), np.full(d, s), L]
    if L == 1:
        return [np.zeros(d)]
    return [np.zeros(d)] + [np.full(d, s) for _ in range(L - 1)]


@scale_free("regress")
@fill_doc
@iterative
def diagonal_net_regress(
    X,
    y=None,
    *,
    depth: int = 2,
    form: str = "pm",
    init_scale: float = 1e-6,
    step: float = 0.5,
    tol: float = 1e-6,
    max_iter: int = 20_000,
    loop: dict,
) -> VectorResult:
    """Fit ``y ~ X beta`` with a depth-``L`` diagonal linear network by gradient descent.

    Parameters
    ----------
    X : array_like or scipy.sparse matrix, shape (n, d), or SparseRegression
    y : array_like, shape (n,)
    depth : int >= 1, default=2
        ``L``; ``L = 1`` is plain gradient descent on ``beta`` (form 'product').
    form : {'pm', 'product'}, default='pm'
        The parametrization (module docstring).
    init_scale : float > 0, default=1e-6
        ``|beta|`` at initialization per block, relative to ``||X^T y||_inf / (n L_X)``
        (a scale of ``beta`` computed from the data): ``s = (init_scale * that)^(1/L)``.
    step : float in (0, 2), default=0.5
        Numerator of the step rule ``eta_t = step / c_t`` (module docstring).
    tol : float > 0, default=1e-6
        Converged when the relative training residual ``||X beta - y|| / ||y||`` falls
        below ``tol``.
    max_iter : int, default=20000
    %(loop)s

    Returns
    -------
    VectorResult
        ``coef``, ``n_iter``, ``converged``, ``history`` (``loss`` and ``rel_residual``
        every iteration, ``eta``).

    %(warns)s

    %(raises)s
    """
    t0 = time.perf_counter()
    prob = as_regression_problem(X, y)
    L = check_scalar(depth, "depth", kind=numbers.Integral, low=1)
    check_option(form, "form", NET_FORMS)
    check_scalar(init_scale, "init_scale", low=0, low_inclusive=False)
    check_scalar(step, "step", low=0, high=2, low_inclusive=False, high_inclusive=False)
    check_loop(tol, max_iter)
    Xm = prob.X
    if sp.issparse(Xm):
        Xm = sp.csr_matrix(Xm)
    y = prob.y
    n, d = Xm.shape
    lip = _spectral_norm_sq(Xm) / n
    res = VectorResult(shape=(d,), method=f"diagonal-net-{form}", coef=np.zeros(d))
    run = Run(0, True)
    if np.linalg.norm(y) != 0.0 and lip != 0.0:  # else beta = 0 fits
        b = float(np.max(np.abs(Xm.T @ y))) / (n * lip)
        params = _init_params(form, L, d, (init_scale * b) ** (1.0 / L))
        method = _DiagonalGD(Xm, y, params, form=form, step=step, tol=tol, lip=lip)
        run = iterate_gd(method, max_iter=max_iter, **loop)
        res = method.result(run.n_iter)
    settings = {"depth": L, "form": form, "init_scale": init_scale, "step": step, "tol": tol}
    settings["max_iter"] = max_iter
    history = ("loss", "rel_residual", "eta")
    return finished(res, run, t0, history=history, params=settings)
