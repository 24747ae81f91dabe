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
