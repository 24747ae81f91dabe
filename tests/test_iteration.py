"""The iteration core on a toy method whose every iterate is known."""

import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

from linrfm.iteration import Checkpoint, Method, Schedule, Stop, iterate
from linrfm.results import ModelFitError


class Halving(Method):
    """x <- x / 2 + noise * rng draw, with a 'change' schedule: a known sequence."""

    name = "halving"
    state = ("x", "rng", "sched")

    def __init__(self, x0=1.0, tol=1e-3, window=2, noise=0.0, seed=0):
        self.x = float(x0)
        self.rng = np.random.default_rng(seed)
        self.noise = noise
        self.sched = Schedule(1.0, "change", floor=0.0, settle=tol)
        self.stop = Stop(tol, window=window, schedules=(self.sched,))

    def step(self, it):
        new = self.x / 2 + self.noise * self.rng.standard_normal()
        change = abs(new - self.x) / abs(self.x) if self.x else np.inf
        self.x = new
        lam = self.sched.value
        self.sched.update(change)
        return {"rel_change": change, "lam": lam}

    def result(self, n_iter):
        return self.x


def test_stops_by_the_window_and_calls_back_on_every_iteration():
    seen = []
    run = iterate(Halving(tol=0.6), max_iter=50, callback=lambda it, info: seen.append(it))
    # change is 0.5 from the first step; the schedule starts at 1 and follows it to 0.5
    assert run.converged and run.n_iter == 2
    assert seen == [1, 2]
    assert run.history["rel_change"] == [0.5, 0.5]
    assert run.history["lam"] == [1.0, 0.5]


def test_warns_with_the_failed_figure_at_max_iter():
    with pytest.warns(
        ConvergenceWarning, match=r"halving did not converge in max_iter=3.*5\.00e-01"
    ):
        run = iterate(Halving(tol=1e-3), max_iter=3)
    assert not run.converged and run.n_iter == 3


def test_callback_stop_is_not_convergence():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        run = iterate(Halving(tol=1e-3), max_iter=10, callback=lambda it, info: it == 4)
    assert run.n_iter == 4 and run.stopped_by_callback and not run.converged


def test_non_finite_record_raises():
    m = Halving(x0=np.inf)
    m.divergence_advice = "Try a smaller step."
    with pytest.raises(ModelFitError, match="non-finite at iteration 1.*Try a smaller step"):
        iterate(m, max_iter=5)


def test_a_change_away_from_zero_is_infinite_not_divergence():
    class FromZero(Halving):
        def step(self, it):
            new = 1.0 if self.x == 0 else self.x / 2
            change = abs(new - self.x) / abs(self.x) if self.x else np.inf
            self.x = new
            self.sched.update(change)
            return {"rel_change": change}

    run = iterate(FromZero(x0=0.0, tol=0.6, window=1), max_iter=5)
    assert run.history["rel_change"] == [np.inf, 0.5] and run.converged


def test_resume_from_a_checkpoint_equals_the_uninterrupted_run():
    full = Halving(noise=0.1, seed=3)
    ref = iterate(full, max_iter=12, warn=False)
    saved = []
    iterate(
        Halving(noise=0.1, seed=3),
        max_iter=5,
        warn=False,
        checkpoint=saved.append,
        checkpoint_every=5,
    )
    assert [c.n_iter for c in saved] == [5]
    resumed = Halving(noise=0.1, seed=99)  # a different generator: the checkpoint restores it
    run = iterate(resumed, max_iter=12, warn=False, resume=saved[0])
    assert run.n_iter == ref.n_iter
    assert run.history == ref.history
    assert resumed.x == full.x
    # the checkpoint stays reusable
    again = Halving(noise=0.1)
    iterate(again, max_iter=12, warn=False, resume=saved[0])
    assert again.x == full.x


def test_a_converged_checkpoint_resumes_to_its_result_without_another_step():
    saved = []
    full = Halving(tol=0.6)
    ref = iterate(full, max_iter=50, checkpoint=saved.append)
    assert ref.converged and saved[-1].converged and not saved[0].converged
    resumed = Halving(x0=7.0, tol=0.6)
    run = iterate(resumed, max_iter=50, resume=saved[-1])
    assert (run.n_iter, run.converged, run.history) == (ref.n_iter, True, ref.history)
    assert resumed.x == full.x  # the state restored, no step taken


def test_resume_refuses_another_method():
    ck = Checkpoint(1, {}, {}, name="other")
    with pytest.raises(ValueError, match="checkpoint of 'other'"):
        iterate(Halving(), max_iter=2, resume=ck)


@pytest.mark.parametrize(
    ("rule", "change", "expected"),
    [
        ("fixed", 1e-9, 1e-2),
        ("change", 1e-3, 1e-3),
        ("change", 1.0, 1e-2),
        ("decay", 1e-4, 1e-3),
        ("decay", 1e-2, 1e-2),
        ("geometric", 1.0, 5e-3),
    ],
)
def test_schedule_rules(rule, change, expected):
    s = Schedule(1e-2, rule, floor=1e-6, factor=0.5)
    assert s.update(change) == pytest.approx(expected)


def test_schedule_floor_and_bad_rule():
    s = Schedule(1e-2, "decay", floor=5e-3)
    assert s.update(0.0) == 5e-3
    with pytest.raises(ValueError, match="rule must be one of"):
        Schedule(1.0, "sometimes")


class Still(Method):
    """Stationary from the third iteration; ``refuse`` is what certify answers."""

    name = "still"

    def __init__(self, refuse=None):
        self.refuse = refuse

    def step(self, it):
        return {"rel_change": 1.0 / it**8}

    def converged(self, history):
        return len(history["rel_change"]) >= 3

    def certify(self, history):
        return self.refuse

    def result(self, n_iter):
        return None


def test_a_refused_certificate_ends_the_run_unconverged_with_the_figures():
    with pytest.warns(ConvergenceWarning, match="not determined by the data: rank 9 > 6"):
        run = iterate(Still("rank 9 > 6"), max_iter=100)
    assert not run.converged and run.refused == "rank 9 > 6"
    assert run.n_iter == 3  # ended at the stop, not at max_iter


def test_a_certified_stop_converges_silently():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        run = iterate(Still(), max_iter=100)
    assert run.converged and run.refused is None
