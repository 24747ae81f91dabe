"""lin-RFM for sparse linear regression: the diagonal of the AGOP as the feature weights.

For ``f(x) = beta^T x`` the AGOP is ``beta beta^T``; keeping its diagonal gives the weights
``D = (beta^2 + eps)^(2 alpha)`` (``eps`` smooths them) and the kernel ridge regression
``beta_new = D X^T (X D X^T + lam I)^-1 y``: the n x n form, used when ``n < d``. The
d x d form ``beta_new = D^(1/2) (D^(1/2) X^T X D^(1/2) + lam I)^-1 D^(1/2) X^T y`` is the
same vector (push-through identity) and is used when ``n >= d``. At a fixed point this is
IRLS for the l_p quasi-norm with ``p = 2 - 4 alpha`` (alpha = 1/4: the l1 eta-trick;
alpha = 1/2: l0 / log).
"""

from __future__ import annotations

import time

import numpy as np
import scipy.linalg as la
import scipy.sparse as sp

from .._docs import fill_doc
from .._scaling import scale_free
from .._validation import check_bool, check_option, check_real_array, check_scalar
from ..identifiability import certify_sparse_recovery
from ..iteration import Method, Run, Schedule, Stop, iterate, iterative
from ..problems import as_regression_problem
from ..results import VectorResult
from ._params import check_loop, finished, relative_change

__all__ = ["lin_rfm_regress", "lin_rfm_regress_step", "FORMS", "EPS_RULES"]

FORMS = ("auto", "samples", "features")
EPS_RULES = ("chartrand-yin", "fixed")


class _Design:
    """``X`` (dense or sparse), centred implicitly when ``fit_intercept``.

    Holds what every iteration needs: Gram matrices under diagonal weights, products with
    ``X`` and ``X^T``, the squared column norms (for the ridge's scale).
    """

    def __init__(self, X, y, fit_intercept: bool):
        self.sparse = sp.issparse(X)
        self.n, self.d = X.shape
        if fit_intercept:
            self.x_mean = np.asarray(X.mean(axis=0)).ravel()
            self.y_mean = float(np.mean(y))
        else:
            self.x_mean = np.zeros(self.d)
            self.y_mean = 0.0
        self.center = bool(fit_intercept)
        if self.sparse:
            self.X = sp.csr_matrix(X)
            self.XT = self.X.T.tocsr()
        else:
            self.X = X - self.x_mean if fit_intercept else X
        self.y = y - self.y_mean
        sq = (
            np.asarray(self.X.multiply(self.X).sum(axis=0)).ravel()
            if self.sparse
            else np.einsum("ij,ij->j", self.X, self.X)
        )
        if self.sparse and self.center:
            sq = sq - self.n * self.x_mean**2
        self.col_sq = np.maximum(sq, 0.0)
        self._gram = None

    def matvec(self, b):
        out = self.X @ b
        return out - self.x_mean @ b if self.center and self.sparse else out

    def rmatvec(self, r):
        if self.sparse:
            out = self.XT @ r
            return out - self.x_mean * r.sum() if self.center else out
        return self.X.T @ r

    def gram_samples(self, D):
        """``X D X^T`` (n x n); dense ``X`` fills only the upper triangle (BLAS syrk,
        half the flops of a general product), which is all :func:`_solve_psd` reads."""
        if not self.sparse:
            Xs = np.asfortranarray(self.X * np.sqrt(D))
            return la.blas.dsyrk(1.0, Xs, lower=0)
        M = (self.X @ sp.diags(D) @ self.XT).toarray()
        if self.center:
            a = self.X @ (D * self.x_mean)
            c = float(self.x_mean @ (D * self.x_mean))
            M = M - a[:, None] - a[None, :] + c
        return M

    def gram_features(self):
        """``X^T X`` (d x d), computed once."""
        if self._gram is None:
            if self.sparse:
                G = (self.XT @ self.X).toarray()
                if self.center:
                    G -= self.n * np.outer(self.x_mean, self.x_mean)
            else:
                G = self.X.T @ self.X
            self._gram = G
        return self._gram


class _Centred:
    """``design`` as a matrix ``A`` with ``A @ b`` (the centred product) and ``A.shape``."""

    def __init__(self, design):
        self.design, self.shape = design, (design.n, design.d)

    def __matmul__(self, b):
        return self.design.matvec(b)


_PINV_CUTOFF = 1e-12


def _solve_psd(M, b):
    """Solve ``M z = b`` for a symmetric PSD ``M`` of which only the upper triangle is
    read; least squares when it is singular or ill-conditioned."""
    try:
        c = la.cho_factor(M, lower=False, check_finite=False)
        diag = np.abs(np.diag(c[0]))
        if diag.min() > 1e-8 * diag.max():  # roughly, condition number below 1e16
            z = la.cho_solve(c, b, check_finite=False)
            if np.all(np.isfinite(z)):
                return z
    except (la.LinAlgError, ValueError):
        pass
    full = np.triu(M) + np.triu(M, 1).T
    # singular values below 1e-12 of the largest are rounding (a computed Gram of rank
    # n < d has its zero eigenvalues at ~1e-16 of the largest): LAPACK's default cutoff
    # (machine precision) kept some of them, and a 1e-15 change of y moved a 30 x 60
    # 'features' step by 16%
    return la.lstsq(full, b, cond=_PINV_CUTOFF, check_finite=False, lapack_driver="gelsd")[0]


def _weights(beta, alpha, eps):
    """``(beta^2 + eps)^(2 alpha)``, divided by its maximum (the solve is scale-free in D)."""
    D = (beta * beta + eps) ** (2.0 * alpha)
    top = D.max()
    return D / top if top > 0 and np.isfinite(top) else D


def _step(design: _Design, D, lam_rel, form, lam_abs=None):
    """One weighted kernel ridge solve; returns (beta, absolute lambda)."""
    lam = lam_abs if lam_abs is not None else lam_rel * float(D @ design.col_sq) / design.n
    if form == "samples":
        M = design.gram_samples(D)
        M[np.diag_indices_from(M)] += lam
        c = _solve_psd(M, design.y)
        return D * design.rmatvec(c), lam
    s = np.sqrt(D)
    M = s[:, None] * design.gram_features() * s[None, :]
    M[np.diag_indices_from(M)] += lam
    z = _solve_psd(M, s * design.rmatvec(design.y))
    return s * z, lam


def _resolve_form(form, n, d):
    if form == "auto":
        return "samples" if n < d else "features"
    return form


def lin_rfm_regress_step(beta, X, y, *, alpha=0.5, lam=0.0, eps=0.0, form="auto"):
    """One lin-RFM step for sparse regression from the iterate ``beta``.

    ``D = (beta^2 + eps)^(2 alpha)`` and ``beta_new = D X^T (X D X^T + lam I)^-1 y``
    (``form='samples'``) or the equal d x d form (``form='features'``). Both ``lam`` and
    ``eps`` are absolute here, for studying the update itself; the solver is
    :func:`lin_rfm_regress`. ``D`` is used divided by its maximum, which leaves the update
    unchanged when ``lam = 0`` and otherwise rescales ``lam`` by the same factor.

    Parameters
    ----------
    beta : array_like, shape (d,)
        Current iterate.
    X : array_like or sparse matrix, shape (n, d)
    y : array_like, shape (n,)
    alpha : float > 0
    lam : float >= 0
        Absolute ridge (applied to the normalized ``D``).
    eps : float >= 0
        Absolute smoothing of the weights.
    form : {'auto', 'samples', 'features'}

    Returns
    -------
    ndarray, shape (d,)
    """
    prob = as_regression_problem(X, y)
    check_scalar(alpha, "alpha", low=0, low_inclusive=False)
    check_scalar(lam, "lam", low=0)
    check_scalar(eps, "eps", low=0)
    check_option(form, "form", FORMS)
    beta = check_real_array(beta, "beta", ndim=1)
    if beta.size != prob.n_features:
        raise ValueError(f"beta has length {beta.size}; X has {prob.n_features} features.")
    design = _Design(prob.X, prob.y, False)
    form = _resolve_form(form, prob.n_samples, prob.n_features)
    return _step(design, _weights(beta, float(alpha), float(eps)), 0.0, form, lam_abs=lam)[0]


@scale_free("regress")
@fill_doc
@iterative
def lin_rfm_regress(
    X,
    y=None,
    *,
    alpha: float = 0.5,
    lam: float = 0.0,
    eps: float = 1.0,
    eps_rule: str = "chartrand-yin",
    eps_min: float = 1e-10,
    tol: float = 1e-7,
    max_iter: int = 500,
    form: str = "auto",
    fit_intercept: bool = False,
    loop: dict,
) -> VectorResult:
    """Sparse linear regression with lin-RFM (diagonal AGOP).

    Iterates ``D_t = (beta_t^2 + eps_t)^(2 alpha)``,
    ``beta_{t+1} = D_t X^T (X D_t X^T + lam_t I)^-1 y`` from ``D_0 = I`` (so the first
    iterate is the ridge / minimum-norm solution).

    Parameters
    ----------
    X : array_like or scipy.sparse matrix, shape (n, d), or SparseRegression
        The design (or a problem holding ``X`` and ``y``; then ``y=None``).
    y : array_like, shape (n,)
        The responses.
    alpha : float > 0, default=0.5
        Power of the AGOP's diagonal. ``p = 2 - 4 alpha`` is the l_p quasi-norm the fixed
        points minimize (alpha = 1/4: l1; alpha = 1/2: l0 / log; alpha > 1/2: p < 0).
    lam : float >= 0, default=0.0
        Ridge relative to the kernel's scale ``tr(X D X^T) / n``; kept fixed. The
        default interpolates (the smoothing ``eps`` keeps the system definite; a singular
        one is solved by least squares); raise it for noisy data. Even 1e-10 is too much
        for exact recovery with ``alpha = 1``: the weights ``(beta^2)^2`` of small
        coefficients fall below it and the iteration stops at a training residual ~1e-3
        (measured at d = 1000, k = 20).
    eps : float > 0, default=1.0
        Initial smoothing of the weights, relative to ``max(beta_1^2)``, the largest
        squared entry of the first (minimum-norm) iterate.
    eps_rule : {'chartrand-yin', 'fixed'}, default='chartrand-yin'
        'chartrand-yin' divides ``eps`` by 10 whenever the relative change of ``beta``
        falls below ``sqrt(eps) / 100`` (Chartrand & Yin, 2008), down to ``eps_min``;
        'fixed' keeps it. Neither looks at anything but the iterate.
    eps_min : float > 0, default=1e-10
        Floor of the relative smoothing.
    tol : float > 0, default=1e-7
        Converged when the relative change ``||beta_t - beta_{t-1}|| / ||beta_{t-1}||``
        falls below ``tol`` with the smoothing at its floor (any smoothing for 'fixed').
    max_iter : int, default=500
        Maximum number of iterations.
    form : {'auto', 'samples', 'features'}, default='auto'
        Solve with the n x n kernel ('samples') or the d x d one ('features'); 'auto'
        takes the n x n form when ``n < d``.
    fit_intercept : bool, default=False
        Centre ``X`` and ``y`` (implicitly for sparse ``X``) and fit an intercept.
    %(loop)s

    Returns
    -------
    VectorResult
        ``coef``, ``intercept``, ``n_iter``, ``converged``, ``history`` (``rel_change``,
        ``eps``, ``lam``, ``rel_residual`` per iteration; the change of the first
        iterate, from zero, is inf), ``elapsed``.

    %(warns)s

    %(raises)s
    """
    t0 = time.perf_counter()
    prob = as_regression_problem(X, y)
    check_scalar(alpha, "alpha", low=0, low_inclusive=False)
    check_scalar(lam, "lam", low=0)
    check_scalar(eps, "eps", low=0, low_inclusive=False)
    check_option(eps_rule, "eps_rule", EPS_RULES)
    check_scalar(eps_min, "eps_min", low=0, low_inclusive=False)
    check_loop(tol, max_iter)
    check_option(form, "form", FORMS)
    check_bool(fit_intercept, "fit_intercept")
    n, d = prob.n_samples, prob.n_features
    design = _Design(prob.X, prob.y, bool(fit_intercept))
    params = {
        "alpha": float(alpha),
        "lam": lam,
        "eps": eps,
        "eps_rule": eps_rule,
        "eps_min": eps_min,
        "tol": tol,
        "max_iter": max_iter,
        "form": _resolve_form(form, n, d),
        "fit_intercept": bool(fit_intercept),
    }
    method = _LinRFMRegress(design, params)
    if method.y_norm == 0.0:  # beta = 0 fits exactly: no iteration
        run = Run(0, True, {k: [] for k in ("rel_change", "eps", "lam", "rel_residual")})
        return finished(method.result(0), run, t0)
    run = iterate(method, max_iter=max_iter, **loop)
    result = finished(method.result(run.n_iter), run, t0)
    if run.converged:  # a converged run does not take the smoothing's last update
        result.params["eps_final"] = method.schedule.value
    return result


class _LinRFMRegress(Method):
    """lin-RFM with the AGOP's diagonal: ``D = (beta^2 + eps)^(2 alpha)``, then kernel ridge.

    ``eps`` is relative to ``max(beta_1^2)`` of the first (minimum-norm, ``D = I``) iterate.
    """

    name = "lin-RFM (sparse)"
    state = ("beta", "schedule", "scale")
    advice = "Increase max_iter, or raise tol."

    def __init__(self, design: _Design, params: dict):
        self.design, self.params = design, params
        self.y_norm = float(np.linalg.norm(design.y))
        self.beta = np.zeros(design.d)
        self.scale = 0.0
        rule = "decay" if params["eps_rule"] == "chartrand-yin" else "fixed"
        self.schedule = Schedule(params["eps"], rule, params["eps_min"])
        self.stop = Stop(params["tol"], schedules=(self.schedule,))

    def step(self, it):
        eps_rel = self.schedule.take()
        p = self.params
        if it == 1:
            D = np.ones(self.design.d)
        else:
            D = _weights(self.beta, p["alpha"], eps_rel * self.scale)
        new, lam_abs = _step(self.design, D, float(p["lam"]), p["form"])
        if it == 1:
            self.scale = float(np.max(new * new)) or 1.0
        change = relative_change(new, self.beta)
        self.beta = new
        self.schedule.defer(change)
        resid = np.linalg.norm(self.design.matvec(new) - self.design.y) / self.y_norm
        # the first change, from zero, is inf (a legitimate record)
        return {"rel_change": change, "eps": eps_rel, "lam": lam_abs, "rel_residual": resid}

    def certify(self, history):
        """An interpolating fit (``lam = 0``, ``n < d``): a support the samples determine,
        ``y`` reproduced (:func:`~linrfm.identifiability.certify_sparse_recovery`). A
        power that collapses the support (``alpha = 10`` stops on 1 to 3 of 4 planted
        coefficients, 0.2-0.5 away) is then reported, not converged."""
        if self.params["lam"] != 0:
            return None
        d = self.design
        return certify_sparse_recovery(self.beta, _Centred(d), d.y)

    def result(self, n_iter):
        d = self.design
        intercept = d.y_mean - float(d.x_mean @ self.beta) if d.center else 0.0
        params = {**self.params, "eps_final": self.schedule.upcoming()}
        return VectorResult(
            shape=self.beta.shape,
            n_iter=n_iter,
            method="lin-rfm-sparse",
            params=params,
            coef=self.beta,
            intercept=intercept,
        )
