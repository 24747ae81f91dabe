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


def test_real_file_when_installed():
    try:
        movielens.movielens100k_path()
    except FileNotFoundError:
        pytest.skip("neither recbole nor neighbors is installed")
    t = movielens.load_movielens100k()
    assert t.shape == (943, 1682) and t.n_obs == 100_000
    assert t.values.min() == 1 and t.values.max() == 5
