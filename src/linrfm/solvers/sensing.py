"""lin-RFM for matrix sensing: general linear measurements ``y_k = <A_k, X>``.

Minimizing ``||Z||_F`` subject to ``<A_k, Z G^alpha> = y_k`` gives the update
``X = A*(c) K`` with ``(Q + lam I) c = y`` and ``Q[k, l] = <A_k, A_l K>``, ``K = G^(2 alpha)``,
``G = X^T X / n`` (../shared/DESIGN.md). ``Q`` is never formed: the system is solved by
conjugate gradients, one matvec ``c -> A(A*(c) K) + lam c`` at a time, warm started from the
previous iteration's ``c``. With an entry-sampling operator this is exactly the completion
update of :func:`linrfm.solvers.linrfm.lin_rfm_complete` (a test checks it to 1e-10).

"Replacement" (keeping the measurements exactly) is, for a general operator, the projection
of the iterate onto the affine set ``{X : A(X) = y}``, ``X + A*((A A*)^-1 (y - A(X)))``; for
entry sampling it is the completion code's replacement of the observed entries.

A symmetric operator (``operator.symmetric``: symmetrized Gaussian ``A_k``, quadratic
sensing ``a_k^T X a_k``) sees only the symmetric part of ``X``; the antisymmetric part lies in
its null space, so nothing in the data pins it down, and the one-sided update ``A*(c) K`` does
not keep it at zero (the iterate then wanders in that null space and stalls at ~1e-1 error).
The iterate is symmetrized after every half-step, which leaves ``A(X)`` unchanged.
"""

from __future__ import annotations

import numbers
import time

import numpy as np
import scipy.linalg

from .._docs import fill_doc
from .._scaling import scale_free
from .._validation import check_option, check_scalar
from ..identifiability import certify_recovery, top_singular_values
from ..iteration import Method, Schedule, Stop, iterate, iterative
from ..problems import MatrixSensing
from ..results import DenseResult
from ._params import WINDOW, absolute_ridge, check_lin_rfm_params, finished
from .linrfm import kernel_power

__all__ = [
    "lin_rfm_sense",
    "conjugate_gradient",
    "WarmStarts",
    "SENSE_LAMBDA_RULES",
    "SENSE_VARIANTS",
    "sensing_certificate",
]

SENSE_LAMBDA_RULES = ("fixed", "change", "decay")
SENSE_VARIANTS = ("auto", "one-sided", "two-sided")
# 'auto' is two-sided when its row-side kernel work (a few n x n arrays) fits this, the
# default memory budget of lin_rfm_complete
_AUTO_MEMORY = 2**31
LINEAR_SOLVERS = ("auto", "cg", "direct")
# 'auto' forms Q (m x m) when the operator's dense matrices are at most this large
_DIRECT_MAX_M = 4000
_DIRECT_MAX_ENTRIES = 2 * 10**7


def check_sensing_problem(problem) -> MatrixSensing:
    """Check that ``problem`` is a :class:`~linrfm.problems.MatrixSensing`."""
    if not isinstance(problem, MatrixSensing):
        raise TypeError(
            f"problem must be a linrfm.problems.MatrixSensing (an operator and its "
            f"measurements y); got {type(problem).__name__}."
        )
    return problem


def conjugate_gradient(matvec, b, x0=None, *, rtol=1e-10, atol=0.0, max_iter=None):
    """Solve ``M x = b`` for a symmetric positive definite ``M`` given as ``matvec``.

    A plain CG with a warm start whose stopping rule is
    ``||b - M x|| <= max(rtol ||b||, atol)``.

    Returns
    -------
    x : ndarray
    n_iter : int
    rel_residual : float
    """
    b = np.asarray(b, dtype=np.float64)
    bnorm = np.linalg.norm(b)
    if max_iter is None:
        max_iter = max(10, 2 * b.size)
    if bnorm == 0:
        return np.zeros_like(b), 0, 0.0
    x = np.zeros_like(b) if x0 is None else np.array(x0, dtype=np.float64)
    r = b - matvec(x) if x0 is not None else b.copy()
    p = r.copy()
    rr = float(r @ r)
    target = max(rtol * bnorm, atol) ** 2
    it = 0
    while rr > target and it < max_iter:
        Mp = matvec(p)
        pMp = float(p @ Mp)
        if not np.isfinite(pMp) or pMp <= 0:
            break
        a = rr / pMp
        x += a * p
        r -= a * Mp
        rr_new = float(r @ r)
        p = r + (rr_new / rr) * p
        rr = rr_new
        it += 1
    return x, it, float(np.sqrt(rr) / bnorm)


class _SenseSolver:
    """The two linear solves of one lin-RFM/IRLS sensing step, by conjugate gradients."""

    def __init__(
        self, problem: MatrixSensing, cg_tol: float, cg_max_iter, linear_solver: str = "auto"
    ):
        self.op = problem.operator
        self.y = problem.y
        self.y_norm = float(np.linalg.norm(problem.y))
        self.cg_tol = cg_tol
        self.cg_max_iter = cg_max_iter
        self.c = None  # warm starts, per side
        self.c_left = None
        self.w = None
        self.cg_iters = 0
        op = self.op
        n, d = op.shape
        dense = getattr(op, "matrices", None)
        small = dense is not None and op.m <= _DIRECT_MAX_M and op.m * n * d <= _DIRECT_MAX_ENTRIES
        if linear_solver == "direct" and dense is None:
            raise ValueError(
                "linear_solver='direct' needs an operator with dense sensing matrices "
                f"(GaussianOperator); got {type(op).__name__}."
            )
        self.direct = linear_solver == "direct" or (linear_solver == "auto" and small)
        self._proj = None  # Cholesky factor of A A* (direct projections)

    def _direct_solve(self, Q, rhs):
        """``Q c = rhs`` for a PSD ``Q`` by Cholesky; None when it is not positive definite."""
        try:
            return scipy.linalg.cho_solve(scipy.linalg.cho_factor(Q), rhs)
        except np.linalg.LinAlgError:
            return None

    def weighted(self, K, side: str, lam: float) -> np.ndarray:
        """``A*(c) K`` (side 'right') or ``K A*(c)`` ('left') with ``(Q + lam I) c = y``."""
        op = self.op
        if self.direct:
            # Q = A (I x K) A* formed once (m^2 n d flops): cheaper than CG's hundreds of
            # passes over the m x n d operator while that operator is small
            m, (n, d) = op.m, op.shape
            A = op.matrices
            AK = np.matmul(A, K) if side == "right" else np.matmul(K, A)
            Q = A.reshape(m, n * d) @ AK.reshape(m, n * d).T
            Q = (Q + Q.T) / 2
            Q[np.diag_indices(m)] += lam
            c = self._direct_solve(Q, self.y)
            if c is not None and np.all(np.isfinite(c)):
                if side == "right":
                    self.c = c
                    return op.adjoint(c) @ K
                self.c_left = c
                return K @ op.adjoint(c)
        if side == "right":

            def mv(c):
                return op.apply(op.adjoint(c) @ K) + lam * c

            c0 = self.c
        else:

            def mv(c):
                return op.apply(K @ op.adjoint(c)) + lam * c

            c0 = self.c_left
        c, it, _ = conjugate_gradient(mv, self.y, c0, rtol=self.cg_tol, max_iter=self.cg_max_iter)
        self.cg_iters += it
        if side == "right":
            self.c = c
            return op.adjoint(c) @ K
        self.c_left = c
        return K @ op.adjoint(c)

    def project(self, X) -> np.ndarray:
        """The projection of ``X`` onto ``{X : A(X) = y}``.

        The tolerance is relative to ``||y||``, not to the residual ``y - A(X)``: near
        convergence that residual is tiny, and when ``A A*`` is singular (more measurements
        than the operator's rank, e.g. ``m > n (n + 1) / 2`` for a symmetric operator)
        its rounding part outside the range of ``A A*`` cannot be reduced; chasing it to a
        relative tolerance drove ``w`` along the null space until the iterate diverged.
        """
        op = self.op
        if self.direct:
            if self._proj is None:
                n, d = op.shape
                dim = n * (n + 1) // 2 if getattr(op, "symmetric", False) else n * d
                A = op.matrices.reshape(op.m, -1)
                try:
                    if op.m > dim:  # A A* is singular; a Cholesky may still "succeed"
                        raise np.linalg.LinAlgError
                    self._proj = scipy.linalg.cho_factor(A @ A.T)
                except np.linalg.LinAlgError:
                    self._proj = False  # A A* singular (m > rank of A): CG instead
            if self._proj is not False:
                w = scipy.linalg.cho_solve(self._proj, self.y - op.apply(X))
                if np.all(np.isfinite(w)):
                    return X + op.adjoint(w)
        w, it, _ = conjugate_gradient(
            lambda v: op.apply(op.adjoint(v)),
            self.y - op.apply(X),
            None,
            rtol=0.0,
            atol=self.cg_tol * self.y_norm,
            max_iter=self.cg_max_iter,
        )
        self.cg_iters += it
        return X + op.adjoint(w)


def sensing_certificate(X, solver, symmetric: bool):
    """:func:`~linrfm.identifiability.certify_recovery` of a sensing iterate ``X``: its
    spectrum, the ``m`` measurements and the relative residual ``||A(X) - y|| / ||y||``."""
    residual = float(np.linalg.norm(solver.op.apply(X) - solver.y))
    residual = residual / solver.y_norm if solver.y_norm > 0 else residual
    return certify_recovery(
        lambda k: top_singular_values(X, k),
        X.shape,
        solver.op.m,
        residual,
        symmetric=symmetric,
        frobenius=float(np.linalg.norm(X)),
    )


def _resolve_variant(variant: str, shape) -> str:
    """'auto': two-sided when its n x n kernel work (4 arrays) fits the memory budget."""
    if variant != "auto":
        return variant
    return "two-sided" if 4 * 8 * shape[0] ** 2 <= _AUTO_MEMORY else "one-sided"


def _kernel(X, side, alpha, lam_rel):
    """The kernel of one half-step and its absolute ridge ``lam_rel * tr(K) / width``."""
    if side == "right":
        G = (X.T @ X) / X.shape[0]
    else:
        G = (X @ X.T) / X.shape[1]
    K = kernel_power(G, alpha)
    return K, absolute_ridge(lam_rel, np.trace(K) / K.shape[0])


@scale_free("sense")
@fill_doc
@iterative
def lin_rfm_sense(
    problem,
    *,
    alpha: float = 0.5,
    variant: str = "auto",
    lam: float = 1e-2,
    lam_rule: str = "change",
    lam_min: float = 1e-12,
    replace: bool = True,
    tol: float = 1e-8,
    max_iter: int = 500,
    cg_tol: float = 1e-10,
    cg_max_iter: int | None = None,
    linear_solver: str = "auto",
    init=None,
    loop: dict,
) -> DenseResult:
    """Recover a matrix from linear measurements with lin-RFM.

    Parameters
    ----------
    problem : MatrixSensing
        The operator ``A`` and measurements ``y``.
    alpha : float > 0, default=0.5
        Power of the AGOP, ``K = G^(2 alpha)`` (``p = 2 - 4 alpha`` at a fixed point).
        ``alpha = 1/2`` and ``1`` need no matrix function.
    variant : {'auto', 'one-sided', 'two-sided'}, default='auto'
        'one-sided' uses the column-side kernel, ``X = A*(c) K``. 'two-sided' alternates it
        with the row-side half-step ``X = K' A*(c)``, ``K' = (X X^T / d)^(2 alpha)``.
        'auto' (as in :func:`lin_rfm_complete`) is two-sided when its ``n x n`` kernel
        work fits 2 GiB, one-sided otherwise. Measured on Gaussian sensing (40 x 40,
        rank 2, ``m = 3 r (2n - r)``, 10 seeds): two-sided recovers all to ~1e-8 in 22-25
        iterations; one-sided stalls on 3 of 10 at ~0.3 relative error on a rank-9
        iterate the 468 measurements do not determine (246-304 iterations).
    lam : float >= 0, default=1e-2
        Ridge relative to the kernel's scale ``tr(K) / width``.
    lam_rule : {'fixed', 'change', 'decay'}, default='change'
        'fixed' keeps ``lam`` (its fixed point is biased by the ridge: on Gaussian sensing
        it stalls near 1e-2 relative error); 'change' sets
        ``lam_k = min(lam_{k-1}, relative change)``;
        'decay' divides it by 10 when the relative change falls below ``sqrt(lam) / 100``.
        The same rules, with the same meaning, as :func:`lin_rfm_complete`; the default
        is completion's two-sided default ('change' from ``lam = 1e-2`` down to
        ``lam_min``, the same window stop).
    lam_min : float >= 0, default=1e-12
        Floor for the relative ridge.
    replace : bool, default=True
        Project every iterate onto ``{X : A(X) = y}`` (noiseless recovery).
    tol : float > 0, default=1e-8
        Stop when the relative change of the iterate stays below ``tol`` for 5 iterations
        (with, for 'change' and 'decay', the ridge at or below ``tol``). Tighter than
        completion's 1e-6 because a measurement says so: on Gaussian sensing (30 x 30,
        rank 2, ``m = 3 r (2n - r)``, 10 seeds) the two-sided iteration stops at relative
        error 1.4e-8 to 5.8e-8 with ``tol=1e-6`` (20-25 iterations) and at 1.6e-10 to
        6.3e-10 with ``tol=1e-8`` (26-32 iterations; each one costs milliseconds).
    max_iter : int, default=500
    cg_tol : float > 0, default=1e-10
        Relative residual at which each conjugate-gradient solve stops.
    cg_max_iter : int, optional
        Cap on the CG iterations of one solve (default ``2 m``).
    linear_solver : {'auto', 'cg', 'direct'}, default='auto'
        'cg' never forms ``Q``. 'direct' forms ``Q`` (``m^2 n d`` flops) and ``A A*`` (once)
        and solves by Cholesky, falling back to CG when a factorization fails; it needs an
        operator with dense sensing matrices (:class:`~linrfm.problems.GaussianOperator`).
        'auto' is 'direct' for such operators with ``m <= 4000`` and ``m n d <= 2e7``
        (Gaussian sensing, n = 40, rank 10, rho 2: 2-3x faster), 'cg' otherwise.
    init : ndarray of shape (n, d) or DenseResult, optional
        Starting iterate (default ``A*(y)``, the zero-filled observations for completion).
    %(loop)s

    Returns
    -------
    DenseResult
        ``X`` the recovered matrix; ``history`` holds ``rel_change``, ``lam`` and ``cg_iter``
        (CG iterations spent in the iteration) per iteration.

    %(warns)s

    %(raises)s
    """
    t0 = time.perf_counter()
    problem = check_sensing_problem(problem)
    check_lin_rfm_params(alpha, lam, lam_min, tol, max_iter, replace)
    check_option(variant, "variant", SENSE_VARIANTS)
    check_option(lam_rule, "lam_rule", SENSE_LAMBDA_RULES)
    check_scalar(cg_tol, "cg_tol", low=0, low_inclusive=False)
    check_scalar(cg_max_iter, "cg_max_iter", kind=numbers.Integral, low=1, allow_none=True)
    check_option(linear_solver, "linear_solver", LINEAR_SOLVERS)
    alpha = float(alpha)
    variant = _resolve_variant(variant, problem.shape)
    X = _initial_iterate(problem, init)
    symmetric = bool(getattr(problem.operator, "symmetric", False))
    if symmetric:
        X = (X + X.T) / 2
    solver = _SenseSolver(problem, float(cg_tol), cg_max_iter, linear_solver)
    params = {
        "alpha": alpha,
        "variant": variant,
        "lam": lam,
        "lam_rule": lam_rule,
        "replace": replace,
        "tol": tol,
        "max_iter": max_iter,
        "cg_tol": cg_tol,
        "linear_solver": "direct" if solver.direct else "cg",
    }
    lam_schedule = Schedule(lam, lam_rule, lam_min, settle=tol)
    method = _LinRFMSense(X, solver, alpha, symmetric, replace, lam_schedule, tol, params)
    run = iterate(
        method,
        max_iter=max_iter,
        **loop,
    )
    return finished(method.result(run.n_iter), run, t0)


class WarmStarts:
    """A method's ``warm`` state: the conjugate-gradient warm starts of its ``solver``
    (a :class:`_SenseSolver`), which a resumed fit must restore to equal the uninterrupted one."""

    @property
    def warm(self):
        return self.solver.c, self.solver.c_left

    @warm.setter
    def warm(self, value):
        self.solver.c, self.solver.c_left = value


class _LinRFMSense(WarmStarts, Method):
    """lin-RFM's sensing iteration: one or two half-steps ``X = A*(c) K`` (then ``K' A*(c)``)."""

    name = "lin-RFM sensing"
    state = ("X", "schedule", "warm")
    advice = "Increase max_iter, or try variant='two-sided' or lam_rule='change'."

    def __init__(self, X, solver, alpha, symmetric, replace, schedule, tol, params):
        self.X, self.solver, self.alpha = X, solver, alpha
        self.sides = ["right"] if params["variant"] == "one-sided" else ["right", "left"]
        self.symmetric, self.replace = symmetric, replace
        self.schedule = schedule
        self.stop = Stop(tol, window=WINDOW, schedules=(schedule,))
        self.params = params

    def step(self, it):
        lam_rel = self.schedule.take()
        X_prev = X = self.X
        self.solver.cg_iters = 0
        for side in self.sides:
            K, lam_abs = _kernel(X, side, self.alpha, lam_rel)
            X = self.solver.weighted(K, side, lam_abs)
            if self.symmetric:
                X = (X + X.T) / 2
            if self.replace:
                X = self.solver.project(X)
        self.X = X
        norm_prev = np.linalg.norm(X_prev)
        change = np.linalg.norm(X - X_prev) / norm_prev if norm_prev > 0 else np.inf
        self.schedule.defer(change)
        return {"rel_change": change, "lam": lam_rel, "cg_iter": self.solver.cg_iters}

    def certify(self, history):
        return sensing_certificate(self.X, self.solver, self.symmetric) if self.replace else None

    def result(self, n_iter):
        params = {**self.params, "lam_final": self.schedule.upcoming()}
        return DenseResult(
            shape=self.X.shape, n_iter=n_iter, method="lin-rfm-sense", params=params, X=self.X
        )


def _initial_iterate(problem: MatrixSensing, init) -> np.ndarray:
    shape = tuple(problem.shape)
    if init is None:
        return problem.operator.adjoint(problem.y)
    X = init.to_dense() if hasattr(init, "to_dense") else init
    X = np.asarray(X, dtype=np.float64)
    if X.shape != shape:
        raise ValueError(f"init has shape {X.shape}; the problem's shape is {shape}.")
    if not np.all(np.isfinite(X)):
        raise ValueError("init holds non-finite values; all values must be finite.")
    return np.array(X, copy=True)
