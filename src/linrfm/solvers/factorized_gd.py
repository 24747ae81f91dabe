"""Factorized gradient descent ``X = U V^T`` from small random initialization.

Gradient descent on ``f(U, V) = ||A(U V^T) - y||^2 / (2 p)`` (see ``_measure``) with a width
at least the true rank, started from a small random initialization whose scale is a
parameter: the implicit bias of small initialization drives the iterate to low rank
(e.g. Soltanolkotabi, Stoger, Xie 2023; Wind 2023 for asymmetric sensing). Optionally
ScaledGD (Tong, Ma, Chi 2021), preconditioning each gradient by ``(V^T V + damping I)^-1``
(damped, as small initialization needs; Xu, Shen, Ma, Sun, Chi 2023).

:class:`FactorGD` is the one gradient step on factors, run by :func:`~linrfm.iteration.iterate`:
it takes a gradient oracle, so the completion and sensing problems here and the factor
problems of :mod:`linrfm.flat` descend through the same loop, line search and stepping.
"""

from __future__ import annotations

import numbers
import time
from dataclasses import dataclass

import numpy as np

from .._docs import fill_doc
from .._scaling import scale_free
from .._validation import check_random_state, check_scalar
from ..identifiability import certify_recovery, factor_singular_values, factors_unseen
from ..iteration import Method, Stop, iterate, iterative
from ..results import FactorResult, ModelFitError
from ._measure import Measurements
from ._params import check_loop, finished

__all__ = ["factorized_gd", "factorized_objective", "FactorGD", "Armijo"]

_ARMIJO = 1e-4  # sufficient-decrease constant of the backtracking
_MIN_STEP_RATIO = 2.0**-30  # the backtracking never halves the step below this fraction


def factorized_objective(problem, U, V, *, shape=None):
    """Loss and gradients of ``f(U, V) = ||A(U V^T) - y||^2 / (2 p)`` in the data's units.

    Parameters
    ----------
    problem : MatrixSensing or completion input
    U : ndarray, shape (n, k)
    V : ndarray, shape (d, k)

    Returns
    -------
    loss : float
    grad_U, grad_V : ndarray
    """
    meas = problem if isinstance(problem, Measurements) else Measurements(problem, shape)
    oracle = _MeasuredLoss(meas, meas.y)
    r = oracle.residual((U, V))
    return oracle.loss(r), *oracle.grad((U, V), r)


# --------------------------------------------------------------------------- the shared step
@dataclass(frozen=True)
class Armijo:
    """Backtracking: halve the step until ``f(new) <= f - c * eta * <grad, direction>``.

    The step is never halved below ``floor``; the accepted step times ``grow`` is the
    next iteration's first trial.
    """

    c: float
    floor: float
    grow: float = 1.0


class FactorGD(Method):
    """Gradient descent on a tuple of factors through a gradient oracle.

    The oracle has ``residual(params) -> r``, ``loss(r) -> float`` and
    ``grad(params, r) -> tuple`` (the gradient of ``loss`` at ``params`` when the residual
    is ``r``). Each iteration takes the gradient at the residual :meth:`targets` returns,
    turns it into a :meth:`direction` and steps by the :class:`Armijo` line search from
    ``eta`` (``armijo``) or by :meth:`step_size`. Subclasses change those hooks, add record
    entries (:meth:`measures`) and may stop before stepping (:meth:`at_rest`). The record is
    ``loss`` (before the step), the measures and the ``step`` taken (0 at rest).
    """

    name = "factorized GD"
    state = ("params", "r", "eta", "resting")

    def __init__(self, oracle, params, *, eta=None, armijo: Armijo | None = None):
        self.oracle = oracle
        self.params = tuple(params)
        self.r = oracle.residual(self.params)
        self.eta = eta
        self.armijo = armijo
        self.resting = False
        self.last = None  # (params before, direction, step) of the last step

    # hooks
    def targets(self, it):
        """The residual this iteration descends (label noise perturbs it)."""
        return self.r

    def direction(self, it, grads):
        """The descent direction from the gradient (ScaledGD preconditions it)."""
        return grads

    def step_size(self, it, r, grads) -> float:
        """The step without a line search."""
        return self.eta

    def measures(self, r) -> dict:
        """Extra record entries at the residual ``r`` (before the step)."""
        return {}

    def at_rest(self, it, loss) -> bool:
        """Stop before stepping: the iterate is kept and the step recorded as 0."""
        return False

    def converged(self, history) -> bool:
        return self.resting

    # the step
    def step(self, it):
        r = self.targets(it)
        loss = self.oracle.loss(r)
        grads = self.oracle.grad(self.params, r)
        record = {"loss": loss, **self.measures(r)}
        if self.at_rest(it, loss):
            self.resting = True
            return {**record, "step": 0.0}
        dirs = self.direction(it, grads)
        if self.armijo is None:
            eta = self.step_size(it, r, grads)
            new = _move(self.params, eta, dirs)
            r_new, loss_new = self.oracle.residual(new), 0.0
        else:
            eta, new, r_new, loss_new = self._backtrack(loss, grads, dirs)
            self.eta = eta * self.armijo.grow
        if not (np.isfinite(loss_new) and all(np.all(np.isfinite(p)) for p in new)):
            raise ModelFitError(
                f"{self.name} diverged (non-finite iterate) at iteration {it}; "
                "try a smaller 'step'."
            )
        self.last = (self.params, dirs, eta)
        self.params, self.r = new, r_new
        return {**record, "step": eta}

    def _backtrack(self, loss, grads, dirs):
        # Armijo backtracking on the training loss: the step is halved (for good unless
        # ``grow``) whenever it would not decrease the loss enough. A fixed step that is
        # stable for most initializations is not for all: where the iterate's curvature
        # passes 2 / step, GD oscillates at a high residual or diverges.
        a = self.armijo
        slope = sum(float(np.sum(g * d)) for g, d in zip(grads, dirs))
        eta = self.eta
        while True:
            new = _move(self.params, eta, dirs)
            r_new = self.oracle.residual(new)
            loss_new = self.oracle.loss(r_new)
            if loss_new <= loss - a.c * eta * slope or eta <= a.floor:
                return eta, new, r_new, loss_new
            eta /= 2


def _move(params, eta, dirs):
    return tuple(p - eta * d for p, d in zip(params, dirs))


# --------------------------------------------------------------------------- completion/sensing
class _MeasuredLoss:
    """The oracle of ``||A(U V^T) - y||^2 / (2 p)`` on completion or sensing data."""

    def __init__(self, meas, y):
        self.meas, self.y = meas, y

    def residual(self, params):
        return self.meas.apply_factors(*params) - self.y

    def loss(self, r):
        return 0.5 * float(r @ r) / self.meas.p

    def grad(self, params, r):
        U, V = params
        E = self.meas.adjoint(r)
        return np.asarray(E @ V) / self.meas.p, np.asarray(E.T @ U) / self.meas.p


class _FactorizedGD(FactorGD):
    """GD (or ScaledGD) in the units where ``||X*||_2 ~ 1``, stopped by the relative
    training residual or a relative change of ``X`` below ``tol * 1e-2``."""

    advice = "Increase max_iter or step, or try scaled=True."

    def __init__(self, meas, U, V, *, step, scaled, damping, tol):
        self.s = meas.sigma
        super().__init__(
            _MeasuredLoss(meas, meas.y / self.s),
            (U, V),
            eta=float(step),
            armijo=Armijo(_ARMIJO, step * _MIN_STEP_RATIO),
        )
        self.shape, self.scaled, self.damping = meas.shape, scaled, damping
        self.stop = Stop(tol, key="rel_residual", label="relative training residual")
        self.meas = meas
        self.ynorm = np.linalg.norm(meas.y) / self.s

    def measures(self, r):
        rel = float(np.linalg.norm(r) / self.ynorm) if self.ynorm > 0 else 0.0
        return {"rel_residual": rel}

    def direction(self, it, grads):
        if not self.scaled:
            return grads
        (U, V), (gU, gV) = self.params, grads
        I_k = np.eye(U.shape[1])
        try:
            return (
                np.linalg.solve(V.T @ V + self.damping * I_k, gU.T).T,
                np.linalg.solve(U.T @ U + self.damping * I_k, gV.T).T,
            )
        except np.linalg.LinAlgError as exc:
            raise ModelFitError(
                f"ScaledGD's preconditioner became singular at iteration {it} (the "
                "iterate diverged); try a smaller 'step' or a larger 'damping'."
            ) from exc

    def converged(self, history):
        if self.stop(history):
            return True
        (U, V), (dirU, dirV), eta = self.last
        U_new, _ = self.params
        # ||U'V'^T - U V^T||_F <= ||dU V^T|| + ||U' dV^T||: a cheap bound on the change
        old = np.sqrt(max(float(np.sum((U.T @ U) * (V.T @ V))), 0.0))
        bound = np.linalg.norm(eta * dirU) * np.linalg.norm(V) + np.linalg.norm(
            U_new
        ) * np.linalg.norm(eta * dirV)
        return bool(old > 0 and bound < 1e-2 * self.stop.tol * old)

    def certify(self, history):
        U, V = self.params
        prob = self.meas.prob  # a completion's pattern, read here (None for sensing)
        blocks, unseen = (1, None) if prob is None else (prob.n_blocks, factors_unseen(prob, U, V))
        symmetric = bool(getattr(getattr(self.meas, "op", None), "symmetric", False))
        return certify_recovery(
            factor_singular_values(U, V),
            self.shape,
            self.meas.m,
            history["rel_residual"][-1],
            symmetric=symmetric,
            blocks=blocks,
            unseen=unseen,
        )

    def result(self, n_iter):
        U, V = self.params
        method = "scaled-gd" if self.scaled else "factorized-gd"
        return FactorResult(shape=self.shape, n_iter=n_iter, method=method, U=U * self.s, V=V)


def _check_width(rank, shape):
    n, d = shape
    return check_scalar(rank, "rank", kind=numbers.Integral, low=1, high=min(n, d))


@scale_free("auto", {"loss": 2})
@fill_doc
@iterative
def factorized_gd(
    problem,
    *,
    rank: int,
    init_scale: float = 1e-12,
    step: float = 0.5,
    scaled: bool = False,
    damping: float = 1e-2,
    tol: float = 1e-6,
    max_iter: int = 5000,
    shape=None,
    random_state=None,
    loop: dict,
) -> FactorResult:
    """Recover ``X = U V^T`` by gradient descent from small random initialization.

    Parameters
    ----------
    problem : MatrixSensing or completion input (MatrixCompletion, ndarray with NaN,
        scipy.sparse, or ``(rows, cols, values)`` with ``shape``)
    rank : int
        Width ``k`` of the factors, ``1 <= k <= min(n, d)``; at least the true rank
        (over-parameterization is allowed: small initialization keeps the iterate low-rank).
    init_scale : float > 0, default=1e-12
        Entries of ``U_0, V_0`` are i.i.d. ``N(0, init_scale^2)`` in units where
        ``||X*||_2 ~ 1`` (the data are rescaled by an estimate of it from ``A*(y)``).
        The first phase of GD from a small start is a power iteration that aligns the
        factors with the top of ``A*(y)``; at low sampling the rest of that spectrum is
        close to its top, so alignment takes many orders of magnitude of growth, and a start
        that is not small enough reaches the nonlinear phase unaligned and can stall at a
        high residual (n = 200, rank 2, rho = 3: 6 of 8 starts at 1e-3, 2 of 8 at 1e-6,
        none at 1e-12). The cost is logarithmic in the scale.
    step : float > 0, default=0.5
        Initial step size in those units; halved (for the rest of the run) whenever a step
        would not decrease the training loss by the Armijo condition (only the observed
        data are used). Without it a fixed step diverged or oscillated at a high residual
        from some starts (rank 2 completion from a 1e-3 start: 2 of 6).
    scaled : bool, default=False
        ScaledGD: precondition ``grad_U`` by ``(V^T V + damping I)^-1`` and ``grad_V`` by
        ``(U^T U + damping I)^-1``.
    damping : float > 0, default=1e-2
        ScaledGD's damping (same units).
    tol : float > 0, default=1e-6
        Stop when the relative training residual ``||A(X) - y|| / ||y||`` falls below
        ``tol``, or when the relative change of ``X`` falls below ``tol * 1e-2``.
    max_iter : int, default=5000
    shape : tuple, optional
        For triple completion input.
    random_state : None, int or numpy.random.Generator
        Seed of the initialization.
    %(loop)s

    Returns
    -------
    FactorResult
        ``U @ V.T`` the estimate; ``history`` holds ``loss`` (in the rescaled units),
        ``rel_residual`` and the ``step`` taken per iteration.
    """
    t0 = time.perf_counter()
    meas = Measurements(problem, shape)
    n, d = meas.shape
    k = _check_width(rank, meas.shape)
    check_scalar(init_scale, "init_scale", low=0, low_inclusive=False)
    check_scalar(step, "step", low=0, low_inclusive=False)
    check_scalar(damping, "damping", low=0, low_inclusive=False)
    check_loop(tol, max_iter)
    rng = check_random_state(random_state)
    U = init_scale * rng.standard_normal((n, k))
    V = init_scale * rng.standard_normal((d, k))
    method = _FactorizedGD(meas, U, V, step=step, scaled=scaled, damping=damping, tol=tol)
    run = iterate(method, max_iter=max_iter, **loop)
    params = dict(rank=k, init_scale=init_scale, step=step, scaled=scaled, damping=damping)
    params.update(tol=tol, max_iter=max_iter)
    return finished(method.result(run.n_iter), run, t0, params=params)
