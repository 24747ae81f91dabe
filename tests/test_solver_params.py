"""What the lin-RFM and IRLS solvers share around the iteration core (solvers/_params.py)."""

import numpy as np
import pytest

from linrfm.iteration import Method, Schedule, Stop, iterate
from linrfm.results import ModelFitError
from linrfm.solvers._params import absolute_ridge, relative_change


def test_absolute_ridge():
    assert absolute_ridge(1e-2, 4.0) == 4e-2
    assert absolute_ridge(1e-2, 0.0) == 1e-2  # a zero matrix: the relative value as is
    with pytest.raises(ModelFitError, match="NaN or inf"):
        absolute_ridge(1e-2, np.nan)
    with pytest.raises(ModelFitError, match="IRLS iterate"):
        absolute_ridge(1e-2, np.inf, "IRLS iterate became non-finite at iteration 3.")


def test_relative_change():
    assert relative_change(np.array([3.0, 4.0]), np.array([0.0, 4.0])) == 0.75
    assert relative_change(np.ones(2), np.zeros(2)) == np.inf
    assert relative_change(np.zeros(2), np.zeros(2)) == 0.0


class Halving(Method):
    """x <- x / 2 under a 'change' schedule that follows the relative change (0.5)."""

    name = "halving"
    state = ("x", "schedule")

    def __init__(self, tol):
        self.x = 1.0
        self.schedule = Schedule(1.0, "change", settle=tol)
        self.stop = Stop(tol, schedules=(self.schedule,))

    def step(self, it):
        lam = self.schedule.take()
        self.x = self.x / 2
        self.schedule.defer(0.5)
        return {"rel_change": 0.5, "lam": lam}

    def result(self, n_iter):
        return self.x


def test_the_stop_sees_the_value_the_step_used():
    # the schedule reaches 0.5 after the first step; the stop needs it at or below
    # tol = 0.6 for the step itself, so the first step cannot converge
    m = Halving(tol=0.6)
    run = iterate(m, max_iter=5)
    assert run.converged and run.n_iter == 2
    assert run.history["lam"] == [1.0, 0.5]
    assert m.schedule.value == 0.5 and m.schedule.upcoming() == 0.5
