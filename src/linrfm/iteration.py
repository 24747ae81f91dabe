"""The one iteration loop: every iterative method in linrfm runs through :func:`iterate`.

A method is a state and a step (an optax/``torch.optim`` idea): a :class:`Method` subclass
holds what it carries from one iteration to the next and says how one step changes it.
This module owns everything else, once for every method:

- :class:`Schedule`: a scalar that changes with the iteration (lin-RFM's ridge, IRLS's
  smoothing ``eps``) by one of a few named rules;
- :class:`Stop`: the stationarity test (a quiet window of a monitored quantity, with the
  schedules settled);
- :func:`iterate`: the loop, with the history, the callback (one signature, called on
  every iteration including the last), the progress bar, the ``ConvergenceWarning``, the
  non-finite guard, the timing and the checkpoint hook (:class:`Checkpoint`), from which a
  fit resumes to the same result.

The loop knows no method and no array backend; a method knows nothing of the loop.
"""

from __future__ import annotations

import copy
import functools
import inspect
import os
import sys
import time
import warnings
from dataclasses import dataclass, field

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from ._validation import check_bool, check_callback
from .results import ModelFitError

__all__ = [
    "Schedule",
    "Stop",
    "Method",
    "Checkpoint",
    "Run",
    "iterate",
    "iterative",
    "LOOP_KEYWORDS",
    "user_stacklevel",
]

SCHEDULE_RULES = ("fixed", "change", "decay", "geometric")


@dataclass
class Schedule:
    """A scalar that changes with the iteration, never from anything unobserved.

    Parameters
    ----------
    value : float
        The current value (relative to the problem's scale: each method makes it absolute).
    rule : {'fixed', 'change', 'decay', 'geometric'}
        'fixed' keeps ``value``; 'change' sets ``min(value, change)``, following the
        iterate's relative change; 'decay' divides by 10 whenever ``change <
        sqrt(value) / 100`` (Chartrand & Yin, 2008); 'geometric' multiplies by ``factor``
        every iteration. Every rule stops at ``floor``.
    floor : float
        The smallest value.
    factor : float
        The factor of 'geometric'.
    settle : float
        For :class:`Stop`: the schedule is settled once ``value <= max(settle, floor)``
        ('fixed' always is): a step taken with a larger ridge or smoothing can look
        stationary at that value's fixed point, not at the limit.
    pending : float or None
        A signal left by :meth:`defer` for the next step's :meth:`take`.

    A method either updates the schedule at once (:meth:`update`) or lags it by one step:
    a step :meth:`take` s its value (applying the last step's signal first) and
    :meth:`defer` s its own signal. Lagged, the :class:`Stop` judges the value the quiet
    steps were taken with, and a converged run leaves the schedule where it was.
    """

    value: float
    rule: str = "fixed"
    floor: float = 0.0
    factor: float = 1.0
    settle: float = 0.0
    pending: float | None = None

    def __post_init__(self):
        if self.rule not in SCHEDULE_RULES:
            raise ValueError(f"Schedule rule must be one of {SCHEDULE_RULES}; got {self.rule!r}.")
        self.value = float(self.value)

    def update(self, change: float) -> float:
        """Move to the next value after an iteration whose relative change was ``change``."""
        if self.rule == "change":
            self.value = max(self.floor, min(self.value, change))
        elif self.rule == "decay":
            if change < np.sqrt(self.value) / 100:
                self.value = max(self.floor, self.value / 10)
        elif self.rule == "geometric":
            self.value = max(self.floor, self.value * self.factor)
        return self.value

    def defer(self, signal: float) -> None:
        """Leave ``signal`` (a relative change, an error, ...) for the next :meth:`take`."""
        self.pending = float(signal)

    def take(self) -> float:
        """Apply the pending signal, if any; the value for this step."""
        if self.pending is not None:
            signal, self.pending = self.pending, None
            self.update(signal)
        return self.value

    def upcoming(self) -> float:
        """The value the next step would take (this schedule is left as it is)."""
        return copy.copy(self).take()

    @property
    def settled(self) -> bool:
        return self.rule == "fixed" or self.value <= max(self.settle, self.floor)


@dataclass
class Stop:
    """Stationarity: ``key`` below ``tol`` for ``window`` iterations in a row, schedules settled.

    Parameters
    ----------
    tol : float
        Threshold on the monitored quantity.
    key : str
        The history entry tested (a relative change, a relative residual, ...).
    window : int
        How many iterations in a row must be quiet. A ridge rule moves the iterate in
        bursts (each decrease of the ridge shifts the fixed point), so lin-RFM asks for 5.
    schedules : tuple of Schedule
        Schedules that must be :attr:`Schedule.settled` too.
    label : str
        How :meth:`describe` names the quantity (default: ``key``).
    """

    tol: float
    key: str = "rel_change"
    window: int = 1
    schedules: tuple = ()
    label: str = ""

    def __call__(self, history: dict) -> bool:
        values = history.get(self.key, ())
        return (
            len(values) >= self.window
            and max(values[-self.window :]) < self.tol
            and all(s.settled for s in self.schedules)
        )

    def describe(self, history: dict) -> str:
        """The figures that failed, for a ``ConvergenceWarning``."""
        values = history.get(self.key, ())
        last = values[-self.window :]
        label = self.label or self.key
        what = (
            (
                f"the largest {label} over the last {len(last)} iterations is {max(last):.2e}"
                if self.window > 1
                else f"the last {label} is {last[-1]:.2e}"
            )
            if last
            else f"no {label} was recorded"
        )
        text = f"{what} (tol={self.tol:g})"
        open_ = [s for s in self.schedules if not s.settled]
        if open_:
            text += " and " + ", ".join(
                f"the {s.rule} schedule is at {s.value:.1e} (needs {max(s.settle, s.floor):.1e})"
                for s in open_
            )
        return text


class Method:
    """What one iterative method provides to :func:`iterate`.

    Subclasses set ``name`` (for messages), ``stop`` (a :class:`Stop`, or override
    :meth:`converged`), list in ``state`` the attributes that carry over from one iteration
    to the next (the default :meth:`state_dict` copies them; schedules and random
    generators included), and implement :meth:`step` and :meth:`result`.
    """

    name: str = "method"
    state: tuple = ()
    stop: Stop | None = None
    #: appended to the ConvergenceWarning at max_iter
    advice: str = "Increase max_iter."
    #: appended to the ModelFitError when the iterate diverges
    divergence_advice: str = ""
    #: record keys for which +inf is a legitimate value: the relative change of a step
    #: away from a zero iterate (NaN, and -inf, are errors everywhere)
    unbounded: tuple = ("rel_change",)

    def step(self, it: int) -> dict:
        """Do iteration ``it``; return its record: named floats appended to the history."""
        raise NotImplementedError

    def converged(self, history: dict) -> bool:
        """The method's own stationarity test on the history (after the step's record)."""
        return self.stop is not None and self.stop(history)

    def result(self, n_iter: int):
        """The current iterate as a result object (light: references, not copies)."""
        raise NotImplementedError

    def certify(self, history: dict) -> str | None:
        """Called once the stop fires: None when the stationary iterate is an answer the
        data determine, else the figures that say why not (then :func:`iterate` ends the
        run unconverged, with a ``ConvergenceWarning`` giving them). The matrix methods
        apply :func:`linrfm.identifiability.certify_recovery`; the default certifies."""
        return None

    def warning(self, history: dict, max_iter: int) -> str:
        """The text of the ``ConvergenceWarning`` when ``max_iter`` is reached."""
        why = self.stop.describe(history) if self.stop is not None else "no stop was met"
        return f"{self.name} did not converge in max_iter={max_iter} iterations: {why}. " + (
            self.advice
        )

    def state_dict(self) -> dict:
        """A deep copy of everything the next iterations depend on."""
        return copy.deepcopy({k: getattr(self, k) for k in self.state})

    def load_state_dict(self, state: dict) -> None:
        """Restore a :meth:`state_dict` (copied, so the checkpoint stays reusable)."""
        for k, v in copy.deepcopy(state).items():
            setattr(self, k, v)
        if self.stop is not None:
            # a Stop holds the method's schedules: point it at the restored ones
            names = [k for k in self.state if isinstance(getattr(self, k), Schedule)]
            if names:
                self.stop.schedules = tuple(getattr(self, k) for k in names)


@dataclass
class Checkpoint:
    """A method's state after ``n_iter`` iterations, with the history so far.

    ``iterate(method, resume=checkpoint, ...)`` continues from it; the resumed fit equals
    an uninterrupted one. A checkpoint taken as the run converged resumes to that result,
    with no further iteration.
    """

    n_iter: int
    state: dict
    history: dict
    name: str = ""
    converged: bool = False


@dataclass
class Run:
    """What :func:`iterate` returns."""

    n_iter: int
    converged: bool
    history: dict = field(default_factory=dict)
    elapsed: float = 0.0
    stopped_by_callback: bool = False
    #: why a stationary iterate was not certified (:meth:`Method.certify`), else None
    refused: str | None = None


#: the keywords every iterative solver takes for its loop, declared once by :func:`iterative`
LOOP_KEYWORDS = ("callback", "progress", "checkpoint", "resume")


def _check_loop(callback, progress, checkpoint, resume) -> dict:
    if resume is not None and not isinstance(resume, Checkpoint):
        raise TypeError(f"The 'resume' parameter must be a Checkpoint or None; got {resume!r}.")
    return dict(
        callback=check_callback(callback),
        progress=bool(check_bool(progress, "progress")),
        checkpoint=check_callback(checkpoint, "checkpoint"),
        resume=resume,
    )


def iterative(fn):
    """Give an iterative solver the loop's keywords, declared and checked once.

    ``fn`` ends its keyword-only parameters with ``loop``. Its callers pass ``callback``,
    ``progress``, ``checkpoint`` and ``resume`` (see :func:`iterate`), checked here (a wrong
    type is a ``TypeError`` naming the parameter); ``fn`` receives them as the dict ``loop``,
    for ``iterate(method, max_iter=..., **loop)``. ``inspect.signature`` and ``help`` show the
    four in place of ``loop``.
    """
    sig = inspect.signature(fn)
    params = list(sig.parameters.values())
    if params[-1].name != "loop" or params[-1].kind is not params[-1].KEYWORD_ONLY:
        raise TypeError(f"{fn.__name__} must end its keyword-only parameters with 'loop'")

    @functools.wraps(fn)
    def solver(*args, callback=None, progress=False, checkpoint=None, resume=None, **kwargs):
        checked = _check_loop(callback, progress, checkpoint, resume)
        return fn(*args, loop=checked, **kwargs)

    # the four as the wrapper declares them (names, defaults), in place of ``loop``
    own = inspect.signature(solver, follow_wrapped=False).parameters
    solver.__signature__ = sig.replace(parameters=params[:-1] + [own[k] for k in LOOP_KEYWORDS])
    return solver


_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


def user_stacklevel() -> int:
    """The ``stacklevel`` that points a warning at the first caller outside linrfm."""
    level, frame = 1, sys._getframe(1)
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(_PACKAGE_DIR):
        frame = frame.f_back
        level += 1
    return level


def _progress_bar(progress, total, desc, initial):
    if not progress:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, leave=False, initial=initial)


def iterate(
    method: Method,
    *,
    max_iter: int,
    callback=None,
    progress: bool = False,
    checkpoint=None,
    checkpoint_every: int = 1,
    resume: Checkpoint | None = None,
    warn: bool = True,
) -> Run:
    """Run ``method`` until it converges, the callback stops it, or ``max_iter``.

    Parameters
    ----------
    method : Method
        The state and the step.
    max_iter : int
        Iteration budget (counted from the start of the fit, a resumed one included).
    callback : callable, optional
        ``callback(iteration, info)`` after every iteration, the last included; ``info``
        holds the iteration's record, ``'iteration'`` and ``'result'`` (the current iterate
        as the method's result object). Returning True stops the run (not converged).
    progress : bool
        A tqdm progress bar.
    checkpoint : callable, optional
        ``checkpoint(Checkpoint)`` every ``checkpoint_every`` iterations and after the last.
    resume : Checkpoint, optional
        Continue from a checkpoint of the same method on the same data.
    warn : bool
        Issue a ``ConvergenceWarning`` when ``max_iter`` is reached unconverged, or when
        the stop fires on an iterate that :meth:`Method.certify` refuses (the run then
        ends, not converged: a stationary iterate stays where it is).

    Raises
    ------
    ModelFitError
        When a recorded quantity is NaN or infinite (the iterate diverged).
    """
    t0 = time.perf_counter()
    history: dict = {}
    start = 0
    if resume is not None:
        if resume.name and resume.name != method.name:
            raise ValueError(
                f"resume holds a checkpoint of {resume.name!r}, not of {method.name!r}."
            )
        method.load_state_dict(resume.state)
        history = copy.deepcopy(resume.history)
        start = resume.n_iter
    bar = _progress_bar(progress, max_iter, method.name, start)
    converged = resume is not None and resume.converged
    stopped = False
    refused = None
    it = start
    try:
        while it < max_iter and not (converged or stopped or refused):
            it += 1
            record = method.step(it)
            bad = [
                k
                for k, v in record.items()
                if not (np.isfinite(v) or (v == np.inf and k in method.unbounded))
            ]
            if bad:
                raise ModelFitError(
                    f"{method.name}: the iterate became non-finite at iteration {it} "
                    f"({', '.join(bad)} = {record[bad[0]]}). {method.divergence_advice}".rstrip()
                )
            for k, v in record.items():
                history.setdefault(k, []).append(float(v))
            converged = bool(method.converged(history))
            if converged:
                refused = method.certify(history)
                converged = refused is None
            if bar is not None:
                bar.update(1)
                bar.set_postfix({k: f"{v:.2e}" for k, v in record.items()}, refresh=False)
            if callback is not None:
                info = {"iteration": it, **record, "result": method.result(it)}
                stopped = bool(callback(it, info)) and not converged
            if checkpoint is not None and (
                it % checkpoint_every == 0 or converged or stopped or refused or it == max_iter
            ):
                checkpoint(
                    Checkpoint(
                        it, method.state_dict(), copy.deepcopy(history), method.name, converged
                    )
                )
    finally:
        if bar is not None:
            bar.close()
    if warn and refused:
        text = (
            f"{method.name} is stationary at iteration {it} by its own test, but the answer "
            f"is not determined by the data: {refused}. Not reported as converged."
        )
        warnings.warn(text, ConvergenceWarning, stacklevel=user_stacklevel())
    elif warn and not converged and not stopped and it >= max_iter:
        warnings.warn(
            method.warning(history, max_iter), ConvergenceWarning, stacklevel=user_stacklevel()
        )
    return Run(it, converged, history, time.perf_counter() - t0, stopped, refused)
