"""Factorized recovery problems: measurements, a loss and a factor model to fit them with.

A :class:`FactorProblem` holds measurements ``y = A(X*) (+ corruptions)`` of an unknown
``n x d`` matrix, fitted by an overparameterized factorization ``X = L R^T``
(``model='asymmetric'``) or ``X = U U^T`` (``model='symmetric'``) of a chosen width, with
the squared loss ``(1/m) sum_i r_i^2`` or the robust loss ``(1/m) sum_i |r_i|``, where
``r_i = <A_i, X> - y_i``.
"""

from __future__ import annotations

import numpy as np

from .._validation import check_option
from .sensing import MatrixSensing, MeasurementOperator

__all__ = ["FactorProblem"]

LOSSES = ("squared", "l1")
MODELS = ("asymmetric", "symmetric")


class FactorProblem:
    """Measurements of a matrix, a loss, and a factor model to fit them with.

    Parameters
    ----------
    sensing : MatrixSensing
        The operator and the measurements ``y``.
    loss : {'squared', 'l1'}, default='squared'
        ``(1/m) sum_i r_i^2`` or ``(1/m) sum_i |r_i|``.
    model : {'asymmetric', 'symmetric'}, default='asymmetric'
        ``X = L R^T`` or ``X = U U^T``. The symmetric model needs a square, symmetric
        operator (``GaussianOperator(symmetric=True)`` or ``RankOneOperator(U)``).

    Raises
    ------
    TypeError
        When ``sensing`` is not a :class:`~linrfm.problems.MatrixSensing`.
    ValueError
        For an unknown loss or model, or a symmetric model on a non-symmetric operator.
    """

    def __init__(self, sensing, *, loss="squared", model="asymmetric"):
        if not isinstance(sensing, MatrixSensing):
            raise TypeError(f"sensing must be a MatrixSensing; got {type(sensing).__name__}.")
        check_option(loss, "loss", LOSSES)
        check_option(model, "model", MODELS)
        op = sensing.operator
        if model == "symmetric":
            if op.shape[0] != op.shape[1] or not getattr(op, "symmetric", False):
                raise ValueError(
                    "model='symmetric' (X = U U^T) needs a square operator with symmetric "
                    f"A_i; got {type(op).__name__} of shape {op.shape} with "
                    f"symmetric={getattr(op, 'symmetric', False)}."
                )
            if loss == "l1":
                raise ValueError("loss='l1' is implemented for model='asymmetric' only.")
        self.sensing = sensing
        self.loss = loss
        self.model = model

    @property
    def operator(self) -> MeasurementOperator:
        return self.sensing.operator

    @property
    def y(self) -> np.ndarray:
        return self.sensing.y

    @property
    def shape(self) -> tuple:
        return tuple(self.sensing.shape)

    @property
    def m(self) -> int:
        return self.sensing.m

    @property
    def symmetric(self) -> bool:
        return self.model == "symmetric"

    def __repr__(self) -> str:
        return (
            f"FactorProblem({type(self.operator).__name__}, shape={self.shape}, m={self.m}, "
            f"loss={self.loss!r}, model={self.model!r})"
        )
