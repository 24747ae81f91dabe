import csv

import numpy as np
import pytest

from linrfm.cli import main
from linrfm.experiments._phase_problems import check_kappas
from linrfm.experiments.phase import (
    GAUSSIAN,
    SKIPPED,
    coverage_limited_cells,
    n_measurements,
    planted,
    run_trial,
    thresholds,
)


def _rows(spec, kappa="gaussian"):
    rows = []
    for method, rho, seed, ok in spec:
        cov = rho == 1.0  # a property of the problem, the same for every method
        rows.append(
            {
                "problem": "completion",
                "n": "50",
                "rank": "2",
                "rho": repr(rho),
                "kappa": kappa,
                "seed": str(seed),
                "method": method,
                "success": str(ok),
                "coverage_limited": str(cov),
            }
        )
    return rows


def test_thresholds_need_success_at_every_larger_rho():
    spec = [("a", 1.0, s, s < 9) for s in range(10)]  # 90%
    spec += [("a", 1.5, s, s < 5) for s in range(10)]  # 50%: breaks the run
    spec += [("a", 2.0, s, True) for s in range(10)]
    spec += [("b", rho, s, False) for rho in (1.0, 1.5, 2.0) for s in range(10)]
    th = thresholds(_rows(spec))
    assert th[("completion", "a", 2, "gaussian")] == 2.0
    assert th[("completion", "b", 2, "gaussian")] is None
    cov = coverage_limited_cells(_rows(spec))
    assert list(cov) == [("completion", 2, 1.0)]


def test_cells_share_the_planted_problem_and_oversampling():
    P = planted("completion", 40, 2, 2.0, 0)
    assert P.problem.n_obs == n_measurements(40, 2, 2.0) == round(2.0 * 2 * 78)
    assert planted("completion", 40, 2, 2.0, 0) is P
    S = planted("sensing", 8, 2, 2.0, 1)
    assert S.problem.m == n_measurements(8, 2, 2.0)


def test_quick_study_runs_resumes_and_plots(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    out = tmp_path / "phase"
    assert main(["experiment", "phase", "--quick", "--out", str(out), "--no-progress"]) == 0
    text = capsys.readouterr().out
    assert "## completion" in text and "## sensing" in text
    with open(out / "phase_v3.csv") as fh:
        rows = list(csv.DictReader(fh))
    methods = {r["method"] for r in rows}
    assert {"lin-rfm-a0.5-two", "softimpute", "nuclear-norm", "deep-mf", "irls-p1"} <= methods
    assert "scaled-gd" in methods  # a column of the default study
    assert {r["kappa"] for r in rows} == {"gaussian"}  # no --kappa: the paper's generator
    assert all(r["rel_error"] for r in rows)
    # the two-sided lin-RFM solves the easy quick cells
    assert any(r["method"] == "lin-rfm-a0.5-two" and r["success"] == "True" for r in rows)
    assert (out / "phase_completion.png").stat().st_size > 0
    assert (out / "phase_sensing.png").stat().st_size > 0
    assert (out / "summary.md").read_text().startswith("# Phase transitions")
    # a re-run finds every trial cached
    n = len(rows)
    assert (
        main(["experiment", "phase", "--quick", "--out", str(out), "--no-plot", "--no-progress"])
        == 0
    )
    with open(out / "phase_v3.csv") as fh:
        assert len(list(csv.DictReader(fh))) == n


def test_coverage_limited_samples_are_recorded_not_run():
    # n = 40, rank 3, rho = 1: ~6 observations per line, some line has fewer than 3
    params = dict(problem="completion", n=40, rank=3, rho=1.0, seed=0, method="deep-mf")
    prob = planted("completion", 40, 3, 1.0, 0).problem
    assert min(prob.row_counts.min(), prob.col_counts.min()) < 3
    row = run_trial(params)
    assert row["coverage_limited"] and not row["success"]
    assert row["note"] == SKIPPED and row["n_iter"] == 0
    ran = run_trial({**params, "method": "lin-rfm-a0.5-two"}, run_limited=True)
    assert ran["coverage_limited"] and ran["n_iter"] > 0 and ran["note"] == ""
    # a sample every line of which has r observations runs
    ok = run_trial({**params, "rank": 1, "rho": 3.0, "method": "lin-rfm-a0.5-two"})
    assert not ok["coverage_limited"] and ok["n_iter"] > 0


def test_down_to_threshold_stops_below_the_first_failing_cell(tmp_path):
    from linrfm.experiments.phase import run_phase

    kw = dict(problems=["completion"], n=20, ranks=[2], seeds=2, make_plots=False)
    kw.update(methods=["lin-rfm-a0.5-two"], progress=False)
    rhos = [0.75, 1.0, 3.0, 4.0]  # 0.75 and 1.0: coverage-limited at n = 20
    rows, _ = run_phase(tmp_path / "a", rhos=rhos, down_to_threshold=True, **kw)
    ran = sorted({float(r["rho"]) for r in rows}, reverse=True)
    assert ran == [4.0, 3.0, 1.0][: len(ran)] and 0.75 not in ran
    by = {rho: [r["success"] == "True" for r in rows if float(r["rho"]) == rho] for rho in ran}
    assert all(len(v) == 2 for v in by.values())  # every seed of a cell
    assert all(sum(by[rho]) == 2 for rho in ran[:-1]) and sum(by[ran[-1]]) < 2
    full, _ = run_phase(tmp_path / "b", rhos=rhos, **kw)
    assert thresholds(rows) == thresholds(full)


def test_unknown_method_is_a_clear_error(tmp_path):
    with pytest.raises(SystemExit):
        main(["experiment", "phase", "--quick", "--out", str(tmp_path), "--methods", "svd"])


# --- the kappa axis (issue 16) --------------------------------------------------------


@pytest.mark.parametrize("value", ["0.5", "nan", "inf", "-3", "big"])
def test_kappa_values_below_one_or_not_finite_exit_2(value, tmp_path, capsys):
    argv = ["experiment", "phase", "--problems", "completion", "--out", str(tmp_path / "o")]
    with pytest.raises(SystemExit) as info:
        main([*argv, "--kappa", value, "--no-plot"])
    assert info.value.code == 2
    assert "argument --kappa" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_kappa_with_sensing_is_a_usage_error_before_any_trial(tmp_path, capsys):
    out = tmp_path / "o"
    argv = ["experiment", "phase", "--quick", "--kappa", "100", "--out", str(out)]
    with pytest.raises(SystemExit) as info:  # sensing is in the default --problems
        main([*argv, "--no-plot", "--no-progress"])
    assert info.value.code == 2 and "--kappa" in capsys.readouterr().err
    assert not out.exists()
    with pytest.raises(ValueError, match="kappa"):
        check_kappas([1e2, 0.9], ["completion"])
    assert check_kappas(None, ["sensing"]) == [GAUSSIAN]
    assert check_kappas([1e4, GAUSSIAN, 10, 1e4], ["completion"]) == [GAUSSIAN, 10.0, 1e4]


def test_kappa_sets_the_truths_condition_and_keeps_the_mask():
    base = planted("completion", 30, 3, 3.0, 0)
    P = planted("completion", 30, 3, 3.0, 0, 1e3)
    s = np.linalg.svd(P.dense_truth(), compute_uv=False)
    assert s[0] / s[2] == pytest.approx(1e3, rel=1e-8) and s[3] < 1e-12 * s[0]
    assert np.array_equal(P.problem.rows, base.problem.rows)
    assert np.array_equal(P.problem.cols, base.problem.cols)
    assert not np.allclose(P.problem.values, base.problem.values)
    with pytest.raises(ValueError, match="kappa"):
        planted("sensing", 8, 2, 2.0, 0, 10.0)


def test_err_sigma_r_is_the_error_in_units_of_the_smallest_singular_value():
    params = dict(problem="completion", n=30, rank=3, rho=3.0, kappa=1e3, seed=0)
    row = run_trial({**params, "method": "factorized-gd"})
    T = planted("completion", 30, 3, 3.0, 0, 1e3).dense_truth()
    s = np.linalg.svd(T, compute_uv=False)
    ratio = np.linalg.norm(T) / s[2]  # ~1e3 here: the two errors must differ by it
    assert row["err_sigma_r"] == pytest.approx(row["rel_error"] * ratio, rel=1e-10)
    assert row["success_sigma_r"] == (row["err_sigma_r"] <= 1e-3)
    assert row["success"] == (row["rel_error"] <= 1e-3)


def test_kappa_axis_is_cached_apart_and_reported_apart(tmp_path, monkeypatch):
    import linrfm.experiments.phase as phase

    out = tmp_path / "k"
    kw = dict(problems=["completion"], n=20, ranks=[2], rhos=[3.0], seeds=1, progress=False)
    kw.update(methods=["lin-rfm-a0.5-two", "scaled-gd"], make_plots=False)
    rows, summary = phase.run_phase(out, kappas=[1e2], **kw)
    assert {(r["kappa"], r["method"]) for r in rows} == {
        ("100.0", "lin-rfm-a0.5-two"),
        ("100.0", "scaled-gd"),
    }
    assert all(r["err_sigma_r"] and r["success_sigma_r"] in ("True", "False") for r in rows)
    assert "## completion, kappa = 100 (" in summary
    assert "## completion, Gaussian factors" not in summary
    # a re-run runs nothing; adding the Gaussian generator runs only its own trials
    ran = []
    real_trial = phase.run_trial
    monkeypatch.setattr(phase, "run_trial", lambda p, *a: ran.append(p) or real_trial(p, *a))
    again, _ = phase.run_phase(out, kappas=[1e2], **kw)
    assert ran == [] and again == rows
    both, summary = phase.run_phase(out, kappas=[1e2, GAUSSIAN], **kw)
    assert sorted(p["kappa"] for p in ran) == [GAUSSIAN, GAUSSIAN] and len(both) == 4
    assert "## completion, Gaussian factors" in summary
    th = thresholds(both)
    assert {k[3] for k in th} == {GAUSSIAN, 100.0}


def test_thresholds_never_pool_kappas():
    ok = [("a", rho, s, True) for rho in (2.0, 3.0) for s in range(5)]
    bad = [("a", rho, s, rho == 3.0) for rho in (2.0, 3.0) for s in range(5)]
    rows = _rows(ok) + _rows(bad, kappa="10000.0")
    th = thresholds(rows)
    assert th[("completion", "a", 2, "gaussian")] == 2.0
    assert th[("completion", "a", 2, 1e4)] == 3.0
    for r in rows:
        r["success_sigma_r"] = str(r["kappa"] == "gaussian")
    th_s = thresholds(rows, column="success_sigma_r")
    assert th_s[("completion", "a", 2, 1e4)] is None
