import importlib
import re

import numpy as np
import pytest

from linrfm import datasets, make_completion
from linrfm.datasets import sample_entries


def test_generator_setting(seed):
    planted = make_completion(70, 40, 3, 600, random_state=seed)
    Y = planted.dense_truth()
    assert np.linalg.matrix_rank(Y) == 3
    assert np.mean(Y**2) == pytest.approx(1.0, rel=1e-12)
    p = planted.problem
    assert p.n_obs == 600 and p.shape == (70, 40)
    np.testing.assert_allclose(p.values, Y[p.rows, p.cols])


def test_generator_is_seeded():
    a = make_completion(30, 20, 2, 200, random_state=5)
    b = make_completion(30, 20, 2, 200, random_state=5)
    np.testing.assert_array_equal(a.problem.values, b.problem.values)
    np.testing.assert_array_equal(a.U, b.U)


def test_min_per_line_coverage(seed):
    rows, cols = sample_entries(200, 150, 900, min_per_line=3, random_state=seed)
    assert rows.size == 900
    assert np.bincount(rows, minlength=200).min() >= 3
    assert np.bincount(cols, minlength=150).min() >= 3
    assert np.unique(rows * 150 + cols).size == 900


def test_noise_is_added():
    planted = make_completion(30, 30, 2, 300, noise=0.5, random_state=0)
    p = planted.problem
    resid = p.values - planted.truth(p.rows, p.cols)
    assert 0.3 < resid.std() < 0.7


def test_unobserved_sample_avoids_observed():
    planted = make_completion(50, 40, 2, 1000, random_state=1)
    r, c = planted.unobserved(size=500, random_state=0)
    observed = set(zip(planted.problem.rows.tolist(), planted.problem.cols.tolist()))
    assert not any((a, b) in observed for a, b in zip(r.tolist(), c.tolist()))
    assert np.unique(r * 40 + c).size == 500
    r_all, _ = planted.unobserved()
    assert r_all.size == 50 * 40 - 1000


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(n=10, d=10, rank=11, n_obs=10), "'rank' parameter"),
        (dict(n=10, d=10, rank=2, n_obs=101), "'n_obs' parameter"),
        (dict(n=0, d=10, rank=1, n_obs=1), "'n' parameter"),
        (dict(n=10, d=10, rank=2, n_obs=20, min_per_line=5), "needs .* observations"),
        (dict(n=10, d=10, rank=2, n_obs=20, noise=-1.0), "'noise' parameter"),
    ],
)
def test_generator_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_completion(**kwargs)


# ---------------------------------------------------------------- the package and its moves
def test_package_names_are_distinct_and_resolve():
    assert len(set(datasets.__all__)) == len(datasets.__all__)
    for name in datasets.__all__:
        assert getattr(datasets, name) is not None
    f = datasets.make_flat_problem("sensing", random_state=0)
    g = datasets.make_factor_sensing(random_state=0)
    np.testing.assert_array_equal(f.problem.y, g.problem.y)
    assert datasets.FLAT_PROBLEM_KINDS["completion"] is datasets.make_factor_completion


def test_relative_error_is_shared():
    f = datasets.make_flat_problem("bilinear", 5, 4, 1, 20, random_state=0)
    Xhat = f.X + 0.1
    assert f.relative_error(Xhat) == datasets.relative_error(Xhat, f.X)


@pytest.mark.parametrize(
    "old, name, new",
    [
        ("linrfm.operators", "MatrixSensing", "linrfm.problems.MatrixSensing"),
        ("linrfm.operators", "EntrySampling", "linrfm.problems.EntrySampling"),
        ("linrfm.operators", "GaussianOperator", "linrfm.problems.GaussianOperator"),
        ("linrfm.operators", "RankOneOperator", "linrfm.problems.RankOneOperator"),
        ("linrfm.operators", "MeasurementOperator", "linrfm.problems.MeasurementOperator"),
        ("linrfm.sensing_data", "make_sensing", "linrfm.datasets.make_sensing"),
        ("linrfm.sensing_data", "PlantedSensing", "linrfm.datasets.PlantedSensing"),
        ("linrfm.sensing_data", "relative_error", "linrfm.datasets.relative_error"),
        ("linrfm.sensing_data", "OPERATORS", "linrfm.datasets.sensing.OPERATORS"),
        ("linrfm.movielens", "load_movielens100k", "linrfm.datasets.load_movielens100k"),
        ("linrfm.movielens", "movielens100k_path", "linrfm.datasets.movielens100k_path"),
        ("linrfm.movielens", "INSTALL_HINT", "linrfm.datasets.movielens.INSTALL_HINT"),
        ("linrfm.flat.problems", "FactorProblem", "linrfm.problems.FactorProblem"),
        ("linrfm.flat.problems", "degrees_of_freedom", "linrfm.problems.degrees_of_freedom"),
        ("linrfm.flat.problems", "PlantedFactorProblem", "linrfm.datasets.PlantedFactorProblem"),
        ("linrfm.flat.problems", "PROBLEM_CLASSES", "linrfm.datasets.FLAT_PROBLEM_KINDS"),
        ("linrfm.flat.problems", "make_problem", "linrfm.datasets.make_flat_problem"),
        ("linrfm.flat.problems", "make_sensing", "linrfm.datasets.make_factor_sensing"),
        ("linrfm.flat.problems", "make_completion", "linrfm.datasets.make_factor_completion"),
        ("linrfm.flat.problems", "make_bilinear", "linrfm.datasets.make_bilinear"),
        ("linrfm.flat.problems", "make_robust_sensing", "linrfm.datasets.make_robust_sensing"),
        (
            "linrfm.flat.problems",
            "make_quadratic_sensing",
            "linrfm.datasets.make_quadratic_sensing",
        ),
        ("linrfm.flat.problems", "LOSSES", "linrfm.problems.factor.LOSSES"),
    ],
)
def test_old_module_warns_and_returns_the_same_object(old, name, new):
    module = importlib.import_module(old)
    new_module, new_name = new.rsplit(".", 1)
    with pytest.warns(DeprecationWarning, match=re.escape(new)):
        obj = getattr(module, name)
    assert obj is getattr(importlib.import_module(new_module), new_name)


@pytest.mark.parametrize("old", ["linrfm.operators", "linrfm.sensing_data", "linrfm.movielens"])
def test_old_module_is_not_a_package_and_knows_its_names(old):
    module = importlib.import_module(old)
    assert not hasattr(module, "__path__")
    with pytest.raises(AttributeError, match="no attribute 'nothing_here'"):
        module.nothing_here  # noqa: B018
