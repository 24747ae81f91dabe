"""The study runner caches finished trials and resumes."""

import pytest

from linrfm.experiments._runner import read_rows, run_grid


def test_runs_each_trial_once_and_resumes(tmp_path):
    path = tmp_path / "out" / "study.csv"
    calls = []

    def run(p):
        calls.append(p["seed"])
        return {"error": p["seed"] * 0.5}

    trials = [{"method": "a", "seed": s} for s in range(3)]
    rows = run_grid(trials, run, path, progress=False)
    assert calls == [0, 1, 2]
    assert [float(r["error"]) for r in rows] == [0.0, 0.5, 1.0]
    # a larger grid re-runs only the new trials
    rows = run_grid(trials + [{"method": "a", "seed": 3}], run, path, progress=False)
    assert calls == [0, 1, 2, 3]
    assert len(rows) == 4 and len(read_rows(path)) == 4


def test_interrupted_study_keeps_finished_trials(tmp_path):
    path = tmp_path / "study.csv"

    def run(p):
        if p["seed"] == 1:
            raise KeyboardInterrupt
        return {"error": 1.0}

    with pytest.raises(KeyboardInterrupt):
        run_grid([{"seed": 0}, {"seed": 1}], run, path, progress=False)
    assert [r["seed"] for r in read_rows(path)] == ["0"]


def test_clear_errors(tmp_path):
    path = tmp_path / "study.csv"
    with pytest.raises(ValueError, match="repeat parameter names"):
        run_grid([{"seed": 0}], lambda p: {"seed": 1}, path, progress=False)
    run_grid([{"seed": 0}], lambda p: {"err": 1}, path, progress=False)
    with pytest.raises(ValueError, match="holds columns"):
        run_grid([{"seed": 1}], lambda p: {"other": 1}, path, progress=False)
    with pytest.raises(ValueError, match="not parameters"):
        run_grid([{"seed": 1}], lambda p: {}, path, keys=["n"], progress=False)


def test_a_torn_last_line_is_dropped_with_a_warning_and_rerun(tmp_path):
    """An interrupted append leaves a last line without its newline: it is not a result."""
    path = tmp_path / "s.csv"
    path.write_text("a,b,y\n1,2,3\n1,3,")  # the second trial was cut short
    calls = []

    def run(p):
        calls.append(p)
        return {"y": p["a"] + p["b"]}

    with pytest.warns(RuntimeWarning, match="cut short"):
        rows = run_grid([{"a": 1, "b": 2}, {"a": 1, "b": 3}], run, path, progress=False)
    assert calls == [{"a": 1, "b": 3}]
    assert [r["y"] for r in rows] == ["3", "4"]
    assert path.read_text().replace("\r\n", "\n") == "a,b,y\n1,2,3\n1,3,4\n"
    assert len(read_rows(path)) == 2
