"""Every iterative method of the method table runs through the one ``iterate``.

Walks :data:`linrfm.methods.METHODS`: each iterative entry, on a small problem of each kind it
takes, calls the callback on every iteration including the last with the one signature, goes
through the core's loop exactly once, and resumes from a checkpoint taken by the core's hook
to the same result as an uninterrupted fit.
"""

import inspect
import re
import warnings

import numpy as np
import pytest

import linrfm.iteration as core
from linrfm.datasets import (
    make_completion,
    make_flat_problem,
    make_sensing,
    make_sparse_regression,
)
from linrfm.methods import METHODS


def _problem(kind):
    if kind == "complete":
        return make_completion(20, 15, 2, 170, random_state=0).problem
    if kind == "sense":
        return make_sensing(8, 7, 1, 40, random_state=0).problem
    if kind == "regress":
        p = make_sparse_regression(30, 60, 4, random_state=0).problem
        return (p.X, p.y)
    return make_flat_problem("sensing", 6, 6, 2, 20, random_state=0).problem


# a few iterations of each: enough to checkpoint in the middle
BUDGET = {"flat_minimum": {"n_stages": 4}, "deep_mf": {"max_iter": 8}}
CASES = [(name, kind) for name, spec in METHODS.items() if spec.iterative for kind in spec.problems]


def _fit(spec, problem, **kw):
    # the trial's quantities a study would pass (rank, width, seed), then a small budget
    params = spec.study_kwargs(rank=2, width=3, random_state=0)
    params.update(BUDGET.get(spec.name, {"max_iter": 6}))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return spec(problem, **params, **kw)


def _output(res):
    return np.asarray(res.coef if hasattr(res, "coef") and res.coef.ndim == 1 else res.to_dense())


@pytest.mark.parametrize(("name", "kind"), CASES)
def test_runs_through_the_core_with_one_callback_signature(name, kind, monkeypatch):
    spec, problem = METHODS[name], _problem(kind)
    loops = []
    real = core._progress_bar
    monkeypatch.setattr(core, "_progress_bar", lambda *a: loops.append(a) or real(*a))
    calls = []

    def callback(it, info):
        calls.append(it)
        assert info["iteration"] == it and "result" in info
        assert all(np.isscalar(v) for k, v in info.items() if k != "result")

    res = _fit(spec, problem, callback=callback)
    assert len(loops) >= 1  # went through iterate (a path method runs it per stage)
    assert res.n_iter >= 1
    assert calls == list(range(1, len(calls) + 1)) and len(calls) >= 1
    if not name.startswith(("soft_impute", "flat_minimum")):
        # one loop of n_iter iterations: a callback per iteration, the last included
        assert len(loops) == 1 and len(calls) == res.n_iter


@pytest.mark.parametrize(("name", "kind"), CASES)
def test_resumes_from_a_checkpoint_to_the_same_result(name, kind):
    spec, problem = METHODS[name], _problem(kind)
    saved = []
    full = _fit(spec, problem, checkpoint=saved.append)
    assert saved, "the checkpoint hook was never called"
    mid = saved[len(saved) // 2]
    resumed = _fit(spec, problem, resume=mid)
    np.testing.assert_allclose(_output(resumed), _output(full), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("name", sorted({name for name, _ in CASES}))
def test_every_method_declares_the_loop_keywords_once(name):
    # the four come from linrfm.iteration.iterative: the same names, defaults and docs
    fn = METHODS[name].function
    params = inspect.signature(fn).parameters
    assert [params[k].default for k in core.LOOP_KEYWORDS] == [None, False, None, None]
    assert all(params[k].kind is inspect.Parameter.KEYWORD_ONLY for k in core.LOOP_KEYWORDS)
    assert "loop" not in params
    for k in core.LOOP_KEYWORDS:  # a parameter line of the docstring names it
        assert re.search(rf"^ +[\w, ]*\b{k}\b[\w, ]*( :|$)", fn.__doc__, re.M), k


@pytest.mark.parametrize("name", sorted({name for name, _ in CASES}))
@pytest.mark.parametrize(
    ("keyword", "value", "expected"),
    [
        ("callback", 3, "callable"),
        ("progress", "yes", "bool"),
        ("checkpoint", "file.ckpt", "callable"),
        ("resume", {"n_iter": 1}, "Checkpoint"),
    ],
)
def test_a_wrong_loop_keyword_is_named(name, keyword, value, expected):
    spec = METHODS[name]
    problem = _problem(spec.problems[0])
    with pytest.raises(TypeError, match=rf"'{keyword}' parameter must be .*{expected}"):
        _fit(spec, problem, **{keyword: value})


def test_progress_runs_every_method_with_a_bar(monkeypatch):
    # every iterative method takes progress=True (some lacked the keyword before the loop's
    # keywords were declared once) and it reaches the core's bar
    bars = []
    real = core._progress_bar
    monkeypatch.setattr(core, "_progress_bar", lambda p, *a: bars.append(p) or real(False, *a))
    for name, kind in CASES:
        bars.clear()
        _fit(METHODS[name], _problem(kind), progress=True)
        assert bars and all(bars), name
