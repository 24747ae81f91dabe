import ast
import importlib
import warnings
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

import linrfm
from linrfm import CoverageWarning, MatrixCompletion
from linrfm.problems import as_completion_problem, degrees_of_freedom


def test_three_input_forms_agree():
    X = np.array([[1.0, np.nan, 3.0], [np.nan, 5.0, np.nan]])
    from_dense = MatrixCompletion.from_dense(X)
    from_sparse = MatrixCompletion.from_sparse(
        sp.coo_matrix(([3.0, 1.0, 5.0], ([0, 0, 1], [2, 0, 1])), shape=(2, 3))
    )
    from_triples = MatrixCompletion([1, 0, 0], [1, 2, 0], [5.0, 3.0, 1.0], (2, 3))
    for p in (from_sparse, from_triples):
        np.testing.assert_array_equal(p.rows, from_dense.rows)
        np.testing.assert_array_equal(p.cols, from_dense.cols)
        np.testing.assert_array_equal(p.values, from_dense.values)
    assert from_dense.shape == (2, 3)
    assert from_dense.n_obs == 3
    np.testing.assert_array_equal(from_dense.row_counts, [2, 1])


def test_a_planted_problem_is_read_through_its_observations():
    from linrfm import make_completion

    planted = make_completion(12, 9, 2, 60, random_state=0)
    assert as_completion_problem(planted) is planted.problem
    with pytest.raises(ValueError, match="does not match"):
        as_completion_problem(planted, shape=(9, 12))


def test_int_and_bool_values_are_converted():
    p = MatrixCompletion([0, 1], [0, 1], np.array([True, False]), (2, 2))
    assert p.values.dtype == np.float64
    q = MatrixCompletion.from_dense(np.array([[1, 2], [3, 4]]))
    assert q.values.dtype == np.float64 and q.n_obs == 4


def test_explicit_zero_in_sparse_is_observed():
    S = sp.csr_matrix((np.array([0.0, 2.0]), np.array([0, 1]), np.array([0, 1, 2])), shape=(2, 2))
    assert MatrixCompletion.from_sparse(S).n_obs == 2


@pytest.mark.parametrize(
    "make, exc, match",
    [
        (lambda: MatrixCompletion.from_dense([[1.0, np.inf]]), ValueError, "infinite"),
        (lambda: MatrixCompletion([0], [0], [np.nan], (1, 1)), ValueError, "non-finite"),
        (lambda: MatrixCompletion([0], [0], [np.inf], (1, 1)), ValueError, "non-finite"),
        (
            lambda: MatrixCompletion.from_sparse(sp.csr_matrix([[np.nan, 1.0]])),
            ValueError,
            "non-finite",
        ),
        (
            lambda: MatrixCompletion([0, 2], [0, 0], [1.0, 1.0], (2, 2)),
            ValueError,
            "rows holds index 2, out of range",
        ),
        (
            lambda: MatrixCompletion([0], [-1], [1.0], (2, 2)),
            ValueError,
            "cols holds a negative index",
        ),
        (
            lambda: MatrixCompletion([0, 0], [1, 1], [1.0, 2.0], (2, 2)),
            ValueError,
            "Duplicate observations.*\\(0, 1\\)",
        ),
        (lambda: MatrixCompletion([0, 1], [0], [1.0, 2.0], (2, 2)), ValueError, "same length"),
        (lambda: MatrixCompletion([], [], [], (2, 2)), ValueError, "No observed entries"),
        (
            lambda: MatrixCompletion.from_dense(np.full((2, 2), np.nan)),
            ValueError,
            "No observed entries",
        ),
        (
            lambda: MatrixCompletion([0], [0], ["a"], (1, 1)),
            TypeError,
            "values must hold real numbers",
        ),
        (lambda: MatrixCompletion([0], [0], [1 + 2j], (1, 1)), TypeError, "complex|real numbers"),
        (
            lambda: MatrixCompletion.from_dense(np.array([[1, None]], dtype=object)),
            TypeError,
            "real numbers",
        ),
        (lambda: MatrixCompletion([0.5], [0], [1.0], (1, 1)), TypeError, "whole numbers"),
        (
            lambda: MatrixCompletion([0], [0], [1.0], (0, 3)),
            ValueError,
            "shape must be a pair of positive",
        ),
        (lambda: MatrixCompletion([0], [0], [1.0], (3,)), ValueError, "shape must be a pair"),
        (lambda: MatrixCompletion.from_dense(np.ones(3)), ValueError, "2-dimensional"),
        (
            lambda: as_completion_problem(([0], [0], [1.0])),
            ValueError,
            "shape=\\(n, d\\) is required",
        ),
        (
            lambda: as_completion_problem(np.ones((2, 2)), shape=(3, 3)),
            ValueError,
            "does not match",
        ),
    ],
)
def test_bad_input_gets_a_clear_error(make, exc, match):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CoverageWarning)
        with pytest.raises(exc, match=match):
            make()


def test_empty_rows_and_columns_warn_not_crash():
    X = np.full((3, 3), np.nan)
    X[0, 0] = 1.0
    with pytest.warns(CoverageWarning, match="2 row\\(s\\) and 2 column\\(s\\)"):
        p = MatrixCompletion.from_dense(X)
    assert p.n_obs == 1


def test_split_partitions_observations():
    p = MatrixCompletion.from_dense(np.arange(100.0).reshape(10, 10))
    fit, held = p.split(0.2, random_state=0)
    assert fit.n_obs == 80 and held.n_obs == 20
    both = np.sort(np.concatenate([fit.rows * 10 + fit.cols, held.rows * 10 + held.cols]))
    np.testing.assert_array_equal(both, np.arange(100))
    with pytest.raises(ValueError, match="'fraction' parameter"):
        p.split(1.5)


DATA_LAYER = (
    "linrfm.problems",
    "linrfm.datasets",
    "linrfm.operators",
    "linrfm.sensing_data",
    "linrfm.movielens",
    "linrfm.flat.problems",
)


def _imports_from_data_layer():
    """``(file, module, name)`` of every ``from <data-layer module> import name`` in src/."""
    src = Path(linrfm.__file__).parent
    for path in sorted(src.rglob("*.py")):
        package = ".".join(("linrfm",) + path.relative_to(src).parent.parts)
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.ImportFrom):
                continue
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                module = f"{base}.{node.module}" if node.module else base
            else:
                module = node.module
            if module in DATA_LAYER:
                for alias in node.names:
                    yield path.relative_to(src).as_posix(), module, alias.name


def test_every_import_from_the_data_layer_resolves():
    found = list(_imports_from_data_layer())
    assert any(module == "linrfm.problems" for _, module, _ in found)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        for path, module, name in found:
            assert hasattr(importlib.import_module(module), name), (path, module, name)


def test_oversampling_counts_degrees_of_freedom():
    p = MatrixCompletion.from_dense(np.arange(12.0).reshape(3, 4))
    assert degrees_of_freedom(3, 4, 2) == 2 * (3 + 4 - 2)
    assert p.oversampling(2) == 12 / degrees_of_freedom(3, 4, 2)
