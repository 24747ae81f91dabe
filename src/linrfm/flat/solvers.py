"""Solvers for factorized recovery: the flat-minimum finder, gradient descent, label noise.

Every solver is a plain function taking a :class:`~linrfm.flat.problems.FactorProblem` and
returning a :class:`~linrfm.results.FactorResult` (``U = L``, ``V = R``; ``U = V`` for the
symmetric model). No solver looks at anything but the measurements.
"""

from __future__ import annotations

import numbers
import time
import warnings

import numpy as np
from scipy.optimize import minimize
from sklearn.exceptions import ConvergenceWarning

from .._validation import check_random_state, check_scalar
from ..operators import EntrySampling, GaussianOperator, MatrixSensing, RankOneOperator
from ..results import FactorResult, ModelFitError
from . import curvature as S
from .problems import FactorProblem

__all__ = ["flat_minimum", "factored_gd", "label_noise_gd", "mu_max", "init_factors"]


# --------------------------------------------------------------------------- helpers
def _check_problem(problem):
    if not isinstance(problem, FactorProblem):
        raise TypeError(f"problem must be a FactorProblem; got {type(problem).__name__}.")
    return problem


def _shapes(problem, width):
    n, d = problem.shape
    return [(n, width)] if problem.symmetric else [(n, width), (d, width)]


def _unpack(x, shapes):
    out, o = [], 0
    for s in shapes:
        out.append(x[o : o + s[0] * s[1]].reshape(s))
        o += s[0] * s[1]
    return tuple(out)


def _pack(params):
    return np.concatenate([p.ravel() for p in params])


def _scale(problem):
    """Operator gain ``kappa = sum ||A_i||_F^2 / (n d)`` and the data's spectral scale."""
    c = S._operator_data(problem)
    n, d = problem.shape
    kappa = np.trace(c["M1"]) / (n * d)
    sig = np.linalg.norm(problem.operator.adjoint(problem.y), 2) / kappa
    return kappa, sig


def mu_max(problem) -> float:
    """The flatness weight above which the factors 0 are (nearly) optimal.

    In the convex picture the flatness term of a balanced factorization is a weighted
    nuclear norm ``c ||X||_*``; ``X = 0`` is optimal for ``loss + mu * c ||X||_*`` once
    ``mu * c`` exceeds the spectral norm of the loss gradient at 0. Computed from the
    measurements only.
    """
    _check_problem(problem)
    c = S._operator_data(problem)
    n, d = problem.shape
    m = problem.m
    lam = np.sqrt(np.trace(c["M1"]) / d * np.trace(c["M2"]) / n)
    if problem.loss == "squared":
        g0 = 2 / m * np.linalg.norm(problem.operator.adjoint(problem.y), 2)
        cc = (8 if problem.symmetric else 4) / m * lam
    else:
        g0 = 1 / m * np.linalg.norm(problem.operator.adjoint(np.sign(problem.y)), 2)
        cc = 2 / m * lam
    return float(g0 / cc)


def init_factors(problem, width, init_scale=1.0, random_state=None):
    """Gaussian factors whose product has spectral norm about ``init_scale^2`` times the
    data's scale ``||A*(y)||_2 / kappa`` (a measured quantity, not the truth).

    Returns
    -------
    tuple of ndarray
        ``(L, R)`` or ``(U,)``.
    """
    rng = check_random_state(random_state)
    _, sig = _scale(problem)
    out = []
    for nr, k in _shapes(problem, width):
        std = init_scale * np.sqrt(sig) / (np.sqrt(nr) + np.sqrt(k))
        out.append(std * rng.standard_normal((nr, k)))
    return tuple(out)


def _check_common(problem, width, init, random_state):
    _check_problem(problem)
    check_scalar(width, "width", kind=numbers.Integral, low=1)
    if init is not None:
        init = S.check_params(problem, init)
        if init[0].shape[1] != width:
            raise ValueError(f"init has width {init[0].shape[1]}; width={width}.")
    check_random_state(random_state)
    return init


def _finite(params, what):
    if not all(np.all(np.isfinite(p)) for p in params):
        raise ModelFitError(f"{what}: the factors became non-finite (NaN or inf).")


def _result(problem, params, method, n_iter, converged, history, t0, run_params):
    U = params[0]
    V = params[0] if problem.symmetric else params[1]
    return FactorResult(
        shape=problem.shape,
        n_iter=int(n_iter),
        converged=bool(converged),
        history=history,
        elapsed=time.perf_counter() - t0,
        method=method,
        params=run_params,
        U=np.array(U, copy=True),
        V=np.array(V, copy=True),
    )


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


def _lbfgs(fun, x, max_iter, tol):
    res = minimize(
        fun,
        x,
        jac=True,
        method="L-BFGS-B",
        options={"maxiter": max_iter, "gtol": tol, "ftol": 1e-15, "maxcor": 20},
    )
    return res


def _continuation(problem, x, shapes, mus, delta, max_iter, tol, history, callback, stage0):
    """Minimize ``loss_delta + mu * sharpness`` for each ``mu`` in turn, warm started."""
    n_iter = 0
    ok = True
    for j, mu in enumerate(mus):

        def fun(z, mu=mu):
            p = _unpack(z, shapes)
            f, g = S.loss_grad(problem, p, delta=delta)
            if mu:
                T, gT = S.sharpness_grad(problem, p)
                f += mu * T
                g = tuple(a + mu * b for a, b in zip(g, gT))
            return f, _pack(g)

        res = _lbfgs(fun, x, max_iter, tol)
        x = res.x
        p = _unpack(x, shapes)
        _finite(p, "flat_minimum")
        n_iter += int(res.nit)
        ok = bool(res.success)
        history["mu"].append(float(mu))
        history["delta"].append(float(delta))
        history["objective"].append(float(res.fun))
        history["loss"].append(S.loss(problem, p))
        history["sharpness"].append(S.sharpness(problem, p))
        history["n_evals"].append(int(res.nfev))
        history["n_measurements"].append(int(problem.m))
        if callback is not None and callback(stage0 + j, {"mu": mu, "params": p}):
            break
    return x, n_iter, ok


# --------------------------------------------------------------------------- flat finder
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
    callback=None,
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
        ``callback(stage, info)`` after each stage with ``info['mu']`` and
        ``info['params']``; returning True stops that continuation.

    Returns
    -------
    FactorResult
        ``history`` holds, per stage, ``mu``, ``delta``, ``objective``, ``loss``,
        ``sharpness``, ``n_evals`` and ``n_measurements`` (how many the stage fitted);
        for ``l1``, ``history['n_set_aside']`` per trimming round.

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
    run_params = {
        "width": width,
        "mu": mu,
        "mu_ratio": mu_ratio,
        "n_stages": n_stages,
        "polish": polish,
        "init_scale": init_scale,
        "max_iter": max_iter,
        "tol": tol,
        "trim": trim,
    }
    if init is None:
        init = init_factors(problem, width, init_scale, random_state)
    shapes = _shapes(problem, width)
    mu0 = 0.5 * mu_max(problem) if mu is None else float(mu)
    mus = list(mu0 * np.geomspace(1.0, mu_ratio, n_stages)) if n_stages else []
    if polish or not mus:
        mus.append(0.0)
    history = {
        k: []
        for k in ("mu", "delta", "objective", "loss", "sharpness", "n_evals", "n_measurements")
    }
    x = _pack(init)
    yms = float(np.mean(problem.y**2))

    if problem.loss == "squared":
        x, n_iter, ok = _continuation(
            problem, x, shapes, mus, 0.0, max_iter, tol, history, callback, 0
        )
        final_loss = history["loss"][-1]
        target = problem
    else:
        history["n_set_aside"] = []
        ymed = float(np.median(np.abs(problem.y)))
        n_iter = 0
        for frac in (1e-1, 1e-2):
            x, it, ok = _continuation(
                problem, x, shapes, [mu0], frac * ymed, l1_iter, tol, history, callback, 0
            )
            n_iter += it
        keep = None
        for _ in range(max_trim_rounds):
            r = np.abs(S.residuals(problem, _unpack(x, shapes)))
            scale = 1.4826 * np.median(r)
            new_keep = r <= max(trim * scale, 1e-6 * np.sqrt(yms))
            if keep is not None and np.array_equal(new_keep, keep):
                break
            keep = new_keep
            keep_rounds = len(history["n_set_aside"])
            history["n_set_aside"].append(int((~keep).sum()))
            history.setdefault("set_aside", []).append(np.flatnonzero(~keep))
            target = _subset(problem, keep)
            t_mu0 = 0.5 * mu_max(target) if mu is None else float(mu)
            t_mus = [t_mu0 * v / mu0 for v in mus]
            # the first round starts afresh (the heavily shrunk l1-stage factors can stall
            # the continuation); later ones from the previous round's interpolant
            x, it, ok = _continuation(
                target,
                _pack(init) if keep_rounds == 0 else x,
                shapes,
                t_mus,
                0.0,
                max_iter,
                tol,
                history,
                callback,
                len(history["mu"]),
            )
            n_iter += it
        final_loss = S.loss(target, _unpack(x, shapes))
        yms = float(np.mean(target.y**2))
    params = _unpack(x, shapes)
    converged = ok or (polish and final_loss <= interp_tol * yms)
    if not converged:
        warnings.warn(
            f"flat_minimum: the last stage stopped after max_iter={max_iter} L-BFGS "
            f"iterations with loss {final_loss:.3g} (mean y^2 = {yms:.3g}) and gradient "
            f"tolerance tol={tol}; raise max_iter or n_stages, or loosen tol.",
            ConvergenceWarning,
            stacklevel=2,
        )
    method = "flat_minimum" if problem.loss == "squared" else "flat_minimum_l1"
    return _result(problem, params, method, n_iter, converged, history, t0, run_params)


# --------------------------------------------------------------------------- gradient descent
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


def _gd(problem, params, *, step, max_iter, tol, noise, noise_iter, rng, callback, what):
    """Gradient descent on the squared loss (optionally with fresh label noise) or the
    subgradient method on ``l1``; returns params, iterations, converged, history.

    Without label noise and without a fixed ``step``, the squared-loss step is adaptive:
    it grows by 1.5 after an accepted step and halves until the Armijo condition
    ``f(new) <= f - eta ||g||^2 / 2`` holds (still plain gradient steps, only sized to the
    local curvature). With label noise the step is ``1 / local smoothness bound``.
    """
    history = {"loss": [], "step": []}
    yms = float(np.mean(problem.y**2))
    y = problem.y
    op, m = problem.operator, problem.m
    converged = False
    it = 0
    l1 = problem.loss == "l1"
    armijo = step is None and noise == 0 and not l1
    if l1:
        # subgradient method: normalized steps whose length starts at ``step`` (default
        # 5% of the data's factor scale sqrt(||A*(y)|| / kappa)) and decays to 1e-4 of it
        eta0 = step if step is not None else 0.05 * np.sqrt(_scale(problem)[1])
        q = 1e-4 ** (1.0 / max_iter)
    r = op.apply(S.factors_to_matrix(problem, params)) - y
    eta = step if step is not None else 1.0 / _smoothness(problem, params, r)
    for it in range(1, max_iter + 1):
        sigma = noise * (1 - (it - 1) / noise_iter) if it <= noise_iter else 0.0
        rk = r - sigma * rng.standard_normal(y.size) if sigma > 0 else r
        if l1:
            f = float(np.mean(np.abs(rk)))
            grads = S._factor_grad(problem, params, op.adjoint(np.sign(rk) / m))
            gn = np.sqrt(sum(float(np.sum(g**2)) for g in grads)) or 1.0
            eta = eta0 * q ** (it - 1) / gn
        else:
            f = float(np.mean(rk**2))
            grads = S._factor_grad(problem, params, op.adjoint(2 * rk / m))
            if step is None and not armijo:
                eta = 1.0 / _smoothness(problem, params, rk)
        history["loss"].append(f)
        if sigma == 0 and f <= tol * yms:
            converged = True
            history["step"].append(0.0)
            break
        if armijo:
            g2 = sum(float(np.sum(g**2)) for g in grads)
            while True:
                new = tuple(p - eta * g for p, g in zip(params, grads))
                r_new = op.apply(S.factors_to_matrix(problem, new)) - y
                if float(np.mean(r_new**2)) <= f - 0.5 * eta * g2 or eta < 1e-300:
                    break
                eta /= 2
            params, r = new, r_new
            history["step"].append(float(eta))
            eta *= 1.5
        else:
            params = tuple(p - eta * g for p, g in zip(params, grads))
            r = op.apply(S.factors_to_matrix(problem, params)) - y
            history["step"].append(float(eta))
        _finite(params, what)
        if callback is not None and callback(it, {"loss": f, "params": params}):
            break
    return params, it, converged, history


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
    callback=None,
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
        ``callback(iteration, info)``; returning True stops.

    Returns
    -------
    FactorResult
        ``history['loss']`` and ``history['step']`` per iteration.
    """
    t0 = time.perf_counter()
    init = _check_common(problem, width, init, random_state)
    check_scalar(init_scale, "init_scale", low=0, low_inclusive=False)
    check_scalar(step, "step", low=0, low_inclusive=False, allow_none=True)
    check_scalar(max_iter, "max_iter", kind=numbers.Integral, low=1)
    check_scalar(tol, "tol", low=0)
    rng = check_random_state(random_state)
    if init is None:
        init = init_factors(problem, width, init_scale, rng)
    params, it, conv, hist = _gd(
        problem,
        init,
        step=step,
        max_iter=max_iter,
        tol=tol,
        noise=0.0,
        noise_iter=0,
        rng=rng,
        callback=callback,
        what="factored_gd",
    )
    if not conv and problem.loss == "squared":
        warnings.warn(
            f"factored_gd: max_iter={max_iter} reached with loss {hist['loss'][-1]:.3g} "
            f"> tol * mean(y^2) = {tol * np.mean(problem.y**2):.3g}; raise max_iter.",
            ConvergenceWarning,
            stacklevel=2,
        )
    run_params = {
        "width": width,
        "init_scale": init_scale,
        "step": step,
        "max_iter": max_iter,
        "tol": tol,
    }
    return _result(problem, params, "factored_gd", it, conv, hist, t0, run_params)


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
    callback=None,
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
    init, init_scale, step, max_iter, tol, random_state, callback
        As in :func:`factored_gd` (``init_scale`` defaults to 1: the point is to start
        away from the implicitly regularized small-initialization regime).

    Returns
    -------
    FactorResult
    """
    t0 = time.perf_counter()
    init = _check_common(problem, width, init, random_state)
    if problem.loss != "squared":
        raise ValueError("label_noise_gd needs loss='squared'; got loss='l1'.")
    check_scalar(noise, "noise", low=0)
    check_scalar(noise_iter, "noise_iter", kind=numbers.Integral, low=0)
    check_scalar(init_scale, "init_scale", low=0, low_inclusive=False)
    check_scalar(step, "step", low=0, low_inclusive=False, allow_none=True)
    check_scalar(max_iter, "max_iter", kind=numbers.Integral, low=1)
    check_scalar(tol, "tol", low=0)
    rng = check_random_state(random_state)
    if init is None:
        init = init_factors(problem, width, init_scale, rng)
    sigma = noise * float(np.sqrt(np.mean(problem.y**2)))
    params, it, conv, hist = _gd(
        problem,
        init,
        step=step,
        max_iter=max_iter,
        tol=tol,
        noise=sigma,
        noise_iter=noise_iter,
        rng=rng,
        callback=callback,
        what="label_noise_gd",
    )
    if not conv:
        warnings.warn(
            f"label_noise_gd: max_iter={max_iter} reached with loss {hist['loss'][-1]:.3g} "
            f"> tol * mean(y^2); raise max_iter.",
            ConvergenceWarning,
            stacklevel=2,
        )
    run_params = {
        "width": width,
        "noise": noise,
        "noise_iter": noise_iter,
        "init_scale": init_scale,
        "step": step,
        "max_iter": max_iter,
        "tol": tol,
    }
    return _result(problem, params, "label_noise_gd", it, conv, hist, t0, run_params)
