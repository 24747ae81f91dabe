"""The MovieLens-100K loader: found in an installed wheel, or a message saying what to install."""

import numpy as np
import pytest

pytest.importorskip("pandas")

from linrfm.datasets import movielens  # noqa: E402


def test_missing_wheels_say_what_to_install(monkeypatch):
    monkeypatch.setattr(movielens, "_package_dir", lambda name: None)
    with pytest.raises(FileNotFoundError, match="pip install --no-deps recbole"):
        movielens.load_movielens100k()


def test_reads_the_neighbors_layout(monkeypatch, tmp_path):
    # a stand-in package directory with the neighbors wheel's file layout (made-up rows)
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "movielens100k.csv").write_text(
        "User,Item,Rating,Timestamp\n1,10,4,0\n2,10,3,0\n1,20,5,0\n"
    )
    monkeypatch.setattr(
        movielens, "_package_dir", lambda name: tmp_path if name == "neighbors" else None
    )
    t = movielens.load_movielens100k()
    assert t.shape == (2, 2) and t.names == ("user", "item", "rating")
    np.testing.assert_array_equal(np.sort(t.values), [3.0, 4.0, 5.0])
    np.testing.assert_array_equal(t.time, [0.0, 0.0, 0.0])  # its Timestamp column is kept


def test_reads_the_recbole_layout_with_its_timestamps(monkeypatch, tmp_path):
    # recbole's file: tab-separated, typed headers, timestamps in Unix seconds (made-up rows)
    f = tmp_path / "dataset_example" / "ml-100k" / "ml-100k.inter"
    f.parent.mkdir(parents=True)
    f.write_text(
        "user_id:token\titem_id:token\trating:float\ttimestamp:float\n"
        "1\t10\t4\t881250949\n2\t10\t3\t891717742\n1\t20\t5\t878887116\n"
    )
    monkeypatch.setattr(movielens, "_package_dir", lambda n: tmp_path if n == "recbole" else None)
    t = movielens.load_movielens100k()
    assert t.shape == (2, 2) and t.names == ("user", "item", "rating")
    by_rating = dict(zip(t.values, t.time))
    assert by_rating == {4.0: 881250949.0, 3.0: 891717742.0, 5.0: 878887116.0}


def test_a_file_without_timestamps_has_no_time(monkeypatch, tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "movielens100k.csv").write_text("User,Item,Rating\n1,10,4\n2,10,3\n")
    monkeypatch.setattr(
        movielens, "_package_dir", lambda name: tmp_path if name == "neighbors" else None
    )
    assert movielens.load_movielens100k().time is None


def test_real_file_when_installed():
    try:
        movielens.movielens100k_path()
    except FileNotFoundError:
        pytest.skip("neither recbole nor neighbors is installed")
    t = movielens.load_movielens100k()
    assert t.shape == (943, 1682) and t.n_obs == 100_000
    assert t.values.min() == 1 and t.values.max() == 5
    if movielens.movielens100k_path()[1][0] == "recbole":  # its file has timestamps
        assert t.time is not None and t.time.size == t.n_obs
