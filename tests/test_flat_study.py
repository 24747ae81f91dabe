"""``linrfm experiment flat --quick`` end to end, and the summary it reports."""

import csv
import os

import pytest

from linrfm.cli import main
from linrfm.experiments.flat import build_trials, format_summary, summarize


def test_quick_study_writes_csv_summary_and_plots_and_resumes(tmp_path, capsys):
    out = str(tmp_path / "flat")
    args = ["experiment", "flat", "--quick", "--out", out, "--no-progress"]
    assert main(args) == 0
    with open(os.path.join(out, "flat.csv")) as fh:
        rows = list(csv.DictReader(fh))
    kinds = {r["kind"] for r in rows}
    assert kinds == {"sensing", "completion", "bilinear", "robust", "quadratic"}
    # softimpute only where it applies; lin-RFM always present on completion
    assert {r["kind"] for r in rows if r["method"] == "softimpute"} == {"completion"}
    assert {r["kind"] for r in rows if r["method"] == "nuclear"} == {
        "sensing",
        "bilinear",
        "quadratic",
    }
    # lin-RFM for sensing is wired in: it runs on every class but the corrupted one
    assert {r["kind"] for r in rows if r["method"] == "linrfm"} == kinds - {"robust"}
    done = [r for r in rows if r["kind"] == "completion" and r["method"] == "linrfm"]
    assert done and float(done[0]["rel_err"]) >= 0
    flat = [r for r in rows if r["method"] == "flat" and r["kind"] == "sensing"]
    assert float(flat[0]["rel_err"]) < 1e-3  # 3x the degrees of freedom: recovered
    for kind in kinds:
        assert os.path.exists(os.path.join(out, f"flat_{kind}.png"))
    assert "| sensing | flat |" in capsys.readouterr().out
    # a second call finds every trial cached and appends nothing
    assert main(args + ["--no-plot"]) == 0
    with open(os.path.join(out, "flat.csv")) as fh:
        assert len(list(csv.DictReader(fh))) == len(rows)
    # --summary-only reads the CSV and runs nothing, even for a larger grid
    os.remove(os.path.join(out, "flat_summary.md"))
    assert main(args[:2] + ["--out", out, "--summary-only", "--no-plot"]) == 0
    with open(os.path.join(out, "flat.csv")) as fh:
        assert len(list(csv.DictReader(fh))) == len(rows)
    assert os.path.exists(os.path.join(out, "flat_summary.md"))
    capsys.readouterr()
    with pytest.raises(SystemExit) as exc:
        main(args[:2] + ["--out", str(tmp_path / "empty"), "--summary-only"])
    assert exc.value.code == 2
    assert "no finished runs" in capsys.readouterr().err


def test_summary_smallest_success_multiple():
    rows = []
    for mult, errs in [(1, [1.0, 1.0]), (2, [1e-4, 0.5]), (3, [1e-5, 1e-6])]:
        for seed, e in enumerate(errs):
            rows.append(
                {
                    "kind": "sensing",
                    "method": "flat",
                    "mult": str(mult),
                    "seed": str(seed),
                    "rel_err": str(e),
                    "trace": "2.0",
                }
            )
    (s,) = summarize(rows)
    assert s["min_mult"] == 3.0 and s["n_seeds"] == 2 and s["success_at_3x"] == 1.0
    assert "3x" in format_summary([s])


def test_compare_traces_counts_only_interpolants():
    from linrfm.experiments.flat import compare_traces

    def row(method, trace, fit, seed="0"):
        return {
            "kind": "sensing",
            "mult": "3",
            "seed": seed,
            "method": method,
            "rel_err": "0.1",
            "trace": str(trace),
            "fit": str(fit),
        }

    rows = [
        row("flat", 2.0, 1e-9),
        row("gd_large", 5.0, 1e-9),
        row("gd_small", 1.0, 0.5),  # smaller trace but not an interpolant: ignored
        row("flat", 3.0, 1e-9, seed="1"),
        row("gd_small", 2.5, 1e-9, seed="1"),
    ]
    (c,) = compare_traces(rows)
    assert c["cases"] == 2 and c["flat_smallest"] == 1
    assert c["min_ratio"] == 2.5 / 3.0


def test_integral_multiples_from_the_command_line_hit_the_cache():
    # argparse gives floats; the default grid is ints: both must name the same trials
    a = build_trials(["sensing"], (1.0, 2.5), 2, ["flat"], 8, 1)
    b = build_trials(["sensing"], (1, 2.5), 2, ["flat"], 8, 1)
    assert a == b
    assert {str(t["mult"]) for t in a} == {"1", "2.5"}
