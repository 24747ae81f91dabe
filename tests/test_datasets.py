import numpy as np
import pytest

from linrfm import make_completion
from linrfm.datasets import sample_entries


def test_generator_setting(seed):
    planted = make_completion(70, 40, 3, 600, random_state=seed)
    Y = planted.dense_truth()
    assert np.linalg.matrix_rank(Y) == 3
    assert np.mean(Y**2) == pytest.approx(1.0, rel=1e-12)
    p = planted.problem
    assert p.n_obs == 600 and p.shape == (70, 40)
    np.testing.assert_allclose(p.values, Y[p.rows, p.cols])


def test_generator_is_seeded():
    a = make_completion(30, 20, 2, 200, random_state=5)
    b = make_completion(30, 20, 2, 200, random_state=5)
    np.testing.assert_array_equal(a.problem.values, b.problem.values)
    np.testing.assert_array_equal(a.U, b.U)


def test_min_per_line_coverage(seed):
    rows, cols = sample_entries(200, 150, 900, min_per_line=3, random_state=seed)
    assert rows.size == 900
    assert np.bincount(rows, minlength=200).min() >= 3
    assert np.bincount(cols, minlength=150).min() >= 3
    assert np.unique(rows * 150 + cols).size == 900


def test_noise_is_added():
    planted = make_completion(30, 30, 2, 300, noise=0.5, random_state=0)
    p = planted.problem
    resid = p.values - planted.truth(p.rows, p.cols)
    assert 0.3 < resid.std() < 0.7


def test_unobserved_sample_avoids_observed():
    planted = make_completion(50, 40, 2, 1000, random_state=1)
    r, c = planted.unobserved(size=500, random_state=0)
    observed = set(zip(planted.problem.rows.tolist(), planted.problem.cols.tolist()))
    assert not any((a, b) in observed for a, b in zip(r.tolist(), c.tolist()))
    assert np.unique(r * 40 + c).size == 500
    r_all, _ = planted.unobserved()
    assert r_all.size == 50 * 40 - 1000


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(n=10, d=10, rank=11, n_obs=10), "'rank' parameter"),
        (dict(n=10, d=10, rank=2, n_obs=101), "'n_obs' parameter"),
        (dict(n=0, d=10, rank=1, n_obs=1), "'n' parameter"),
        (dict(n=10, d=10, rank=2, n_obs=20, min_per_line=5), "needs .* observations"),
        (dict(n=10, d=10, rank=2, n_obs=20, noise=-1.0), "'noise' parameter"),
    ],
)
def test_generator_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_completion(**kwargs)
