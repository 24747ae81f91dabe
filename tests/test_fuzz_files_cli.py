"""Fuzzing the file readers and the command line (hypothesis, derandomized, fixed budgets).

Properties: a file reader returns a consistent table or raises ValueError /
FileNotFoundError naming the problem, never another exception; every numeric option of
every command either parses within its documented bounds or is refused with exit status 2
and a message naming the option; ``linrfm complete`` on arbitrary files ends in a usage
error (one line, status 2) or reaches the fit, never in a traceback.
"""

import argparse
import math
import os
import tempfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import fuzz_examples

pd = pytest.importorskip("pandas")

from linrfm.cli import build_parser, main  # noqa: E402
from linrfm.io import read_ratings  # noqa: E402

FUZZ = settings(
    max_examples=fuzz_examples(150),
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

CELLS = st.sampled_from(
    ["1", "2", "-3", "4.5", "1e308", "1e-320", "nan", "inf", "-inf", "", "x", "ü", '"', "0", "a b"]
)
SEPS = st.sampled_from([",", "\t", ";", "|"])


@st.composite
def text_tables(draw):
    """Text that looks like a ratings table: a header maybe naming u, i, v, then rows."""
    sep = draw(SEPS)
    header = draw(st.lists(st.sampled_from(["u", "i", "v", "w", "u v"]), min_size=0, max_size=4))
    rows = draw(st.lists(st.lists(CELLS, min_size=0, max_size=5), max_size=8))
    lines = [sep.join(header)] + [sep.join(r) for r in rows]
    end = draw(st.sampled_from(["\n", "", "\r\n"]))
    return ("\n".join(lines) + end).encode("utf-8")


FILES = st.one_of(text_tables(), st.binary(max_size=300))
EXTENSIONS = st.sampled_from([".csv", ".tsv", ".txt", ".parquet", ".xlsx", ".dat", ""])


def _check_table(t):
    n, d = t.shape
    assert t.rows.shape == t.cols.shape == t.values.shape
    assert np.all(np.isfinite(t.values))
    assert t.rows.min() >= 0 and t.rows.max() < n and t.cols.max() < d
    assert len(set(zip(t.rows.tolist(), t.cols.tolist()))) == t.n_obs  # no duplicate pair


@FUZZ
@given(content=FILES, ext=EXTENSIONS, sep=st.sampled_from([None, ",", "\t"]))
def test_read_ratings_on_arbitrary_files(content, ext, sep):
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "r" + ext)
        with open(path, "wb") as fh:
            fh.write(content)
        try:
            t = read_ratings(path, "u", "i", "v", sep=sep, duplicates="mean")
        except (ValueError, FileNotFoundError) as exc:
            assert str(exc)
            if "not found" not in str(exc):  # every other message names the file
                assert "r" + ext in str(exc) or "sep" in str(exc) or "duplicate" in str(exc)
            return
        _check_table(t)


@FUZZ
@given(
    data=st.lists(
        st.tuples(
            st.one_of(st.integers(-3, 3), st.sampled_from(["a", "b", None])),
            st.one_of(st.integers(0, 3), st.floats(allow_nan=True), st.just("c")),
            st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(), st.just("x")),
        ),
        max_size=12,
    ),
    duplicates=st.sampled_from(["error", "mean", "last"]),
)
def test_read_ratings_on_arbitrary_frames(data, duplicates):
    df = pd.DataFrame(data, columns=["u", "i", "v"])
    try:
        t = read_ratings(df, "u", "i", "v", duplicates=duplicates)
    except ValueError as exc:
        assert str(exc)
        return
    _check_table(t)
    assert t.n_obs + t.report["duplicates_merged"] == len(df)


def _numeric_options():
    """(command argv prefix, option, its parse function) for every numeric option."""
    out = []

    def walk(parser, prefix):
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    walk(sub, [*prefix, name])
            elif hasattr(action.type, "bounds"):
                out.append((prefix, action.option_strings[0], action.type))

    walk(build_parser(), [])
    return out


NUMERIC = _numeric_options()
VALUES = st.one_of(
    st.integers(-(10**6), 10**6).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["nan", "inf", "-0", "1e400", "0x10", "1_000", " 3", "", "two", "3.0"]),
    st.text(max_size=6),
)


def test_every_numeric_option_is_fuzzed():
    assert len(NUMERIC) >= 25
    assert ("--n-step", "--rhos", "--multiples") == tuple(
        o for _, o, _ in NUMERIC if o in ("--n-step", "--rhos", "--multiples")
    )


@FUZZ
@given(which=st.integers(0, len(NUMERIC) - 1), value=VALUES)
def test_numeric_options_parse_within_bounds_or_exit_2(which, value, capsys):
    prefix, option, parse = NUMERIC[which]
    try:
        args = build_parser().parse_args([*prefix, f"{option}={value}"])
    except SystemExit as exc:
        assert exc.code == 2
        err = capsys.readouterr().err
        assert f"argument {option}" in err and "Traceback" not in err
        return
    got = getattr(args, option.lstrip("-").replace("-", "_"))
    got = got[0] if isinstance(got, list) else got
    low, high = parse.bounds
    assert math.isfinite(got)
    assert low is None or got > low or (got == low and not getattr(parse, "low_open", False))
    assert high is None or got <= high


@FUZZ
@given(ratings=FILES, pairs=FILES, ext=EXTENSIONS)
def test_complete_on_arbitrary_files_is_a_usage_error_or_reaches_the_fit(
    ratings, pairs, ext, monkeypatch, capsys
):
    from linrfm.ratings import RatingsCompleter

    class Reached(Exception):
        pass

    def fit(self, table):
        raise Reached

    monkeypatch.setattr(RatingsCompleter, "fit", fit)
    with tempfile.TemporaryDirectory() as folder:
        paths = []
        for name, content in (("r" + ext, ratings), ("p.csv", pairs)):
            paths.append(os.path.join(folder, name))
            with open(paths[-1], "wb") as fh:
                fh.write(content)
        argv = ["complete", paths[0], "--row", "u", "--col", "i", "--value", "v"]
        argv += ["--pairs", paths[1], "--out", os.path.join(folder, "o.csv")]
        try:
            main(argv)
        except Reached:
            return
        except SystemExit as exc:
            err = capsys.readouterr().err
            assert exc.code == 2 and len(err.strip().splitlines()) == 1, err
            return
        pytest.fail("neither an error nor a fit")
