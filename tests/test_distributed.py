"""lin-RFM on a real Dask cluster (LocalCluster, two worker processes): the same answer as
the single-machine one-sided coefficient path, work on both workers, the observations
never through the client, and faults (a worker killed mid-fit, all workers lost)."""

import os
import signal
import time
import warnings

import numpy as np
import pytest

pytest.importorskip("dask.distributed")

import dask.dataframe as dd  # noqa: E402
import pandas as pd  # noqa: E402
from distributed import Client, LocalCluster, get_task_stream  # noqa: E402

import linrfm  # noqa: E402
from linrfm import LinRFMCompleter, make_completion  # noqa: E402
from linrfm.distributed import ClusterLostError, Triples, complete_on_cluster  # noqa: E402


@pytest.fixture(scope="module")
def client():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cluster = LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        )
    c = Client(cluster)
    yield c
    c.close()
    cluster.close()


def _single(X, **kw):
    # the cluster runs the iteration only (its polish would pass every observation
    # through the client): compare with the single-machine iteration
    return linrfm.lin_rfm_complete(X, variant="one-sided", agop="sparse", polish=False, **kw)


def _agree(a, b, planted, rtol=1e-8):
    rows, cols = planted.unobserved()
    pa, pb = a.predict(rows, cols), b.predict(rows, cols)
    assert np.linalg.norm(pa - pb) <= rtol * np.linalg.norm(pa)
    assert a.n_iter == b.n_iter and a.converged == b.converged
    np.testing.assert_allclose(b.history["rel_change"], a.history["rel_change"], rtol=1e-8)


@pytest.mark.parametrize(
    "n, d, rank, n_obs, kw",
    [
        (120, 40, 3, 1500, {"momentum": 0.0}),  # tall: d x d kernel
        (30, 90, 2, 1200, {}),  # wide: the plan puts the kernel on the transpose
        # (replace=False is left out: there the single-machine fit itself moves by 1e-6
        # to 4e-4 under a 1e-14 perturbation of the data, so 1e-8 would test rounding)
        (80, 60, 2, 1500, {"lam_rule": "change", "alpha": 1.0}),
    ],
)
def test_equals_single_machine(client, n, d, rank, n_obs, kw):
    planted = make_completion(n, d, rank, n_obs, min_per_line=3, random_state=1)
    X = planted.problem.to_sparse()
    kw = {"max_iter": 25, **kw}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a = _single(X, **kw)
        b = linrfm.lin_rfm_complete(X, client=client, **kw)
    assert b.params["kernel_side"] == a.params["kernel_side"]
    _agree(a, b, planted)


def _to_parquet(planted, path, names=("row", "col", "value")):
    p = planted.problem
    frame = pd.DataFrame({names[0]: p.rows, names[1]: p.cols, names[2]: p.values})
    dd.from_pandas(frame.sample(frac=1.0, random_state=0), npartitions=3).to_parquet(path)
    return dd.read_parquet(path)


def test_parquet_input_never_through_client(client, tmp_path):
    planted = make_completion(150, 20, 2, 1400, min_per_line=3, random_state=2)
    frame = _to_parquet(planted, tmp_path / "obs", ("u", "i", "r"))
    sizes = []
    with get_task_stream(client) as stream, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        orig = client.gather

        def spy(futures, *a, **k):
            out = orig(futures, *a, **k)
            for item in out if isinstance(out, list) else [out]:
                sizes.append(_n_numbers(item))
            return out

        client.gather = spy
        try:
            b = complete_on_cluster_fit(frame, client)
        finally:
            client.gather = orig
    a = _single(planted.problem.to_sparse(), max_iter=20)
    _agree(a, b, planted)
    assert b.params["n_blocks"] == 2
    # work ran on both workers
    assert len({t["worker"] for t in stream.data}) == 2
    # nothing of the observations' size reached the client during the fit: every gathered
    # result but the final coefficients (the model itself) is O(d^2 + n + d): the line
    # counts, and a block's A^T A with, for momentum, A^T A_prev
    n, d = planted.problem.shape
    n_obs = planted.problem.n_obs
    during = sizes[:-2]
    assert max(during) < n_obs and max(during) <= 2 * d * d + n + d


def complete_on_cluster_fit(frame, client):
    return linrfm.lin_rfm_complete(Triples(frame, row="u", col="i", value="r"), client=client,
                                   max_iter=20)  # fmt: skip


def _n_numbers(item):
    if isinstance(item, np.ndarray):
        return item.size
    if isinstance(item, (tuple, list)):
        return sum(_n_numbers(x) for x in item)
    if isinstance(item, dict):
        return sum(_n_numbers(x) for x in item.values())
    return 1


def test_worker_killed_mid_fit_same_answer(client):
    planted = make_completion(100, 30, 2, 1200, min_per_line=3, random_state=3)
    X = planted.problem.to_sparse()
    kw = {"max_iter": 15, "momentum": 0.5, "lam_rule": "decay"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a = _single(X, **kw)
        killed = []

        def kill_one(it, info):
            if it == 4 and not killed:
                pid = next(iter(client.run(os.getpid).values()))
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)

        b = linrfm.lin_rfm_complete(X, client=client, callback=kill_one, **kw)
    assert killed
    _agree(a, b, planted)
    client.wait_for_workers(2, timeout=60)


def test_all_workers_lost_is_a_clear_error():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cluster = LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                               dashboard_address=None)  # fmt: skip
        c = Client(cluster)
        try:
            planted = make_completion(60, 20, 2, 500, min_per_line=3, random_state=4)

            def lose_all(it, info):
                if it == 2:
                    cluster.scale(0)

            t0 = time.monotonic()
            with pytest.raises(ClusterLostError, match="no worker"):
                complete_on_cluster(
                    planted.problem.to_sparse(), c, alpha=0.5, lam=1e-2, lam_rule="fixed",
                    lam_min=1e-12, replace=True, tol=1e-12, max_iter=50, shape=None,
                    callback=lose_all, progress=False, dtype=None, n_threads=1, momentum=0.0,
                    checkpoint=None, resume=None, worker_timeout=3.0,
                )  # fmt: skip
            assert time.monotonic() - t0 < 60
        finally:
            c.close()
            cluster.close()


def test_estimator_and_refused_options(client):
    planted = make_completion(60, 30, 2, 700, min_per_line=3, random_state=5)
    X = planted.problem.to_sparse()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = LinRFMCompleter(client=client, max_iter=10).fit(X)
        a = _single(X, max_iter=10)
    _agree(a, model.result_, planted)
    for bad in ({"variant": "two-sided"}, {"agop": "dense"}, {"lam_rule": "holdout"}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            linrfm.lin_rfm_complete(X, client=client, **bad)


def test_without_dask_the_error_names_the_extra(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "distributed", None)
    X = make_completion(20, 10, 1, 100, min_per_line=2, random_state=0).problem.to_sparse()
    with pytest.raises(ImportError, match=r'pip install "linrfm\[dask\]"'):
        linrfm.lin_rfm_complete(X, client=object())


def test_column_keywords_and_default_names(client, tmp_path):
    """``row=``, ``col=``, ``value=`` name a Dask DataFrame's columns; a bare Dask DataFrame
    with the default names is taken as it is (never read on the client)."""
    planted = make_completion(90, 25, 2, 1100, min_per_line=3, random_state=6)
    a = _single(planted.problem.to_sparse(), max_iter=15)
    named = _to_parquet(planted, tmp_path / "named", ("u", "i", "r"))
    plain = _to_parquet(planted, tmp_path / "plain")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        b = linrfm.lin_rfm_complete(named, client=client, row="u", col="i", value="r",
                                    max_iter=15)  # fmt: skip
        c = linrfm.lin_rfm_complete(plain, client=client, max_iter=15)
    _agree(a, b, planted)
    _agree(a, c, planted)
    with pytest.raises(ValueError, match="no column 'row'"):
        linrfm.lin_rfm_complete(named, client=client, col="i", value="r")
    with pytest.raises(ValueError, match="Dask DataFrame"):
        linrfm.lin_rfm_complete(planted.problem.to_sparse(), row="u")


def _ratings_frame(seed=0, n=40, d=20):
    rng = np.random.default_rng(seed)
    Y = 3 + rng.standard_normal((n, 2)) @ rng.standard_normal((2, d))
    rows, cols = np.nonzero(rng.random((n, d)) < 0.5)
    return pd.DataFrame(
        {
            "user": [f"u{i}" for i in rows],
            "item": [f"i{j}" for j in cols],
            "rating": Y[rows, cols] + 0.3 * rng.standard_normal(rows.size),
        }
    )


def test_ratings_completer_on_the_cluster(client, tmp_path):
    frame = _ratings_frame()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        here = linrfm.RatingsCompleter(variant="one-sided").fit(frame)
        there = linrfm.RatingsCompleter(client=client).fit(frame)
    assert (there.chosen_["lam"], there.chosen_["n_iter"]) == (
        here.chosen_["lam"],
        here.chosen_["n_iter"],
    )
    assert there.chosen_["val_rmse"] == pytest.approx(here.chosen_["val_rmse"], rel=1e-8)
    pairs = frame[["user", "item"]].iloc[::3]
    a, b = here.predict(pairs), there.predict(pairs)
    assert np.linalg.norm(a - b) <= 1e-6 * np.linalg.norm(a)
    there.save(tmp_path / "m.npz")  # the client is not part of the model
    loaded = linrfm.RatingsCompleter.load(tmp_path / "m.npz")
    assert loaded.client is None
    np.testing.assert_allclose(loaded.predict(pairs), b, rtol=1e-6)
    for bad in ({"method": "softimpute"}, {"variant": "two-sided"}):
        with pytest.raises(ValueError, match="client"):
            linrfm.RatingsCompleter(client=client, **bad).fit(frame)


def test_cli_scheduler(client, tmp_path, capsys):
    from linrfm.cli import main

    frame = _ratings_frame(seed=1)
    frame.to_csv(tmp_path / "r.csv", index=False)
    frame[["user", "item"]].iloc[::4].to_csv(tmp_path / "pairs.csv", index=False)
    argv = ["complete", str(tmp_path / "r.csv"), "--row", "user", "--col", "item",
            "--value", "rating", "--pairs", str(tmp_path / "pairs.csv")]  # fmt: skip
    address = client.scheduler.address
    assert main([*argv, "--out", str(tmp_path / "p.csv"), "--scheduler", address]) == 0
    got = pd.read_csv(tmp_path / "p.csv")["prediction"].to_numpy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        here = linrfm.RatingsCompleter(variant="one-sided").fit(frame)
    want = here.predict(frame[["user", "item"]].iloc[::4])
    assert np.linalg.norm(got - want) <= 1e-6 * np.linalg.norm(want)
    capsys.readouterr()
    # usage errors, before any fit: another method, a scheduler that is not there
    for extra, message in [
        (["--method", "softimpute", "--scheduler", address], "--scheduler"),
        (["--scheduler", "tcp://127.0.0.1:1"], "--scheduler tcp://127.0.0.1:1"),
    ]:
        with pytest.raises(SystemExit) as info:
            main([*argv, *extra])
        err = capsys.readouterr().err
        assert info.value.code == 2 and message in err and "Traceback" not in err
