import json
import os
import subprocess
import sys

import pytest

from linrfm.cli import main


def test_demo_prints_a_table(capsys):
    assert main(["demo", "--n", "80", "--d", "60", "--rank", "2", "--n-obs", "800"]) == 0
    out = capsys.readouterr().out
    assert "rel. error" in out
    lines = [ln for ln in out.splitlines() if ln.strip().startswith(("0.5", "1 "))]
    assert len(lines) == 2
    for ln in lines:
        rel = float(ln.split()[2])
        assert rel < 1e-3


def test_demo_bad_argument_is_a_clean_error(capsys):
    with pytest.raises(SystemExit) as info:
        main(["demo", "--rank", "0"])
    assert info.value.code == 2
    assert "argument --rank: expected an integer >= 1; got '0'" in capsys.readouterr().err


def test_console_script_help():
    out = subprocess.run(
        [sys.executable, "-m", "linrfm.cli", "--help"], capture_output=True, text=True, check=True
    ).stdout
    assert "demo" in out


def test_python_dash_m_linrfm_runs_the_cli():
    done = subprocess.run(
        [sys.executable, "-m", "linrfm", "demo", "--rank", "0"], capture_output=True, text=True
    )
    assert done.returncode == 2
    assert "argument --rank" in done.stderr


# ------------------------------------------------------------ experiments: checked first
@pytest.mark.parametrize(
    "argv, message",
    [
        (["sparse", "--n-step", "0"], "argument --n-step: expected an integer >= 1; got '0'"),
        (["phase", "--rhos", "nan"], "argument --rhos: expected a finite number > 0; got 'nan'"),
        (["phase", "--ranks", "-2"], "argument --ranks: expected an integer >= 1; got '-2'"),
        (["flat", "--multiples", "-1"], "argument --multiples: expected a finite number > 0"),
        (["sparse", "--seeds", "0"], "argument --seeds: expected an integer >= 1; got '0'"),
        (["sparse", "--n-min", "50", "--n-max", "40"], "--n-min 50 is larger than --n-max 40"),
        (["flat", "--rank", "9", "--n", "4"], "--rank 9 is larger than --n 4"),
    ],
)
def test_experiment_arguments_are_checked_before_work(argv, message, tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        main(["experiment", *argv, "--out", str(tmp_path / "o"), "--no-plot"])
    err = capsys.readouterr().err
    assert info.value.code == 2 and message in err and "Traceback" not in err
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").iterdir())


@pytest.mark.parametrize("study", ["phase", "flat", "sparse"])
def test_experiment_out_that_is_a_file_is_refused_before_work(study, tmp_path, capsys):
    f = tmp_path / "taken"
    f.write_text("mine")
    with pytest.raises(SystemExit) as info:
        main(["experiment", study, "--quick", "--out", str(f), "--no-plot"])
    assert info.value.code == 2
    assert "--out" in capsys.readouterr().err and f.read_text() == "mine"


def test_quick_studies_write_outside_the_committed_results(tmp_path, monkeypatch, capsys):
    """From a clone, --quick used to append smoke rows to benchmarks/results/*/."""
    monkeypatch.chdir(tmp_path)
    committed = tmp_path / "benchmarks" / "results" / "phase"
    committed.mkdir(parents=True)
    (committed / "phase_v2.csv").write_text("problem,n\ncompletion,200\n")
    argv = ["experiment", "phase", "--quick", "--problems", "sensing", "--methods", "lin-rfm"]
    assert main([*argv, "--no-plot", "--no-progress", "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["out"] == os.path.join("linrfm-results", "phase-quick") and res["n_rows"] >= 1
    assert (tmp_path / "linrfm-results" / "phase-quick" / "phase_v3.csv").is_file()
    assert (committed / "phase_v2.csv").read_text() == "problem,n\ncompletion,200\n"
    # a quick run into a folder of full results is refused unless --force
    with pytest.raises(SystemExit) as info:
        main([*argv, "--no-plot", "--out", str(committed)])
    assert info.value.code == 2 and "--force" in capsys.readouterr().err
    # and a full run into a folder of quick results too
    with pytest.raises(SystemExit) as info:
        main(["experiment", "phase", "--out", "linrfm-results/phase-quick", "--no-plot"])
    assert info.value.code == 2


def test_demo_json(capsys):
    argv = ["demo", "--n", "40", "--d", "30", "--rank", "2", "--n-obs", "500", "--alpha", "1"]
    assert main([*argv, "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == 1 and rows[0]["alpha"] == 1.0 and rows[0]["rel_error"] < 1e-3


@pytest.mark.parametrize("argv", [["demo", "--n=--"], ["experiment", "phase", "--ranks=--"]])
def test_an_option_left_without_a_value_is_a_usage_error(argv, capsys):
    # found by the long battery: argparse strips "--" and handed the command an empty list
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "expected a value" in err and "Traceback" not in err
