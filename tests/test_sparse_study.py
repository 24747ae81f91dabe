"""``linrfm experiment sparse``: the --quick smoke test, resume, and the threshold rule."""

import csv
import os

import pytest

from linrfm.cli import main
from linrfm.experiments.sparse import METHODS, run_study, thresholds


def test_quick_study_writes_csv_plot_and_thresholds(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    out = str(tmp_path / "s")
    assert main(["experiment", "sparse", "--quick", "--out", out, "--no-progress"]) == 0
    with open(os.path.join(out, "sparse.csv")) as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 3 * 2 * len(METHODS)  # n in {20, 40, 60}, 2 seeds
    assert {r["method"] for r in rows} == set(METHODS)
    for r in rows:
        assert int(r["success"]) == (float(r["rel_error"]) <= 1e-3)
    assert os.path.getsize(os.path.join(out, "sparse.png")) > 1000
    with open(os.path.join(out, "sparse_thresholds.csv"), newline="") as fh:
        table = list(csv.DictReader(fh))
    thr = {r["method"]: r["n_90"] for r in table}
    assert {r["method"]: r["label"] for r in table} == {m: METHODS[m].label for m in METHODS}
    # d = 100, k = 5: lin-RFM alpha = 1/2 recovers from n = 40 at the latest (any seed:
    # the planted problems are fixed by (seed, n, d, k))
    assert thr["rfm-0.5"] in {"20", "40"}
    printed = capsys.readouterr().out
    assert "lin-RFM a=1/2" in printed and "66 runs" in printed
    # resuming runs nothing new and keeps the file
    before = open(os.path.join(out, "sparse.csv")).read()
    main(["experiment", "sparse", "--quick", "--out", out, "--no-progress", "--no-plot"])
    assert open(os.path.join(out, "sparse.csv")).read() == before


def test_threshold_rule():
    rows = [
        {"method": m, "n": n, "success": s}
        for m, table in {
            "a": {10: [0, 0], 20: [1, 1], 30: [1, 0], 40: [1, 1]},
            "b": {10: [1, 1], 20: [1, 1], 30: [1, 1], 40: [1, 1]},
            "c": {10: [0, 0], 20: [0, 1], 30: [0, 0], 40: [1, 0]},
        }.items()
        for n, succ in table.items()
        for s in succ
    ]
    assert thresholds(rows, ["a", "b", "c"]) == {"a": 40, "b": 10, "c": None}


def test_unknown_method_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="unknown method"):
        run_study(methods=["ridge"], out=str(tmp_path), run=False)
