"""Reading rating tables: id mapping, every bad input with its error, nothing dropped silently."""

import numpy as np
import pytest
import scipy.sparse as sp

pd = pytest.importorskip("pandas")

from linrfm.io import UnknownIdError, _lookup, read_ratings  # noqa: E402


def _frame():
    return pd.DataFrame(
        {
            "user": ["bob", "alice", "bob", "carol", "alice"],
            "item": [10, 20, 20, 30, 10],
            "stars": [4.0, 3.0, 5.0, 1.0, 2.0],
        }
    )


def test_ids_map_to_indices_and_back():
    df = _frame()
    t = read_ratings(df, "user", "item", "stars")
    assert t.shape == (3, 3)
    assert t.names == ("user", "item", "stars")
    assert list(t.row_ids[t.rows]) == list(df["user"])
    assert list(t.col_ids[t.cols]) == list(df["item"])
    np.testing.assert_array_equal(t.values, df["stars"])
    assert t.report == {"read": 5, "duplicates_merged": 0, "duplicates": "error", "kept": 5}


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".parquet"])
def test_files_read_like_the_frame(tmp_path, suffix):
    df = _frame()
    path = tmp_path / f"ratings{suffix}"
    if suffix == ".parquet":
        pytest.importorskip("pyarrow")
        df.to_parquet(path)
    else:
        df.to_csv(path, sep="\t" if suffix == ".tsv" else ",", index=False)
    t = read_ratings(path, "user", "item", "stars")
    ref = read_ratings(df, "user", "item", "stars")
    assert list(t.row_ids) == list(ref.row_ids) and list(t.col_ids) == list(ref.col_ids)
    np.testing.assert_array_equal(t.rows, ref.rows)
    np.testing.assert_array_equal(t.cols, ref.cols)
    np.testing.assert_array_equal(t.values, ref.values)


def test_explicit_separator(tmp_path):
    path = tmp_path / "ratings.txt"
    path.write_text("u;i;r\na;x;1\nb;y;2\n")
    t = read_ratings(path, "u", "i", "r", sep=";")
    assert t.shape == (2, 2) and list(t.values) == [1.0, 2.0]


def test_matrices_keep_their_shape_and_index_ids():
    X = np.array([[1.0, np.nan, 2.0], [np.nan, np.nan, np.nan], [np.nan, 3.0, np.nan]])
    t = read_ratings(X)
    assert t.shape == (3, 3) and t.n_obs == 3
    np.testing.assert_array_equal(t.row_ids, [0, 1, 2])
    S = sp.csr_matrix(np.nan_to_num(X))
    ts = read_ratings(S)
    assert ts.shape == (3, 3)
    np.testing.assert_array_equal(np.sort(ts.values), [1.0, 2.0, 3.0])


def test_missing_column_is_named():
    with pytest.raises(ValueError, match=r"Column\(s\) \['rating'\] not found"):
        read_ratings(_frame(), "user", "item", "rating")


def test_column_names_are_required_for_a_table():
    with pytest.raises(ValueError, match="row, col and value .* are required"):
        read_ratings(_frame(), "user", "item")


def test_non_numeric_rating():
    df = _frame().astype({"stars": object})
    df.loc[2, "stars"] = "five"
    with pytest.raises(ValueError, match=r"'stars' holds 1 non-numeric value\(s\), e.g. 'five'"):
        read_ratings(df, "user", "item", "stars")


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_rating(bad):
    df = _frame()
    df.loc[1, "stars"] = bad
    with pytest.raises(ValueError, match=r"1 missing or non-finite rating\(s\)"):
        read_ratings(df, "user", "item", "stars")


def test_non_finite_in_a_file(tmp_path):
    path = tmp_path / "r.csv"
    path.write_text("user,item,stars\na,x,1\nb,y,inf\n")
    with pytest.raises(ValueError, match="non-finite"):
        read_ratings(path, "user", "item", "stars")


def test_dense_inf_is_an_error():
    with pytest.raises(ValueError, match="infinite"):
        read_ratings(np.array([[1.0, np.inf], [np.nan, 2.0]]))


def test_missing_id():
    df = _frame()
    df.loc[0, "user"] = None
    with pytest.raises(ValueError, match=r"'user' holds 1 missing id\(s\)"):
        read_ratings(df, "user", "item", "stars")


def _dups():
    df = _frame()
    extra = pd.DataFrame({"user": ["bob", "bob"], "item": [10, 10], "stars": [2.0, 3.0]})
    return pd.concat([df, extra], ignore_index=True)  # (bob, 10): 4, 2, 3


def test_duplicates_are_an_error_by_default():
    with pytest.raises(
        ValueError, match=r"2 row\(s\) repeat an earlier \(user, item\) pair, e.g. \('bob', 10\)"
    ):
        read_ratings(_dups(), "user", "item", "stars")


@pytest.mark.parametrize("policy, expected", [("mean", 3.0), ("last", 3.0), ("mean", None)])
def test_duplicates_merged_and_counted(policy, expected):
    df = _dups()
    if expected is None:  # a different order: mean unchanged, last changes
        df = df.iloc[[0, 5, 1, 2, 3, 4, 6]].reset_index(drop=True)
        expected = 3.0
    t = read_ratings(df, "user", "item", "stars", duplicates=policy)
    assert t.report["duplicates_merged"] == 2 and t.report["kept"] == 5
    assert t.report["duplicates"] == policy
    k = np.flatnonzero((t.row_ids[t.rows] == "bob") & (t.col_ids[t.cols] == 10))
    assert k.size == 1 and t.values[k[0]] == expected


def test_last_keeps_the_last_occurrence():
    df = _dups().iloc[[5, 6, 1, 2, 3, 4, 0]].reset_index(drop=True)  # 2, 3, ..., 4 last
    t = read_ratings(df, "user", "item", "stars", duplicates="last")
    k = np.flatnonzero((t.row_ids[t.rows] == "bob") & (t.col_ids[t.cols] == 10))
    assert t.values[k[0]] == 4.0


def test_bad_duplicates_option():
    with pytest.raises(ValueError, match="'duplicates' parameter must be one of"):
        read_ratings(_frame(), "user", "item", "stars", duplicates="first")


def test_empty_table(tmp_path):
    with pytest.raises(ValueError, match="holds no rows"):
        read_ratings(_frame().iloc[:0], "user", "item", "stars")
    path = tmp_path / "empty.csv"
    path.write_text("user,item,stars\n")
    with pytest.raises(ValueError, match="holds no rows"):
        read_ratings(path, "user", "item", "stars")


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="No such file"):
        read_ratings(tmp_path / "nope.csv", "user", "item", "stars")


def test_lookup_unknown_and_text_ids():
    known = np.array([10, 20, 30])
    np.testing.assert_array_equal(_lookup(known, ["20", "10"], "column", "item", "error"), [1, 0])
    np.testing.assert_array_equal(_lookup(known, [20, 99], "column", "item", "ignore"), [1, -1])
    with pytest.raises(UnknownIdError, match=r"1 column id\(s\) in 'item' were not seen") as info:
        _lookup(known, [20, 99], "column", "item", "error")
    assert str(info.value).startswith("1 column")  # no KeyError quoting


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("empty.csv", b"", r"empty\.csv is empty: expected a table with a header line"),
        ("garbage.csv", bytes(range(128, 256)) * 8, r"garbage\.csv is not a text table"),
        ("book.xlsx", b"PK\x03\x04" + bytes(200), r"book\.xlsx looks like an Excel workbook"),
        ("r.parquet", b"not parquet at all", r"r\.parquet could not be read as a parquet file"),
        ("r.csv", b'a,b\n"unclosed,1\n', r"r\.csv could not be read as a text table"),
    ],
)
def test_unreadable_files_are_named_with_what_was_expected(tmp_path, name, content, message):
    if name.endswith(".parquet"):
        pytest.importorskip("pyarrow")
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(ValueError, match=message):
        read_ratings(path, "user", "item", "stars")


@pytest.mark.parametrize("sep", ["\t", ";", "|"])
def test_a_txt_that_reads_as_one_column_is_sniffed(tmp_path, sep):
    path = tmp_path / "ratings.txt"
    _frame().to_csv(path, sep=sep, index=False)
    sniffed = read_ratings(path, "user", "item", "stars")
    assert sniffed.report["sniffed_sep"] == sep
    given = read_ratings(path, "user", "item", "stars", sep=sep)
    assert "sniffed_sep" not in given.report
    np.testing.assert_array_equal(sniffed.values, given.values)
    np.testing.assert_array_equal(sniffed.row_ids, given.row_ids)


def test_a_wrong_separator_given_hints_at_sep(tmp_path):
    path = tmp_path / "ratings.txt"
    _frame().to_csv(path, sep="\t", index=False)
    with pytest.raises(ValueError, match=r"The header holds tab .* Pass sep="):
        read_ratings(path, "user", "item", "stars", sep=";")  # given: not sniffed


def test_a_folder_is_not_a_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="is not a file"):
        read_ratings(tmp_path, "user", "item", "stars")


def test_a_bad_table_in_a_file_names_the_file(tmp_path):
    # found by the long battery: a blank id or a header without rows was reported without
    # the file's name
    blank = tmp_path / "blank.csv"
    blank.write_text("u,i,v\n1,,3\n")
    with pytest.raises(ValueError, match="blank.csv.*missing id"):
        read_ratings(blank, "u", "i", "v")
    empty = tmp_path / "empty.csv"
    empty.write_text("u,i,v\n")
    with pytest.raises(ValueError, match="empty.csv"):
        read_ratings(empty, "u", "i", "v")
