"""lin-RFM completion on a Dask cluster: blocks on the workers, the one loop on the client.

The fit runs through :func:`linrfm.iteration.iterate`, the same loop, ridge schedule and
stop as the single-machine one-sided path. Faults: a block lost with its worker is
recomputed by Dask from the input graph; a step whose futures fail all the same is redone
from the last checkpoint of the loop (the d x d state kept on the client); a cluster with
no worker for ``worker_timeout`` seconds raises :class:`ClusterLostError`.
"""

from __future__ import annotations

from ..iteration import Checkpoint, iterate
from ..solvers.linrfm.method import ridge_schedule
from ..solvers.linrfm.plan import check_dtype
from .data import as_triples, make_blocks
from .method import ClusterLostError, DistributedLinRFM

__all__ = ["complete_on_cluster"]

# how many times a failed step is redone from the last checkpoint before giving up
_RETRIES = 3


def _lost_errors():
    """The exceptions of futures whose data or worker was lost."""
    from concurrent.futures import CancelledError

    from distributed.scheduler import KilledWorker

    return (KilledWorker, CancelledError, OSError)


def run_resilient(method, *, max_iter, callback, progress, checkpoint, resume):
    """:func:`iterate`, redone from its last checkpoint when the cluster loses a step."""
    last = [resume or Checkpoint(0, method.state_dict(), {}, method.name)]

    def keep(c):
        last[0] = c
        if checkpoint is not None:
            checkpoint(c)

    for attempt in range(_RETRIES + 1):
        try:
            return iterate(
                method, max_iter=max_iter, callback=callback, progress=progress,
                checkpoint=keep, resume=last[0],
            )  # fmt: skip
        except ClusterLostError:
            raise
        except _lost_errors() as err:
            if attempt == _RETRIES:
                raise ClusterLostError(
                    f"lin-RFM's step failed {attempt + 1} times on the cluster ({err!r}); "
                    "resume from the last checkpoint once the workers are back."
                ) from err
            method.forget()


def _workers(client, worker_timeout):
    """The workers' addresses (sorted), waiting up to ``worker_timeout`` for the first."""
    try:
        client.wait_for_workers(1, timeout=worker_timeout)
    except TimeoutError:
        raise ClusterLostError(
            f"The Dask cluster has no worker (waited {worker_timeout:g} s, worker_timeout)."
        ) from None
    return sorted(client.nthreads())


def complete_on_cluster(
    X, client, *, alpha, lam, lam_rule, lam_min, replace, tol, max_iter, shape, callback,
    progress, dtype, n_threads, momentum, checkpoint, resume, worker_timeout=60.0,
):  # fmt: skip
    """The run of :func:`linrfm.lin_rfm_complete` with ``client`` (checked parameters,
    one-sided, ``momentum`` and ``lam_rule`` resolved): ``(method, run, plan)``, the
    result being ``method.result(run.n_iter, ...)``. ``X``: its input, a Dask DataFrame
    of ``row``, ``col``, ``value`` columns or a :class:`Triples`."""
    dtype = check_dtype(dtype)
    workers = _workers(client, worker_timeout)
    triples, shape = as_triples(X, shape, len(workers))
    blocks = make_blocks(client, triples, shape, dtype, workers)
    method = DistributedLinRFM(
        blocks,
        client,
        alpha=float(alpha),
        momentum=momentum,
        n_threads=n_threads or 1,
        worker_timeout=float(worker_timeout),
        ridge=ridge_schedule(lam_rule, float(lam), lam_min, tol),
        tol=tol,
        replace=replace,
    )
    method.name = f"lin-RFM a={float(alpha):g} one-sided (sparse AGOP, Dask)"
    method.advice = "Increase max_iter."
    run = run_resilient(
        method, max_iter=max_iter, callback=callback, progress=progress,
        checkpoint=checkpoint, resume=resume,
    )  # fmt: skip
    return method, run, blocks.plan
