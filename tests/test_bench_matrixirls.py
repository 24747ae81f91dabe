"""The MatrixIRLS benchmark's problem files and its skip path (no Octave run, no timing)."""

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import bench_matrixirls as bench  # noqa: E402


def test_problem_file_round_trips_and_masks_hold_rank_plus_one(tmp_path):
    planted, n_obs, _ = bench.make_problem(30, 2, 1e3, 1.5, seed=3)
    p = planted.problem
    assert p.rows.size == n_obs == round(1.5 * 2 * (2 * 30 - 2))
    for idx in (p.rows, p.cols):  # every row and column holds >= rank + 1 entries
        assert np.bincount(idx, minlength=30).min() >= 3
    path = tmp_path / "cell.mat"
    bench.write_problem(path, planted)
    rows, cols, values, shape, U0, V0 = bench.read_problem(path)
    assert shape == p.shape
    np.testing.assert_array_equal(rows, p.rows)
    np.testing.assert_array_equal(cols, p.cols)
    np.testing.assert_array_equal(values, p.values)
    np.testing.assert_allclose((U0 @ V0.T)[rows, cols], values, rtol=1e-12, atol=1e-12)
    s = np.linalg.svd(U0 @ V0.T, compute_uv=False)
    np.testing.assert_allclose(s[0] / s[1], 1e3, rtol=1e-8)  # the condition number asked for
    np.testing.assert_allclose(bench.sigma_r(planted), s[1], rtol=1e-10)


def test_same_seed_same_problem_and_missing_code_skips(tmp_path, capsys):
    a, _, _ = bench.make_problem(30, 2, 10, 2, seed=5)
    b, _, _ = bench.make_problem(30, 2, 10, 2, seed=5)
    np.testing.assert_array_equal(a.problem.values, b.problem.values)
    out = tmp_path / "out"
    argv = ["--quick", "--matrixirls", str(tmp_path / "nothing"), "--out", str(out)]
    assert bench.main(argv) == 0
    assert "bench_matrixirls: skipped" in capsys.readouterr().out
    assert not out.exists()  # nothing computed or written
