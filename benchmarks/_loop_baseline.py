"""A straightforward per-row loop implementation of the paper's one-sided lin-RFM update.

This is the in-run *baseline* of the benchmarks, not library code. It follows the
published reference code's schedule: ridge 5e-2 (absolute, for data of mean squared entry 1),
lowered to 1e-3 once the **test** MSE falls below 0.1, stopping once the test MSE is below
1e-3. Looking at test error is an oracle: it is allowed here, in this baseline alone, and
labelled as such wherever its figures appear.
"""

from __future__ import annotations

import time

import numpy as np


def loop_lin_rfm_oracle(planted, alpha=0.5, max_iter=5000, reg=5e-2):
    """Run the per-row loop with the oracle schedule; returns (n_iter, seconds, test MSE)."""
    prob = planted.problem
    n, d = prob.shape
    indptr = prob.indptr
    rows_u, cols_u = planted.unobserved()
    truth_u = planted.truth(rows_u, cols_u)
    M = np.eye(d)
    B = np.zeros((n, d))
    t0 = time.perf_counter()
    mse = np.inf
    for it in range(1, max_iter + 1):  # noqa: B007 (returned below)
        for i in range(n):
            sl = slice(indptr[i], indptr[i + 1])
            idx = prob.cols[sl]
            y = prob.values[sl]
            a = np.linalg.solve(M[np.ix_(idx, idx)] + reg * np.eye(idx.size), y)
            row = a @ M[idx, :]
            row[idx] = y
            B[i] = row
        G = B.T @ B / n
        M = G if alpha == 0.5 else np.linalg.matrix_power(G, int(round(2 * alpha)))
        mse = float(np.mean((B[rows_u, cols_u] - truth_u) ** 2))  # oracle look
        if mse < 1e-3:
            break
        if mse < 1e-1:
            reg = min(reg, 1e-3)
    return it, time.perf_counter() - t0, mse
