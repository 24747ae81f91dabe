"""Shared fixtures.

Statistical tests take ``seed`` from :func:`seeds`: by default a spread of seeds, and with
``LINRFM_TEST_SEEDS=all`` (or a comma-separated list) any others, so a test that passes
only for a lucky seed is caught (the idea of scikit-learn's ``global_random_seed``).
"""

import os

import pytest


def _seeds():
    spec = os.environ.get("LINRFM_TEST_SEEDS", "")
    if spec == "all":
        return list(range(100))
    if spec:
        return [int(s) for s in spec.split(",")]
    return [0, 1, 2]


def pytest_generate_tests(metafunc):
    if "seed" in metafunc.fixturenames:
        metafunc.parametrize("seed", _seeds())


@pytest.fixture
def rng(seed):
    import numpy as np

    return np.random.default_rng(seed)


@pytest.fixture
def singular_blocks():
    """Three observed lines whose blocks, under a rank-1 kernel ``K = v v^T`` with no ridge,
    are exactly singular (size >= 2) yet consistent. Returns a namespace with ``v``, ``K``,
    ``lines``, ``idx``, ``y`` and ``check(coef)``, which asserts that the coefficients are
    finite and solve every block (shared by the NumPy and torch solver tests)."""
    from types import SimpleNamespace

    import numpy as np

    v = np.random.default_rng(0).standard_normal(6)
    K = np.outer(v, v)
    lines = np.array([0, 0, 0, 1, 1, 2])
    idx = np.array([0, 2, 3, 1, 4, 5])
    y = v[idx] * np.array([2.0, 2.0, 2.0, -1.0, -1.0, 3.0])

    def check(coef):
        assert np.all(np.isfinite(coef))
        for i in range(3):
            o, m = idx[lines == i], lines == i
            np.testing.assert_allclose(K[np.ix_(o, o)] @ coef[m], y[m], atol=1e-10)

    return SimpleNamespace(v=v, K=K, lines=lines, idx=idx, y=y, check=check)


@pytest.fixture
def linked_blocks():
    """``make(seed, links, n=40, r=2) -> (MatrixCompletion, U, V)``: a rank-``r`` ``n x n``
    matrix ``U V^T`` observed in its two diagonal blocks (60% of each) and at ``links``
    entries between them. Each line is seen ~12 times, 4x the degrees of freedom, yet with
    fewer than ``r^2`` links the entries between the blocks are not determined (one block's
    factors turn by a ``G``, the other's by ``G^-1``, and only the links constrain ``G``)."""
    import numpy as np

    from linrfm.problems import MatrixCompletion

    def make(seed, links, n=40, r=2):
        rng = np.random.default_rng(seed)
        U, V = rng.standard_normal((n, r)), rng.standard_normal((n, r))
        half = n // 2
        mask = np.zeros((n, n), bool)
        mask[:half, :half] = rng.random((half, half)) < 0.6
        mask[half:, half:] = rng.random((half, half)) < 0.6
        mask[np.arange(links), half + np.arange(links)] = True
        rows, cols = np.nonzero(mask)
        X = U @ V.T
        return MatrixCompletion(rows, cols, X[rows, cols], (n, n)), U, V

    return make


def fuzz_examples(n: int) -> int:
    """A hypothesis example budget: ``n`` in the default suite (fast, derandomized), times
    ``LINRFM_FUZZ_SCALE`` for a long battery (docs/reliability.md)."""
    import os

    return int(n * float(os.environ.get("LINRFM_FUZZ_SCALE", "1")))
