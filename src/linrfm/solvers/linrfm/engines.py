"""The two lin-RFM engines: the dense iterate (one- or two-sided) and the coefficient
('sparse' AGOP) one-sided iteration, each a :class:`~.method.LinRFM` with its own state."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from . import plan
from .kernel import HalfStep
from .method import LinRFM

__all__ = ["DenseLinRFM", "SparseLinRFM", "rel_change"]


def rel_change(B, B_prev, ops, chunk=4096):
    """``||B - B_prev||_F / ||B_prev||_F`` in row chunks (no n x d temporary)."""
    num = den = 0.0
    for s in range(0, B.shape[0], chunk):
        P = ops.as_float64(B_prev[s : s + chunk])
        num += float(((B[s : s + chunk] - P) ** 2).sum())
        den += float((P**2).sum())
    return np.sqrt(num / den) if den > 0 else np.inf


def _half_step(prob, alpha, replace, ops, cooccurrence, cols=False) -> HalfStep:
    """The half-step that regresses the rows of ``prob`` on a kernel over its columns
    (``cols``: its columns on a kernel over its rows, the observations sorted by column)."""
    n, d = prob.shape
    if not cols:
        return HalfStep(prob.rows, prob.cols, prob.values, n, d, alpha, replace, ops, cooccurrence)
    order = np.lexsort((prob.rows, prob.cols))
    lines, idx, values = prob.cols[order], prob.rows[order], prob.values[order]
    return HalfStep(lines, idx, values, d, n, alpha, replace, ops, cooccurrence)


class DenseLinRFM(LinRFM):
    """The iterate held densely: one-sided (rows) or two-sided (rows then columns).

    With ``momentum`` b (one-sided), each half-step's input after the first output is
    ``(1 + b) B_k - b B_{k-1}``.
    """

    # B: the last output; B_in: the extrapolated input of the next half-step (None: B)
    state = LinRFM.state + ("B", "B_in")

    def __init__(self, prob, *, alpha, dtype, init, two_sided=False, cooccurrence=0.0, **common):
        super().__init__(prob, **common)
        ops = self.ops
        n, d = prob.shape
        self.B_in = None
        self.row_step = _half_step(prob, alpha, self.replace, ops, cooccurrence)
        self.col_step = None
        if two_sided:
            self.col_step = _half_step(prob, alpha, self.replace, ops, cooccurrence, cols=True)
        self.half_steps = tuple(h for h in (self.row_step, self.col_step) if h is not None)
        if init is not None:
            self.B = ops.array(init.to_dense(), dtype=dtype)
        else:
            self.B = ops.zeros((n, d), dtype)
            solver = self.row_step.solver
            self.B[solver.lines_x, solver.idx_x] = ops.array(prob.values, dtype)

    def advance(self, lam_rel):
        B_prev = self.B
        # extrapolate only between outputs: the first input (observations or a warm
        # start) is none, and self.A is set by the first half-step
        extrapolate = self.momentum and self.A is not None
        B_in = B_prev if self.B_in is None else self.B_in
        B, self.A, self.K, self.lam_abs = self.row_step(B_in, lam_rel)
        self.side = "row"
        if self.col_step is not None:
            Bt, self.A, self.K, self.lam_abs = self.col_step(B.T, lam_rel)
            B = Bt.T
            self.side = "col"
        self.B = B
        if extrapolate:
            self.B_in = (1 + self.momentum) * B - self.momentum * B_prev
        return rel_change(B, B_prev, self.ops)

    def values_at(self, rows, cols):
        ops = self.ops
        return ops.to_numpy(self.B[ops.index(rows), ops.index(cols)])

    def dense_iterate(self):
        return np.asarray(self.ops.to_numpy(self.B), dtype=np.float64)


class SparseLinRFM(LinRFM):
    """One-sided lin-RFM with no dense iterate (DESIGN.md, "Cost and scale").

    The state is the sparse coefficient matrix ``A`` and the kernel ``K``; the completion is
    ``B = A (K + lam I)`` and its AGOP ``(K + lam I) (A^T A) (K + lam I) / n``. The relative
    change is measured on a fixed sample of at most ``plan.CHANGE_SAMPLE`` rows.
    """

    # G: the AGOP of the next half-step; B_rows: the last output on the sampled rows;
    # last: (coef, K + lam I, its unscaled AGOP) of the last half-step, for momentum
    state = LinRFM.state + ("G", "B_rows", "last")

    def __init__(self, prob, *, alpha, dtype, init, random_state=0, cooccurrence=0.0, **common):
        super().__init__(prob, **common)
        self.n = prob.shape[0]
        self.last = None
        self.step_ = _half_step(prob, alpha, self.replace, self.ops, cooccurrence)
        self.half_steps = (self.step_,)
        self._sample_rows(random_state)
        self._start(prob, init, dtype)

    def _sample_rows(self, random_state):
        """The rows the change is measured on (None: all) and their pattern."""
        ops, solver = self.ops, self.step_.solver
        n, d = self.shape
        if n <= plan.CHANGE_SAMPLE:
            self.sample = None
            return
        rng = np.random.default_rng(random_state)
        self.sample = np.sort(rng.choice(n, plan.CHANGE_SAMPLE, replace=False))
        # the observations of the sampled rows, and their pattern as a matrix of its own
        counts = solver.counts[self.sample]
        sel = np.repeat(solver.indptr[self.sample] - np.cumsum(counts) + counts, counts)
        sel += np.arange(sel.size)
        self._sel = ops.index(sel)
        sub = sp.csr_matrix(
            (np.ones(sel.size), solver.idx[sel], np.concatenate([[0], np.cumsum(counts)])),
            shape=(self.sample.size, d),
        )
        self._sub_pattern = ops.pattern(sub)

    def _start(self, prob, init, dtype):
        """The first AGOP and sampled rows: from the observations or a warm start."""
        ops, solver = self.ops, self.step_.solver
        n, d = self.shape
        if init is None:
            values = ops.array(prob.values, dtype)
            self.G = solver.gram(values) / n
            self.B_rows = self._rows_times(values, ops.eye(d, dtype))
        elif init.side == "row":
            shift = init.lam if init.replace else 0.0
            Kl = np.asarray(init.kernel, dtype=dtype) + shift * np.eye(d, dtype=dtype)
            S = np.asarray((init.coef.T @ init.coef).toarray(), dtype=dtype)
            self.G = ops.array(Kl @ (S @ Kl) / n)
            A = init.coef if self.sample is None else init.coef[self.sample]
            self.B_rows = ops.array(np.asarray(A @ Kl))
        else:
            B = np.asarray(init.to_dense(), dtype=dtype)
            self.G = ops.array(B.T @ B / n)
            self.B_rows = ops.array(B if self.sample is None else B[self.sample])

    def gram(self):
        """``B^T B`` of the last output, from the next half-step's AGOP ``G = B^T B / n``
        (with momentum, the AGOP of the extrapolated input: the polish only starts from
        it, its acceptance reads the observations)."""
        return np.asarray(self.ops.to_numpy(self.G), dtype=np.float64) * self.n

    def _rows_times(self, coef, M):
        """``A M`` on the sampled rows (all rows when there is no sample), dense."""
        ops = self.ops
        workers = self.step_.solver.n_workers
        if self.sample is None:
            return ops.spmm(self.step_.solver.coef_matrix(coef), M, workers)
        return ops.spmm(ops.sparse(self._sub_pattern, coef[self._sel]), M, workers)

    def advance(self, lam_rel):
        hs = self.step_
        K, lam = hs.kernel(self.G, lam_rel)
        coef = hs.solver.solve(K, lam)
        A = hs.solver.coef_matrix(coef)
        shift = lam if self.replace else 0.0
        Kl = K + shift * self.ops.eye(K.shape[0], K.dtype) if shift else K
        S = hs.solver.gram(coef)
        G = Kl @ (S @ Kl)
        if self.momentum:
            G_out = G
            if self.last is not None:
                # the AGOP of (1 + b) B_k - b B_{k-1}, with B = A (K + lam I): a Gram
                # matrix, so positive semidefinite like the plain one
                c0, Kl0, G0 = self.last
                b = self.momentum
                X = Kl @ (hs.solver.gram(coef, c0) @ Kl0)
                G = (1 + b) ** 2 * G + b**2 * G0 - b * (1 + b) * (X + X.T)
            self.last = (coef, Kl, G_out)
        # symmetrize: rounding makes the product slightly asymmetric, and the iteration
        # amplifies an asymmetric part (it diverges without this)
        self.G = (G + G.T) / (2 * self.n)
        B_rows = self._rows_times(coef, Kl)
        change = rel_change(B_rows, self.B_rows, self.ops)
        self.B_rows = B_rows
        self.A, self.K, self.lam_abs = A, K, lam
        return change
