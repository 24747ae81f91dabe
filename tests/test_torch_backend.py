"""The PyTorch backend: the same lin-RFM behaviour checks on torch tensors as on NumPy.

torch is an optional extra, so this file skips itself when torch is missing. It does run in
CI: ``.ci/run`` installs ``torch==2.13.0`` (CPU build) after the main suite and runs this
file explicitly. Every test is parametrized over ``DEVICES`` (CPU, plus CUDA when torch
sees a GPU), so on a CUDA machine the same checks cover the CUDA path.
"""

import sys
import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

torch = pytest.importorskip("torch")

import linrfm.solvers.linrfm.kernel as kernel_module  # noqa: E402
from linrfm import LinRFMCompleter, make_completion  # noqa: E402
from linrfm.backend import TorchOps  # noqa: E402
from linrfm.results import ModelFitError  # noqa: E402
from linrfm.solvers._rowsolve import LineSolver  # noqa: E402
from linrfm.solvers.linrfm import lin_rfm_complete as _lin_rfm_complete  # noqa: E402
from linrfm.solvers.linrfm import plan as plan_module  # noqa: E402

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def lin_rfm_complete(*args, **kw):
    """The lin-RFM iteration on the backend under test: its polish (ALS on NumPy,
    whatever the device) would end most of these fits at iteration 1."""
    kw.setdefault("polish", False)
    return _lin_rfm_complete(*args, **kw)


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    # the problems here are tiny: more intra-op threads only add overhead (4x slower on a
    # loaded 2-core machine); the thread count is restored after this file
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


def planted(n, d, r, rho, seed):
    n_obs = int(np.ceil(rho * r * (n + d - r)))
    return make_completion(n, d, r, n_obs, min_per_line=r, random_state=seed)


def iterates(X, **kw):
    """Every iterate (the dense completion) and the result, from the callback."""
    seen = []

    def cb(it, info):
        seen.append(info["result"].to_dense())

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        res = lin_rfm_complete(X, callback=cb, **kw)
    assert len(seen) == res.n_iter  # the callback sees every iteration, the last included
    return seen, res


def dense_with_nan(prob):
    X = np.full(prob.shape, np.nan)
    X[prob.rows, prob.cols] = prob.values
    return X


def rel(a, b):
    return np.linalg.norm(a - b) / np.linalg.norm(b)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("alpha", [0.5, 1.0, 0.3])
@pytest.mark.parametrize("variant", ["one-sided", "two-sided"])
@pytest.mark.parametrize("lam_rule", ["fixed", "auto"])
def test_float64_iterates_agree_with_numpy(device, alpha, variant, lam_rule):
    # square: with n != d one two-sided kernel is rank-deficient, and for alpha = 0.3 the
    # power 0.6 of its zero eigenvalues turns rounding (1e-16) into 1e-10 -- on NumPy too
    P = planted(36, 36, 2, 3.0, 0)
    kw = dict(alpha=alpha, variant=variant, lam_rule=lam_rule, max_iter=8, tol=1e-12)
    ref, ref_res = iterates(P.problem, **kw)
    got, res = iterates(P.problem, device=device, **kw)
    assert len(got) == len(ref) == 8
    for k, (a, b) in enumerate(zip(got, ref)):
        assert rel(a, b) < 1e-10, (k, rel(a, b))
    np.testing.assert_allclose(res.history["rel_change"], ref_res.history["rel_change"], rtol=1e-8)
    assert res.history["lam"] == pytest.approx(ref_res.history["lam"], rel=1e-8)
    assert res.params["device"] == str(torch.device(device))
    assert ref_res.params["device"] is None
    # the result is NumPy/SciPy whatever the backend
    assert isinstance(res.kernel, np.ndarray) and res.kernel.dtype == np.float64
    r, c = P.unobserved()
    np.testing.assert_allclose(res.predict(r, c), ref_res.predict(r, c), rtol=0, atol=1e-9)


@pytest.mark.parametrize("device", DEVICES)
def test_holdout_rule_and_warm_start_agree_with_numpy(device):
    P = planted(40, 30, 2, 3.0, 0)
    kw = dict(lam_rule="holdout", max_iter=6, random_state=3)
    ref, ref_res = iterates(P.problem, **kw)
    got, res = iterates(P.problem, device=device, **kw)
    assert res.history["val_rel_error"] == pytest.approx(ref_res.history["val_rel_error"], rel=1e-8)
    assert rel(got[-1], ref[-1]) < 1e-10
    more_ref, _ = iterates(P.problem, init=ref_res, max_iter=3)
    more, _ = iterates(P.problem, init=res, max_iter=3, device=device)
    assert rel(more[-1], more_ref[-1]) < 1e-10


@pytest.mark.parametrize("device", DEVICES)
def test_planted_recovery_on_torch(device, seed):
    P = planted(60, 50, 2, 3.0, seed)
    res = lin_rfm_complete(P.problem, device=device)
    assert res.converged
    assert P.evaluate(res)["rel_error"] < 1e-3


@pytest.mark.parametrize("device", DEVICES)
def test_float32_agrees_to_single_precision(device):
    # float32 rounding (~6e-8) is amplified by the iteration; after 10 iterations the
    # iterates still agree with float64 NumPy to 1e-4 relative, and a full float32 fit
    # recovers the planted matrix to 1e-2 relative (same bar as NumPy float32).
    P = planted(60, 50, 2, 3.0, 0)
    kw = dict(max_iter=10, tol=1e-12)
    ref, _ = iterates(P.problem, **kw)
    got, res = iterates(P.problem, device=device, dtype="float32", **kw)
    assert res.params["dtype"] == "float32"
    assert all(rel(a, b) < 1e-4 for a, b in zip(got, ref))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        full = lin_rfm_complete(P.problem, device=device, dtype="float32", max_iter=200)
    assert P.evaluate(full)["rel_error"] < 1e-2


@pytest.mark.parametrize("device", DEVICES)
def test_tensor_input_follows_its_device(device):
    P = planted(40, 30, 2, 3.0, 0)
    dense = dense_with_nan(P.problem)
    _, ref = iterates(P.problem, max_iter=5, lam_rule="fixed", tol=1e-12)
    rows, cols, vals = P.problem.rows, P.problem.cols, P.problem.values
    inputs = {
        "dense": (torch.tensor(dense, device=device), None),
        "tuple": (
            tuple(torch.tensor(a, device=device) for a in (rows, cols, vals)),
            P.shape,
        ),
        "coo": (
            torch.sparse_coo_tensor(
                np.vstack([rows, cols]), vals, P.shape, check_invariants=True
            ).to(device),
            None,
        ),
    }
    for name, (X, shape) in inputs.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            res = lin_rfm_complete(X, shape=shape, max_iter=5, lam_rule="fixed", tol=1e-12)
        assert res.params["device"] == str(torch.device(device)), name
        assert res.params["dtype"] == "float64", name
        assert rel(res.to_dense(), ref.to_dense()) < 1e-10, name
    # a float32 tensor computes in float32 unless dtype says otherwise
    X32 = torch.tensor(dense, dtype=torch.float32, device=device)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        assert lin_rfm_complete(X32, max_iter=2).params["dtype"] == "float32"
        assert lin_rfm_complete(X32, max_iter=2, dtype="float64").params["dtype"] == "float64"
        # in a tuple the values lead (the indices are int64 tensors)
        T32 = tuple(torch.tensor(a, device=device) for a in (rows, cols, vals.astype("f4")))
        assert lin_rfm_complete(T32, shape=P.shape, max_iter=2).params["dtype"] == "float32"
        # a given device wins over the tensor's
        assert lin_rfm_complete(X32, max_iter=2, device="cpu").params["device"] == "cpu"


@pytest.mark.parametrize(
    "device, match",
    [
        ("tpu", r"'device' parameter must be None, 'cpu', 'cuda', 'cuda:N' or a torch.device"),
        (3, r"'device' parameter must be None.*got 3"),
        ("cuda:99", r"'device' parameter is 'cuda:99'.*available: 'cpu'"),
    ],
)
def test_bad_device_is_a_clear_error(device, match):
    P = planted(20, 15, 1, 3.0, 0)
    with pytest.raises(ValueError, match=match):
        lin_rfm_complete(P.problem, device=device)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_without_a_gpu_names_what_is_available():
    P = planted(20, 15, 1, 3.0, 0)
    with pytest.raises(ValueError, match=r"is 'cuda'.*is_available\(\) is False.*'cpu'"):
        lin_rfm_complete(P.problem, device="cuda")
    with pytest.raises(ValueError, match=r"is 'cuda'"):
        LinRFMCompleter(device=torch.device("cuda")).fit(P.problem)


def test_missing_torch_says_what_to_install(monkeypatch):
    P = planted(20, 15, 1, 3.0, 0)
    monkeypatch.setitem(sys.modules, "torch", None)  # makes `import torch` fail
    with pytest.raises(ImportError, match=r'pip install "linrfm\[torch\]".*torch==2\.13\.0'):
        lin_rfm_complete(P.problem, device="cpu")


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("alpha", [0.5, 0.3])
@pytest.mark.parametrize("sampled", [False, True])
def test_sparse_agop_agrees_with_numpy(device, alpha, sampled, monkeypatch):
    # the coefficient AGOP path (no dense iterate); 'sampled' measures the change on a
    # row sample, as for n > 8192
    if sampled:
        monkeypatch.setattr(plan_module, "CHANGE_SAMPLE", 12)
    P = planted(36, 36, 2, 3.0, 0)
    kw = dict(alpha=alpha, variant="one-sided", agop="sparse", max_iter=8, tol=1e-12)
    ref, ref_res = iterates(P.problem, **kw)
    got, res = iterates(P.problem, device=device, **kw)
    assert res.params["agop"] == ref_res.params["agop"] == "sparse"
    assert all(rel(a, b) < 1e-10 for a, b in zip(got, ref))
    np.testing.assert_allclose(res.history["rel_change"], ref_res.history["rel_change"], rtol=1e-8)
    # warm start from the coefficient representation
    more_ref, _ = iterates(P.problem, init=ref_res, **{**kw, "max_iter": 3})
    more, _ = iterates(P.problem, init=res, device=device, **{**kw, "max_iter": 3})
    assert rel(more[-1], more_ref[-1]) < 1e-10


@pytest.mark.parametrize("device", DEVICES)
def test_singular_block_does_not_crash(device, singular_blocks):
    # a rank-1 kernel and no ridge: every block of size >= 2 is exactly singular; the
    # Cholesky fails there and the least-squares fallback solves the consistent systems
    sb = singular_blocks
    ops = TorchOps(device)
    coef = LineSolver(sb.lines, sb.idx, sb.y, 3, 6, ops=ops).solve(ops.array(sb.K), 0.0)
    sb.check(ops.to_numpy(coef))
    # and a whole fit with no ridge on a rank-deficient start stays finite
    P = planted(30, 20, 1, 3.0, 0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        res = lin_rfm_complete(P.problem, lam=0.0, lam_rule="fixed", max_iter=3, device=device)
    assert np.all(np.isfinite(res.to_dense()))


@pytest.mark.parametrize("device", DEVICES)
def test_convergence_warning_and_nan_error_on_torch(device, monkeypatch):
    P = planted(40, 30, 2, 3.0, 0)
    with pytest.warns(ConvergenceWarning, match="max_iter=2 iterations.*tol=1e-06"):
        res = lin_rfm_complete(P.problem, max_iter=2, device=device)
    assert not res.converged and res.n_iter == 2
    monkeypatch.setattr(kernel_module, "kernel_power", lambda G, a: G * np.nan)
    with pytest.raises(ModelFitError, match="NaN or inf"):
        lin_rfm_complete(P.problem, device=device)


@pytest.mark.parametrize("device", DEVICES)
def test_estimator_passes_device_through(device):
    P = planted(40, 30, 2, 3.0, 0)
    model = LinRFMCompleter(device=device).fit(P.problem.to_sparse())
    assert model.result_.params["device"] == str(torch.device(device))
    assert model.shape_ == P.shape
    r, c = P.unobserved()
    ref = LinRFMCompleter().fit(P.problem.to_sparse())
    np.testing.assert_allclose(model.predict(r, c), ref.predict(r, c), atol=1e-8)
    # with device=None a tensor given to fit() runs on the tensor's device
    X = torch.tensor(dense_with_nan(P.problem), device=device)
    assert LinRFMCompleter().fit(X).result_.params["device"] == str(torch.device(device))


def test_n_threads_limits_torch_threads_during_the_fit():
    P = planted(40, 30, 2, 3.0, 0)
    before = torch.get_num_threads()
    seen = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        lin_rfm_complete(
            P.problem,
            device="cpu",
            n_threads=2,
            max_iter=3,
            callback=lambda it, info: seen.append(torch.get_num_threads()),
        )
    assert seen == [2, 2, 2]
    assert torch.get_num_threads() == before == 1


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("agop", ["dense", "sparse"])
def test_resume_from_a_checkpoint_on_torch(device, agop):
    P = planted(40, 30, 2, 3.0, 0)
    kw = dict(variant="one-sided", agop=agop, max_iter=12, device=device)
    saved = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        full = lin_rfm_complete(P.problem, checkpoint=saved.append, **kw)
        res = lin_rfm_complete(P.problem, resume=saved[5], **kw)
    assert res.n_iter == full.n_iter == 12 and res.history == full.history
    np.testing.assert_array_equal(res.to_dense(), full.to_dense())
