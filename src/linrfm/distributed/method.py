"""One-sided coefficient-form lin-RFM as a :class:`~linrfm.iteration.Method` whose step runs
on the workers of a Dask cluster.

The iteration is :class:`~linrfm.solvers.linrfm.engines.SparseLinRFM`'s: the state is the
d x d AGOP ``G`` (with the ridge schedule, the last kernel and, for momentum, the last
AGOP), all of it on the client; each step forms the kernel ``K = G^(2 alpha)`` once, shares
it with every worker (one broadcast), and each worker solves its rows'
``(K[O_i, O_i] + lam I) a_i = x_i`` and returns its block's ``A^T A`` (and ``A^T A_prev``
for momentum) with its part of the relative change. The parts are summed in block order,
so the result does not depend on which worker finished first.
"""

from __future__ import annotations

import time

import numpy as np
import scipy.sparse as sp

from ..backend import NUMPY
from ..results import KernelResult
from ..solvers._params import absolute_ridge
from ..solvers.linrfm.kernel import kernel_power
from ..solvers.linrfm.method import LinRFM
from . import tasks

__all__ = ["DistributedLinRFM", "ClusterLostError"]


class ClusterLostError(RuntimeError):
    """The cluster has had no worker for longer than the fit's ``worker_timeout``."""


class DistributedLinRFM(LinRFM):
    """lin-RFM's one-sided coefficient iteration on row blocks held by Dask workers.

    Parameters
    ----------
    blocks : linrfm.distributed.data.Blocks
        The persisted row blocks (on the side the plan chose).
    client : distributed.Client
    alpha, momentum, n_threads :
        As in :func:`linrfm.lin_rfm_complete` (``n_threads``: BLAS threads per task).
    worker_timeout : float
        Seconds without any worker after which a step raises :class:`ClusterLostError`.
    common :
        ``ridge``, ``tol``, ``replace`` of :class:`~linrfm.solvers.linrfm.method.LinRFM`.
    """

    # the whole iteration state is d x d (on the client): the checkpoint holds it, and a
    # step after a resume recomputes the last coefficients it needs from (K, lam_abs)
    state = ("ridge", "best_val", "stale", "side", "K", "lam_abs", "G", "G_last")

    def __init__(self, blocks, client, *, alpha, momentum, n_threads, worker_timeout, **common):
        super().__init__(blocks, ops=NUMPY, transpose=blocks.transpose, momentum=momentum, **common)
        self.blocks, self.client = blocks, client
        self.alpha = alpha
        self.n_threads, self.worker_timeout = n_threads, worker_timeout
        self.n, self.width = blocks.shape[::-1] if blocks.transpose else blocks.shape
        self.shape = (self.n, self.width)
        self.G_last = None
        self._coef = self._kernel = None  # the last step's coefficient and kernel futures
        grams = self._gather(
            [client.submit(tasks.gram_values, b, n_threads, pure=False) for b in blocks.futures]
        )
        self.G = _ordered_sum(grams) / self.n

    # -- the cluster ---------------------------------------------------------------
    def _gather(self, futures):
        """The futures' results; :class:`ClusterLostError` after ``worker_timeout`` seconds
        without a worker (instead of waiting for one forever)."""
        from distributed import wait

        alone_since = None
        while True:
            try:
                wait(futures, timeout=min(1.0, self.worker_timeout))
                return self.client.gather(futures)
            except TimeoutError:
                if self.client.nthreads():
                    alone_since = None
                    continue
                alone_since = alone_since or time.monotonic()
                if time.monotonic() - alone_since > self.worker_timeout:
                    raise self._lost() from None

    def _lost(self):
        return ClusterLostError(
            f"The Dask cluster has had no worker for {self.worker_timeout:g} s "
            "(worker_timeout); lin-RFM stopped. Restart workers and resume from the last "
            "checkpoint (lin_rfm_complete's checkpoint= and resume=)."
        )

    def _share(self, K, lam):
        """``(K, lam)`` on every worker: one broadcast, then each task reads it locally."""
        try:
            return self.client.scatter(
                (K, lam), broadcast=True, hash=False, timeout=self.worker_timeout
            )
        except (TimeoutError, ValueError):
            # a broadcast to no worker times out, or, when the last worker leaves during
            # it, the scheduler refuses to "replicate to zero workers" (a ValueError)
            if self.client.nthreads():
                raise
        try:  # wait for a worker, then try once more
            self.client.wait_for_workers(1, timeout=self.worker_timeout)
        except TimeoutError:
            raise self._lost() from None
        return self.client.scatter(
            (K, lam), broadcast=True, hash=False, timeout=self.worker_timeout
        )

    def _solve(self, kernel):
        submit = self.client.submit
        return [submit(tasks.solve, b, kernel, self.n_threads, pure=False)
                for b in self.blocks.futures]  # fmt: skip

    def forget(self):
        """Drop the futures of the last step (after a failure: rebuilt from the state)."""
        self._coef = self._kernel = None

    def load_state_dict(self, state):
        super().load_state_dict(state)
        self.forget()

    # -- the step ------------------------------------------------------------------
    def _previous(self):
        """The last step's coefficient and kernel futures (recomputed after a resume)."""
        if self.K is None:
            return None, None
        if self._coef is None:
            self._kernel = self._share(self.K, self.lam_abs)
            self._coef = self._solve(self._kernel)
        return self._coef, self._kernel

    def advance(self, lam_rel):
        K = kernel_power(self.G, self.alpha)
        lam = absolute_ridge(lam_rel, float(K.trace()) / self.width)
        prev, prev_kernel = self._previous()
        kernel = self._share(K, lam)
        coef = self._solve(kernel)
        cross = bool(self.momentum) and prev is not None
        submit = self.client.submit
        parts = self._gather([
            submit(tasks.reduce_part, b, c, None if prev is None else prev[i], kernel,
                   prev_kernel, self.replace, cross, self.n_threads, pure=False)
            for i, (b, c) in enumerate(zip(self.blocks.futures, coef))
        ])  # fmt: skip
        Kl = tasks._shifted((K, lam), self.replace)
        G = Kl @ (_ordered_sum([p["S"] for p in parts]) @ Kl)
        if self.momentum:
            G_out = G
            if cross:
                b = self.momentum
                Kl0 = tasks._shifted((self.K, self.lam_abs), self.replace)
                X = Kl @ (_ordered_sum([p["X"] for p in parts]) @ Kl0)
                G = (1 + b) ** 2 * G + b**2 * self.G_last - b * (1 + b) * (X + X.T)
            self.G_last = G_out
        self.G = (G + G.T) / (2 * self.n)
        num = sum(p["num"] for p in parts)
        den = sum(p["den"] for p in parts)
        self._coef, self._kernel = coef, kernel
        self.K, self.lam_abs, self.side = K, lam, "row"
        return float(np.sqrt(num / den)) if den > 0 else np.inf

    def values_at(self, rows, cols):  # pragma: no cover - 'holdout' is refused with a client
        raise NotImplementedError

    def kernel_result(self, **kw) -> KernelResult:
        """The current iterate, its coefficients gathered from the workers."""
        coef, _ = self._previous()
        submit = self.client.submit
        pieces = self._gather([submit(tasks.coef_of, b, c, pure=False)
                               for b, c in zip(self.blocks.futures, coef)])  # fmt: skip
        return KernelResult(
            shape=(self.n, self.width),
            method="lin-rfm",
            side="row",
            coef=_coef_matrix(pieces, self.n, self.width),
            kernel=self.K,
            lam=self.lam_abs,
            replace=self.replace,
            **kw,
        )


def _ordered_sum(arrays):
    """The sum in block order (deterministic, whatever order the workers finished in)."""
    total = np.array(arrays[0], dtype=np.float64, copy=True)
    for a in arrays[1:]:
        total += a
    return total


def _coef_matrix(pieces, n, width):
    """The n x width CSR matrix of every block's coefficients (blocks are row ranges)."""
    indptr, indices, data, offset = [np.zeros(1, np.int64)], [], [], 0
    for _start, ip, idx, coef in pieces:
        indptr.append(ip[1:] + offset)
        offset += ip[-1]
        indices.append(idx)
        data.append(coef)
    return sp.csr_matrix(
        (np.concatenate(data), np.concatenate(indices), np.concatenate(indptr)), shape=(n, width)
    )
