import numpy as np
import pytest

from linrfm.problems import EntrySampling, GaussianOperator, MatrixSensing, RankOneOperator


def _adjoint_identity(op, rng):
    X = rng.standard_normal(op.shape)
    c = rng.standard_normal(op.m)
    # <A(X), c> == <X, A*(c)>
    assert np.dot(op.apply(X), c) == pytest.approx(np.sum(X * op.adjoint(c)), rel=1e-12)


def test_adjoints(rng):
    _adjoint_identity(EntrySampling([0, 2, 1], [1, 0, 1], (3, 2)), rng)
    _adjoint_identity(GaussianOperator((4, 3), 7, random_state=rng), rng)
    _adjoint_identity(GaussianOperator((4, 4), 7, symmetric=True, random_state=rng), rng)
    _adjoint_identity(
        RankOneOperator(rng.standard_normal((6, 4)), rng.standard_normal((6, 3))), rng
    )
    _adjoint_identity(RankOneOperator(rng.standard_normal((6, 4))), rng)


def test_measurement_values(rng):
    X = rng.standard_normal((4, 3))
    np.testing.assert_array_equal(
        EntrySampling([3, 0], [2, 1], (4, 3)).apply(X), [X[3, 2], X[0, 1]]
    )
    op = GaussianOperator((4, 3), 5, random_state=0)
    np.testing.assert_allclose(op.apply(X), [np.sum(A * X) for A in op.matrices])
    u, v = rng.standard_normal((2, 4)), rng.standard_normal((2, 3))
    np.testing.assert_allclose(RankOneOperator(u, v).apply(X), [u[k] @ X @ v[k] for k in range(2)])
    S = GaussianOperator((3, 3), 4, symmetric=True, random_state=0)
    np.testing.assert_allclose(S.matrices, S.matrices.transpose(0, 2, 1))
    M = op.to_matrix()
    np.testing.assert_allclose(M @ X.ravel(), op.apply(X))


@pytest.mark.parametrize(
    "make, exc, match",
    [
        (
            lambda: GaussianOperator((3, 2), 4).apply(np.zeros((2, 3))),
            ValueError,
            "acts on \\(3, 2\\)",
        ),
        (lambda: GaussianOperator((3, 2), 4).adjoint(np.zeros(5)), ValueError, "m=4"),
        (lambda: GaussianOperator((3, 2), 4, symmetric=True), ValueError, "square"),
        (lambda: GaussianOperator((3, 2), 0), ValueError, "'m' parameter"),
        (
            lambda: RankOneOperator(np.zeros((3, 2)), np.zeros((4, 2))),
            ValueError,
            "same number of rows",
        ),
        (
            lambda: MatrixSensing(GaussianOperator((3, 2), 4), np.zeros(5)),
            ValueError,
            "y has 5 .* m=4",
        ),
        (
            lambda: MatrixSensing(GaussianOperator((3, 2), 2), [np.nan, 1.0]),
            ValueError,
            "non-finite",
        ),
        (lambda: MatrixSensing("op", [1.0]), TypeError, "MeasurementOperator"),
        (lambda: EntrySampling([5], [0], (3, 2)), ValueError, "out of range"),
    ],
)
def test_bad_input(make, exc, match):
    with pytest.raises(exc, match=match):
        make()
