"""Solvers for factorized recovery: the flat-minimum finder, gradient descent, label noise.

Every solver is a plain function taking a :class:`~linrfm.problems.FactorProblem` and
returning a :class:`~linrfm.results.FactorResult` (``U = L``, ``V = R``; ``U = V`` for the
symmetric model). No solver looks at anything but the measurements. What is flat's own is
here: the flat-minimum objective ``loss + mu * sharpness`` with its continuation ``mu -> 0``
(each stage one L-BFGS minimisation, one iteration of :func:`~linrfm.iteration.iterate`)
and label noise; gradient descent on the factors is the shared
:class:`~linrfm.solvers.factorized_gd.FactorGD` step, fed this module's gradient oracle.
"""

from __future__ import annotations

import numbers
import time
import warnings

import numpy as np
from scipy.optimize import minimize
from sklearn.exceptions import ConvergenceWarning

from .._scaling import scale_free
from .._validation import check_scalar
from ..iteration import Method, iterate, iterative, user_stacklevel
from ..problems import (
    EntrySampling,
    FactorProblem,
    GaussianOperator,
    MatrixSensing,
    RankOneOperator,
)
from ..results import FactorResult, ModelFitError
from . import curvature as S
from .descent import run_gd
from .factors import (
    _check_common,
    _factor_result,
    _finish,
    _pack,
    _unpack,
    init_factors,
    mu_max,
)

__all__ = ["flat_minimum", "factored_gd", "label_noise_gd", "mu_max", "init_factors"]


def _subset(problem, mask):
    """The same problem restricted to the measurements where ``mask`` holds."""
    op = problem.operator
    if isinstance(op, GaussianOperator):
        sub = GaussianOperator(op.shape, matrices=op.matrices[mask], symmetric=False)
        sub.symmetric = op.symmetric
    elif isinstance(op, EntrySampling):
        sub = EntrySampling(op.rows[mask], op.cols[mask], op.shape)
    elif isinstance(op, RankOneOperator):
        sub = RankOneOperator(op.U[mask], None if op.symmetric else op.V[mask])
    else:  # pragma: no cover - every operator of linrfm is handled above
        raise TypeError(f"cannot restrict a {type(op).__name__} to a subset of measurements.")
    return FactorProblem(MatrixSensing(sub, problem.y[mask]), loss="squared", model=problem.model)


# --------------------------------------------------------------------------- flat finder
def _lbfgs(problem, shapes, mu, delta, x, max_iter, tol):
    """Minimize ``loss_delta + mu * sharpness`` by L-BFGS from ``x``."""

    def fun(z):
        p = _unpack(z, shapes)
        f, g = S.loss_grad(problem, p, delta=delta)
        if mu:
            T, gT = S.sharpness_grad(problem, p)
            f += mu * T
            g = tuple(a + mu * b for a, b in zip(g, gT))
        return f, _pack(g)

    options = {"maxiter": max_iter, "gtol": tol, "ftol": 1e-15, "maxcor": 20}
    return minimize(fun, x, jac=True, method="L-BFGS-B", options=options)


class _Continuation(Method):
    """flat_minimum's stages, one per iteration: each minimizes ``loss_delta + mu *
    sharpness`` by L-BFGS, warm started. Squared loss: the stages of ``mus``. ``l1``: two
    smoothed-``l1`` stages at ``mu0``, then trimming rounds, each the squared-loss
    continuation on the measurements kept, until the kept set stops changing."""

    state = ("x", "queue", "keep", "set_aside", "n_lbfgs", "ok", "done")

    def __init__(self, problem, init, mus, mu, mu0, max_iter, tol, trim, max_rounds, l1_iter):
        self.problem, self.init, self.mus, self.mu, self.mu0 = problem, init, mus, mu, mu0
        self.name = "flat_minimum" if problem.loss == "squared" else "flat_minimum_l1"
        self.shapes = [p.shape for p in init]
        self.max_iter, self.tol, self.trim, self.max_rounds = max_iter, tol, trim, max_rounds
        self.x, self.keep, self.set_aside = _pack(init), None, []
        self.n_lbfgs, self.ok, self.done, self._sub = 0, True, False, None
        if problem.loss == "squared":
            self.queue = [(m, 0.0, max_iter, False) for m in mus]
            self.n_stages = len(mus)
        else:
            ymed = float(np.median(np.abs(problem.y)))
            self.queue = [(mu0, f * ymed, l1_iter, False) for f in (1e-1, 1e-2)]
            self.n_stages = 2 + max_rounds * len(mus)

    @property
    def target(self):
        """The problem the stages fit: all measurements, or those kept by trimming."""
        if self.keep is None:
            return self.problem
        if self._sub is None or self._sub[0] is not self.keep:
            self._sub = (self.keep, _subset(self.problem, self.keep))
        return self._sub[1]

    def step(self, it):
        mu, delta, max_iter, fresh = self.queue.pop(0)
        target = self.target
        x0 = _pack(self.init) if fresh else self.x
        res = _lbfgs(target, self.shapes, mu, delta, x0, max_iter, self.tol)
        self.x = res.x
        p = _unpack(self.x, self.shapes)
        if not all(np.all(np.isfinite(q)) for q in p):
            raise ModelFitError("flat_minimum: the factors became non-finite (NaN or inf).")
        self.n_lbfgs += int(res.nit)
        self.ok = bool(res.success)
        if not self.queue:
            self._next_round()
        return {
            "mu": float(mu),
            "delta": float(delta),
            "objective": float(res.fun),
            "loss": S.loss(target, p),
            "sharpness": S.sharpness(target, p),
            "n_evals": int(res.nfev),
            "n_measurements": int(target.m),
        }

    def _next_round(self):
        """``l1``: set aside the measurements with a gross residual and queue the flattest
        interpolant of the others; done once the kept set repeats (or after the rounds)."""
        problem = self.problem
        if problem.loss == "squared" or len(self.set_aside) >= self.max_rounds:
            self.done = True
            return
        r = np.abs(S.residuals(problem, _unpack(self.x, self.shapes)))
        floor = 1e-6 * np.sqrt(float(np.mean(problem.y**2)))
        keep = r <= max(self.trim * 1.4826 * np.median(r), floor)
        if self.keep is not None and np.array_equal(keep, self.keep):
            self.done = True
            return
        self.keep = keep
        first = not self.set_aside
        self.set_aside.append(np.flatnonzero(~keep))
        mu0 = 0.5 * mu_max(self.target) if self.mu is None else float(self.mu)
        # the first round starts afresh (the heavily shrunk l1-stage factors can stall
        # the continuation); later ones from the previous round's interpolant
        self.queue = [
            (mu0 * v / self.mu0, 0.0, self.max_iter, first and j == 0)
            for j, v in enumerate(self.mus)
        ]

    def converged(self, history):
        return self.done

    def final(self, polish, interp_tol):
        """Converged: L-BFGS succeeded at the last stage, or (``polish``) the final loss is
        at most ``interp_tol * mean(y^2)`` of the fitted measurements."""
        target = self.target
        loss = S.loss(target, _unpack(self.x, self.shapes))
        yms = float(np.mean(target.y**2))
        return self.ok or (polish and loss <= interp_tol * yms), loss, yms

    def result(self, n_iter):
        # n_iter: L-BFGS iterations over all stages so far
        return _factor_result(self.problem, _unpack(self.x, self.shapes), self.name, self.n_lbfgs)


@scale_free("factor", {"mu": 1})
@iterative
def flat_minimum(
    problem,
    *,
    width,
    mu=None,
    mu_ratio=1e-8,
    n_stages=9,
    polish=True,
    init=None,
    init_scale=1.0,
    max_iter=3000,
    tol=1e-12,
    interp_tol=1e-10,
    trim=8.0,
    max_trim_rounds=5,
    l1_iter=500,
    random_state=None,
    loop: dict,
) -> FactorResult:
    r"""Find a flat minimum: minimize ``loss + mu * sharpness`` while ``mu -> 0``.

    Squared loss: ``mu`` runs geometrically from ``mu`` down to ``mu * mu_ratio`` over
    ``n_stages`` stages, each solved by L-BFGS with the closed-form gradients of the loss
    and of the exact Hessian trace (:func:`~linrfm.flat.curvature.hessian_trace_grad`),
    warm started from the previous one; a last stage with ``mu = 0`` (``polish``) ends at an
    interpolating solution near the flattest one.

    ``l1`` loss (robust sensing): a width-``k`` factorization with ``k (n + d - k) > m``
    can interpolate the corrupted measurements too, so driving ``mu`` to 0 would fit the
    outliers. Instead (1) the smoothed ``l1`` loss ``sqrt(r^2 + delta^2) - delta`` plus
    ``mu`` times the Gauss-Newton curvature is minimized at the first ``mu`` (``delta``
    going from 10% to 1% of the median ``|y|``), which is robust to gross corruptions;
    (2) measurements whose residual exceeds ``trim`` robust standard deviations
    (``1.4826 * median |r|``) are set aside, and the flattest interpolant of the others is
    found by the squared-loss continuation above, from the initial factors; (3) step 2
    repeats with the residuals of all measurements at that solution until the retained set
    stops changing. The result interpolates the
    retained measurements, and is the flattest such interpolant.

    Parameters
    ----------
    problem : FactorProblem
    width : int >= 1
        Width ``k`` of the factors (overparameterized when above the true rank).
    mu : float >= 0, optional
        First flatness weight. Default ``0.5 * mu_max(problem)``, from the data.
    mu_ratio : float in (0, 1], default=1e-8
        Last positive weight relative to the first.
    n_stages : int >= 0, default=9
        Number of positive weights (0: no flatness, i.e. plain L-BFGS on the loss).
    polish : bool, default=True
        End with ``mu = 0``, i.e. at an interpolating solution.
    init : tuple of ndarray, optional
        Starting factors; default :func:`init_factors` with ``init_scale``.
    init_scale : float > 0, default=1.0
    max_iter : int, default=3000
        L-BFGS iterations per stage.
    tol : float, default=1e-12
        L-BFGS gradient tolerance per stage.
    interp_tol : float, default=1e-10
        The run counts as converged when its final loss is at most
        ``interp_tol * mean(y^2)`` (squared) or L-BFGS reports success at the last stage.
    trim : float > 0, default=8.0
        Robust z-score above which a measurement is set aside (``l1`` only).
    max_trim_rounds : int >= 1, default=5
    l1_iter : int >= 1, default=500
        L-BFGS iterations of each smoothed-``l1`` stage (it only has to separate the gross
        corruptions from the rest, not to converge).
    random_state : None, int or numpy.random.Generator
        Seeds the default initialization.
    callback : callable, optional
        ``callback(stage, info)`` after each stage (1, 2, ...) with the stage's record
        (``info['mu']``, ``info['loss']``, ``info['sharpness']``, ...) and
        ``info['result']`` a FactorResult of the factors; returning True stops the run.
    progress : bool, default=False
        A tqdm progress bar over the stages.
    checkpoint, resume : optional
        Passed to :func:`~linrfm.iteration.iterate` (a checkpoint after stages; resume a
        fit of the same problem from one).

    Returns
    -------
    FactorResult
        ``n_iter`` counts L-BFGS iterations over all stages. ``history`` holds, per stage,
        ``mu``, ``delta``, ``objective``, ``loss``, ``sharpness``, ``n_evals`` and
        ``n_measurements`` (how many the stage fitted); for ``l1``,
        ``history['n_set_aside']`` and ``history['set_aside']`` per trimming round.

    Raises
    ------
    ValueError
        For ``width < 1``, a negative ``mu`` and other parameters out of range.

    Warns
    -----
    ConvergenceWarning
        When the final stage neither converged nor reached interpolation.
    """
    t0 = time.perf_counter()
    init = _check_common(problem, width, init, random_state)
    check_scalar(mu, "mu", low=0, allow_none=True)
    check_scalar(mu_ratio, "mu_ratio", low=0, high=1, low_inclusive=False)
    check_scalar(n_stages, "n_stages", kind=numbers.Integral, low=0)
    check_scalar(init_scale, "init_scale", low=0, low_inclusive=False)
    check_scalar(max_iter, "max_iter", kind=numbers.Integral, low=1)
    check_scalar(tol, "tol", low=0)
    check_scalar(interp_tol, "interp_tol", low=0)
    check_scalar(trim, "trim", low=0, low_inclusive=False)
    check_scalar(max_trim_rounds, "max_trim_rounds", kind=numbers.Integral, low=1)
    check_scalar(l1_iter, "l1_iter", kind=numbers.Integral, low=1)
    run_params = dict(width=width, mu=mu, mu_ratio=mu_ratio, n_stages=n_stages, polish=polish)
    run_params.update(init_scale=init_scale, max_iter=max_iter, tol=tol, trim=trim)
    if init is None:
        init = init_factors(problem, width, init_scale, random_state)
    mu0 = 0.5 * mu_max(problem) if mu is None else float(mu)
    mus = list(mu0 * np.geomspace(1.0, mu_ratio, n_stages)) if n_stages else []
    if polish or not mus:
        mus.append(0.0)
    stages = (max_iter, tol, trim, max_trim_rounds, l1_iter)
    method = _Continuation(problem, init, mus, mu, mu0, *stages)
    # the stages run their course (done stops iterate); success is judged after the last
    run = iterate(method, max_iter=method.n_stages, warn=False, **loop)
    if problem.loss == "l1":
        run.history["n_set_aside"] = [len(a) for a in method.set_aside]
        run.history["set_aside"] = list(method.set_aside)
    converged, final_loss, yms = method.final(polish, interp_tol)
    if not converged:
        warnings.warn(
            f"flat_minimum: the last stage stopped after max_iter={max_iter} L-BFGS "
            f"iterations with loss {final_loss:.3g} (mean y^2 = {yms:.3g}) and gradient "
            f"tolerance tol={tol}; raise max_iter or n_stages, or loosen tol.",
            ConvergenceWarning,
            stacklevel=user_stacklevel(),
        )
    params = _unpack(method.x, method.shapes)
    res = _factor_result(problem, params, method.name, method.n_lbfgs, copy=True)
    return _finish(res, run, converged, t0, run_params)


@scale_free("factor", {"step": -1})
@iterative
def factored_gd(
    problem,
    *,
    width,
    init=None,
    init_scale=1e-3,
    step=None,
    max_iter=20000,
    tol=1e-12,
    random_state=None,
    loop: dict,
) -> FactorResult:
    """Gradient descent on the factors from a random start of a chosen size.

    Small ``init_scale`` (default 1e-3) is the implicitly regularized regime; a large one
    (e.g. 3) is "plain" gradient descent, which stops at an interpolant near its start.
    Squared loss: gradient steps sized by backtracking (Armijo) from ``1 / local
    smoothness bound``, growing by 1.5 after each accepted step, or a fixed ``step``;
    ``l1``: the subgradient method with normalized, geometrically decaying steps.

    Parameters
    ----------
    problem : FactorProblem
    width : int >= 1
    init : tuple of ndarray, optional
    init_scale : float > 0, default=1e-3
        See :func:`init_factors`.
    step : float > 0, optional
    max_iter : int, default=20000
    tol : float, default=1e-12
        Stop when the loss is at most ``tol * mean(y^2)``.
    random_state : None, int or numpy.random.Generator
    callback : callable, optional
        ``callback(iteration, info)`` with the iteration's ``loss`` and ``step`` and
        ``info['result']`` a FactorResult of the factors; returning True stops.
    progress : bool, default=False
        A tqdm progress bar.
    checkpoint, resume : optional
        Passed to :func:`~linrfm.iteration.iterate`.

    Returns
    -------
    FactorResult
        ``history['loss']`` and ``history['step']`` per iteration.
    """
    run_params = dict(width=width, init_scale=init_scale, step=step, max_iter=max_iter, tol=tol)
    return run_gd(problem, "factored_gd", run_params, init, random_state, loop)


@scale_free("factor", {"step": -1})
@iterative
def label_noise_gd(
    problem,
    *,
    width,
    noise=0.5,
    noise_iter=20000,
    init=None,
    init_scale=1.0,
    step=None,
    max_iter=40000,
    tol=1e-12,
    random_state=None,
    loop: dict,
) -> FactorResult:
    """Gradient descent with label noise, an implicit flatness seeker.

    At iteration ``t <= noise_iter`` the targets are ``y + sigma_t * xi_t`` with fresh
    Gaussian ``xi_t`` and ``sigma_t`` decreasing linearly from ``noise * rms(y)`` to 0;
    in expectation each step also descends ``eta sigma^2`` times the Gauss-Newton
    curvature, so the iterates drift towards flatter interpolants. Then plain gradient
    descent finishes at an interpolant. Squared loss only.

    Parameters
    ----------
    problem : FactorProblem
    width : int >= 1
    noise : float >= 0, default=0.5
        Label-noise level relative to the root mean square of ``y``.
    noise_iter : int >= 0, default=20000
    init, init_scale, step, max_iter, tol, random_state, callback, progress, checkpoint, resume
        As in :func:`factored_gd` (``init_scale`` defaults to 1: the point is to start
        away from the implicitly regularized small-initialization regime).

    Returns
    -------
    FactorResult
    """
    run_params = dict(width=width, noise=noise, noise_iter=noise_iter, init_scale=init_scale)
    run_params.update(step=step, max_iter=max_iter, tol=tol)
    return run_gd(problem, "label_noise_gd", run_params, init, random_state, loop)
