"""`linrfm complete` as complete as the API: model settings as flags, --top-n, --fold-in,
--json on every command, a sniffed separator."""

import argparse
import io
import json

import numpy as np
import pytest

pd = pytest.importorskip("pandas")

import test_ratings_cli as base  # noqa: E402
from linrfm._cli_args import byte_size  # noqa: E402
from linrfm._cli_fit import available  # noqa: E402
from linrfm.cli import build_parser, main  # noqa: E402
from linrfm.ratings import RatingsCompleter  # noqa: E402

# the ratings file and the no-fit guard of test_ratings_cli
ratings_file, no_fit, ARGS = base.ratings_file, base.no_fit, base.ARGS


def _usage_error(argv, capsys):
    """The last line of the error of ``main(argv)``, which must exit 2 without a traceback
    (argparse's own errors print the usage first)."""
    with pytest.raises(SystemExit) as info:
        main(argv)
    err = capsys.readouterr().err
    assert info.value.code == 2 and "Traceback" not in err, err
    last = err.strip().splitlines()[-1]
    assert last.startswith("linrfm complete: error: "), err
    return last


# a valid value of each flag that FLAGS may offer: (what is typed, what the estimator gets)
EXAMPLES = {
    "alpha": (["--alpha", "0.75"], 0.75),
    "variant": (["--variant", "one-sided"], "one-sided"),
    "lams": (["--lams", "2", "5"], [2.0, 5.0]),
    "max_iter": (["--max-iter", "3"], 3),
    "kernel_side": (["--kernel-side", "row"], "row"),
    "cooccurrence": (["--cooccurrence", "0.5", "0.7"], [0.5, 0.7]),
    "refit": (["--refit", "warm"], "warm"),
    "dtype": (["--dtype", "float32"], "float32"),
    "n_lams": (["--n-lams", "4"], 4),
    "lam_ratio": (["--lam-ratio", "0.5"], 0.5),
    "biases": (["--biases", "global"], "global"),
    "bias_reg": (["--bias-reg", "2.5"], 2.5),
    "clip": (["--no-clip"], False),
    "val_fraction": (["--val-fraction", "0.2"], 0.2),
    "memory_limit": (["--memory-limit", "1GiB"], 2**30),
    "kernel_rank": (["--kernel-rank", "16"], 16),
}
# an invalid value of each flag with a bounded type or a set of choices, and the message
BAD = {
    "alpha": (["--alpha", "0"], "argument --alpha: expected a finite number > 0; got '0'"),
    "variant": (["--variant", "both"], "argument --variant: invalid choice: 'both'"),
    "lams": (["--lams", "1", "-1"], "argument --lams: expected a finite number >= 0"),
    "max_iter": (["--max-iter", "0"], "argument --max-iter: expected an integer >= 1"),
    "kernel_side": (["--kernel-side", "up"], "argument --kernel-side: invalid choice"),
    "cooccurrence": (["--cooccurrence", "-0.5"], "argument --cooccurrence"),
    "refit": (["--refit", "twice"], "argument --refit: invalid choice"),
    "dtype": (["--dtype", "float16"], "argument --dtype: invalid choice"),
    "n_lams": (["--n-lams", "0"], "argument --n-lams"),
    "lam_ratio": (["--lam-ratio", "1.5"], "argument --lam-ratio"),
    "biases": (["--biases", "rows"], "argument --biases: invalid choice"),
    "bias_reg": (["--bias-reg", "-1"], "argument --bias-reg"),
    # in argparse's bounds, out of the estimator's: its own check, naming the flag
    "val_fraction": (["--val-fraction", "1"], "--val-fraction 1: The 'val_fraction' parameter"),
    "memory_limit": (["--memory-limit", "0"], "argument --memory-limit"),
    "kernel_rank": (["--kernel-rank", "0"], "argument --kernel-rank: expected 'auto' or an"),
}


def _method(flag):
    return ["--method", flag.methods[0]] if flag.methods else []


def test_every_flag_has_an_example_and_a_bad_value():
    flags = available()
    assert {"alpha", "lams", "max_iter", "clip", "val_fraction"} <= {f.param for f in flags}
    assert {f.param for f in flags} <= set(EXAMPLES)
    assert {f.param for f in flags if f.kind not in (bool, str)} <= set(BAD)


def test_every_estimator_parameter_is_on_the_command_line():
    """As complete as the API: a new RatingsCompleter parameter needs a row in
    linrfm._cli_fit.FLAGS (and an example above)."""
    elsewhere = {"method": "--method", "random_state": "--seed", "client": "--scheduler"}
    flagged = {f.param for f in available()} | set(elsewhere) | {"progress"}  # not --json
    assert set(RatingsCompleter().get_params()) - flagged == set()
    options = build_parser()._subparsers._group_actions[0].choices["complete"]
    assert set(elsewhere.values()) <= set(options._option_string_actions)


@pytest.mark.parametrize("flag", available(), ids=lambda f: f.option)
def test_each_flag_reaches_the_estimator(ratings_file, monkeypatch, flag):
    seen = []

    def fit(self, *a, **k):
        seen.append(self.get_params())
        raise KeyboardInterrupt  # stop here: exit status 130

    monkeypatch.setattr(RatingsCompleter, "fit", fit)
    typed, expected = EXAMPLES[flag.param]
    argv = ["complete", str(ratings_file), *ARGS, "--top-n", "2", *_method(flag), *typed]
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 130 and len(seen) == 1
    defaults = RatingsCompleter().get_params()
    changed = {k: v for k, v in seen[0].items() if k not in ("progress", "method")}
    assert changed.pop(flag.param) == expected
    assert changed == {k: v for k, v in defaults.items() if k in changed}


def test_flags_reach_the_saved_model_and_the_json_summary(ratings_file, tmp_path, capsys):
    model = tmp_path / "m.npz"
    params = ["alpha", "lams", "max_iter", "biases", "bias_reg", "clip", "val_fraction"]
    typed = [t for p in params for t in EXAMPLES[p][0]]
    argv = ["complete", str(ratings_file), *ARGS, *typed, "--save-model", str(model), "--json"]
    assert main(argv) == 0
    summary = json.loads(capsys.readouterr().out)
    loaded = RatingsCompleter.load(model).get_params()
    for p in params:
        assert summary["params"][p] == EXAMPLES[p][1], p
        assert loaded[p] == EXAMPLES[p][1], p
    assert summary["chosen"]["lam"] in (2.0, 5.0) and summary["chosen"]["n_iter"] <= 3

    argv = ["complete", str(ratings_file), *ARGS, "--method", "softimpute", "--top-n", "1"]
    assert main([*argv, "--n-lams", "3", "--lam-ratio", "0.5", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["params"]["n_lams"] == 3 and summary["chosen"]["path_index"] < 3


@pytest.mark.parametrize("param", sorted(BAD))
def test_a_bad_flag_value_fails_before_any_fit(ratings_file, capsys, no_fit, param):
    flag = {f.param: f for f in available()}.get(param)
    assert flag is not None, f"RatingsCompleter has no {param!r} parameter"
    typed, message = BAD[param]
    argv = ["complete", str(ratings_file), *ARGS, "--top-n", "2", *_method(flag), *typed]
    assert message in _usage_error(argv, capsys)


@pytest.fixture
def new_users(tmp_path):
    """Ratings of two users the model has not seen, on fitted movies."""
    path = tmp_path / "new.csv"
    pd.DataFrame(
        {
            "user": ["newbie"] * 3 + ["second"] * 2,
            "movie": ["m000", "m001", "m002", "m003", "m004"],
            "stars": [4.5, 3.0, 2.0, 1.5, 5.0],
        }
    ).to_csv(path, index=False)
    return str(path)


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--top-n", "1", "--n-lams", "3"], "--n-lams is a setting of --method softimpute"),
        (
            ["--top-n", "1", "--method", "softimpute", "--alpha", "1"],
            "--alpha is a setting of --method linrfm",
        ),
        (
            ["--top-n", "1", "--variant", "two-sided", "--scheduler", "tcp://127.0.0.1:9"],
            "--variant with --scheduler",
        ),  # fmt: skip
        (["--top-n", "0"], "argument --top-n: expected an integer >= 1"),
        (["--top-n", "2", "--pairs", "p.csv"], "--pairs FILE or --top-n K, not both"),
        (["--save-model", "m.npz", "--out", "o.csv"], "--out needs --pairs FILE"),
        (["--save-model", "m.npz", "--fold-in", "NEW"], "--fold-in needs --pairs FILE or --top-n"),
        (["--top-n", "2", "--fold-in", "NEW", "--method", "softimpute"], "needs a lin-RFM model"),
        (["--top-n", "2", "--fold-in", "nowhere.csv"], "--fold-in nowhere.csv: no such file"),
        (["--top-n", "2", "--fold-in", "RATINGS"], "row id(s) in 'user' are already in the model"),
        (["--top-n", "2", "--fold-in", "UNKNOWN_MOVIE"], "column id(s) in 'movie' are not in"),
        (["--top-n", "2", "--fold-in", "NO_STARS"], "Column(s) ['stars'] not found"),
        (["--pairs", "NEW_PAIRS", "--fold-in", "NEW", "--unknown", "bias"], "name columns not in"),
    ],
)
def test_top_n_and_fold_in_checked_before_any_fit(
    ratings_file, new_users, tmp_path, capsys, no_fit, monkeypatch, extra, message
):
    monkeypatch.chdir(tmp_path)
    pd.DataFrame({"user": ["x"], "movie": ["m999"], "stars": [1.0]}).to_csv("u.csv", index=False)
    pd.DataFrame({"user": ["x"], "movie": ["m000"]}).to_csv("s.csv", index=False)
    pd.DataFrame({"user": ["newbie"], "movie": ["m999"]}).to_csv("np.csv", index=False)
    files = {"NEW": new_users, "RATINGS": str(ratings_file), "UNKNOWN_MOVIE": "u.csv"}
    files.update(NO_STARS="s.csv", NEW_PAIRS="np.csv")
    extra = [files.get(x, x) for x in extra]
    assert message in _usage_error(["complete", str(ratings_file), *ARGS, *extra], capsys)


def test_fold_in_flags_with_a_saved_model_are_refused(tmp_path, capsys):
    argv = ["complete", "--model", str(tmp_path / "m.npz"), "--top-n", "2", "--alpha", "1"]
    assert "--alpha is a fit setting; --model loads a fitted model" in _usage_error(argv, capsys)


@pytest.fixture
def fitted(ratings_file, tmp_path):
    """A model saved by `linrfm complete`, and the estimator it loads as."""
    path = tmp_path / "m.npz"
    assert main(["complete", str(ratings_file), *ARGS, "--save-model", str(path), "--json"]) == 0
    return str(path), RatingsCompleter.load(path)


def test_top_n_is_recommend_and_the_best_unseen_columns(ratings_file, fitted, tmp_path, capsys):
    path, model = fitted
    out = tmp_path / "top.csv"
    assert main(["complete", "--model", path, "--top-n", "3", "--out", str(out)]) == 0
    got = pd.read_csv(out)
    want = model.recommend(model.row_ids_, k=3)
    assert list(got.columns) == ["user", "movie", "score", "rank"]
    pd.testing.assert_frame_equal(got, want, check_dtype=False, rtol=1e-12)
    # independently of recommend: unseen, and no unseen column scores above the last one
    ratings = pd.read_csv(ratings_file)
    rated = set(zip(ratings["user"], ratings["movie"]))
    assert not rated & set(zip(got["user"], got["movie"]))
    for user, top in got.groupby("user"):
        assert list(top["rank"]) == [1, 2, 3]
        unseen = [m for m in model.col_ids_ if (user, m) not in rated]
        scores = np.sort(model.predict([user] * len(unseen), unseen))[::-1]
        np.testing.assert_allclose(top["score"], scores[:3], rtol=1e-12)


def test_fold_in_top_n_and_pairs_match_the_api(fitted, new_users, tmp_path, capsys):
    path, model = fitted
    capsys.readouterr()
    assert (
        main(["complete", "--model", path, "--fold-in", new_users, "--top-n", "4", "--json"]) == 0
    )
    summary = json.loads(capsys.readouterr().out)
    got = pd.DataFrame(summary["recommendations"])
    assert summary["n_new_rows"] == 2 and set(got["user"]) == {"newbie", "second"}
    new = pd.read_csv(new_users)
    for user, rated in new.groupby("user"):
        scores = pd.Series(model.predict_new_row(rated["movie"], rated["stars"]), model.col_ids_)
        best = scores.drop(rated["movie"]).sort_values(ascending=False, kind="stable")[:4]
        top = got[got["user"] == user]
        assert list(top["movie"]) == list(best.index) and list(top["rank"]) == [1, 2, 3, 4]
        np.testing.assert_allclose(top["score"], best.to_numpy(), rtol=1e-12)

    pairs = tmp_path / "pairs.csv"
    pd.DataFrame({"user": ["newbie", "user-0"], "movie": ["m005", "m003"]}).to_csv(
        pairs, index=False
    )
    assert main(["complete", "--model", path, "--fold-in", new_users, "--pairs", str(pairs)]) == 0
    got = pd.read_csv(io.StringIO(capsys.readouterr().out))
    rated = new[new["user"] == "newbie"]
    want = [
        model.predict_new_row(rated["movie"], rated["stars"], ["m005"])[0],
        model.predict("user-0", "m003"),
    ]
    np.testing.assert_allclose(got["prediction"], want, rtol=1e-12)


def _commands(parser, prefix=()):
    """argv prefixes of every leaf command, and its parser."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _commands(sub, (*prefix, name))
            return
    yield prefix, parser


def test_every_command_takes_json():
    leaves = list(_commands(build_parser()))
    assert len(leaves) >= 6
    for prefix, parser in leaves:
        assert "--json" in parser._option_string_actions, prefix


@pytest.mark.parametrize(
    "argv",
    [
        ["demo", "--n", "30", "--d", "20", "--rank", "2", "--n-obs", "300", "--alpha", "1"],
        ["evaluate", "RATINGS", *ARGS, "--folds", "2", "--methods", "softimpute"],
        ["complete", "RATINGS", *ARGS, "--top-n", "1"],
        [
            "experiment",
            "sparse",
            "--d",
            "30",
            "--k",
            "2",
            "--n-min",
            "20",
            "--n-max",
            "20",
            "--seeds",
            "1",
            "--methods",
            "omp",
            "--no-plot",
            "--out",
            "OUT",
        ],
        [
            "experiment",
            "phase",
            "--quick",
            "--problems",
            "sensing",
            "--methods",
            "lin-rfm",
            "--no-plot",
            "--out",
            "OUT",
        ],
        [
            "experiment",
            "flat",
            "--quick",
            "--classes",
            "sensing",
            "--methods",
            "linrfm",
            "--seeds",
            "1",
            "--multiples",
            "2",
            "--no-plot",
            "--out",
            "OUT",
        ],
    ],  # fmt: skip
    ids=lambda a: " ".join(a[:2]),
)
def test_json_is_the_only_standard_output(ratings_file, tmp_path, capsys, argv):
    argv = [{"RATINGS": str(ratings_file), "OUT": str(tmp_path / "o")}.get(a, a) for a in argv]
    assert main([*argv, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)


def test_a_tab_separated_txt_is_read_as_the_csv(ratings_file, tmp_path, capsys):
    pairs = pd.read_csv(tmp_path / "pairs.csv")
    pairs.to_csv(tmp_path / "pairs.txt", sep="\t", index=False)
    pd.read_csv(ratings_file).to_csv(tmp_path / "ratings.txt", sep="\t", index=False)
    got = {}
    for ext in ("csv", "txt"):
        argv = [
            "complete",
            str(tmp_path / f"ratings.{ext}"),
            *ARGS,
            "--out",
            f"{tmp_path}/{ext}.csv",
        ]
        assert main([*argv, "--pairs", str(tmp_path / f"pairs.{ext}")]) == 0
        got[ext] = pd.read_csv(tmp_path / f"{ext}.csv")
        err = capsys.readouterr().err
        assert ("separated by tab ('\\t') (sniffed" in err) == (ext == "txt")
    assert got["txt"].equals(got["csv"])


@pytest.mark.parametrize(
    "text, n",
    [("4GiB", 4 * 2**30), ("500M", 500 * 10**6), ("2e9", 2 * 10**9), ("1", 1), ("3 kb", 3000),
     ("1KiB", 1024), ("1.5g", 1.5e9)],
)  # fmt: skip
def test_byte_size(text, n):
    assert byte_size(text) == n


@pytest.mark.parametrize("text", ["0", "0.5", "-1G", "GiB", "", "nan", "inf", "1e30", "2x"])
def test_byte_size_refuses(text):
    with pytest.raises(argparse.ArgumentTypeError, match="number of bytes"):
        byte_size(text)


def test_a_checkpoint_of_other_settings_is_refused(ratings_file, tmp_path, capsys):
    argv = ["complete", str(ratings_file), *ARGS, "--top-n", "1", "--checkpoint", str(tmp_path)]
    assert main([*argv, "--max-iter", "2"]) == 0
    capsys.readouterr()
    assert "checkpoint" in _usage_error([*argv, "--max-iter", "3"], capsys).lower()
