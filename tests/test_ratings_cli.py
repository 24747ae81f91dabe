"""`linrfm complete` and `linrfm evaluate` on a tiny generated ratings file."""

import json
import sys

import numpy as np
import pytest

pd = pytest.importorskip("pandas")

from linrfm.cli import main  # noqa: E402


@pytest.fixture
def ratings_file(tmp_path):
    rng = np.random.default_rng(0)
    n, d = 25, 15
    Y = 3 + rng.standard_normal((n, 2)) @ rng.standard_normal((2, d))
    rows, cols = np.nonzero(rng.random((n, d)) < 0.6)
    df = pd.DataFrame(
        {
            "user": [f"user-{i}" for i in rows],
            "movie": [f"m{j:03d}" for j in cols],
            "stars": np.round(Y[rows, cols] + 0.2 * rng.standard_normal(rows.size), 1),
        }
    )
    path = tmp_path / "ratings.csv"
    df.to_csv(path, index=False)
    pairs = pd.DataFrame(
        {
            "user": ["user-3", "user-0", "user-3", "user-24"],
            "movie": ["m014", "m002", "m000", "m007"],
        }
    )
    pairs.to_csv(tmp_path / "pairs.csv", index=False)
    return path


ARGS = ["--row", "user", "--col", "movie", "--value", "stars"]


def test_complete_writes_predictions_in_the_pairs_order(ratings_file, tmp_path, capsys):
    out = tmp_path / "pred.csv"
    argv = ["complete", str(ratings_file), *ARGS, "--pairs", str(tmp_path / "pairs.csv")]
    assert main([*argv, "--out", str(out), "--save-model", str(tmp_path / "m.npz")]) == 0
    assert "read" in capsys.readouterr().err
    got = pd.read_csv(out)
    pairs = pd.read_csv(tmp_path / "pairs.csv")
    assert list(got.columns) == ["user", "movie", "prediction"]
    assert got[["user", "movie"]].equals(pairs)
    stars = pd.read_csv(ratings_file)["stars"]
    assert got["prediction"].between(stars.min(), stars.max()).all()

    # the saved model predicts the same, without the ratings file
    out2 = tmp_path / "pred2.csv"
    argv2 = ["complete", "--model", str(tmp_path / "m.npz"), "--pairs", str(tmp_path / "pairs.csv")]
    assert main([*argv2, "--out", str(out2)]) == 0
    # (the model file keeps its large arrays in float32: within 1e-5 stars)
    np.testing.assert_allclose(pd.read_csv(out2)["prediction"], got["prediction"], atol=1e-5)


def test_complete_to_stdout_and_json_summary(ratings_file, tmp_path, capsys):
    pairs = str(tmp_path / "pairs.csv")
    assert main(["complete", str(ratings_file), *ARGS, "--pairs", pairs]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0] == "user,movie,prediction" and len(lines) == 5
    out = str(tmp_path / "p.tsv")
    assert (
        main(["complete", str(ratings_file), *ARGS, "--pairs", pairs, "--out", out, "--json"]) == 0
    )
    summary = json.loads(capsys.readouterr().out)
    assert summary["n_pairs"] == 4 and "lam" in summary["chosen"]
    assert list(pd.read_csv(out, sep="\t").columns) == ["user", "movie", "prediction"]


def test_evaluate_json(ratings_file, capsys):
    argv = ["evaluate", str(ratings_file), *ARGS, "--folds", "3", "--json"]
    assert main(argv) == 0
    res = json.loads(capsys.readouterr().out)
    assert [s["method"] for s in res["summary"]] == ["linrfm", "softimpute"]
    assert res["split"]["folds"] == 3 and len(res["runs"]) == 6
    assert all(r["rmse"] > 0 and r["mae"] > 0 for r in res["runs"])


def test_evaluate_table(ratings_file, capsys):
    assert main(["evaluate", str(ratings_file), *ARGS, "--folds", "2", "--methods", "linrfm"]) == 0
    out = capsys.readouterr().out
    assert "2-fold cross-validation" in out and "RMSE" in out
    assert out.strip().splitlines()[-1].split()[0] == "linrfm"


@pytest.mark.parametrize(
    "case, message",
    [
        ("missing column", "Column(s) ['rating'] not found"),
        ("unknown id", "1 row id(s) in 'user' were not seen"),
        ("no pairs", "nothing to do"),
    ],
)
def test_complete_errors_are_clean(ratings_file, tmp_path, capsys, case, message):
    bad = tmp_path / "bad.csv"
    pd.DataFrame({"user": ["nobody"], "movie": ["m000"]}).to_csv(bad, index=False)
    argv = ["complete", str(ratings_file), *ARGS]
    if case == "missing column":
        argv = [*argv[:-1], "rating", "--pairs", str(bad)]
    elif case == "unknown id":
        argv += ["--pairs", str(bad), "--out", str(tmp_path / "o.csv")]
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    assert message in capsys.readouterr().err


def test_unknown_ids_bias_fallback(ratings_file, tmp_path):
    pd.DataFrame({"user": ["nobody"], "movie": ["m000"]}).to_csv(tmp_path / "bad.csv", index=False)
    out = tmp_path / "o.csv"
    argv = ["complete", str(ratings_file), *ARGS, "--pairs", str(tmp_path / "bad.csv")]
    assert main([*argv, "--out", str(out), "--unknown", "bias"]) == 0
    assert np.isfinite(pd.read_csv(out)["prediction"]).all()


def test_help_reads_well(capsys):
    with pytest.raises(SystemExit):
        main(["complete", "--help"])
    out = capsys.readouterr().out
    assert "--pairs" in out and "example: linrfm complete ratings.csv" in out


# ---------------------------------------------------------------- checked before any fit
@pytest.fixture
def no_fit(monkeypatch):
    """Any fit fails the test: the checks must stop the command first."""
    from linrfm.ratings import RatingsCompleter

    def fit(self, *a, **k):
        raise AssertionError("the fit started")

    monkeypatch.setattr(RatingsCompleter, "fit", fit)


def _usage_error(argv, capsys):
    with pytest.raises(SystemExit) as info:
        main(argv)
    err = capsys.readouterr().err
    assert info.value.code == 2, err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    return err


def _pairs(tmp_path, name="bad.csv", sep=",", **cols):
    path = tmp_path / name
    pd.DataFrame(cols or {"user": ["user-0"], "movie": ["m000"]}).to_csv(path, index=False, sep=sep)
    return str(path)


@pytest.mark.parametrize(
    "case, message",
    [
        ("unknown id", "--pairs "),
        ("wrong columns", "Column(s) ['user', 'movie'] not found"),
        ("missing pairs file", "--pairs nowhere.csv: no such file"),
        ("xlsx", "--out o.xlsx: unknown extension '.xlsx'"),
        ("out is a folder", ": is a folder"),
        ("out in a missing folder", "does not exist"),
        ("wrong --sep", "The header holds ','"),
        ("save-model in a missing folder", "--save-model"),
        ("checkpoint with softimpute", "--checkpoint needs --method linrfm"),
    ],
)
def test_complete_checks_inputs_and_outputs_before_fitting(
    ratings_file, tmp_path, capsys, no_fit, monkeypatch, case, message
):
    monkeypatch.chdir(tmp_path)
    argv = ["complete", str(ratings_file), *ARGS]
    pairs = _pairs(tmp_path, "pairs_ok.csv")
    extra = {
        "unknown id": ["--pairs", _pairs(tmp_path, "u.csv", user=["nobody"], movie=["m000"])],
        "wrong columns": ["--pairs", _pairs(tmp_path, "w.csv", u=["user-0"], m=["m000"])],
        "missing pairs file": ["--pairs", "nowhere.csv"],
        "xlsx": ["--pairs", pairs, "--out", "o.xlsx"],
        "out is a folder": ["--pairs", pairs, "--out", str(tmp_path)],
        "out in a missing folder": ["--pairs", pairs, "--out", "no/such/dir/o.csv"],
        "wrong --sep": ["--pairs", pairs, "--sep", ";"],
        "save-model in a missing folder": ["--save-model", "no/such/m.npz"],
        "checkpoint with softimpute": [
            "--pairs",
            pairs,
            "--method",
            "softimpute",
            "--checkpoint",
            "ck",
        ],
    }[case]
    assert message in _usage_error([*argv, *extra], capsys)


def test_parquet_output_without_pyarrow_is_refused_before_fitting(
    ratings_file, tmp_path, capsys, no_fit, monkeypatch
):
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    monkeypatch.setitem(sys.modules, "fastparquet", None)
    pairs = _pairs(tmp_path, "pairs_ok.csv")
    argv = [
        "complete",
        str(ratings_file),
        *ARGS,
        "--pairs",
        pairs,
        "--out",
        str(tmp_path / "o.parquet"),
    ]
    assert "writing parquet needs pyarrow" in _usage_error(argv, capsys)


def test_json_without_out_prints_the_predictions(ratings_file, tmp_path, capsys):
    pairs = str(tmp_path / "pairs.csv")
    assert main(["complete", str(ratings_file), *ARGS, "--pairs", pairs, "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert [p["user"] for p in res["predictions"]] == ["user-3", "user-0", "user-3", "user-24"]
    assert all(np.isfinite(p["prediction"]) for p in res["predictions"])


def test_a_failure_while_working_exits_1_with_one_line(ratings_file, tmp_path, capsys, monkeypatch):
    from linrfm.ratings import RatingsCompleter

    def fit(self, *a, **k):
        raise RuntimeError("the solver broke\nin two lines")

    monkeypatch.setattr(RatingsCompleter, "fit", fit)
    argv = ["complete", str(ratings_file), *ARGS, "--pairs", str(tmp_path / "pairs.csv")]
    with pytest.raises(SystemExit) as info:
        main(argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert info.value.code == 1
    assert err[-1] == "linrfm complete: error: the solver broke in two lines"
    with pytest.raises(RuntimeError, match="the solver broke"):  # --debug: the traceback
        main([*argv, "--debug"])


@pytest.mark.parametrize("stop_after", [1, 4, 7])  # saves, across stages and within them
def test_checkpoint_resume_equals_an_uninterrupted_fit(
    ratings_file, tmp_path, monkeypatch, capsys, stop_after
):
    from linrfm._checkpoints import CheckpointDir

    pairs = str(tmp_path / "pairs.csv")
    argv = ["complete", str(ratings_file), *ARGS, "--pairs", pairs, "--checkpoint-every", "2"]
    assert main([*argv, "--out", str(tmp_path / "plain.csv")]) == 0

    saves, real_save = [], CheckpointDir._save

    def save_then_stop(self, path, record):
        real_save(self, path, record)
        saves.append(path)
        if len(saves) == stop_after:
            raise KeyboardInterrupt

    monkeypatch.setattr(CheckpointDir, "_save", save_then_stop)
    ck = str(tmp_path / "ck")
    with pytest.raises(SystemExit) as info:
        main([*argv, "--checkpoint", ck, "--out", str(tmp_path / "resumed.csv")])
    assert info.value.code == 130 and not (tmp_path / "resumed.csv").exists()
    assert f"run it again to resume from {ck}" in capsys.readouterr().err
    monkeypatch.setattr(CheckpointDir, "_save", real_save)
    assert main([*argv, "--checkpoint", ck, "--out", str(tmp_path / "resumed.csv")]) == 0
    plain = pd.read_csv(tmp_path / "plain.csv")["prediction"]
    np.testing.assert_array_equal(pd.read_csv(tmp_path / "resumed.csv")["prediction"], plain)
    # another fit (other settings) refuses the folder
    with pytest.raises(SystemExit) as info:
        main([*argv, "--checkpoint", ck, "--seed", "3"])
    assert info.value.code == 2


@pytest.mark.parametrize("damage", ["truncated", "flipped byte"])
def test_a_damaged_model_file_is_a_clear_error(ratings_file, tmp_path, capsys, damage):
    """A truncated model used to give only "error: 'row_ids'"."""
    model = tmp_path / "m.npz"
    assert main(["complete", str(ratings_file), *ARGS, "--save-model", str(model), "--json"]) == 0
    data = bytearray(model.read_bytes())
    if damage == "truncated":
        data = data[: len(data) // 2]
    else:
        data[len(data) // 3] ^= 0xFF
    model.write_bytes(bytes(data))
    capsys.readouterr()
    argv = ["complete", "--model", str(model), "--pairs", str(tmp_path / "pairs.csv")]
    assert f"{model}" in _usage_error(argv, capsys)
