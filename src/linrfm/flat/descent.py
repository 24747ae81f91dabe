"""Gradient descent on a FactorProblem's factors: the shared step, flat's rules.

The step is :class:`~linrfm.solvers.factorized_gd.FactorGD` (the one factorized-GD step of
linrfm), fed the problem's loss as a gradient oracle (:class:`ProblemLoss`). What is flat's
own: the step sizes (Armijo from ``1 / local smoothness``, growing; ``1 / local smoothness``;
normalized decaying subgradient steps for ``l1``) and label noise.
"""

from __future__ import annotations

import numbers
import time

import numpy as np

from .._validation import check_random_state, check_scalar
from ..iteration import iterate
from ..solvers.factorized_gd import Armijo, FactorGD
from . import curvature as S
from .factors import _check_common, _factor_result, _finish, _scale, init_factors

__all__ = ["ProblemLoss", "run_gd"]


def _op_norm_sq(problem, n_power=50):
    """``||A||^2`` (largest eigenvalue of ``A* A``) by power iteration, cached."""
    cache = problem.__dict__.setdefault("_flat_cache", {})
    if "opnorm2" not in cache:
        rng = np.random.default_rng(0)
        X = rng.standard_normal(problem.shape)
        lam = 0.0
        for _ in range(n_power):
            X = X / np.linalg.norm(X)
            X = problem.operator.adjoint(problem.operator.apply(X))
            lam = float(np.linalg.norm(X))
        cache["opnorm2"] = lam
    return cache["opnorm2"]


def _smoothness(problem, params, r):
    """A local bound on the loss Hessian's norm (squared loss) for the step size."""
    m = problem.m
    a2 = _op_norm_sq(problem)
    Ar = np.linalg.norm(problem.operator.adjoint(r), 2)
    if problem.symmetric:
        return 4 / m * (2 * a2 * np.linalg.norm(params[0], 2) ** 2 + Ar)
    L, R = params
    return 2 / m * (a2 * (np.linalg.norm(L, 2) ** 2 + np.linalg.norm(R, 2) ** 2) + Ar)


class ProblemLoss:
    """The gradient oracle of a FactorProblem's loss (a subgradient for ``l1``), from its
    residuals: :func:`~linrfm.flat.curvature.loss_grad` split at the residual, so that a
    step can descend a perturbed one (label noise) and a line search reuse it."""

    def __init__(self, problem):
        self.problem = problem

    def residual(self, params):
        return S.residuals(self.problem, params)

    def loss(self, r):
        return float(np.mean(S._phi(r, self.problem.loss, 0.0)[0]))

    def grad(self, params, r):
        G = self.problem.operator.adjoint(S._phi(r, self.problem.loss, 0.0)[1] / self.problem.m)
        return S._factor_grad(self.problem, params, G)


class _FlatGD(FactorGD):
    """The shared factor GD step on a FactorProblem, with flat's step rules and label noise.

    Squared loss, no noise, no ``step``: Armijo backtracking (``c = 1/2``) from ``1 / local
    smoothness bound``, the accepted step growing by 1.5. Label noise: the targets are
    ``y + sigma_t xi_t`` (``sigma_t`` falling linearly to 0 over ``noise_iter``) and the
    step is ``step`` or ``1 / local smoothness``. ``l1``: normalized subgradient steps of
    length ``step`` (default 5% of the factor scale) decaying geometrically to 1e-4 of it.
    Stops, before stepping, once the noiseless loss is at most ``tol * mean(y^2)``.
    """

    state = FactorGD.state + ("rng",)

    def __init__(self, problem, params, name, *, step, tol, noise, noise_iter, rng, max_iter):
        self.name, self.problem, self.fixed, self.rng = name, problem, step, rng
        self.noise, self.noise_iter, self.sigma = noise, noise_iter, 0.0
        self.tol, self.stop_loss = tol, tol * float(np.mean(problem.y**2))
        self.l1 = problem.loss == "l1"
        armijo = step is None and noise == 0 and not self.l1
        super().__init__(
            ProblemLoss(problem), params, armijo=Armijo(0.5, 1e-300, 1.5) if armijo else None
        )
        if armijo:
            self.eta = 1.0 / _smoothness(problem, self.params, self.r)
        if self.l1:
            self.eta0 = step if step is not None else 0.05 * np.sqrt(_scale(problem)[1])
            self.q = 1e-4 ** (1.0 / max_iter)

    def targets(self, it):
        n, m = self.noise, self.noise_iter
        self.sigma = n * (1 - (it - 1) / m) if it <= m else 0.0
        if self.sigma > 0:
            return self.r - self.sigma * self.rng.standard_normal(self.problem.y.size)
        return self.r

    def at_rest(self, it, loss):
        return self.sigma == 0 and loss <= self.stop_loss

    def step_size(self, it, r, grads):
        if self.l1:
            gn = np.sqrt(sum(float(np.sum(g**2)) for g in grads)) or 1.0
            return self.eta0 * self.q ** (it - 1) / gn
        if self.fixed is not None:
            return self.fixed
        return 1.0 / _smoothness(self.problem, self.params, r)

    def warning(self, history, max_iter):
        return (
            f"{self.name}: max_iter={max_iter} reached with loss {history['loss'][-1]:.3g} "
            f"> tol * mean(y^2) = {self.stop_loss:.3g}; raise max_iter."
        )

    def result(self, n_iter):
        return _factor_result(self.problem, self.params, self.name, n_iter)


def run_gd(problem, name, run_params, init, random_state, loop):
    """factored_gd and label_noise_gd: checks, the start, the shared GD step by iterate."""
    t0 = time.perf_counter()
    p = {"noise": 0.0, "noise_iter": 0, **run_params}
    init = _check_common(problem, p["width"], init, random_state)
    if name == "label_noise_gd" and problem.loss != "squared":
        raise ValueError("label_noise_gd needs loss='squared'; got loss='l1'.")
    check_scalar(p["noise"], "noise", low=0)
    check_scalar(p["noise_iter"], "noise_iter", kind=numbers.Integral, low=0)
    check_scalar(p["init_scale"], "init_scale", low=0, low_inclusive=False)
    check_scalar(p["step"], "step", low=0, low_inclusive=False, allow_none=True)
    check_scalar(p["max_iter"], "max_iter", kind=numbers.Integral, low=1)
    check_scalar(p["tol"], "tol", low=0)
    rng = check_random_state(random_state)
    if init is None:
        init = init_factors(problem, p["width"], p["init_scale"], rng)
    sigma = p["noise"] * float(np.sqrt(np.mean(problem.y**2)))
    keys = ("step", "tol", "noise_iter", "max_iter")
    method = _FlatGD(problem, init, name, rng=rng, noise=sigma, **{k: p[k] for k in keys})
    # l1's subgradient method runs its budget (its loss need not reach tol)
    run = iterate(method, max_iter=p["max_iter"], warn=not method.l1, **loop)
    res = _factor_result(problem, method.params, name, run.n_iter, copy=True)
    return _finish(res, run, run.converged, t0, run_params)
