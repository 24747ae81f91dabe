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
