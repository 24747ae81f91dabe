"""What every lin-RFM engine shares as a :class:`~linrfm.iteration.Method`: the ridge
schedule, the window stop, the 'holdout' rule and the result object.

An engine (:mod:`.engines`) holds the iterate and implements :meth:`LinRFM.advance`, one
iteration at a given relative ridge returning the relative change of the iterate.
"""

from __future__ import annotations

import numpy as np
from scipy.sparse.linalg import eigsh

from ...identifiability import (
    certify_recovery,
    completion_residual,
    dense_unseen,
    gram_singular_values,
    top_singular_values,
    unseen_share,
)
from ...iteration import Method, Schedule, Stop
from ...results import KernelResult
from .._params import WINDOW
from .polish import ERROR_TOL, FIT_TOL, MAX_TRIES, UNSEEN_TOL, due, factors_as_kernel, polish

# a stop whose polish fails is tightened this much and the iteration goes on, this often
TIGHTEN, RETRIES = 1e-2, 1

__all__ = ["LinRFM", "ridge_schedule", "transposed"]


def ridge_schedule(lam_rule: str, lam: float, lam_min: float, tol: float) -> Schedule:
    """The relative ridge as a :class:`Schedule` for a resolved ``lam_rule``.

    'change' (and 'holdout', fed the validation error instead of the change) follows the
    signal down to ``lam_min``; 'decay' divides by 10 down to ``max(lam_min, tol)``. Both
    count as settled once at ``max(tol, lam_min)``; 'fixed' always is.
    """
    if lam_rule == "fixed":
        return Schedule(lam, "fixed", floor=lam_min)
    if lam_rule == "decay":
        return Schedule(lam, "decay", floor=max(lam_min, tol), settle=tol)
    return Schedule(lam, "change", floor=lam_min, settle=tol)


def transposed(res: KernelResult) -> KernelResult:
    """The same KernelResult read as the transposed matrix."""
    out = KernelResult(**{f: getattr(res, f) for f in res.__dataclass_fields__})
    out.shape = tuple(res.shape)[::-1]
    out.side = "col" if res.side == "row" else "row"
    return out


class LinRFM(Method):
    """lin-RFM on one completion problem (possibly the transposed one).

    Parameters
    ----------
    prob : MatrixCompletion
        The (training) observations, already on the side the kernel is built for.
    ridge : Schedule
        The relative ridge, lagged (:meth:`Schedule.take` / :meth:`Schedule.defer`): each
        step applies the previous step's signal (the relative change, or the validation
        error for 'holdout'), so the window stop judges the ridge the quiet steps were
        taken with.
    tol : float
        The window stop's threshold on the relative change.
    replace, ops :
        As in :func:`lin_rfm_complete`; ``ops`` is the array backend.
    transpose : bool
        ``prob`` is the transposed problem: results are read back transposed.
    momentum : float
        The engine's extrapolation of the one-sided iteration (:func:`lin_rfm_complete`).
    val : MatrixCompletion, optional
        Held-out observations ('holdout'): the ridge follows their relative error, and the
        fit stops once it has not improved for ``patience`` iterations.
    """

    name = "lin-RFM"
    # what every engine carries: the ridge and the signal it will follow next, the
    # holdout's best error and staleness, and the last half-step (for the result)
    state = ("ridge", "best_val", "stale", "side", "A", "K", "lam_abs", "polished", "tightened")

    def __init__(
        self, prob, *, ridge, tol, replace, ops, transpose=False, val=None, patience=10,
        polish=False, momentum=0.0,
    ):  # fmt: skip
        self.shape = prob.shape
        self.prob = prob
        # polish (exact mode only): at the stop, ALS on a rank read from the iterate
        self.polish = polish and replace and val is None
        self.polished = None
        self.replace = replace
        self.ops = ops
        # extrapolation between the engine's half-steps (its advance uses it)
        self.momentum = momentum
        self.transpose = transpose
        self.ridge = ridge
        self.tol, self.tightened = tol, 0
        self.stop = Stop(tol, window=WINDOW, schedules=(ridge,))
        self.val, self.patience = val, patience
        self.val_norm = np.linalg.norm(val.values) if val is not None else None
        self.best_val, self.stale = np.inf, 0
        self.side, self.A, self.K, self.lam_abs = "row", None, None, 0.0
        self.half_steps = ()

    def advance(self, lam_rel: float) -> float:
        """One iteration at the relative ridge ``lam_rel``; the relative change."""
        raise NotImplementedError

    def values_at(self, rows, cols) -> np.ndarray:
        """The current iterate at ``(rows, cols)`` of ``prob``'s orientation."""
        return self.kernel_result().predict(rows, cols)

    def set_workers(self, n_workers: int) -> None:
        for hs in self.half_steps:
            hs.solver.n_workers = n_workers

    def step(self, it):
        lam = self.ridge.take()
        change = self.advance(lam)
        record = {"rel_change": change, "lam": lam}
        signal = change
        if self.val is not None:
            fitted = self.values_at(self.val.rows, self.val.cols)
            verr = float(np.linalg.norm(fitted - self.val.values) / self.val_norm)
            record["val_rel_error"] = verr
            if verr < self.best_val * (1 - 1e-3):
                self.best_val, self.stale = verr, 0
            else:
                self.stale += 1
            signal = verr
        self.ridge.defer(signal)
        return record

    def converged(self, history):
        done = self.stop(history) or (self.val is not None and self.stale >= self.patience)
        it = len(history["rel_change"])
        if self.polish and not done and due(it):
            # an early attempt, the largest gap's rank only: an accepted rank ends the fit
            attempt = self.polish_now(more=0, early=True)
            if attempt is not None and attempt[0] is not None:
                self.polished = attempt
                attempt[2]["iteration"] = it
                return True
        if done and self.polish:
            self.polished = self.polish_now()
            if self.polished is not None:
                self.polished[2]["iteration"] = it
            if self._tighten():
                return False
        return done

    def _tighten(self) -> bool:
        """After a stop whose polish found no fit the data pin down: the stop made
        ``TIGHTEN`` times stricter and the iteration goes on, ``RETRIES`` times at most.

        On an ill-conditioned matrix the stop fires while the smallest directions are
        still growing (their share of the relative change is below ``tol``); some more
        iterations give the polish a start from them. 1000 x 1000, rank 5, condition 1e5,
        rho = 2, seed 0: stopped at 88 iterations, ``||E||_F / sigma_5 = 22``; tightened
        once, recovered at iteration 303 to 3.5e-7 (since the polish climbs ranks,
        :func:`~.polish._climb`, it recovers at the first stop; the tightening remains for
        an iterate still too far from any rank's fit). A fit that nothing recovers runs
        about twice its iterations before it is reported not converged."""
        # failed with ranks tried (none tried: no rank is identifiable from these
        # observations, and more iterations cannot change that)
        failed = self.polished is not None and self.polished[0] is None
        if not failed or not self.polished[2]["tried"] or self.tightened >= RETRIES:
            return False
        self.tightened += 1
        self.stop.tol = self.tol * TIGHTEN**self.tightened
        self.polished = None
        return True

    def load_state_dict(self, state: dict) -> None:
        super().load_state_dict(state)
        self.stop.tol = self.tol * TIGHTEN**self.tightened

    def dense_iterate(self):
        """The completion as a dense array of ``prob``'s orientation (None: not held)."""
        return None

    def gram(self):
        """``B^T B`` of the iterate when no dense iterate is held (None: not available)."""
        return None

    def polish_now(self, more=MAX_TRIES, early=False):
        """``(coef, kernel, info)`` of the polished completion (:mod:`.polish`), with
        ``coef`` None when no identifiable rank reproduces the observations (None when
        the engine holds neither the iterate nor its Gram matrix)."""
        B = self.dense_iterate()
        gram = self.gram() if B is None else None
        if B is None and gram is None:
            return None
        P, Q, info = polish(self.prob, B, gram=gram, more=more, early=early)
        if P is None:
            return (None, None, info)
        A, K = factors_as_kernel(self.prob, P, Q)
        # in the iterate's working precision (float32 stays float32)
        dtype = self.ops.to_numpy(self.K).dtype
        return (A.astype(dtype), K.astype(dtype), info)

    def certify(self, history):
        """Identifiability (:func:`~linrfm.identifiability.certify_recovery`) of a recovery
        (``replace=True``; the noisy mode reproduces no observation by design)."""
        if not self.replace:
            return None
        if self.polished is not None and self.polished[0] is not None:
            # the polish is certified by construction: an identifiable rank that
            # reproduces the observations to 1e-9 (:mod:`.polish`)
            return None
        if self.polished is not None and self.polished[2]["tried"]:
            # a stationary iterate from which no identifiable rank's ALS and Gauss-Newton
            # reach the observations is not a recovery, whatever its own spectrum shows:
            # a 1000 x 1000 rank-5 matrix of condition 1e10 stopped with its rank-2 head
            # over a floor of 2e-7 (relative error 1.1e-5) and passed the spectral test
            info = self.polished[2]
            tried = ", ".join(f"{r}: {res:.1e}" for r, res in info["tried"])
            loose = (
                f"; a fit that did was left free by the data to move {est:.1e} of itself "
                f"(> {ERROR_TOL:g})"
                if (est := info.get("error_estimate", 0.0)) > ERROR_TOL
                else f"; a fit that did is one of many: the observations miss {unseen:.1e} "
                f"of a random direction at it (> {UNSEEN_TOL:g})"
                if (unseen := info.get("unseen", 0.0)) > UNSEEN_TOL
                else ""
            )
            return (
                "no identifiable rank reproduces the observations to a relative residual "
                f"of {FIT_TOL:g} (the polish reached, by rank: {tried}){loose}"
            )
        G = getattr(self, "G", None)  # the coefficient engine's AGOP, B^T B / n
        if G is None:
            B = self.ops.to_numpy(self.B)
            spectrum = lambda k: top_singular_values(B, k)  # noqa: E731
            frobenius = float(np.linalg.norm(B))
            unseen = dense_unseen(self.prob, B)
        else:
            G = self.ops.to_numpy(G) * self.shape[0]
            spectrum = lambda k: gram_singular_values(G, k)  # noqa: E731
            frobenius = float(np.sqrt(max(np.trace(G), 0.0)))
            unseen = self._gram_unseen(G)
        fitted = self.values_at(self.prob.rows, self.prob.cols)
        return certify_recovery(
            spectrum,
            self.shape,
            self.prob.n_obs,
            completion_residual(fitted, self.prob.values),
            frobenius=frobenius,
            blocks=self.prob.n_blocks,
            unseen=unseen,
        )

    def _gram_unseen(self, G):
        """``unseen(r)`` of the coefficient engine's iterate ``B = A (K + lam I)``, which it
        never forms: ``B``'s top right singular vectors ``V_r`` are ``G``'s eigenvectors
        and ``B V_r`` takes one product with the sparse ``A``."""

        def unseen(r):
            Vr = (
                eigsh(G, k=r, which="LA")[1] if r < G.shape[0] - 1 else np.linalg.eigh(G)[1][:, -r:]
            )
            res = self.kernel_result()
            left = res.coef @ (res.kernel @ Vr) + res._shift() * (res.coef @ Vr)
            return unseen_share(self.prob, np.asarray(left), Vr)

        return unseen

    def lam_final(self) -> float:
        """The relative ridge the next iteration would take (a warm start's ``lam``)."""
        return self.ridge.upcoming()

    def kernel_result(self, **kw) -> KernelResult:
        """The current iterate as a :class:`KernelResult` of ``prob``'s orientation."""
        if self.polished is not None:
            A, K, info = self.polished
            kw["params"] = {**kw.get("params", {}), "polished": info}
            if A is not None:
                return KernelResult(
                    shape=self.shape, method="lin-rfm", side="row", coef=A, kernel=K,
                    lam=0.0, replace=self.replace, **kw,
                )  # fmt: skip
        return KernelResult(
            shape=self.shape,
            method="lin-rfm",
            side=self.side,
            coef=self.ops.to_scipy(self.A),
            kernel=self.ops.to_numpy(self.K),
            lam=self.lam_abs,
            replace=self.replace,
            **kw,
        )

    def result(self, n_iter, **kw):
        res = self.kernel_result(n_iter=n_iter, **kw)
        return transposed(res) if self.transpose else res
