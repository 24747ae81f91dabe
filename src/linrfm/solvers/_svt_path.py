"""What SoftImpute (completion) and nuclear-norm sensing share: singular value
soft-thresholding along a decreasing ``lam`` path with warm starts.

Both solve ``min_X 1/2 ||A(X) - y||^2 + lam ||X||_*`` by proximal steps whose prox is
:func:`svt_dense` (or a low-rank variant), one ``lam`` of :func:`lam_path` at a time.
:class:`PathMethod` is the :class:`~linrfm.iteration.Method` of such a path: each ``lam``
is a stage with its own iteration budget and tolerance; :func:`run_path` runs the stages
through :func:`~linrfm.iteration.iterate`, one global iteration count, history,
callback and checkpoint across the whole path.
"""

from __future__ import annotations

import copy
import numbers
import time

import numpy as np

from .._validation import check_scalar
from ..iteration import Checkpoint, Method, Run, iterate
from ._params import check_loop

__all__ = ["svt_dense", "lam_path", "check_path_params", "PathMethod", "run_path"]

# The relative change of an iterate that leaves zero. It is infinite, but the non-finite
# guard of `iterate` rejects an infinite record, so it is recorded as 1 (the change is the
# whole new iterate); convergence is still decided on the infinite value.
FROM_ZERO = 1.0


def svt_dense(M, lam, max_rank=None):
    """``S_lam(M)`` as factors ``(U s, V)``: singular values soft-thresholded by ``lam``,
    at most ``max_rank`` kept."""
    U, s, Vt = np.linalg.svd(M, full_matrices=False)
    s = np.maximum(s - lam, 0.0)
    k = int(np.sum(s > 0))
    if max_rank is not None:
        k = min(k, max_rank)
    return U[:, :k] * s[:k], Vt[:k].T


def lam_path(lam, lam_max, lam_ratio, n_lams) -> list:
    """``[lam]``, or the geometric path from ``lam_max()`` down to ``lam_ratio * lam_max()``
    in ``n_lams`` points (``lam_max`` is called only when ``lam`` is None)."""
    if lam is not None:
        return [float(lam)]
    return list(lam_max() * np.geomspace(1.0, lam_ratio, n_lams))


def check_path_params(lam, lam_ratio, n_lams, tol, max_iter):
    """The parameter checks every ``lam`` path shares."""
    check_scalar(lam, "lam", low=0, allow_none=True)
    check_scalar(lam_ratio, "lam_ratio", low=0, high=1, low_inclusive=False)
    check_scalar(n_lams, "n_lams", kind=numbers.Integral, low=1)
    check_loop(tol, max_iter)


class PathMethod(Method):
    """A method solved at each ``lam`` of ``lams`` in turn, warm started.

    Subclasses list their own iterate in ``state`` (plus :attr:`PATH_STATE`), implement
    :meth:`step` (setting :attr:`stage_converged`), :meth:`result` and :meth:`start_stage`
    (the per-``lam`` reset), and set ``message`` (the ``ConvergenceWarning`` of a ``lam``
    that did not meet its tolerance within ``max_iter``).
    """

    PATH_STATE = ("stage", "stage_start", "stage_converged", "converged_all")
    message = "did not converge"

    def __init__(self, lams, tol, max_iter, path_tol=None):
        self.lams = lams
        self.tol, self.max_iter = tol, max_iter
        self.path_tol = tol if path_tol is None else path_tol
        self.converged_all = True
        self._t_stage = time.perf_counter()

    @property
    def lam(self) -> float:
        return self.lams[self.stage]

    @property
    def stage_tol(self) -> float:
        """``tol`` at the last ``lam``, ``path_tol`` before (only warm starts)."""
        return self.tol if self.stage == len(self.lams) - 1 else self.path_tol

    def begin_stage(self, stage: int, n_iter: int) -> None:
        self.stage, self.stage_start, self.stage_converged = stage, n_iter, False
        self._t_stage = time.perf_counter()
        self.start_stage()

    def start_stage(self) -> None:
        """Reset what a new ``lam`` resets (momentum, objective)."""

    def end_stage(self, n_iter: int) -> None:
        """Book the finished stage (a subclass may also keep its solution)."""
        self.converged_all &= self.stage_converged

    def stage_over(self, n_iter: int) -> bool:
        return self.stage_converged or n_iter - self.stage_start >= self.max_iter

    def converged(self, history: dict) -> bool:
        return self.stage_converged

    def warning(self, history: dict, max_iter: int) -> str:
        return self.message


def run_path(
    method: PathMethod, *, callback=None, progress=False, checkpoint=None, resume=None
) -> Run:
    """Run every stage of ``method`` through :func:`iterate`; one count and history.

    ``progress`` shows a bar for each stage. A checkpoint (from ``checkpoint``) holds the
    stage reached; ``resume`` continues from it, a stage that the checkpoint finished
    included. A callback that returns True ends the path, also on the last iteration of a
    ``lam`` (where ``iterate`` lets the stage's convergence win).
    """
    t0 = time.perf_counter()
    asked = []

    def ask(it, info):
        if callback(it, info):
            asked.append(it)
            return True
        return False

    n, history = 0, {}
    if resume is not None:
        if resume.name and resume.name != method.name:
            raise ValueError(
                f"resume holds a checkpoint of {resume.name!r}, not of {method.name!r}."
            )
        method.load_state_dict(resume.state)
        n, history = resume.n_iter, copy.deepcopy(resume.history)
    else:
        method.begin_stage(0, 0)
    stopped = False
    while True:
        if not method.stage_over(n):
            # continue the count and history of the path with the method's live state
            # (an empty state loads nothing)
            run = iterate(
                method,
                max_iter=method.stage_start + method.max_iter,
                callback=None if callback is None else ask,
                progress=progress,
                checkpoint=checkpoint,
                resume=Checkpoint(n, {}, history, method.name),
            )
            n, history = run.n_iter, run.history
            last = method.stage == len(method.lams) - 1
            if asked and not (last and method.stage_converged):
                method.converged_all, stopped = False, True
                break
        method.end_stage(n)
        if method.stage == len(method.lams) - 1:
            break
        method.begin_stage(method.stage + 1, n)
    return Run(n, method.converged_all, history, time.perf_counter() - t0, stopped)
